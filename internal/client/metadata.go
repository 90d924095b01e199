package client

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fresh cluster views for tools that decide from them (the control plane's
// reconciler). kadm's BrokerMetadata does not ask a broker once the client
// knows any: it answers from the client's cached broker list and
// controller id, which a client that neither produces nor consumes
// refreshes only when a topic metadata request happens to go out, or every
// metadata.max.age.ms (5 minutes). A broker that joined, or a controller
// that moved, after the client's last metadata request stays invisible
// that long. The functions here send their own request every time.

// BrokerView is one broker's own Metadata answer.
type BrokerView struct {
	// Listed are the live brokers it lists, sorted.
	Listed []int32
	// Controller is the active controller it names (-1: none known).
	Controller int32
}

// Lists reports whether v lists broker id.
func (v BrokerView) Lists(id int32) bool { return slices.Contains(v.Listed, id) }

// BrokerViews asks each of ids, directly, for its Metadata answer
// (brokers only). A broker that cannot be asked has an error instead of a
// view.
func BrokerViews(ctx context.Context, cl *kgo.Client, ids []int32) (map[int32]BrokerView, map[int32]error) {
	views, errs := map[int32]BrokerView{}, map[int32]error{}
	for _, id := range ids {
		req := kmsg.NewPtrMetadataRequest()
		req.Topics = []kmsg.MetadataRequestTopic{} // brokers only
		resp, err := req.RequestWith(ctx, cl.Broker(int(id)))
		if err != nil {
			errs[id] = err
			continue
		}
		v := BrokerView{Controller: resp.ControllerID}
		for _, b := range resp.Brokers {
			v.Listed = append(v.Listed, b.NodeID)
		}
		slices.Sort(v.Listed)
		views[id] = v
	}
	return views, errs
}

// ErrNoController is a broker's answer that no controller is active (an
// election is under way).
var ErrNoController = errors.New("no active controller")

// Controller returns the active controller as a broker names it now (a
// DescribeCluster request of its own, never the client's cache).
func Controller(ctx context.Context, cl *kgo.Client) (int32, error) {
	req := kmsg.NewPtrDescribeClusterRequest()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return -1, fmt.Errorf("describe cluster: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return -1, fmt.Errorf("describe cluster: %w", err)
	}
	if resp.ControllerID < 0 {
		return -1, ErrNoController
	}
	return resp.ControllerID, nil
}
