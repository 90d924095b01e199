package storage

import (
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"github.com/tributary/tributary/internal/safe"
)

// Segment file descriptors. A broker with many partitions cannot keep every
// segment's .log, .index and .timeindex open (three descriptors per
// partition at least: 10,000 partitions would need 30,000), so every segment
// file is a segFile that opens its descriptor on demand, and one fileCache
// per Manager bounds how many are open (ManagerConfig.MaxOpenFiles). The
// least recently used idle descriptor is closed when an open goes over the
// limit; the active segment's files are no exception, so an idle partition
// holds no descriptor at all. A descriptor in use (between acquire and
// release) is never closed, so the limit may be passed by the number of
// files in use at once.
//
// Writeback errors: Linux reports a failed writeback to the next fsync of a
// descriptor that was open when it happened (or of one opened later, unless
// someone saw it first). To never lose one, a descriptor with writes that no
// fsync covered yet (dirty) is not closed by the opener: it goes to the
// cache's closer goroutine, which fsyncs it, then closes it if nothing
// used or wrote it meanwhile. A failed fsync there is kept and returned by
// the file's next Sync, so the log's own Sync (group commit, flush, roll)
// sees it as it would have. Clean descriptors are closed at once.
//
// Concurrency: fileCache.mu guards every segFile field marked below and the
// cache's counters and list; it is held only for bookkeeping and for open
// and rename syscalls (quick), never for reads, writes or fsyncs, and no
// other lock is taken while holding it.

// fileCache bounds the open segment file descriptors of a data dir.
type fileCache struct {
	limit  int
	logger *slog.Logger

	mu      sync.Mutex
	open    int     // open descriptors, including those handed to the closer
	closing int     // of which handed to the closer
	lru     lruList // idle open files (refs == 0), most recently used first
	queue   []*segFile
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}

	opens, closes atomic.Int64 // descriptors opened and closed (tests, metrics)
}

func newFileCache(limit int, logger *slog.Logger) *fileCache {
	c := &fileCache{limit: max(limit, minOpenFiles), logger: logger,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	safe.Go(logger, "segment-file-closer", c.closer)
	return c
}

// minOpenFiles is the smallest limit: a few segments' files must be
// usable at once (a read, the cleaner's copy, a roll).
const minOpenFiles = 16

// DefaultMaxOpenFiles is the limit ManagerConfig.MaxOpenFiles = 0 picks:
// half of the process's descriptor limit (RLIMIT_NOFILE, soft), leaving
// the rest for connections, the metadata quorum and files opened briefly.
func DefaultMaxOpenFiles() int {
	n := nofileLimit()
	if n <= 0 {
		return 4096
	}
	return max(n/2, minOpenFiles)
}

// Open reports the open segment file descriptors.
func (c *fileCache) Open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}

func (c *fileCache) close() {
	close(c.stop)
	<-c.done
}

// evictLocked closes idle descriptors, least recently used first, until at
// most limit are open (not counting those queued for the closer): clean
// ones are returned for the caller to close after unlocking, dirty ones
// are queued for the closer.
func (c *fileCache) evictLocked() (victims []*os.File) {
	for c.open-c.closing > c.limit {
		lf := c.lru.tail
		if lf == nil {
			break
		}
		c.lru.remove(lf)
		if lf.wseq == lf.synced {
			victims = append(victims, lf.f)
			lf.f = nil
			c.open--
			continue
		}
		lf.closing = true
		c.closing++
		c.queue = append(c.queue, lf)
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return victims
}

// lruList is the cache's list of idle files, linked through the files'
// own lruPrev and lruNext (guarded by fileCache.mu), so putting a file in
// and taking it out allocate nothing: a file goes in and out once per
// append (the active segment's acquire and release), and a list of
// separate elements allocated one per append.
type lruList struct {
	head, tail *segFile // most and least recently used
}

func (l *lruList) pushFront(s *segFile) { l.insert(s, nil, l.head) }

func (l *lruList) pushBack(s *segFile) { l.insert(s, l.tail, nil) }

// insert links s between prev and next, neighbours in the list (nil at
// an end).
func (l *lruList) insert(s, prev, next *segFile) {
	s.inLRU, s.lruPrev, s.lruNext = true, prev, next
	if prev != nil {
		prev.lruNext = s
	} else {
		l.head = s
	}
	if next != nil {
		next.lruPrev = s
	} else {
		l.tail = s
	}
}

// remove takes s, which is in the list (s.inLRU), out of it.
func (l *lruList) remove(s *segFile) {
	if s.lruPrev != nil {
		s.lruPrev.lruNext = s.lruNext
	} else {
		l.head = s.lruNext
	}
	if s.lruNext != nil {
		s.lruNext.lruPrev = s.lruPrev
	} else {
		l.tail = s.lruPrev
	}
	s.inLRU, s.lruPrev, s.lruNext = false, nil, nil
}

func closeAll(c *fileCache, fs []*os.File) {
	for _, f := range fs {
		f.Close()
		c.closes.Add(1)
	}
}

// closer fsyncs and closes the dirty descriptors evictLocked queued.
func (c *fileCache) closer() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		for c.closeOne() {
		}
	}
}

// help closes queued descriptors on the caller's goroutine while more
// than an eighth above the limit are open: the closer is behind (many
// dirty files), and the descriptor limit matters more than the caller's
// latency.
func (c *fileCache) help() {
	for {
		c.mu.Lock()
		over := c.open > c.limit+c.limit/8 && len(c.queue) > 0
		c.mu.Unlock()
		if !over || !c.closeOne() {
			return
		}
	}
}

// closeOne fsyncs and closes the first queued descriptor, unless it was
// used meanwhile. It reports false if the queue was empty.
func (c *fileCache) closeOne() bool {
	c.mu.Lock()
	if len(c.queue) == 0 {
		c.mu.Unlock()
		return false
	}
	lf := c.queue[0]
	c.queue[0] = nil
	c.queue = c.queue[1:]
	if lf.refs > 0 || lf.f == nil || !lf.closing {
		// Used again, or closed by its owner: no longer ours, and
		// another may have to go instead.
		if lf.closing {
			lf.closing = false
			c.closing--
		}
		victims := c.evictLocked()
		c.mu.Unlock()
		closeAll(c, victims)
		return true
	}
	f, seq := lf.f, lf.wseq
	c.mu.Unlock()

	err := datasync(f)

	c.mu.Lock()
	lf.closing = false
	c.closing--
	if err != nil {
		lf.syncErr = errors.Join(lf.syncErr, err)
	} else if lf.synced < seq {
		lf.synced = seq
	}
	if err == nil && lf.f == f && lf.refs == 0 && lf.wseq == seq {
		lf.f = nil
		c.open--
		c.mu.Unlock()
		f.Close()
		c.closes.Add(1)
		return true
	}
	if lf.f != nil && lf.refs == 0 && !lf.inLRU {
		c.lru.pushBack(lf) // still the least recently used
	}
	var victims []*os.File
	if err == nil {
		victims = c.evictLocked()
	}
	c.mu.Unlock()
	closeAll(c, victims)
	return true
}
