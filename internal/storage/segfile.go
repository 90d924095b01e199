package storage

import (
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
)

// segFile is one segment file (.log, .index, .timeindex) as the log reads
// and writes it. Every access to segment bytes goes through it: with
// encryption at rest (crypt.go) it decrypts what it reads and encrypts
// what it writes at the file position (AES-CTR, length preserving), so
// callers see plaintext at the plaintext positions and sizes.
//
// A segment file of a log is cached (openCachedSegFile): its descriptor
// is opened on demand and closed when the data dir's fileCache needs room
// (files.go), so every method holds it for the call only. A file opened
// with openSegFile (the cleaner's copy, dump) keeps its descriptor.
//
// Zero-copy paths (sendfile, splice, mmap of record data) must ask
// acquirePlain() for the descriptor: it is nil when the file is
// encrypted, and the caller then reads through ReadAt. acquire() is for
// calls that move no data (fsync hints, fadvise). Both hold the
// descriptor open until release.
//
// Safe for concurrent use as *os.File is: ReadAt and WriteAt at any
// positions from any goroutine.
type segFile struct {
	c     *fileCipher // nil: plaintext
	cache *fileCache  // nil: not cached, f stays open until Close

	// Guarded by cache.mu (constant when cache is nil, but for f on
	// Close).
	path    string
	f       *os.File // nil while closed
	refs    int      // calls using f
	closing bool     // queued for the closer
	retired bool     // never reopened: the path may name another file now
	closed  bool     // Close was called; f is closed when the last user is done
	// inLRU: f is idle in cache.lru, linked through lruPrev and lruNext.
	inLRU            bool
	lruPrev, lruNext *segFile
	// wseq counts finished writes; synced is the count the last
	// successful fsync covered. Dirty while they differ.
	wseq, synced uint64
	syncErr      error // a failed fsync of the closer, for the next Sync

	// cuts counts Truncate calls, each counted before the file changes:
	// a FileSlice taken before a cut checks it once its bytes are read
	// and never completes a send that may hold bytes written since.
	cuts atomic.Uint64
}

// openSegFile opens path with flag, keeping the descriptor open until
// Close; dk (nil: plaintext) is the segment's data key and kind the
// file's kind (kindLog, ...).
func openSegFile(path string, flag int, dk *dataKey, kind byte) (*segFile, error) {
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, err
	}
	sf := &segFile{f: f, path: path}
	if dk != nil {
		sf.c = dk.file(kind)
	}
	return sf, nil
}

// openCachedSegFile opens a log's segment file with flag (O_RDWR, with
// O_CREATE or O_TRUNC; reopens use O_RDWR) and leaves it idle in cache.
func openCachedSegFile(cache *fileCache, path string, flag int, dk *dataKey, kind byte) (*segFile, error) {
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, err
	}
	cache.opens.Add(1)
	sf := &segFile{cache: cache, path: path, f: f}
	if dk != nil {
		sf.c = dk.file(kind)
	}
	cache.mu.Lock()
	cache.open++
	cache.lru.pushFront(sf)
	victims := cache.evictLocked()
	cache.mu.Unlock()
	closeAll(cache, victims)
	cache.help()
	return sf, nil
}

// encrypted reports whether the file's bytes on disk are ciphertext.
func (s *segFile) encrypted() bool { return s.c != nil }

// acquirePlain returns the descriptor for zero-copy reads, or nil if the
// file is encrypted; the caller calls release(false) after a non-nil one.
func (s *segFile) acquirePlain() (*os.File, error) {
	if s.c != nil {
		return nil, nil
	}
	return s.acquire()
}

// acquire returns the open descriptor, opening it if needed; the caller
// must call release(write) when done, write true if it changed the file.
func (s *segFile) acquire() (*os.File, error) {
	c := s.cache
	if c == nil {
		return s.f, nil
	}
	c.mu.Lock()
	if s.f == nil {
		if s.closed || s.retired {
			c.mu.Unlock()
			return nil, &fs.PathError{Op: "open", Path: s.path, Err: os.ErrClosed}
		}
		f, err := os.OpenFile(s.path, os.O_RDWR, 0)
		if err != nil {
			c.mu.Unlock()
			return nil, err
		}
		c.opens.Add(1)
		s.f = f
		c.open++
		s.refs++
		victims := c.evictLocked()
		c.mu.Unlock()
		closeAll(c, victims)
		c.help()
		return f, nil
	}
	if s.inLRU {
		c.lru.remove(s)
	}
	s.refs++
	f := s.f
	c.mu.Unlock()
	return f, nil
}

func (s *segFile) release(write bool) {
	c := s.cache
	if c == nil {
		return
	}
	c.mu.Lock()
	if write {
		s.wseq++
	}
	s.refs--
	var last *os.File
	if s.refs == 0 && s.f != nil {
		switch {
		case s.closed:
			last, s.f = s.f, nil
			c.open--
		case !s.closing:
			c.lru.pushFront(s)
		}
	}
	c.mu.Unlock()
	if last != nil {
		last.Close()
		c.closes.Add(1)
	}
}

// ReadAt reads len(p) plaintext bytes at off.
func (s *segFile) ReadAt(p []byte, off int64) (int, error) {
	f, err := s.acquire()
	if err != nil {
		return 0, err
	}
	n, err := f.ReadAt(p, off)
	s.release(false)
	if s.c != nil && n > 0 {
		s.c.xorAt(p[:n], p[:n], off)
	}
	return n, err
}

// cryptPool recycles the ciphertext buffers of WriteAt (p is the caller's
// and is not changed).
var cryptPool sync.Pool

const maxPooledCrypt = 4 << 20

// WriteAt writes plaintext p at off.
func (s *segFile) WriteAt(p []byte, off int64) (int, error) {
	f, err := s.acquire()
	if err != nil {
		return 0, err
	}
	defer s.release(true)
	return s.writeAtWith(f, p, off)
}

// writeAtWith is WriteAt through f, the descriptor the caller acquired.
func (s *segFile) writeAtWith(f *os.File, p []byte, off int64) (int, error) {
	if s.c == nil {
		return f.WriteAt(p, off)
	}
	var buf []byte
	if bp, ok := cryptPool.Get().(*[]byte); ok && cap(*bp) >= len(p) {
		buf = (*bp)[:len(p)]
	} else {
		buf = make([]byte, len(p))
	}
	s.c.xorAt(buf, p, off)
	n, err := f.WriteAt(buf, off)
	if cap(buf) <= maxPooledCrypt {
		buf = buf[:0]
		cryptPool.Put(&buf)
	}
	return n, err
}

// Truncate cuts the file at size (positions are plaintext positions).
func (s *segFile) Truncate(size int64) error {
	f, err := s.acquire()
	if err != nil {
		return err
	}
	s.cuts.Add(1)
	err = f.Truncate(size)
	s.release(true)
	return err
}

// Stat describes the file; its size is the plaintext size.
func (s *segFile) Stat() (os.FileInfo, error) {
	f, err := s.acquire()
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	s.release(false)
	return st, err
}

// Sync fsyncs the file's writes. A cached file whose descriptor is closed
// has none left (it was fsynced before it was closed), unless that fsync
// failed: its error is returned here, once.
func (s *segFile) Sync() error {
	c := s.cache
	if c == nil {
		return datasync(s.f)
	}
	c.mu.Lock()
	if err := s.syncErr; err != nil {
		s.syncErr = nil
		c.mu.Unlock()
		return err
	}
	if s.f == nil {
		closed := s.closed
		c.mu.Unlock()
		if closed {
			return &fs.PathError{Op: "sync", Path: s.path, Err: os.ErrClosed}
		}
		return nil
	}
	if s.inLRU {
		c.lru.remove(s)
	}
	s.refs++
	f, seq := s.f, s.wseq
	c.mu.Unlock()
	err := datasync(f)
	c.mu.Lock()
	if err == nil && s.synced < seq {
		s.synced = seq
	}
	c.mu.Unlock()
	s.release(false)
	return err
}

// Name is the file's current path.
func (s *segFile) Name() string {
	if s.cache == nil {
		return s.path
	}
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	return s.path
}

// rename renames the file, under the cache lock so no reopen races with
// it.
func (s *segFile) rename(to string) error {
	if s.cache == nil {
		if err := os.Rename(s.path, to); err != nil {
			return err
		}
		s.path = to
		return nil
	}
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	if err := os.Rename(s.path, to); err != nil {
		return err
	}
	s.path = to
	return nil
}

// retire stops the file from being reopened: its path is about to name
// another file (the cleaner's swap) or none (removal). A descriptor open
// now stays usable until Close.
func (s *segFile) retire() {
	if s.cache == nil {
		return
	}
	s.cache.mu.Lock()
	s.retired = true
	s.cache.mu.Unlock()
}

// Close closes the descriptor once no call uses it; later calls fail
// with os.ErrClosed.
func (s *segFile) Close() error {
	c := s.cache
	if c == nil {
		return s.f.Close()
	}
	c.mu.Lock()
	if s.closed {
		c.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.inLRU {
		c.lru.remove(s)
	}
	var f *os.File
	if s.refs == 0 && s.f != nil {
		f, s.f = s.f, nil
		c.open--
	}
	c.mu.Unlock()
	if f == nil {
		return nil
	}
	c.closes.Add(1)
	return f.Close()
}

// readSegFile reads a whole segment file, decrypted with dk (nil:
// plaintext).
func readSegFile(path string, dk *dataKey, kind byte) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if dk != nil {
		dk.file(kind).xorAt(b, b, 0)
	}
	return b, nil
}

// writeSegFileSynced creates path holding data, encrypted with dk (nil:
// plaintext), and fsyncs it.
func writeSegFileSynced(path string, data []byte, dk *dataKey, kind byte) error {
	if dk != nil {
		enc := make([]byte, len(data))
		dk.file(kind).xorAt(enc, data, 0)
		data = enc
	}
	return writeFileSynced(path, data, 0o644)
}
