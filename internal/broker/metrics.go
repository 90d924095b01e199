package broker

// Metrics: the counters the request path keeps (atomic adds, no locks) and
// the snapshot the metrics collector reads at scrape time
// (internal/metrics). A topic's counters live in stats.byTopic, keyed by
// name and reused across reconciles while the topic id stays the same, so
// a reconcile does not reset them; a recreated topic starts from zero.
//
// Concurrency: stats.mu guards byTopic (taken by reconcile and by a
// scrape, never on the request path, which reaches the counters through
// topic.stats). The counters are atomics.

import (
	"time"

	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/metrics"
	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/record"
	"github.com/tributary/tributary/internal/storage"
)

// topicStats are one topic's counters (also used for the broker totals).
type topicStats struct {
	id                                 [16]byte
	messagesIn, bytesIn, bytesOut      atomic.Int64
	replicationBytesOut, bytesRejected atomic.Int64
	replicationBytesIn                 atomic.Int64
	totalProduce, failedProduce        atomic.Int64
	totalFetch, failedFetch            atomic.Int64
}

type brokerStats struct {
	total                            topicStats
	isrShrinks, isrExpands           atomic.Int64
	producePurgatory, fetchPurgatory atomic.Int64

	mu      sync.Mutex
	byTopic map[string]*topicStats
}

// forTopic returns the counters of topic mt, creating them for a new topic
// (or a recreated one: a new id).
func (s *brokerStats) forTopic(mt *metadata.Topic) *topicStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byTopic == nil {
		s.byTopic = map[string]*topicStats{}
	}
	ts := s.byTopic[mt.Name]
	if ts == nil || ts.id != mt.ID {
		ts = &topicStats{id: mt.ID}
		s.byTopic[mt.Name] = ts
	}
	return ts
}

// forget drops the counters of topics that no longer exist.
func (s *brokerStats) forget(exists func(string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name := range s.byTopic {
		if !exists(name) {
			delete(s.byTopic, name)
		}
	}
}

// produced counts one partition of a produce request: records and bytes
// appended, or a failure (code != 0; MESSAGE_TOO_LARGE also counts the
// bytes as rejected). t may be nil (unknown topic).
func (b *Broker) produced(t *topic, records, bytes int, code int16) {
	b.stats.total.totalProduce.Add(1)
	var ts *topicStats
	if t != nil {
		ts = t.stats
		ts.totalProduce.Add(1)
	}
	if code != 0 {
		b.stats.total.failedProduce.Add(1)
		if code == kerr.MessageTooLarge.Code || code == kerr.RecordListTooLarge.Code {
			b.stats.total.bytesRejected.Add(int64(bytes))
		}
		if ts != nil {
			ts.failedProduce.Add(1)
			if code == kerr.MessageTooLarge.Code || code == kerr.RecordListTooLarge.Code {
				ts.bytesRejected.Add(int64(bytes))
			}
		}
		return
	}
	b.stats.total.messagesIn.Add(int64(records))
	b.stats.total.bytesIn.Add(int64(bytes))
	if ts != nil {
		ts.messagesIn.Add(int64(records))
		ts.bytesIn.Add(int64(bytes))
	}
}

// fetched counts a fetch response as it is answered: bytes out per topic
// (to consumers, or to followers for a replica fetch), and for consumers
// the partitions asked and failed.
func (b *Broker) fetched(out kmsg.Response, replica int32, version int16) {
	resp, ok := out.(*kmsg.FetchResponse)
	if !ok || len(resp.Topics) == 0 {
		return
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		var t *topic
		if version >= 13 {
			t = b.byID[rt.TopicID]
		} else {
			t = b.topics[rt.Topic]
		}
		var n, failed int64
		for j := range rt.Partitions {
			n += int64(b.recordBytes(resp, rt.Partitions[j].RecordBatches))
			if rt.Partitions[j].ErrorCode != 0 {
				failed++
			}
		}
		if replica >= 0 {
			b.stats.total.replicationBytesOut.Add(n)
			if t != nil {
				t.stats.replicationBytesOut.Add(n)
			}
			continue
		}
		b.stats.total.bytesOut.Add(n)
		b.stats.total.totalFetch.Add(int64(len(rt.Partitions)))
		b.stats.total.failedFetch.Add(failed)
		if t != nil {
			t.stats.bytesOut.Add(n)
			t.stats.totalFetch.Add(int64(len(rt.Partitions)))
			t.stats.failedFetch.Add(failed)
		}
	}
}

// replicated counts bytes a follower replica here appended from its
// leader.
func (b *Broker) replicated(topic string, bytes int) {
	b.stats.total.replicationBytesIn.Add(int64(bytes))
	if t := b.topic(topic); t != nil {
		t.stats.replicationBytesIn.Add(int64(bytes))
	}
}

// isrChanged counts an ISR change of a partition led here, whoever
// proposed it (this leader's AlterPartition, or the controller fencing a
// broker), as the reconcile applies it: from is the replica's role
// before, to the metadata's.
func (b *Broker) isrChanged(from, to partition.Role) {
	if to.Leader != b.cfg.NodeID || from.Leader != to.Leader || from.LeaderEpoch != to.LeaderEpoch || to.PartitionEpoch <= from.PartitionEpoch {
		return
	}
	switch {
	case len(to.ISR) < len(from.ISR):
		b.stats.isrShrinks.Add(1)
	case len(to.ISR) > len(from.ISR):
		b.stats.isrExpands.Add(1)
	}
}

func (ts *topicStats) counters(name string) metrics.TopicCounters {
	return metrics.TopicCounters{Topic: name, MessagesIn: ts.messagesIn.Load(), BytesIn: ts.bytesIn.Load(), BytesOut: ts.bytesOut.Load(),
		ReplicationBytesOut: ts.replicationBytesOut.Load(), ReplicationBytesIn: ts.replicationBytesIn.Load(), BytesRejected: ts.bytesRejected.Load(),
		TotalProduceRequests: ts.totalProduce.Load(), FailedProduceRequests: ts.failedProduce.Load(),
		TotalFetchRequests: ts.totalFetch.Load(), FailedFetchRequests: ts.failedFetch.Load()}
}

// Snapshot reports the broker's state for a scrape (metrics.Source). It
// copies the replica list under mu, then reads each replica's own state
// without holding mu.
func (b *Broker) Snapshot() metrics.BrokerSnapshot {
	s := metrics.BrokerSnapshot{
		Total:            b.stats.total.counters(""),
		IsrShrinks:       b.stats.isrShrinks.Load(),
		IsrExpands:       b.stats.isrExpands.Load(),
		ProducePurgatory: b.stats.producePurgatory.Load(),
		FetchPurgatory:   b.stats.fetchPurgatory.Load(),
		LogDirs:          []string{b.cfg.DataDir},
		ActiveController: b.quorum.IsLeader(),
		QuotaThrottled:   map[string]int64{}, QuotaThrottleTotal: map[string]time.Duration{},
	}
	counts, totals := b.QuotaThrottles()
	for k, name := range QuotaTypeNames {
		s.QuotaThrottled[name], s.QuotaThrottleTotal[name] = counts[k], totals[k]
	}
	s.FetchSessions, s.FetchSessionPartitions, s.FetchSessionEvictions = b.fetchSessions.stats()
	b.stats.mu.Lock()
	for name, ts := range b.stats.byTopic {
		s.Topics = append(s.Topics, ts.counters(name))
	}
	b.stats.mu.Unlock()
	sort.Slice(s.Topics, func(i, j int) bool { return s.Topics[i].Topic < s.Topics[j].Topic })

	type rep struct {
		p      *partition.Partition
		minISR int
	}
	local := b.replicas.Local()
	b.mu.RLock()
	reps := make([]rep, 0, len(local))
	for _, r := range local {
		minISR := 1
		if t := b.topics[r.Key.Topic]; t != nil {
			minISR = int(t.cfg.Int64("min.insync.replicas"))
		}
		reps = append(reps, rep{r.P, minISR})
	}
	b.mu.RUnlock()
	s.Partitions = make([]metrics.PartitionStats, 0, len(reps))
	for _, r := range reps {
		p := r.p
		role := p.Role()
		snap := p.Snapshot()
		s.Partitions = append(s.Partitions, metrics.PartitionStats{
			Topic: p.Topic, Partition: p.Index, Leader: role.Leader == b.cfg.NodeID,
			Offline: p.Offline() != nil, Replicas: len(role.Replicas), ISR: len(role.ISR), MinISR: r.minISR,
			LogStartOffset: snap.LogStartOffset, LogEndOffset: snap.LogEndOffset, HighWatermark: snap.HighWatermark, SizeBytes: p.Size(),
		})
	}
	sort.Slice(s.Partitions, func(i, j int) bool {
		a, c := s.Partitions[i], s.Partitions[j]
		return a.Topic < c.Topic || a.Topic == c.Topic && a.Partition < c.Partition
	})
	if s.ActiveController {
		st := b.quorum.State()
		s.GlobalTopics = len(st.Topics)
		for _, t := range st.Topics {
			s.GlobalPartitions += len(t.Parts)
			for _, ps := range t.Parts {
				if ps.Leader < 0 {
					s.OfflinePartitions++
				}
			}
		}
	}
	return s
}

// NotReady returns why this broker should not yet take traffic in a
// rolling restart (empty: ready): it is not registered and unfenced under
// its current incarnation with that registration applied, its consumer
// groups are still loading, or a partition it leads has its log offline
// here.
func (b *Broker) NotReady() []string {
	var reasons []string
	if !b.Ready() {
		reasons = append(reasons, "not registered with the metadata quorum, fenced, or not caught up with the metadata")
	}
	b.mu.RLock()
	groups := b.groups
	var offline []string
	b.mu.RUnlock()
	for _, r := range b.replicas.Local() {
		if r.P.IsLeader() && r.P.Offline() != nil {
			offline = append(offline, r.Key.Topic+"-"+strconv.Itoa(int(r.Key.Partition)))
		}
	}
	if groups == nil {
		reasons = append(reasons, "consumer group coordinator not started")
	}
	if len(offline) > 0 {
		slices.Sort(offline)
		if len(offline) > 10 {
			offline = append(offline[:10], "...")
		}
		reasons = append(reasons, "offline partitions led here: "+strings.Join(offline, ", "))
	}
	return reasons
}

// CommittedOffsets returns the committed offsets of the groups this
// broker coordinates (for the lag tracker).
func (b *Broker) CommittedOffsets() []metrics.CommittedOffset {
	b.mu.RLock()
	g := b.groups
	b.mu.RUnlock()
	if g == nil {
		return nil
	}
	var out []metrics.CommittedOffset
	g.EachCommitted(func(group, topic string, partition int32, offset, commitMs int64) {
		out = append(out, metrics.CommittedOffset{Group: group, Topic: topic, Partition: partition, Offset: offset, CommitMs: commitMs})
	})
	return out
}

// HighWatermark returns a partition's high watermark if this broker leads
// it.
func (b *Broker) HighWatermark(topic string, partition int32) (int64, bool) {
	t := b.topic(topic)
	if t == nil {
		return 0, false
	}
	p := t.partition(partition)
	if p == nil || !p.IsLeader() {
		return 0, false
	}
	return p.HighWatermark(), true
}

// RecordTimestamp is the timestamp (Unix ms) of the batch holding offset,
// if this broker leads the partition and the offset is below the high
// watermark: its first record's, or the log append time. It reads one
// batch through the offset index (for the lag sampler, off the request
// path).
func (b *Broker) RecordTimestamp(topic string, index int32, offset int64) (int64, bool) {
	t := b.topic(topic)
	if t == nil {
		return 0, false
	}
	p := t.partition(index)
	if p == nil || !p.IsLeader() {
		return 0, false
	}
	snap := p.Snapshot()
	if offset >= snap.HighWatermark || offset < snap.LogStartOffset {
		return 0, false
	}
	_, res, err := p.Read(offset, partition.ReadUncommitted, 1, true)
	defer storage.ReleaseRead(res.Data)
	if err != nil || len(res.Data) < record.HeaderSize {
		return 0, false
	}
	batch := record.Batch(res.Data)
	ts := batch.FirstTimestamp()
	if batch.IsLogAppendTime() {
		ts = batch.MaxTimestamp()
	}
	return ts, ts > 0
}

// PartitionLeader is a partition's leader and its topic's id as the
// metadata last reconciled here says (for the lag sampler's fetches).
func (b *Broker) PartitionLeader(topic string, partition int32) (leader int32, topicID [16]byte, ok bool) {
	t, found := b.metaState().Topics[topic]
	if !found || partition < 0 || int(partition) >= len(t.Parts) {
		return -1, topicID, false
	}
	return t.Parts[partition].Leader, t.ID, t.Parts[partition].Leader >= 0
}
