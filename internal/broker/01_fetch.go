// Fetch (key 1), versions 0-18.
//
// Batches are served as stored, whole, up to the high watermark, or for
// read_committed (v4+) up to the last stable offset with the aborted
// transactions that overlap the batches read (partition/txn.go). v0-3
// (removed in Kafka 4, KIP-896) read message sets: as Kafka 3.x did, the
// stored batches are down-converted after the read, magic 0 for v0-1 and
// magic 1 for v2-3 (record.DownConvert: records from the fetch offset on,
// a compressed batch as one wrapper with the same codec, headers and
// control batches dropped); a zstd batch cannot be expressed and answers
// UNSUPPORTED_COMPRESSION_TYPE; with message.downconversion.enable=false
// the partition answers UNSUPPORTED_VERSION instead of converting. v4+
// never converts. As in Kafka, a client
// fetch before v10 (KIP-110) of a topic whose compression.type is zstd
// answers UNSUPPORTED_COMPRESSION_TYPE. The
// first partition with data returns at least one batch even above the byte
// limits (KIP-74). When less than MinBytes is ready the response waits, up to
// MaxWaitMillis, for an append to any requested partition.
//
// Fetch sessions (KIP-227, v7+): see fetch_sessions.go; an incremental
// fetch reads every partition of its session and answers only those with
// something new. Only the leader
// serves fetches (NOT_LEADER_OR_FOLLOWER elsewhere; no follower reads),
// naming the current leader from v12 (KIP-951, leader_hint.go).
// Follower fetches (ReplicaID, or ReplicaState v15+) drive replication: see
// fillFetch.
package broker

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/record"
	"github.com/tributary/tributary/internal/security"
	"github.com/tributary/tributary/internal/storage"
)

func init() { register(kmsg.Fetch, 0, 18, (*Broker).handleFetch) }

func (b *Broker) handleFetch(ctx context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	replica := fetchReplica(req)
	session, code := b.fetchSessions.begin(req, replica >= 0) // fetch_sessions.go
	if code != 0 {
		resp.ErrorCode = code
		return respond(resp)
	}
	if session.incremental {
		// Read every partition of the session; the request itself names
		// only what changed.
		full := *req
		full.Topics, full.ForgottenTopics = session.topics, nil
		req = &full
	}
	// Authorization: followers need CLUSTER_ACTION, consumers READ on
	// each topic; a denied topic's partitions get TOPIC_AUTHORIZATION_FAILED.
	var denied map[string]bool
	if b.authz != nil {
		denied = map[string]bool{}
		followerOK := replica < 0 || b.allowedCluster(r, security.OpClusterAction)
		for _, rt := range req.Topics {
			name := b.fetchTopicName(req.Version, rt.Topic, rt.TopicID)
			if name != "" && (!followerOK || replica < 0 && !b.allowed(r, security.OpRead, security.ResourceTopic, name)) {
				denied[name] = true
			}
		}
	}
	deadline := time.Now().Add(time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond)
	if replica < 0 {
		if quotaMax := b.fetchQuotaMaxBytes(r); quotaMax > 0 && (req.MaxBytes <= 0 || int(req.MaxBytes) > quotaMax) {
			req.MaxBytes = int32(min(quotaMax, 1<<31-1)) // Kafka's cap: what the quota allows in one window
		}
	}
	// done finishes a response: a consumer over its consumer_byte_rate
	// quota (quotas.go) gets an empty one instead, which leaves the fetch
	// session's state as it was (Kafka's throttled fetch response).
	done := func(resp *kmsg.FetchResponse, n int) *kmsg.FetchResponse {
		if replica < 0 {
			if empty := b.fetchThrottle(r, resp, n); empty != nil {
				empty.SessionID = session.id()
				return empty
			}
		}
		session.finish(resp)
		b.fetchLeaderHints(r, req, resp) // leader_hint.go
		return resp
	}
	return func() (out kmsg.Response) {
		defer func() { b.fetched(out, replica, req.Version) }() // metrics.go
		var woke chan struct{}
		var cancels []func()
		defer func() {
			for _, c := range cancels {
				c()
			}
		}()
		var timer *time.Timer
		var live []*partition.Partition // reused by each fillFetch
		for {
			resp := req.ResponseKind().(*kmsg.FetchResponse)
			var n int
			n, live = b.fillFetch(req, resp, replica, denied, live[:0])
			wait := time.Until(deadline)
			if n >= int(req.MinBytes) || len(live) == 0 || wait <= 0 {
				return done(resp, n)
			}
			if woke == nil {
				// Watch before re-reading so no append between the read
				// and the wait is missed.
				woke = make(chan struct{}, 1)
				for _, p := range live {
					cancels = append(cancels, p.Watch(woke))
				}
				timer = time.NewTimer(wait)
				defer timer.Stop()
				b.stats.fetchPurgatory.Add(1)
				defer b.stats.fetchPurgatory.Add(-1)
				b.Written(resp) // read again below
				continue
			}
			select {
			case <-woke:
				b.Written(resp) // read again
			case <-timer.C:
				return done(resp, b.fetchedBytes(resp))
			case <-ctx.Done():
				session.finish(resp)
				return resp
			}
		}
	}
}

// fillFetch reads every requested partition into resp. It returns the bytes
// read and the partitions where more data could arrive, appended to live
// (the caller's buffer, empty; nil makes one sized for the request).
//
// A replica fetch (replica >= 0) comes from a follower: its fetch offset
// tells the leader how far that follower's durable log reaches (ISR and
// high watermark bookkeeping), and it reads up to the log end instead of the
// high watermark.
func (b *Broker) fillFetch(req *kmsg.FetchRequest, resp *kmsg.FetchResponse, replica int32, denied map[string]bool, live []*partition.Partition) (int, []*partition.Partition) {
	remaining := int(req.MaxBytes)
	if req.Version < 3 || remaining <= 0 {
		remaining = int(^uint32(0) >> 1)
	}
	total := 0
	if live == nil {
		n := 0
		for _, rt := range req.Topics {
			n += len(rt.Partitions)
		}
		live = make([]*partition.Partition, 0, n)
	}
	resp.Topics = slices.Grow(resp.Topics, len(req.Topics))
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, 0, len(rt.Partitions))
		var t *topic
		if req.Version >= 13 {
			t = b.topicByID(rt.TopicID)
		} else {
			t = b.topic(rt.Topic)
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			// Kafka sends an empty, never a null, record set; librdkafka
			// treats null as malformed.
			sp.RecordBatches = []byte{}
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			p, code := leaderPartition(t, rp.Partition)
			switch {
			case t == nil && req.Version >= 13:
				sp.ErrorCode = kerr.UnknownTopicID.Code
			case denied[rt.Topic] || t != nil && denied[t.meta.Name]:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case code != 0:
				sp.ErrorCode = code
			default:
				if code := checkLeaderEpoch(p, rp.CurrentLeaderEpoch); code != 0 {
					sp.ErrorCode = code
					break
				}
				refetch := false
				if replica >= 0 {
					var err error
					if refetch, err = b.replicas.FollowerFetched(p, replica, rp.FetchOffset, b.now()); err != nil {
						sp.ErrorCode = errCode(err)
						break
					}
				}
				if req.Version < 10 && replica < 0 && t.cfg.Get("compression.type") == "zstd" {
					// As Kafka: clients before KIP-110 cannot read a
					// topic that zstd-compresses everything.
					sp.ErrorCode = kerr.UnsupportedCompressionType.Code
					break
				}
				limit := partition.ReadUncommitted
				if replica >= 0 {
					limit = partition.ReadReplica
				} else if req.IsolationLevel == 1 {
					limit = partition.ReadCommitted
				}
				max := min(int(rp.PartitionMaxBytes), remaining)
				// Leader-side replication throttle (replication_throttle.go).
				throttled := replica >= 0 && b.leaderThrottle.On() && t.leaderThrottled.Has(rp.Partition, b.cfg.NodeID) && !p.InISR(replica)
				if throttled {
					if max = min(max, b.leaderThrottle.Available(b.now())); max <= 0 {
						snap := p.Snapshot()
						sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = snap.HighWatermark, snap.LastStableOffset, snap.LogStartOffset
						live = append(live, p)
						break
					}
				}
				read := p.Read
				if req.Version >= 4 && !refetch {
					// Consumers and followers get the stored bytes
					// with sendfile where the connection allows
					// (splice.go). A follower asking again for what
					// it was sent may have refused it as damaged:
					// the copying read checks every batch, and
					// damage found takes this replica offline, so
					// the leadership moves (docs/DURABILITY.md).
					read = p.ReadZeroCopy
				}
				snap, res, err := read(rp.FetchOffset, limit, max, total == 0)
				sp.HighWatermark = snap.HighWatermark
				sp.LastStableOffset = snap.LastStableOffset
				sp.LogStartOffset = snap.LogStartOffset
				if errors.Is(err, storage.ErrLogOffline) {
					err = b.replicas.StorageFault(p, err) // internal/replica
				}
				if err != nil {
					sp.ErrorCode = errCode(err)
					break
				}
				if req.Version < 4 && res.Data != nil {
					// Message-set fetchers (cold path; v4+ gets the
					// stored bytes as they are).
					if t.cfg.Get("message.downconversion.enable") == "false" {
						storage.ReleaseRead(res.Data)
						sp.ErrorCode = kerr.UnsupportedVersion.Code
						break
					}
					if res.Data, err = downConvert(req.Version, res.Data, rp.FetchOffset); err != nil {
						sp.ErrorCode = errCode(err)
						break
					}
				}
				live = append(live, p)
				if res.Data != nil {
					sp.RecordBatches = res.Data
					if req.Version >= 4 && len(res.Data) >= spliceBytesMin {
						sp.RecordBatches = b.spliceBytes(resp, res.Data)
					}
				}
				if res.Slice != nil {
					sp.RecordBatches = b.splice(resp, res.Slice)
				}
				if replica < 0 && req.IsolationLevel == 1 && req.Version >= 4 {
					sp.AbortedTransactions = abortedTransactions(p, rp.FetchOffset, res)
				}
				if throttled {
					b.leaderThrottle.Record(res.Size(), b.now())
				}
				total += res.Size()
				remaining -= res.Size()
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return total, live
}

// abortedTransactions lists, for a read_committed fetch, the aborted
// transactions that overlap the batches read: the client drops their
// records up to each ABORT marker. An empty list, never null, as Kafka.
func abortedTransactions(p *partition.Partition, from int64, res storage.ReadResult) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	out := []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	if res.Size() == 0 {
		return out
	}
	for _, t := range p.AbortedTransactions(from, res.Next) {
		a := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		a.ProducerID, a.FirstOffset = t.ProducerID, t.FirstOffset
		out = append(out, a)
	}
	return out
}

// downConvert turns stored v2 batches read for a Fetch v0-3 into the
// message set that version can read: magic 0 for v0-1, magic 1 for v2-3
// (record.DownConvert). It releases the read buffer.
func downConvert(version int16, data []byte, from int64) ([]byte, error) {
	magic := int8(0)
	if version >= 2 {
		magic = 1
	}
	out, err := record.DownConvert(make([]byte, 0, len(data)), data, magic, from)
	storage.ReleaseRead(data)
	return out, err
}

// checkLeaderEpoch compares a client's idea of the leader epoch (-1: none)
// with ours: newer than ours is UNKNOWN_LEADER_EPOCH, older is
// FENCED_LEADER_EPOCH.
func checkLeaderEpoch(p *partition.Partition, clientEpoch int32) int16 {
	if clientEpoch < 0 {
		return 0
	}
	switch e := p.LeaderEpoch(); {
	case clientEpoch > e:
		return kerr.UnknownLeaderEpoch.Code
	case clientEpoch < e:
		return kerr.FencedLeaderEpoch.Code
	}
	return 0
}

// Written recycles the read buffers of a sent fetch response (or one
// discarded) and forgets its splices.
func (b *Broker) Written(resp kmsg.Response) {
	f, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return
	}
	if v, ok := b.splices.LoadAndDelete(f); ok {
		// Discarded unsent: the writer never took its splices.
		for _, data := range v.(*fetchSplices).bufs {
			storage.ReleaseRead(data)
		}
	}
	for i := range f.Topics {
		for j := range f.Topics[i].Partitions {
			storage.ReleaseRead(f.Topics[i].Partitions[j].RecordBatches)
			f.Topics[i].Partitions[j].RecordBatches = nil
		}
	}
}

// fetchTopicName is a fetched topic's name: by id from v13, "" for an
// unknown id.
func (b *Broker) fetchTopicName(version int16, name string, id [16]byte) string {
	if version < 13 {
		return name
	}
	if t := b.topicByID(id); t != nil {
		return t.meta.Name
	}
	return ""
}

// fetchedBytes is the record bytes in resp (spliced ones included).
func (b *Broker) fetchedBytes(resp *kmsg.FetchResponse) int {
	n := 0
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			n += b.recordBytes(resp, resp.Topics[i].Partitions[j].RecordBatches)
		}
	}
	return n
}
