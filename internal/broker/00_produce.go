// Produce (key 0), versions 0-13.
//
// v3 is the first version that carries record batch v2. v0-2 (removed in
// Kafka 4, KIP-896) carry message sets of magic 0 or 1; as Kafka 3.x did,
// they are up-converted to one v2 batch before anything else
// (record.UpConvert: every message's CRC checked, compressed wrappers
// unwrapped, the last wrapper's codec kept, magic 0 records without
// timestamp, no producer id), then take the same path; a v2 batch in v0-2
// is taken as is, as Kafka did not check. zstd needs v7+ (KIP-110):
// UNSUPPORTED_COMPRESSION_TYPE before. From v3 on, each partition's
// records must be exactly one v2 batch; it is validated (length, magic, CRC,
// record count) without decompression and stored as sent, with the broker's
// offsets. acks=all is answered after the batch is fsynced here (group
// commit, see storage.Log.Sync) and every ISR member has it (the high
// watermark passed it; followers fsync before they ask for more), with
// min.insync.replicas enforced before the append (NOT_ENOUGH_REPLICAS) and
// at the answer (NOT_ENOUGH_REPLICAS_AFTER_APPEND); REQUEST_TIMED_OUT after
// the request's timeout. Only the leader accepts writes
// (NOT_LEADER_OR_FOLLOWER, from v10 with KIP-951's CurrentLeader and
// NodeEndpoints: leader_hint.go). Deliberate differences from Kafka: records
// inside a batch are not decoded, so per-record checks (inner offsets,
// per-record timestamps) use the batch header; an idempotent retry of a
// written batch gets its original offset before min.insync.replicas is
// checked (Kafka answers NOT_ENOUGH_REPLICAS, "not written", which lets
// librdkafka renumber and re-send it: see docs/DURABILITY.md). A topic whose
// compression.type is not "producer" gets its batches recompressed to that
// codec (decompressed and compressed, records not decoded).
// Transactional batches need the request's transactional id (else
// INVALID_RECORD); their producer's epoch is checked as for idempotence,
// and the partition tracks the open transaction until the coordinator's
// marker (partition/txn.go). A transactional batch that would open a
// transaction in a partition is verified with the transaction coordinator
// first (KIP-890, txn_verify.go): before v12 the partition must be in the
// producer's ongoing transaction (else TRANSACTION_ABORTABLE from v11 on,
// INVALID_TXN_STATE before, errors.go verifyCode); from v12 on
// (transaction version 2) the leader has the coordinator add it. A
// coordinator that cannot answer is NOT_ENOUGH_REPLICAS (the producer
// retries), as in Kafka. With transaction.partition.verification.enable
// false, Produce v3-11 is not verified (Kafka before KIP-890: a batch can
// open a transaction no coordinator will end, a hanging transaction).
package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/record"
	"github.com/tributary/tributary/internal/security"
	"github.com/tributary/tributary/internal/storage"
)

func init() { register(kmsg.Produce, 0, 13, (*Broker).handleProduce) }

func (b *Broker) handleProduce(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)

	acksOK := req.Acks == 0 || req.Acks == 1 || req.Acks == -1
	unverified := b.produceUnverified(req)
	verified := b.verifyProduce(r, req, unverified) // KIP-890, txn_verify.go

	// The appends run on the append stage (append_stage.go); work holds
	// the request's jobs, allocated once for the request, never per batch.
	n := 0
	for i := range req.Topics {
		n += len(req.Topics[i].Partitions)
	}
	work := &produceWork{jobs: make([]appendJob, 0, n)}
	resp.Topics = make([]kmsg.ProduceResponseTopic, 0, len(req.Topics))
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, 0, len(rt.Partitions))
		var t *topic
		if req.Version >= 13 {
			t = b.topicByID(rt.TopicID)
		} else {
			t = b.topic(rt.Topic)
		}
		name := rt.Topic
		if t != nil {
			name = t.meta.Name
		}
		authorized := b.allowed(r, security.OpWrite, security.ResourceTopic, name)
		txnDenied := req.TransactionID != nil && !b.allowed(r, security.OpWrite, security.ResourceTransactionalID, *req.TransactionID)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset = -1
			sp.LogAppendTime = -1
			sp.LogStartOffset = -1
			fail := func(code int16, err error) {
				sp.ErrorCode = code
				sp.ErrorMessage = errMsg(err)
			}
			p, code := leaderPartition(t, rp.Partition)
			submitted := false
			switch {
			case !acksOK:
				fail(kerr.InvalidRequiredAcks.Code, nil)
			case t == nil && req.Version >= 13:
				fail(kerr.UnknownTopicID.Code, nil)
			case txnDenied:
				fail(kerr.TransactionalIDAuthorizationFailed.Code, nil)
			case !authorized:
				fail(kerr.TopicAuthorizationFailed.Code, nil)
			case code != 0:
				fail(code, nil)
			case isInternalTopic(t.meta.Name):
				// Only the broker writes internal topics.
				fail(kerr.InvalidTopicException.Code, fmt.Errorf("cannot append to internal topic %s", t.meta.Name))
			default:
				records := rp.Records
				if req.Version < 7 {
					// Old versions only (v7+ skips this block).
					var err error
					if records, err = oldProduceRecords(req.Version, records); err != nil {
						fail(errCode(err), err)
						break
					}
				}
				v := verified[name][rp.Partition]
				if v.err != nil {
					fail(verifyCode(v.err, req.Version), v.err)
					break
				}
				work.jobs = append(work.jobs, appendJob{b: b, t: t, p: p, records: records, acks: req.Acks,
					txn: req.TransactionID != nil, guard: v.guard, unverified: unverified, done: &work.wg, conn: r.Conn,
					ti: len(resp.Topics), pi: len(st.Partitions), size: len(rp.Records)})
				j := &work.jobs[len(work.jobs)-1]
				work.wg.Add(1)
				if r.Conn != nil {
					r.Conn.Appends.Add(1)
				}
				b.appends.submit(j, rp.Partition)
				submitted = true
			}
			if !submitted {
				b.produced(t, 0, len(rp.Records), sp.ErrorCode) // metrics.go
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	// producer_byte_rate (quotas.go): the request counts whatever its
	// outcome. It is recorded here, as it is handled, and a throttle
	// mutes the connection at once: Kafka reads a connection's next
	// request only after this one's response is sent and its throttle
	// is over, while this reader has up to 5 more read ahead (a
	// pipelining producer). Muting only from the response let those be
	// appended meanwhile, ~10 % over the quota. The writer extends the
	// mute to the throttle time from the response (KIP-219).
	thr := b.produceThrottle(r)
	if thr > 0 && r.Conn != nil && r.Conn.Mute != nil {
		r.Conn.Mute(thr)
	}
	if req.Acks == 0 {
		b.appended(resp, work)
		return nil
	}
	if len(work.jobs) == 0 {
		return func() kmsg.Response {
			b.produceLeaderHints(r, req, resp) // leader_hint.go
			resp.ThrottleMillis = throttleMillis(thr)
			return resp
		}
	}
	if req.Acks != -1 {
		return func() kmsg.Response {
			b.appended(resp, work)
			b.produceLeaderHints(r, req, resp)
			resp.ThrottleMillis = throttleMillis(thr)
			return resp
		}
	}
	timeout := time.NewTimer(time.Duration(max(req.TimeoutMillis, 0)) * time.Millisecond)
	return func() kmsg.Response {
		defer timeout.Stop()
		b.stats.producePurgatory.Add(1)
		defer b.stats.producePurgatory.Add(-1)
		b.appended(resp, work)
		// fsync the partitions at once (partition.SyncAll), then wait
		// for the ISR.
		logs := make([]partition.SyncTarget, 0, len(work.jobs))
		for i := range work.jobs {
			if j := &work.jobs[i]; j.err == nil {
				logs = append(logs, partition.SyncTarget{P: j.p, End: j.res.End})
			}
		}
		synced := partition.SyncAll(b.log, logs)
		k := 0
		for i := range work.jobs {
			w := &work.jobs[i]
			if w.err != nil {
				continue
			}
			rp := &resp.Topics[w.ti].Partitions[w.pi]
			fail := func(code int16, err error) {
				rp.ErrorCode, rp.ErrorMessage, rp.BaseOffset, rp.LogAppendTime = code, errMsg(err), -1, -1
			}
			err := synced[k]
			k++
			if err != nil {
				b.log.Error("fsync failed", "topic", w.p.Topic, "partition", w.p.Index, "err", err)
				fail(kerr.KafkaStorageError.Code, err)
				continue
			}
			ok, err := w.p.WaitCommitted(w.res.End, w.res.Epoch, timeout.C)
			switch {
			case err != nil:
				fail(errCode(err), err)
			case !ok:
				fail(kerr.RequestTimedOut.Code, nil)
			case w.p.ISRSize() < int(w.t.cfg.Int64("min.insync.replicas")):
				// Committed, but the ISR shrank below min.insync.replicas
				// meanwhile: Kafka reports this to the producer.
				fail(kerr.NotEnoughReplicasAfterAppend.Code, nil)
			}
		}
		b.produceLeaderHints(r, req, resp)
		resp.ThrottleMillis = throttleMillis(thr)
		return resp
	}
}

// produceWork is one produce request's appends on the append stage.
type produceWork struct {
	wg   sync.WaitGroup
	jobs []appendJob
}

// appended waits for the request's appends and writes their outcomes
// into resp. On the Pending's goroutine (the reader's for acks=0).
func (b *Broker) appended(resp *kmsg.ProduceResponse, work *produceWork) {
	work.wg.Wait()
	for i := range work.jobs {
		j := &work.jobs[i]
		if j.panicked != nil {
			panic(errAppendPanicked{j.panicked}) // closes the connection (server.run)
		}
		sp := &resp.Topics[j.ti].Partitions[j.pi]
		written := 0 // records appended, for the metrics
		if j.err != nil {
			if errors.Is(j.err, storage.ErrLogOffline) {
				b.replicas.WakeFaults() // report it (internal/replica); the client finds the new leader
			}
			sp.ErrorCode, sp.ErrorMessage = errCode(j.err), errMsg(j.err)
		} else {
			if !j.res.Duplicate {
				written = int(record.Batch(j.records).RecordCount()) // a v2 batch, also after up-conversion
			}
			sp.BaseOffset = j.res.BaseOffset
			sp.LogAppendTime = j.lat
			sp.LogStartOffset = j.p.Snapshot().LogStartOffset
		}
		b.produced(j.t, written, j.size, sp.ErrorCode) // metrics.go
	}
}

// oldProduceRecords applies what differs for Produce v0-6: message sets
// (v0-2) are up-converted to one v2 batch, and zstd, which KIP-110 allows
// from v7 on, is UNSUPPORTED_COMPRESSION_TYPE.
func oldProduceRecords(version int16, records []byte) ([]byte, error) {
	if version < 3 {
		var err error
		if records, err = record.UpConvert(records); err != nil {
			return nil, err
		}
	}
	if c, ok := record.CodecOf(records); ok && c == 4 {
		return nil, record.ErrUnsupportedCompression
	}
	return records, nil
}

// appendBatch validates one partition's records and appends them. It returns
// the log append time stamped on the batch, or -1.
func (b *Broker) appendBatch(t *topic, p *partition.Partition, records []byte, acks int16, transactional bool, guard *partition.VerificationGuard, unverified bool) (partition.AppendResult, int64, error) {
	batch, err := record.Validate(records)
	if err != nil {
		return partition.AppendResult{}, -1, err
	}
	if batch.IsTransactional() && (!transactional || batch.ProducerID() < 0) {
		return partition.AppendResult{}, -1, fmt.Errorf("%w: a transactional batch without a transactional id or producer id", record.ErrInvalid)
	}
	if codec := record.CodecByName(t.cfg.Get("compression.type")); codec >= 0 && codec != batch.Compression() {
		if batch, err = batch.Recompress(codec); err != nil {
			return partition.AppendResult{}, -1, err
		}
	}
	if t.cfg.Compact() {
		// Kafka refuses keyless records on compacted topics.
		if err := storage.CheckKeys(batch); err != nil {
			return partition.AppendResult{}, -1, err
		}
	}
	opts := partition.AppendOptions{MaxMessageBytes: int(t.cfg.Int64("max.message.bytes")), LogAppendTime: -1, Verification: guard, Unverified: unverified}
	if acks == -1 {
		opts.MinISR = int(t.cfg.Int64("min.insync.replicas"))
	}
	if t.cfg.LogAppendTime() {
		opts.LogAppendTime = b.now().UnixMilli()
	}
	res, err := p.Append(batch, opts)
	if err != nil {
		return res, -1, err
	}
	return res, opts.LogAppendTime, nil
}
