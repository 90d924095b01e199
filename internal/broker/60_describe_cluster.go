// DescribeCluster (key 60), versions 0-2.
//
// Brokers endpoint only: a request for controller endpoints (EndpointType 2)
// gets MISMATCHED_ENDPOINT_TYPE, as a Kafka broker listener answers. Fenced
// brokers are listed (IsFenced) only when asked (v2+). The controller id is
// the active Raft leader. Authorized operations are not
// computed (the INT32_MIN "not requested" value is returned).
package broker

import (
	"context"

	"github.com/tributary/tributary/internal/security"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeCluster, 0, 2, (*Broker).handleDescribeCluster) }

func (b *Broker) handleDescribeCluster(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.DescribeClusterRequest)
	if !b.allowedCluster(r, security.OpDescribe) {
		resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(resp)
	}
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = 1
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.MismatchedEndpointType.Code
		resp.EndpointType = req.EndpointType
		return respond(resp)
	}
	resp.ClusterID = b.ClusterID()
	resp.ControllerID = b.controllerID()
	for _, mb := range b.metaState().AllBrokers() {
		if mb.Fenced && !req.IncludeFencedBrokers {
			continue
		}
		host, port, ok := mb.Endpoint(r.ListenerName())
		if !ok {
			continue // as Kafka: only brokers with the request's listener
		}
		br := kmsg.NewDescribeClusterResponseBroker()
		br.NodeID, br.Host, br.Port, br.IsFenced = mb.ID, host, port, mb.Fenced
		if mb.Rack != "" {
			br.Rack = kmsg.StringPtr(mb.Rack)
		}
		resp.Brokers = append(resp.Brokers, br)
	}
	return respond(resp)
}
