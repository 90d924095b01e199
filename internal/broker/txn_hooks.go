package broker

// Hooks between the broker and the transaction coordinator (internal/txn),
// in the group coordinator's pattern: the coordinator sees
// __transaction_state through txnStateLog (coordinator_log.go), sends
// markers through markerSender and takes producer ids from
// allocateProducerID; it never imports this package. After every reconcile the broker tells it which
// state partitions it leads (syncTxnLeadership).
//
// markerSender writes markers for partitions led here directly
// (partition.AppendMarker, then fsync and the ISR as acks=all) and sends
// WriteTxnMarkers to the leaders of the others over the inter-broker
// listener, one kgo client per broker.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/group"
	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/txn"
)

// txnWriteTimeout bounds the wait for a __transaction_state record or a
// marker to reach the in-sync replicas (Kafka: request.timeout.ms of the
// coordinator's writes).
const txnWriteTimeout = 5 * time.Second

// newTxnCoordinator builds the coordinator from the broker configs.
func (b *Broker) newTxnCoordinator() *txn.Coordinator {
	c := b.cfg.Broker
	return txn.New(txn.Config{
		Log:        b.txnStateLog(),
		Markers:    markerSender{b},
		ProducerID: b.allocateProducerID,
		Logger:     b.log.With("component", "txn-coordinator"),
		MaxTimeout: time.Duration(c.Int("transaction.max.timeout.ms")) * time.Millisecond,
		AbortCheck: time.Duration(c.Int("transaction.abort.timed.out.transaction.cleanup.interval.ms")) * time.Millisecond,
	})
}

// syncTxnLeadership tells the coordinator which __transaction_state
// partitions this broker leads. Called with reconcileMu held, like
// syncGroupLeadership.
func (b *Broker) syncTxnLeadership() <-chan struct{} {
	b.mu.RLock()
	txns := b.txns
	b.mu.RUnlock()
	if txns == nil {
		return nil
	}
	return txns.SetLeadership(b.ledPartitions(txn.StateTopic))
}

// Txns is the transaction coordinator (for tools and tests in-process).
func (b *Broker) Txns() *txn.Coordinator { return b.txns }

// markerSender delivers the coordinator's markers to the partition leaders.
type markerSender struct{ b *Broker }

func (m markerSender) WriteMarkers(ctx context.Context, pid int64, epoch int16, commit bool, coordEpoch int32, parts []txn.TopicPartition) error {
	b := m.b
	st := b.metaState()
	remote := map[int32][]txn.TopicPartition{}
	var errs []error
	type localWait struct {
		tp  txn.TopicPartition
		p   *partition.Partition
		res partition.AppendResult
	}
	var waits []localWait
	for _, tp := range parts {
		mt := st.Topics[tp.Topic]
		if mt == nil || tp.Partition < 0 || int(tp.Partition) >= len(mt.Parts) {
			continue // deleted: nothing to end there
		}
		leader := mt.Parts[tp.Partition].Leader
		switch {
		case leader < 0:
			errs = append(errs, fmt.Errorf("%s-%d has no leader", tp.Topic, tp.Partition))
		case leader == b.cfg.NodeID:
			// Append every local marker first: one fsync (group
			// commit) and one replication round then cover them all.
			p, res, err := b.appendMarker(tp.Topic, tp.Partition, pid, epoch, commit, coordEpoch)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s-%d: %w", tp.Topic, tp.Partition, err))
				continue
			}
			waits = append(waits, localWait{tp, p, res})
		default:
			remote[leader] = append(remote[leader], tp)
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for leader, tps := range remote {
		wg.Add(1)
		go func() { // safe: sendMarkers does not panic on input
			defer wg.Done()
			if err := b.sendMarkers(ctx, leader, pid, epoch, commit, coordEpoch, tps); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("broker %d: %w", leader, err))
				mu.Unlock()
			}
		}()
	}
	for _, w := range waits {
		if err := b.waitDurable(w.p, w.res.End, w.res.Epoch, txnWriteTimeout); err != nil {
			mu.Lock()
			errs = append(errs, fmt.Errorf("%s-%d: %w", w.tp.Topic, w.tp.Partition, err))
			mu.Unlock()
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// appendMarker appends one marker as this partition's leader; the caller
// waits for it to be durable and replicated (WriteTxnMarkers is acks=all).
func (b *Broker) appendMarker(topic string, index int32, pid int64, epoch int16, commit bool, coordEpoch int32) (*partition.Partition, partition.AppendResult, error) {
	p, code := leaderPartition(b.topic(topic), index)
	if code != 0 {
		return nil, partition.AppendResult{}, kerr.ErrorForCode(code)
	}
	res, err := p.AppendMarker(partition.MarkerOptions{ProducerID: pid, ProducerEpoch: epoch, Commit: commit, CoordinatorEpoch: coordEpoch, Now: b.now()})
	if err != nil {
		return nil, partition.AppendResult{}, err
	}
	b.markerWritten(topic, index, pid, commit)
	return p, res, nil
}

// markerWritten tells the group coordinator about a marker appended to
// __consumer_offsets: it completes the producer's transactional offset
// commits there.
func (b *Broker) markerWritten(topic string, index int32, pid int64, commit bool) {
	if topic == group.OffsetsTopic && b.groups != nil {
		b.groups.CompleteTxn(index, pid, commit)
	}
}

// sendMarkers sends one WriteTxnMarkers request to broker id for tps.
func (b *Broker) sendMarkers(ctx context.Context, id int32, pid int64, epoch int16, commit bool, coordEpoch int32, tps []txn.TopicPartition) error {
	cl, err := b.markerClient(id)
	if err != nil {
		return err
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	mk := kmsg.NewWriteTxnMarkersRequestMarker()
	mk.ProducerID, mk.ProducerEpoch, mk.Committed, mk.CoordinatorEpoch = pid, epoch, commit, coordEpoch
	byTopic := map[string]int{}
	for _, tp := range tps {
		i, ok := byTopic[tp.Topic]
		if !ok {
			i = len(mk.Topics)
			byTopic[tp.Topic] = i
			t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			t.Topic = tp.Topic
			mk.Topics = append(mk.Topics, t)
		}
		mk.Topics[i].Partitions = append(mk.Topics[i].Partitions, tp.Partition)
	}
	req.Markers = append(req.Markers, mk)
	kresp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		b.dropMarkerClient(id, cl)
		return err
	}
	resp := kresp.(*kmsg.WriteTxnMarkersResponse)
	var errs []error
	for _, rm := range resp.Markers {
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil && err != kerr.UnknownTopicOrPartition {
					errs = append(errs, fmt.Errorf("%s-%d: %w", rt.Topic, rp.Partition, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// markerClients are the kgo clients to other brokers' inter-broker
// listeners that markers are sent with; mu guards m.
type markerClients struct {
	mu sync.Mutex
	m  map[int32]*kgo.Client
}

func (b *Broker) markerClient(id int32) (*kgo.Client, error) {
	mc := &b.markerClients
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if cl := mc.m[id]; cl != nil {
		return cl, nil
	}
	addr, ok := b.brokerAddr(id)
	if !ok {
		return nil, fmt.Errorf("broker %d is not registered", id)
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ClientID("trib-txn-markers"), kgo.RequestRetries(0)}, b.cfg.InterBrokerClient...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	if mc.m == nil {
		mc.m = map[int32]*kgo.Client{}
	}
	mc.m[id] = cl
	return cl, nil
}

// dropMarkerClient closes a client after a failed request: the broker may
// have moved (a new address after a restart).
func (b *Broker) dropMarkerClient(id int32, cl *kgo.Client) {
	mc := &b.markerClients
	mc.mu.Lock()
	if mc.m[id] == cl {
		delete(mc.m, id)
	}
	mc.mu.Unlock()
	cl.Close()
}

func (b *Broker) closeMarkerClients() {
	mc := &b.markerClients
	mc.mu.Lock()
	cls := mc.m
	mc.m = nil
	mc.mu.Unlock()
	for _, cl := range cls {
		cl.Close()
	}
}
