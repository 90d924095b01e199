// Package replication runs this broker's follower fetchers: for each leader
// broker, one goroutine fetches every partition this broker follows from it
// with the Kafka Fetch API (as replica), appends the batches with their
// offsets, fsyncs them, and then asks for the next offset, so the leader
// learns that the data is durable here. Before fetching under a new leader
// epoch, a follower truncates a divergent tail using OffsetForLeaderEpoch
// (KIP-101/279).
//
// Concurrency: Manager.mu guards fetchers. Each fetcher's mu guards its
// partition set; the fetch loop copies the set each round.
package replication

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/safe"
	"github.com/tributary/tributary/internal/storage"
)

// Config configures the fetchers.
type Config struct {
	Self int32
	// Addr resolves a broker id to its Kafka host:port.
	Addr   func(id int32) (string, bool)
	Logger *slog.Logger
	// MaxWait is the follower fetch long-poll (replica.fetch.wait.max.ms).
	MaxWait time.Duration
	// TLS and SASL secure the connection to the leader's inter-broker
	// listener (SSL, SASL_*); nil for PLAINTEXT.
	TLS  *tls.Config
	SASL sasl.Mechanism
	// OnAppend, if set, is told the bytes of record batches appended
	// from a leader (metrics); called on the fetcher goroutine.
	OnAppend func(topic string, bytes int)
	// FollowerThrottle, if set and on, bounds the bytes fetched for the
	// partitions FollowerThrottled names while this broker is not in their
	// ISR (follower.replication.throttled.rate and .replicas, KIP-73): such
	// a partition asks for at most the tokens left and is left out of a
	// round while there are none.
	FollowerThrottle  *Throttle
	FollowerThrottled func(topic string, part int32) bool
}

// Manager owns the fetchers.
type Manager struct {
	cfg      Config
	mu       sync.Mutex
	fetchers map[int32]*fetcher // by leader id
	closed   bool
}

// New returns a manager with no fetchers.
func New(cfg Config) *Manager {
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Manager{cfg: cfg, fetchers: map[int32]*fetcher{}}
}

type followed struct {
	p        *partition.Partition
	topicID  [16]byte
	epoch    int32
	truncate bool // needs OffsetForLeaderEpoch truncation first
	backoff  time.Time
}

type tp struct {
	topic string
	part  int32
}

// Follow makes p fetch from leader under leaderEpoch, moving it off any other
// leader's fetcher.
func (m *Manager) Follow(p *partition.Partition, topicID [16]byte, leader, leaderEpoch int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	key := tp{p.Topic, p.Index}
	for id, f := range m.fetchers {
		if id != leader {
			f.remove(key)
		}
	}
	f := m.fetchers[leader]
	if f == nil {
		f = &fetcher{m: m, leader: leader, parts: map[tp]*followed{}, wake: make(chan struct{}, 1), done: make(chan struct{})}
		m.fetchers[leader] = f
		// Added here, not in run: a Close before the goroutine ran
		// waited for nothing, and the fetcher ran on after it.
		f.exited.Add(1)
		go func() {
			defer f.exited.Done()
			safe.Loop(m.cfg.Logger, "replica-fetcher", f.done, f.run)
		}()
	}
	f.add(key, &followed{p: p, topicID: topicID, epoch: leaderEpoch, truncate: true})
}

// Unfollow stops fetching p.
func (m *Manager) Unfollow(p *partition.Partition) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.fetchers {
		f.remove(tp{p.Topic, p.Index})
	}
}

// Close stops every fetcher and waits for them.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	fs := m.fetchers
	m.fetchers = map[int32]*fetcher{}
	m.mu.Unlock()
	for _, f := range fs {
		f.stop()
	}
}

type fetcher struct {
	m      *Manager
	leader int32

	mu    sync.Mutex
	parts map[tp]*followed

	wake     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	exited   sync.WaitGroup
}

func (f *fetcher) add(k tp, fp *followed) {
	f.mu.Lock()
	f.parts[k] = fp
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *fetcher) remove(k tp) {
	f.mu.Lock()
	delete(f.parts, k)
	f.mu.Unlock()
}

func (f *fetcher) stop() {
	f.stopOnce.Do(func() { close(f.done) })
	f.exited.Wait()
}

func (f *fetcher) snapshot() map[tp]*followed {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[tp]*followed, len(f.parts))
	for k, v := range f.parts {
		out[k] = v
	}
	return out
}

func (f *fetcher) current(k tp, fp *followed) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.parts[k] == fp
}

// fetchStallTimeout is how long past its long poll a fetch (or a dial) may
// take before the fetcher drops the connection and dials again. After a
// network partition heals, an old connection can sit in TCP's
// retransmission backoff for many seconds while a new one gets through at
// once; a follower stuck like that holds the leader's high watermark
// (a second stall after the fault). A slow leader only costs a refetch.
const fetchStallTimeout = 3 * time.Second

func (f *fetcher) run() {
	log := f.m.cfg.Logger.With("component", "replica-fetcher", "leader", f.leader)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // safe: only waits
		<-f.done
		cancel()
	}()
	var cn *conn // the fetcher's own connection (conn.go)
	var cnAddr string
	defer func() {
		if cn != nil {
			cn.Close()
		}
	}()
	for {
		select {
		case <-f.done:
			return
		default:
		}
		parts := f.snapshot()
		if len(parts) == 0 {
			select {
			case <-f.wake:
			case <-f.done:
				return
			case <-time.After(time.Second):
			}
			continue
		}
		addr, ok := f.m.cfg.Addr(f.leader)
		if !ok {
			f.sleep(200 * time.Millisecond)
			continue
		}
		if cn != nil && (cnAddr != addr || cn.expired(time.Now())) {
			cn.Close()
			cn = nil
		}
		if cn == nil {
			dctx, cancel := context.WithTimeout(ctx, fetchStallTimeout)
			var err error
			cn, err = dialConn(dctx, addr, f.m.cfg.TLS, f.m.cfg.SASL)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				log.Debug("connecting to the leader failed", "addr", addr, "err", err)
				f.sleep(200 * time.Millisecond)
				continue
			}
			cnAddr = addr
		}
		// After a failed request the connection may hold an unread
		// response: it is closed, and the next round dials again.
		if err := f.truncate(ctx, cn, parts, log); err != nil {
			log.Debug("truncation round failed", "err", err)
			cn.Close()
			cn = nil
			f.sleep(200 * time.Millisecond)
			continue
		}
		if err := f.fetch(ctx, cn, parts, log); err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Debug("fetch failed", "err", err)
			var ke *kerr.Error
			if !errors.As(err, &ke) { // a protocol error leaves the connection usable
				cn.Close()
				cn = nil
			}
			f.sleep(200 * time.Millisecond)
		}
	}
}

func (f *fetcher) sleep(d time.Duration) {
	select {
	case <-f.done:
	case <-time.After(d):
	}
}

// truncate runs OffsetForLeaderEpoch for partitions that start following
// under a new epoch and cuts their divergent tails.
func (f *fetcher) truncate(ctx context.Context, br *conn, parts map[tp]*followed, log *slog.Logger) error {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = f.m.cfg.Self
	byTopic := map[string]int{}
	var asked []*followed
	now := time.Now()
	for k, fp := range parts {
		if !fp.truncate || now.Before(fp.backoff) {
			continue
		}
		epochs := fp.p.LeaderEpochs()
		if len(epochs) == 0 {
			fp.truncate = false // nothing written here under any epoch
			continue
		}
		i, ok := byTopic[k.topic]
		if !ok {
			t := kmsg.NewOffsetForLeaderEpochRequestTopic()
			t.Topic = k.topic
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
			byTopic[k.topic] = i
		}
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition = k.part
		rp.CurrentLeaderEpoch = fp.epoch
		rp.LeaderEpoch = epochs[len(epochs)-1].Epoch
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		asked = append(asked, fp)
	}
	if len(asked) == 0 {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	kresp, err := br.Request(rctx, req)
	if err != nil {
		return err
	}
	resp := kresp.(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			k := tp{rt.Topic, rp.Partition}
			fp := parts[k]
			if fp == nil || !f.current(k, fp) {
				continue
			}
			if rp.ErrorCode != 0 {
				fp.backoff = time.Now().Add(200 * time.Millisecond)
				continue
			}
			leo := fp.p.Snapshot().LogEndOffset
			target := leo
			if rp.EndOffset >= 0 {
				target = min(target, rp.EndOffset)
				// The leader knows only an older epoch: our records after
				// that epoch's end here are divergent too.
				if ourEpoch, ourEnd := fp.p.EndOffsetForEpoch(rp.LeaderEpoch); ourEpoch == rp.LeaderEpoch && ourEnd >= 0 {
					target = min(target, ourEnd)
				}
			} else {
				target = min(target, fp.p.HighWatermark())
			}
			if target < leo {
				log.Info("truncating divergent log tail", "topic", k.topic, "partition", k.part, "from", leo, "to", target, "leader_epoch", fp.epoch)
				if err := fp.p.TruncateToAt(fp.epoch, target); errors.Is(err, partition.ErrNotFollowing) {
					continue // the role moved on while the request was out
				} else if err != nil {
					log.Error("truncation failed", "topic", k.topic, "partition", k.part, "err", err)
					fp.backoff = time.Now().Add(time.Second)
					continue
				}
			}
			fp.truncate = false
		}
	}
	return nil
}

// fetch runs one replica Fetch round for every ready partition.
func (f *fetcher) fetch(ctx context.Context, br *conn, parts map[tp]*followed, log *slog.Logger) error {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = f.m.cfg.Self
	req.ReplicaState.ID = f.m.cfg.Self
	req.ReplicaState.Epoch = -1
	req.MaxWaitMillis = int32(f.m.cfg.MaxWait / time.Millisecond)
	req.MinBytes = 1
	req.MaxBytes = 16 << 20
	req.SessionEpoch = -1
	byTopic := map[string]int{}
	now := time.Now()
	var ready int
	// The follower-side throttle (KIP-73): throttled holds the partitions
	// whose bytes are recorded against it.
	var throttled map[tp]bool
	allow := 0
	thr := f.m.cfg.FollowerThrottle
	throttleOn := thr != nil && thr.On() && f.m.cfg.FollowerThrottled != nil
	if throttleOn {
		allow = thr.Available(now)
	}
	for k, fp := range parts {
		if fp.truncate || now.Before(fp.backoff) {
			continue
		}
		maxBytes := int32(4 << 20)
		if throttleOn && f.m.cfg.FollowerThrottled(k.topic, k.part) && !fp.p.InISR(f.m.cfg.Self) {
			if allow <= 0 {
				continue
			}
			maxBytes = int32(min(int(maxBytes), allow))
			if throttled == nil {
				throttled = map[tp]bool{}
			}
			throttled[k] = true
		}
		i, ok := byTopic[k.topic]
		if !ok {
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = k.topic, fp.topicID
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
			byTopic[k.topic] = i
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = k.part
		rp.CurrentLeaderEpoch = fp.epoch
		snap := fp.p.Snapshot()
		rp.FetchOffset = snap.LogEndOffset
		rp.LogStartOffset = snap.LogStartOffset
		rp.PartitionMaxBytes = maxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		ready++
	}
	if ready == 0 {
		f.sleep(100 * time.Millisecond)
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, f.m.cfg.MaxWait+fetchStallTimeout)
	defer cancel()
	kresp, err := br.Request(rctx, req)
	if err != nil {
		return err
	}
	resp := kresp.(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		return kerr.ErrorForCode(resp.ErrorCode)
	}
	var done []appended
	var syncs []partition.SyncTarget
	for _, rt := range resp.Topics {
		name := rt.Topic
		if name == "" {
			for k, fp := range parts {
				if fp.topicID == rt.TopicID {
					name = k.topic
					break
				}
			}
		}
		for _, rp := range rt.Partitions {
			k := tp{name, rp.Partition}
			fp := parts[k]
			if fp == nil || !f.current(k, fp) {
				continue
			}
			switch rp.ErrorCode {
			case 0:
			case kerr.OffsetOutOfRange.Code:
				log.Warn("follower offset out of range on leader", "topic", name, "partition", rp.Partition, "leader_start", rp.LogStartOffset, "leader_hw", rp.HighWatermark, "local_end", fp.p.Snapshot().LogEndOffset)
				switch end := fp.p.Snapshot().LogEndOffset; {
				case rp.LogStartOffset > end:
					// Everything we hold is below the leader's log start
					// (retention or DeleteRecords ran while we were away):
					// start over at the leader's log start.
					log.Info("follower log below leader log start; resetting", "topic", name, "partition", rp.Partition, "local_end", end, "leader_start", rp.LogStartOffset)
					if err := fp.p.ResetTo(rp.LogStartOffset); err != nil {
						log.Error("reset failed", "topic", name, "partition", rp.Partition, "err", err)
						fp.backoff = time.Now().Add(time.Second)
					}
				case rp.HighWatermark >= 0 && end > rp.HighWatermark:
					fp.truncate = true
				default:
					fp.backoff = time.Now().Add(time.Second)
				}
				continue
			default:
				fp.backoff = time.Now().Add(200 * time.Millisecond)
				continue
			}
			if throttled[k] {
				thr.Record(len(rp.RecordBatches), time.Now())
			}
			a := appended{k: k, fp: fp, topic: name, partition: rp.Partition, hw: rp.HighWatermark, logStart: rp.LogStartOffset, bytes: len(rp.RecordBatches)}
			if len(rp.RecordBatches) > 0 {
				end, err := fp.p.AppendReplicaAt(fp.epoch, rp.RecordBatches)
				if errors.Is(err, partition.ErrNotFollowing) {
					continue // the role moved on while this fetch was out
				}
				if err != nil && !errors.Is(err, storage.ErrBadOffset) {
					log.Error("appending fetched batches", "topic", name, "partition", rp.Partition, "err", err)
					fp.backoff = time.Now().Add(time.Second)
					continue
				}
				a.sync = len(syncs)
				syncs = append(syncs, partition.SyncTarget{P: fp.p, End: end})
			}
			done = append(done, a)
		}
	}
	// fsync every partition that got batches at once, then take the
	// leader's high watermark and log start for each.
	synced := partition.SyncAll(log, syncs)
	for _, a := range done {
		if !f.current(a.k, a.fp) {
			continue // no longer followed here (a role change during the fsyncs)
		}
		if a.bytes > 0 {
			if err := synced[a.sync]; err != nil {
				log.Error("fsync of fetched batches", "topic", a.topic, "partition", a.partition, "err", err)
				a.fp.backoff = time.Now().Add(time.Second)
				continue
			}
			if on := f.m.cfg.OnAppend; on != nil {
				on(a.topic, a.bytes)
			}
		}
		a.fp.p.SetFollowerHWAt(a.fp.epoch, a.hw)
		if err := a.fp.p.FollowLogStart(a.logStart); err != nil {
			log.Warn("following the leader's log start", "topic", a.topic, "partition", a.partition, "leader_start", a.logStart, "err", err)
		}
	}
	return nil
}

// appended is a partition of a follower fetch response, appended and
// waiting for its fsync (SyncAll) before the leader's high watermark and
// log start apply.
type appended struct {
	k            tp
	fp           *followed
	topic        string
	partition    int32
	hw, logStart int64
	bytes        int // record bytes appended (0: none)
	sync         int // index of its fsync in the SyncAll batch
}
