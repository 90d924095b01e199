// DescribeCluster (key 60), versions 0-2.
//
// Brokers endpoint only: a request for controller endpoints (EndpointType 2)
// gets MISMATCHED_ENDPOINT_TYPE, as a Kafka broker listener answers. No
// broker is ever fenced on a single node. Authorized operations are not
// computed (the INT32_MIN "not requested" value is returned).
package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeCluster, 0, 2, (*Broker).handleDescribeCluster) }

func (b *Broker) handleDescribeCluster(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = 1
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.MismatchedEndpointType.Code
		resp.EndpointType = req.EndpointType
		return respond(resp)
	}
	resp.ClusterID = b.ClusterID()
	resp.ControllerID = b.cfg.NodeID
	for _, mb := range b.brokerList() {
		br := kmsg.NewDescribeClusterResponseBroker()
		br.NodeID, br.Host, br.Port, br.Rack = mb.NodeID, mb.Host, mb.Port, mb.Rack
		resp.Brokers = append(resp.Brokers, br)
	}
	return respond(resp)
}
