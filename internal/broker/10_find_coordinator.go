// FindCoordinator (key 10), versions 0-6.
//
// The coordinator of a group is the current leader of its partition of
// __consumer_offsets (Kafka's partitioning of the group id), answered from
// the metadata state. Asking for a group coordinator creates
// __consumer_offsets on first use (as Kafka does); while it is being
// created, or when the group's partition has no live leader, the answer is
// COORDINATOR_NOT_AVAILABLE and clients retry. v4+ batches keys (KIP-699).
// A transactional id (key type 1) is coordinated by the leader of its
// partition of __transaction_state, created on first use the same way.
// Deliberate difference from Kafka: share-group keys (type 2, KIP-932) get
// INVALID_REQUEST, as share groups are not served.
package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/group"
	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/security"
	"github.com/tributary/tributary/internal/txn"
)

func init() { register(kmsg.FindCoordinator, 0, 6, (*Broker).handleFindCoordinator) }

func (b *Broker) handleFindCoordinator(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	me := b.self()
	self := &me
	// addr is br's address on the request's listener (its inter-broker
	// address if it lacks that listener).
	addr := func(br *metadata.Broker) (string, int32) {
		if h, p, ok := br.Endpoint(r.ListenerName()); ok {
			return h, p
		}
		return br.Host, br.Port
	}
	find := func(key string) (*metadata.Broker, int16, error) {
		switch req.CoordinatorType {
		case 0:
			if !b.allowed(r, security.OpDescribe, security.ResourceGroup, key) {
				return self, kerr.GroupAuthorizationFailed.Code, nil
			}
			return b.groupCoordinator(key)
		case 1:
			if !b.allowed(r, security.OpDescribe, security.ResourceTransactionalID, key) {
				return self, kerr.TransactionalIDAuthorizationFailed.Code, nil
			}
			if key == "" {
				return self, kerr.InvalidRequest.Code, errors.New("transactional id is empty")
			}
			return b.txnCoordinator(key)
		default:
			return self, kerr.InvalidRequest.Code, errors.New("unsupported coordinator type")
		}
	}
	if req.Version < 4 {
		br, code, err := find(req.CoordinatorKey)
		resp.ErrorCode, resp.ErrorMessage = code, errMsg(err)
		resp.NodeID, resp.Host, resp.Port = -1, "", -1
		if code == 0 {
			resp.Host, resp.Port = addr(br)
			resp.NodeID = br.ID
		}
		return respond(resp)
	}
	for _, key := range req.CoordinatorKeys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		br, code, err := find(key)
		c.ErrorCode, c.ErrorMessage = code, errMsg(err)
		c.NodeID, c.Port = -1, -1
		if code == 0 {
			c.Host, c.Port = addr(br)
			c.NodeID = br.ID
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return respond(resp)
}

// groupCoordinator is the broker leading groupID's partition of
// __consumer_offsets, which it creates on first use.
func (b *Broker) groupCoordinator(groupID string) (*metadata.Broker, int16, error) {
	if err := b.groups.Ready(); err != nil {
		return nil, kerr.CoordinatorNotAvailable.Code, err
	}
	st := b.metaState()
	t := st.Topics[group.OffsetsTopic]
	if t == nil || len(t.Parts) == 0 {
		return nil, kerr.CoordinatorNotAvailable.Code, errors.New("the offsets topic is being created")
	}
	p := group.PartitionFor(groupID, int32(len(t.Parts)))
	leader := t.Parts[p].Leader
	br := st.Brokers[leader]
	if leader < 0 || br == nil || br.Fenced {
		return nil, kerr.CoordinatorNotAvailable.Code, fmt.Errorf("%s-%d has no leader", group.OffsetsTopic, p)
	}
	return br, 0, nil
}

// txnCoordinator is the broker leading id's partition of
// __transaction_state, which it creates on first use.
func (b *Broker) txnCoordinator(id string) (*metadata.Broker, int16, error) {
	if err := b.txns.Ready(); err != nil {
		return nil, kerr.CoordinatorNotAvailable.Code, err
	}
	st := b.metaState()
	t := st.Topics[txn.StateTopic]
	if t == nil || len(t.Parts) == 0 {
		return nil, kerr.CoordinatorNotAvailable.Code, errors.New("the transaction state topic is being created")
	}
	p := txn.PartitionFor(id, int32(len(t.Parts)))
	leader := t.Parts[p].Leader
	br := st.Brokers[leader]
	if leader < 0 || br == nil || br.Fenced {
		return nil, kerr.CoordinatorNotAvailable.Code, fmt.Errorf("%s-%d has no leader", txn.StateTopic, p)
	}
	return br, 0, nil
}
