package connect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary/tributary/internal/safe"
)

// taskRunner is one task owned by this worker, running on its own
// goroutine. The herder goroutine starts and stops it; pause is an atomic
// flag the task loop checks between polls.
type taskRunner struct {
	id         TaskID
	config     map[string]string // the task config
	connConfig map[string]string
	target     string
	cancel     context.CancelFunc
	done       chan struct{}
	paused     atomic.Bool
	resume     chan struct{} // poked when paused changes
	isFailed   atomic.Bool
	// deleted: the connector is gone; write no status on stop.
	noStatus atomic.Bool
}

func (t *taskRunner) failed() bool { return t.isFailed.Load() }

func (t *taskRunner) setPaused(p bool) {
	if t.paused.Swap(p) != p {
		select {
		case t.resume <- struct{}{}:
		default:
		}
	}
}

// waitResumed blocks while the task is paused; false when ctx ended.
func (t *taskRunner) waitResumed(ctx context.Context) bool {
	for t.paused.Load() {
		select {
		case <-ctx.Done():
			return false
		case <-t.resume:
		}
	}
	return ctx.Err() == nil
}

func (h *Herder) startTask(id TaskID, connConfig, config map[string]string, target string) {
	ctx, cancel := context.WithCancel(context.Background())
	t := &taskRunner{id: id, config: config, connConfig: connConfig, target: target, cancel: cancel,
		done: make(chan struct{}), resume: make(chan struct{}, 1)}
	t.paused.Store(target == TargetPaused)
	h.tasks[id] = t
	safe.Go(h.log, "connect task "+id.String(), func() {
		defer close(t.done)
		err := h.runTask(ctx, t)
		if err != nil && ctx.Err() != nil {
			h.log.Warn("connect task stopped with an error", "task", id.String(), "err", err)
		}
		if err != nil && ctx.Err() == nil {
			t.isFailed.Store(true)
			h.log.Warn("connect task failed", "task", id.String(), "err", err)
			h.putStatus(statusTaskKey(id), StateFailed, trace(err))
		}
	})
}

// trace renders a failure for the status' "trace".
func trace(err error) string {
	return "org.apache.kafka.connect.errors.ConnectException: " + err.Error()
}

// stopTask cancels a task and waits for its graceful stop (bounded by
// TaskShutdownTimeout).
func (h *Herder) stopTask(id TaskID, writeStatus bool) {
	t := h.tasks[id]
	if t == nil {
		return
	}
	delete(h.tasks, id)
	t.noStatus.Store(true)
	t.cancel()
	select {
	case <-t.done:
	case <-time.After(h.cfg.TaskShutdownTimeout):
		h.log.Warn("connect task did not stop in time; abandoning it", "task", id.String(), "timeout", h.cfg.TaskShutdownTimeout)
	}
	if writeStatus {
		h.putStatus(statusTaskKey(id), StateUnassigned, "")
	}
}

func (h *Herder) restartTask(id TaskID) {
	t := h.tasks[id]
	if t == nil {
		return
	}
	h.stopTask(id, false)
	h.putStatus(statusTaskKey(id), StateRestarting, "")
	h.startTask(id, t.connConfig, t.config, t.target)
}

// converters returns a task's key and value converters: the connector's
// key.converter / value.converter (with their prefixed settings) over the
// worker's.
func (h *Herder) converters(connConfig map[string]string) (Converter, Converter, error) {
	mk := func(kind, workerClass string) (Converter, error) {
		props := map[string]string{}
		for k, v := range h.cfg.ConverterProps {
			if p, ok := strings.CutPrefix(k, kind+".converter."); ok {
				props[p] = v
			}
		}
		class := workerClass
		if c, ok := connConfig[kind+".converter"]; ok && strings.TrimSpace(c) != "" {
			class = strings.TrimSpace(c)
			props = map[string]string{}
		}
		for k, v := range connConfig {
			if p, ok := strings.CutPrefix(k, kind+".converter."); ok {
				props[p] = v
			}
		}
		return NewConverter(class, props)
	}
	kc, err := mk("key", h.cfg.KeyConverter)
	if err != nil {
		return nil, nil, err
	}
	vc, err := mk("value", h.cfg.ValueConverter)
	if err != nil {
		return nil, nil, err
	}
	return kc, vc, nil
}

func (h *Herder) runTask(ctx context.Context, t *taskRunner) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("task panicked: %v\n%s", v, debug.Stack())
		}
	}()
	p, ok := h.plugins.Lookup(t.connConfig["connector.class"])
	if !ok {
		return fmt.Errorf("connector class %s not found", t.connConfig["connector.class"])
	}
	kc, vc, err := h.converters(t.connConfig)
	if err != nil {
		return err
	}
	if p.Type == TypeSink {
		return h.runSinkTask(ctx, t, p, kc, vc)
	}
	return h.runSourceTask(ctx, t, p, kc, vc)
}

func (h *Herder) taskState(t *taskRunner) {
	if t.noStatus.Load() {
		return
	}
	st := StateRunning
	if t.paused.Load() {
		st = StatePaused
	}
	h.putStatus(statusTaskKey(t.id), st, "")
}

// offsetReader serves a source task the committed offsets.
type offsetReader struct {
	h         *Herder
	connector string
}

func (r offsetReader) Offset(partition map[string]any) map[string]any {
	r.h.mu.Lock()
	defer r.h.mu.Unlock()
	return r.h.offsets.offsets[string(offsetKey(r.connector, partition))]
}

// submitted tracks a source task's records in production order, so an
// offset is committed only once it and every record before it were
// acknowledged (Connect's SubmittedRecords, one queue per task).
type submitted struct {
	mu    sync.Mutex
	queue []*pendingRecord
	err   error
}

type pendingRecord struct {
	key    []byte // offsets-topic key; nil when the record has no offset
	offset map[string]any
	acked  bool
}

func (s *submitted) add(p *pendingRecord) {
	s.mu.Lock()
	s.queue = append(s.queue, p)
	s.mu.Unlock()
}

func (s *submitted) ack(p *pendingRecord, err error) {
	s.mu.Lock()
	if err != nil && s.err == nil {
		s.err = err
	}
	if err == nil {
		p.acked = true
	}
	s.mu.Unlock()
}

// committable removes the acknowledged prefix and returns the latest
// offset per source partition in it.
func (s *submitted) committable() (map[string]map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string]any{}
	i := 0
	for ; i < len(s.queue) && s.queue[i].acked; i++ {
		if p := s.queue[i]; p.key != nil {
			out[string(p.key)] = p.offset
		}
	}
	s.queue = s.queue[i:]
	return out, s.err
}

func (h *Herder) runSourceTask(ctx context.Context, t *taskRunner, p *Plugin, kc, vc Converter) error {
	chain, err := NewTransformChain(t.connConfig)
	if err != nil {
		return err
	}
	if err := h.offsetLog.ReadToEnd(ctx); err != nil {
		return err
	}
	task := p.NewSourceTask()
	if lt, ok := task.(LoggingTask); ok {
		lt.SetLogger(h.log.With("task", t.id.String()))
	}
	if err := task.Start(t.config, offsetReader{h, t.id.Connector}); err != nil {
		return err
	}
	committer, _ := task.(RecordCommitter)
	if h.cfg.ExactlyOnceSource {
		return h.runSourceTaskEOS(ctx, t, task, committer, chain, kc, vc)
	}
	h.taskState(t)
	keys := offsetKeys{connector: t.id.Connector}
	var subm submitted
	lastCommit := time.Now()
	// unwritten holds acknowledged offsets not yet written to the offsets
	// topic (a failed write is retried by the next commit).
	unwritten := map[string]map[string]any{}
	commit := func(cctx context.Context) error {
		offs, perr := subm.committable()
		for k, v := range offs {
			unwritten[k] = v
		}
		wrote := len(unwritten) > 0
		for k, v := range unwritten {
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			if err := h.offsetLog.Send(cctx, []byte(k), b); err != nil {
				return err
			}
			delete(unwritten, k)
		}
		if wrote {
			if err := task.Commit(); err != nil {
				h.log.Warn("source task commit", "task", t.id.String(), "err", err)
			}
		}
		lastCommit = time.Now()
		return perr
	}
	stop := func(runErr error) error {
		// Graceful: wait for the records in flight, then commit.
		sctx, cancel := context.WithTimeout(context.Background(), h.cfg.TaskShutdownTimeout)
		defer cancel()
		ferr := h.deps.Producer.Flush(sctx)
		if ferr != nil {
			ferr = fmt.Errorf("flushing the producer: %w", ferr)
		}
		cerr := commit(sctx)
		if cerr != nil {
			cerr = fmt.Errorf("committing offsets: %w", cerr)
		}
		serr := task.Stop()
		return errors.Join(runErr, ferr, cerr, serr)
	}
	for {
		if t.paused.Load() {
			h.taskState(t)
			if !t.waitResumed(ctx) {
				return stop(nil)
			}
			h.taskState(t)
		}
		if ctx.Err() != nil {
			return stop(nil)
		}
		recs, err := task.Poll(ctx)
		if err != nil {
			return stop(err)
		}
		batchTopics := map[string]bool{}
		for _, r := range recs {
			orig := r
			pr := &pendingRecord{offset: r.SourceOffset}
			if r.SourcePartition != nil && r.SourceOffset != nil {
				pr.key = keys.of(r.SourcePartition)
			}
			out, dropped, err := prepareSource(chain, kc, vc, r)
			if err != nil {
				return stop(err)
			}
			if dropped {
				// Its offset still counts as done.
				pr.acked = true
				subm.add(pr)
				continue
			}
			subm.add(pr)
			// Not ctx: a record read before a stop must still be sent (its
			// offset is committed only once acknowledged).
			h.deps.Producer.Produce(context.Background(), out, func(part int32, off int64, err error) {
				subm.ack(pr, err)
				if committer != nil && err == nil {
					committer.CommitRecord(orig, part, off)
				}
			})
			batchTopics[out.Topic] = true
		}
		for topic := range batchTopics {
			h.trackTopic(topic, t.id)
		}
		if time.Since(lastCommit) >= h.cfg.OffsetFlushInterval {
			if err := commit(ctx); err != nil && ctx.Err() == nil {
				return stop(err)
			}
		}
	}
}

// offsetKeys memoizes the offsets-topic key of the last source partition
// seen: a task's records mostly share one, and the key is JSON to encode
// (it was the largest single cost per record of a FileStreamSource).
type offsetKeys struct {
	connector string
	last      map[string]any // a copy: tasks may reuse their maps
	key       []byte
}

func (o *offsetKeys) of(p map[string]any) []byte {
	if o.key == nil || !sameFlatMap(o.last, p) {
		o.last, o.key = maps.Clone(p), offsetKey(o.connector, p)
	}
	return o.key
}

// sameFlatMap reports whether two maps hold the same scalar values (false
// when either holds a non-scalar, which is then encoded afresh).
func sameFlatMap(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok {
			return false
		}
		switch v.(type) {
		case string, bool, int, int32, int64, float64, json.Number:
			if v != w {
				return false
			}
		default:
			return false
		}
	}
	return true
}

type ackedRecord struct {
	r         SourceRecord
	partition int32
	offset    int64
}

// transactionalID is a source task's transactional.id under exactly-once
// support (Connect's "<group.id>-<connector>-<task>").
func (h *Herder) transactionalID(id TaskID) string {
	return fmt.Sprintf("%s-%s-%d", h.cfg.GroupID, id.Connector, id.Task)
}

// runSourceTaskEOS runs a source task with exactly-once support (KIP-618):
// the task's records and the offsets of their source partitions are
// written in one transaction of the task's transactional producer, one
// per poll (transaction.boundary=poll) or per
// transaction.boundary.interval.ms (interval). A restarted task, here or
// on another worker, fences the earlier instance through the
// transactional id and resumes from the committed offsets, so each record
// is in the topic exactly once for read_committed consumers.
func (h *Herder) runSourceTaskEOS(ctx context.Context, t *taskRunner, task SourceTask, committer RecordCommitter, chain *TransformChain, kc, vc Converter) error {
	txp, err := h.deps.NewTxnProducer(h.transactionalID(t.id))
	if err != nil {
		task.Stop()
		return err
	}
	defer txp.Close()
	interval := time.Duration(0) // poll
	if strings.EqualFold(strings.TrimSpace(t.connConfig["transaction.boundary"]), "interval") {
		interval = time.Duration(intConfig(t.connConfig, "transaction.boundary.interval.ms", h.cfg.OffsetFlushInterval.Milliseconds())) * time.Millisecond
	}
	h.taskState(t)
	keys := offsetKeys{connector: t.id.Connector}
	var (
		inTxn    bool
		txnStart time.Time
		pending  = map[string]map[string]any{} // offsets of this transaction
		errMu    sync.Mutex
		sendErr  error         // the first failed send of this transaction
		acked    []ackedRecord // for CommitRecord once the transaction commits
	)
	fail := func(err error) {
		errMu.Lock()
		if sendErr == nil {
			sendErr = err
		}
		errMu.Unlock()
	}
	// The commit outlives a stop's cancellation, bounded.
	commitTxn := func() error {
		if !inTxn {
			return nil
		}
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for k, v := range pending {
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			txp.Produce(cctx, ProducerRecord{Topic: h.cfg.OffsetTopic, Partition: -1, Key: []byte(k), Value: b}, func(_ int32, _ int64, err error) {
				if err != nil {
					fail(fmt.Errorf("writing source offsets: %w", err))
				}
			})
		}
		err := txp.Commit(cctx)
		errMu.Lock()
		if err == nil {
			err = sendErr
		}
		sendErr = nil
		errMu.Unlock()
		inTxn, pending = false, map[string]map[string]any{}
		if err != nil {
			errMu.Lock()
			acked = nil
			errMu.Unlock()
			if aerr := txp.Abort(cctx); aerr != nil {
				h.log.Warn("aborting a source transaction", "task", t.id.String(), "err", aerr)
			}
			return fmt.Errorf("committing the source transaction: %w", err)
		}
		errMu.Lock()
		done := acked
		acked = nil
		errMu.Unlock()
		for _, a := range done {
			committer.CommitRecord(a.r, a.partition, a.offset)
		}
		if err := task.Commit(); err != nil {
			h.log.Warn("source task commit", "task", t.id.String(), "err", err)
		}
		return nil
	}
	stop := func(runErr error) error {
		var cerr error
		if runErr == nil {
			cerr = commitTxn()
		} else if inTxn {
			actx, cancel := context.WithTimeout(context.Background(), h.cfg.TaskShutdownTimeout)
			txp.Abort(actx)
			cancel()
		}
		return errors.Join(runErr, cerr, task.Stop())
	}
	for {
		if t.paused.Load() {
			if err := commitTxn(); err != nil {
				return stop(err)
			}
			h.taskState(t)
			if !t.waitResumed(ctx) {
				return stop(nil)
			}
			h.taskState(t)
		}
		if ctx.Err() != nil {
			return stop(nil)
		}
		recs, err := task.Poll(ctx)
		if err != nil {
			return stop(err)
		}
		batchTopics := map[string]bool{}
		for _, r := range recs {
			orig := r
			out, dropped, err := prepareSource(chain, kc, vc, r)
			if err != nil {
				return stop(err)
			}
			if !inTxn {
				if err := txp.Begin(); err != nil {
					return stop(err)
				}
				inTxn, txnStart = true, time.Now()
			}
			if r.SourcePartition != nil && r.SourceOffset != nil {
				pending[string(keys.of(r.SourcePartition))] = r.SourceOffset
			}
			if dropped {
				continue
			}
			txp.Produce(context.Background(), out, func(part int32, off int64, err error) {
				if err != nil {
					fail(err)
					return
				}
				if committer != nil {
					errMu.Lock()
					acked = append(acked, ackedRecord{orig, part, off})
					errMu.Unlock()
				}
			})
			batchTopics[out.Topic] = true
		}
		for topic := range batchTopics {
			h.trackTopic(topic, t.id)
		}
		if inTxn && (interval == 0 || time.Since(txnStart) >= interval) {
			if err := commitTxn(); err != nil {
				return stop(err)
			}
		}
	}
}

// prepareSource runs a source record through the transformations and the
// converters; dropped reports a record a transformation filtered out.
func prepareSource(chain *TransformChain, kc, vc Converter, r SourceRecord) (out ProducerRecord, dropped bool, err error) {
	if !chain.Empty() {
		cr := &ConnectRecord{Topic: r.Topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Headers: r.Headers}
		if cr, err = chain.Apply(cr); err != nil {
			return out, false, err
		}
		if cr == nil {
			return out, true, nil
		}
		r.Topic, r.Partition, r.Key, r.Value, r.Timestamp, r.Headers = cr.Topic, cr.Partition, cr.Key, cr.Value, cr.Timestamp, cr.Headers
	}
	key, err := kc.FromConnect(r.Topic, r.Key)
	if err != nil {
		return out, false, fmt.Errorf("converting key: %w", err)
	}
	val, err := vc.FromConnect(r.Topic, r.Value)
	if err != nil {
		return out, false, fmt.Errorf("converting value: %w", err)
	}
	out = ProducerRecord{Topic: r.Topic, Partition: -1, Key: key, Value: val, Headers: r.Headers}
	if r.Partition != nil {
		out.Partition = *r.Partition
	}
	if r.Timestamp != nil {
		out.Timestamp = time.UnixMilli(*r.Timestamp)
	}
	return out, false, nil
}

// trackTopic records a topic a connector used (KIP-558), once per batch
// at most: unless the status topic has it already (it may have been reset).
func (h *Herder) trackTopic(topic string, id TaskID) {
	h.mu.Lock()
	known := h.status.topics[id.Connector][topic]
	h.mu.Unlock()
	if known {
		return
	}
	var v topicStatusValue
	v.Topic.Name, v.Topic.Connector, v.Topic.Task, v.Topic.DiscoverTimestamp = topic, id.Connector, id.Task, time.Now().UnixMilli()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.statusLog.Send(ctx, statusTopicKey(topic, id.Connector), b); err != nil {
		h.log.Warn("writing topic status", "err", err)
	}
}

func (h *Herder) runSinkTask(ctx context.Context, t *taskRunner, p *Plugin, kc, vc Converter) error {
	chain, err := NewTransformChain(t.connConfig)
	if err != nil {
		return err
	}
	task := p.NewSinkTask()
	if err := task.Start(t.config); err != nil {
		return err
	}
	var taskMu sync.Mutex // Put and a revocation's Flush never overlap
	cc := SinkConsumerConfig{Group: "connect-" + t.id.Connector, Topics: listConfig(t.config["topics"]), Regex: strings.TrimSpace(t.config["topics.regex"]),
		BeforeRevoke: func() {
			taskMu.Lock()
			defer taskMu.Unlock()
			if err := task.Flush(); err != nil {
				h.log.Warn("sink flush before revocation", "task", t.id.String(), "err", err)
			}
		}}
	cons, err := h.deps.NewSinkConsumer(cc)
	if err != nil {
		task.Stop()
		return err
	}
	h.taskState(t)
	lastCommit := time.Now()
	dirty := false // records were Put since the last flush
	flush := func(fctx context.Context) error {
		taskMu.Lock()
		err := task.Flush()
		taskMu.Unlock()
		if err != nil {
			return err
		}
		lastCommit = time.Now()
		return cons.Commit(fctx)
	}
	stop := func(runErr error) error {
		sctx, cancel := context.WithTimeout(context.Background(), h.cfg.TaskShutdownTimeout)
		defer cancel()
		var ferr error
		if runErr == nil {
			ferr = flush(sctx)
		}
		cons.Close()
		return errors.Join(runErr, ferr, task.Stop())
	}
	for {
		if t.paused.Load() {
			cons.Pause(true)
			h.taskState(t)
			if !t.waitResumed(ctx) {
				return stop(nil)
			}
			cons.Pause(false)
			h.taskState(t)
		}
		// Poll at most one flush interval, so what was Put is flushed and
		// committed even when no more records come.
		pctx, pcancel := context.WithTimeout(ctx, h.cfg.OffsetFlushInterval)
		recs, err := cons.Poll(pctx)
		pcancel()
		if ctx.Err() != nil {
			cons.Done()
			return stop(nil)
		}
		if err != nil {
			cons.Done()
			return stop(err)
		}
		out := make([]SinkRecord, 0, len(recs))
		batchTopics := map[string]bool{}
		for _, r := range recs {
			k, err := kc.ToConnect(r.Topic, r.Key)
			if err != nil {
				cons.Done()
				return stop(fmt.Errorf("converting key of %s-%d@%d: %w", r.Topic, r.Partition, r.Offset, err))
			}
			v, err := vc.ToConnect(r.Topic, r.Value)
			if err != nil {
				cons.Done()
				return stop(fmt.Errorf("converting value of %s-%d@%d: %w", r.Topic, r.Partition, r.Offset, err))
			}
			sr := SinkRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: k, Value: v, Timestamp: r.Timestamp.UnixMilli(), Headers: r.Headers}
			if !chain.Empty() {
				part, off, ts := r.Partition, r.Offset, sr.Timestamp
				cr := &ConnectRecord{Topic: r.Topic, Partition: &part, KafkaOffset: &off, Key: k, Value: v, Timestamp: &ts, Headers: r.Headers}
				if cr, err = chain.Apply(cr); err != nil {
					cons.Done()
					return stop(fmt.Errorf("%s-%d@%d: %w", r.Topic, r.Partition, r.Offset, err))
				}
				if cr == nil {
					continue
				}
				sr.Topic, sr.Key, sr.Value, sr.Headers = cr.Topic, cr.Key, cr.Value, cr.Headers
				if cr.Partition != nil {
					sr.Partition = *cr.Partition
				}
				if cr.Timestamp != nil {
					sr.Timestamp = *cr.Timestamp
				}
			}
			out = append(out, sr)
			batchTopics[r.Topic] = true
		}
		for topic := range batchTopics {
			h.trackTopic(topic, t.id)
		}
		if len(out) > 0 {
			taskMu.Lock()
			err = task.Put(out)
			taskMu.Unlock()
			if err != nil {
				cons.Done()
				return stop(err)
			}
		}
		if len(recs) > 0 {
			dirty = true // filtered records' offsets are committed too
		}
		if dirty && time.Since(lastCommit) >= h.cfg.OffsetFlushInterval {
			dirty = false
			if err := flush(ctx); err != nil && ctx.Err() == nil {
				cons.Done()
				return stop(err)
			}
		}
		cons.Done()
	}
}
