package storage

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary/tributary/internal/safe"
)

const deleteSuffix = "-delete"

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	// Dir is the data dir holding <topic>-<partition> directories and the
	// data-dir checkpoints.
	Dir    string
	Logger *slog.Logger
	// Now is the clock for retention, segment.ms, flush.ms and compaction
	// lags; tests inject one. Defaults to time.Now.
	Now func() time.Time
	// Intervals of the background work (real time). Zero picks the default
	// in parentheses; negative disables that loop.
	FlushCheckInterval     time.Duration // flush.ms checks (100ms)
	RetentionCheckInterval time.Duration // log.retention.check.interval.ms (5m)
	CheckpointInterval     time.Duration // log.flush.offset.checkpoint.interval.ms (60s)
	CleanerInterval        time.Duration // log.cleaner.backoff.ms (15s)
	DiskCheckInterval      time.Duration // free space checks (250ms)
	// MinFreeBytes is the reserve (log.dir.min.free.bytes): appends fail
	// with ErrDiskFull while the data dir's volume has less free.
	MinFreeBytes int64
	// MaxBytes is the data dir's size budget (log.dir.max.bytes): when
	// positive, the dir counts as a volume of MaxBytes holding its own
	// files (free = min(the volume's free, MaxBytes − the dir's size)).
	MaxBytes int64
	// Keys turns on encryption at rest (crypt.go): every new segment is
	// encrypted with a data key wrapped by Keys' current KEK. Nil: off
	// (an encrypted segment found on disk is then an error).
	Keys *Keyring
	// MaxOpenFiles bounds the segment file descriptors open at once
	// (files.go); 0 picks DefaultMaxOpenFiles.
	MaxOpenFiles int
	// OnSync, if set, is told how long each Log.Sync round of fsyncs took
	// (metrics); it is called without locks held and must be quick.
	OnSync func(time.Duration)

	private bool // a standalone log's manager: no loops, no clean marker
}

// Manager owns the logs of one data dir: it writes the data-dir
// checkpoints (recovery-point-offset-checkpoint, log-start-offset-checkpoint
// and, on clean shutdown, .kafka_cleanshutdown), and runs the background
// flusher, retention and cleaner loops.
//
// Concurrency: mu guards logs, dirty and the remembered checkpoint
// entries. It is never held while calling into a Log; Logs call
// unregister, forget and flushable with their own locks held, so those
// only take mu. ckMu serializes checkpoint
// file writes.
type Manager struct {
	cfg    ManagerConfig
	logger *slog.Logger

	mu       sync.Mutex
	logs     map[TopicPartition]*Log
	recovery map[TopicPartition]int64 // last known recovery points
	starts   map[TopicPartition]int64 // last known log start offsets
	// dirty are the logs with records appended since their last fsync
	// and a finite flush.ms: all the flush loop has to visit.
	dirty   map[*Log]struct{}
	clean   bool // the previous shutdown was clean
	unclean bool // a log failed to close cleanly

	space *diskSpace
	files *fileCache // segment file descriptors (files.go)
	// offlineLogs counts the open logs that are offline (faults.go):
	// changed under the log's own mu as it goes offline, is repaired or
	// closes, read without a lock.
	offlineLogs atomic.Int64

	ckMu      sync.Mutex
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// OpenManager reads the data dir's checkpoints and starts the background
// loops. Leftover <topic>-<partition>.<id>-delete directories are removed.
func OpenManager(cfg ManagerConfig) (*Manager, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.FlushCheckInterval, 100*time.Millisecond)
	def(&cfg.RetentionCheckInterval, 5*time.Minute)
	def(&cfg.CheckpointInterval, time.Minute)
	def(&cfg.CleanerInterval, 15*time.Second)
	def(&cfg.DiskCheckInterval, 250*time.Millisecond)
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, logger: cfg.Logger, logs: map[TopicPartition]*Log{}, dirty: map[*Log]struct{}{}, stop: make(chan struct{}),
		space: &diskSpace{dir: cfg.Dir, min: max(cfg.MinFreeBytes, 0), logger: cfg.Logger, statfs: budgetStatfs(realStatfs, cfg.MaxBytes)}}
	m.space.check()
	if cfg.MaxOpenFiles <= 0 {
		cfg.MaxOpenFiles = DefaultMaxOpenFiles()
		m.cfg.MaxOpenFiles = cfg.MaxOpenFiles
	}
	m.files = newFileCache(cfg.MaxOpenFiles, cfg.Logger)
	var err error
	if m.recovery, err = readOffsetsCheckpoint(filepath.Join(cfg.Dir, recoveryPointFile)); err != nil {
		m.logger.Warn("ignoring unreadable checkpoint; recovering every segment", "err", err)
		m.recovery = map[TopicPartition]int64{}
	}
	if m.starts, err = readOffsetsCheckpoint(filepath.Join(cfg.Dir, logStartFile)); err != nil {
		m.logger.Warn("ignoring unreadable checkpoint", "err", err)
		m.starts = map[TopicPartition]int64{}
	}
	if !cfg.private {
		marker := filepath.Join(cfg.Dir, cleanShutdownFile)
		if _, err := os.Stat(marker); err == nil {
			m.clean = true
			if err := os.Remove(marker); err != nil {
				m.files.close()
				return nil, err
			}
			if err := syncDir(cfg.Dir); err != nil {
				m.files.close()
				return nil, err
			}
		}
		if ents, err := os.ReadDir(cfg.Dir); err == nil {
			for _, e := range ents {
				if e.IsDir() && strings.HasSuffix(e.Name(), deleteSuffix) {
					os.RemoveAll(filepath.Join(cfg.Dir, e.Name()))
				}
			}
		}
		if err := checkSegmentKeys(cfg.Dir, cfg.Keys, m.logger); err != nil {
			return nil, err
		}
		m.warnDiscard(cfg.Dir) // mounts.go
		m.startLoops()
	}
	return m, nil
}

func (m *Manager) now() time.Time { return m.cfg.Now() }

// Dir is the data dir.
func (m *Manager) Dir() string { return m.cfg.Dir }

// OpenFiles reports the segment file descriptors open now and the limit.
func (m *Manager) OpenFiles() (open, limit int) { return m.files.Open(), m.files.limit }

// OfflineLogs is how many of the manager's open logs are offline: 0 lets
// a broker's fault loop skip asking each of its logs.
func (m *Manager) OfflineLogs() int64 { return m.offlineLogs.Load() }

// Open opens (creating if needed) the log of a partition, recovering it if
// the previous shutdown was not clean.
func (m *Manager) Open(topic string, partition int32, opts Options) (*Log, error) {
	tp := TopicPartition{Topic: topic, Partition: partition}
	return m.openDir(filepath.Join(m.cfg.Dir, tp.dirName()), tp, opts)
}

func (m *Manager) openDir(dir string, tp TopicPartition, opts Options) (*Log, error) {
	m.mu.Lock()
	if _, dup := m.logs[tp]; dup {
		m.mu.Unlock()
		return nil, fmt.Errorf("log %s is already open", dir)
	}
	rp, start, clean := m.recovery[tp], m.starts[tp], m.clean
	m.mu.Unlock()
	l := &Log{dir: dir, tp: tp, logger: m.logger, mgr: m, opts: opts.sane(), lastFlush: m.now()}
	l.SetCleanupLimits(math.MaxInt64, math.MaxInt64)
	l.scond = sync.NewCond(&l.smu)
	if err := l.load(rp, start, clean); err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.logs[tp] = l
	m.mu.Unlock()
	return l, nil
}

// unregister records a closing log's final offsets. Called with the log's
// locks held.
func (m *Manager) unregister(l *Log, clean bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.logs[l.tp] == l {
		delete(m.logs, l.tp)
	}
	delete(m.dirty, l)
	m.recovery[l.tp] = l.recoveryPoint
	m.starts[l.tp] = l.start
	if !clean {
		m.unclean = true
	}
}

// forget drops a deleted partition from the checkpoints.
func (m *Manager) forget(tp TopicPartition) {
	m.mu.Lock()
	delete(m.recovery, tp)
	delete(m.starts, tp)
	m.mu.Unlock()
	if err := m.Checkpoint(); err != nil {
		m.logger.Error("writing checkpoints", "err", err)
	}
}

// flushable adds l to (or removes it from) the flush loop's set. Called
// with l.mu held.
func (m *Manager) flushable(l *Log, dirty bool) {
	m.mu.Lock()
	if dirty {
		m.dirty[l] = struct{}{}
	} else {
		delete(m.dirty, l)
	}
	m.mu.Unlock()
}

func (m *Manager) dirtyLogs() []*Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Log, 0, len(m.dirty))
	for l := range m.dirty {
		out = append(out, l)
	}
	return out
}

func (m *Manager) liveLogs() []*Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Log, 0, len(m.logs))
	for _, l := range m.logs {
		out = append(out, l)
	}
	return out
}

// offsets returns the checkpoint maps: remembered entries overlaid with
// the open logs' current values.
func (m *Manager) offsets() (rec, starts map[TopicPartition]int64) {
	logs := m.liveLogs()
	type v struct {
		tp        TopicPartition
		rp, start int64
	}
	vals := make([]v, 0, len(logs))
	for _, l := range logs {
		vals = append(vals, v{l.tp, l.RecoveryPoint(), l.StartOffset()})
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, starts = make(map[TopicPartition]int64, len(m.recovery)), make(map[TopicPartition]int64, len(m.starts))
	for k, x := range m.recovery {
		rec[k] = x
	}
	for k, x := range m.starts {
		starts[k] = x
	}
	for _, x := range vals {
		rec[x.tp], starts[x.tp] = x.rp, x.start
	}
	return rec, starts
}

// Checkpoint writes both data-dir checkpoint files.
func (m *Manager) Checkpoint() error {
	rec, starts := m.offsets()
	m.ckMu.Lock()
	defer m.ckMu.Unlock()
	return errors.Join(
		writeOffsetsCheckpoint(filepath.Join(m.cfg.Dir, recoveryPointFile), rec),
		writeOffsetsCheckpoint(filepath.Join(m.cfg.Dir, logStartFile), starts))
}

func (m *Manager) writeStartCheckpoint() error {
	_, starts := m.offsets()
	m.ckMu.Lock()
	defer m.ckMu.Unlock()
	return writeOffsetsCheckpoint(filepath.Join(m.cfg.Dir, logStartFile), starts)
}

func (m *Manager) startLoops() {
	loop := func(every time.Duration, fn func()) {
		if every < 0 {
			return
		}
		m.wg.Add(1)
		go func() { // safe: each round runs under safe.Run
			defer m.wg.Done()
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-m.stop:
					return
				case <-t.C:
					// A panic ends this round only.
					safe.Run(m.logger, "storage-housekeeping", fn)
				}
			}
		}()
	}
	loop(m.cfg.FlushCheckInterval, func() {
		now := m.now()
		for _, l := range m.dirtyLogs() {
			l.maybeFlush(now)
		}
	})
	loop(m.cfg.RetentionCheckInterval, m.RunRetention)
	loop(m.cfg.CheckpointInterval, func() {
		if err := m.Checkpoint(); err != nil {
			m.logger.Error("writing checkpoints", "err", err)
		}
	})
	loop(m.cfg.CleanerInterval, m.RunCleaner)
	loop(m.cfg.DiskCheckInterval, func() { m.space.check() })
}

// RunRetention runs one retention pass over every open log.
func (m *Manager) RunRetention() {
	now := m.now()
	for _, l := range m.liveLogs() {
		if _, err := l.EnforceRetention(now); err != nil && !errors.Is(err, ErrClosed) {
			m.logger.Error("retention", "dir", l.dir, "err", err)
		}
	}
}

// RunCleaner runs one compaction pass over every open compacted log.
func (m *Manager) RunCleaner() {
	now := m.now()
	for _, l := range m.liveLogs() {
		if _, err := l.Clean(now, false); err != nil && !errors.Is(err, ErrClosed) {
			m.logger.Error("log cleaner", "dir", l.dir, "err", err)
		}
	}
}

// Close stops the background loops, closes every open log, writes the
// checkpoints and, if every log closed cleanly, the clean-shutdown marker
// that lets the next start skip recovery.
func (m *Manager) Close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.stop)
		m.wg.Wait()
		for _, l := range m.liveLogs() {
			err = errors.Join(err, l.close())
		}
		err = errors.Join(err, m.Checkpoint())
		m.mu.Lock()
		unclean := m.unclean
		m.mu.Unlock()
		if err == nil && !unclean && !m.cfg.private {
			err = writeFileAtomic(filepath.Join(m.cfg.Dir, cleanShutdownFile), nil)
		}
		m.files.close()
	})
	return err
}

func uniqueID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
