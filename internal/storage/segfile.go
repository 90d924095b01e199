package storage

import (
	"os"
	"sync"
)

// segFile is one segment file (.log, .index, .timeindex) as the log reads
// and writes it. Every access to segment bytes goes through it: with
// encryption at rest (crypt.go) it decrypts what it reads and encrypts
// what it writes at the file position (AES-CTR, length preserving), so
// callers see plaintext at the plaintext positions and sizes.
//
// Zero-copy paths (sendfile, splice, mmap of record data) must ask
// plain() for the descriptor: it is nil when the file is encrypted, and
// the caller then reads through ReadAt. os() is for calls that move no
// data (fsync hints, fadvise).
//
// Safe for concurrent use as *os.File is: ReadAt and WriteAt at any
// positions from any goroutine.
type segFile struct {
	f *os.File
	c *fileCipher // nil: plaintext
}

// openSegFile opens path with flag; dk (nil: plaintext) is the segment's
// data key and kind the file's kind (kindLog, ...).
func openSegFile(path string, flag int, dk *dataKey, kind byte) (*segFile, error) {
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, err
	}
	sf := &segFile{f: f}
	if dk != nil {
		sf.c = dk.file(kind)
	}
	return sf, nil
}

// encrypted reports whether the file's bytes on disk are ciphertext.
func (s *segFile) encrypted() bool { return s.c != nil }

// plain returns the descriptor for zero-copy reads, or nil if the file
// is encrypted.
func (s *segFile) plain() *os.File {
	if s.c != nil {
		return nil
	}
	return s.f
}

// os returns the descriptor for calls that move no data.
func (s *segFile) os() *os.File { return s.f }

// ReadAt reads len(p) plaintext bytes at off.
func (s *segFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.f.ReadAt(p, off)
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
	if s.c == nil {
		return s.f.WriteAt(p, off)
	}
	var buf []byte
	if bp, ok := cryptPool.Get().(*[]byte); ok && cap(*bp) >= len(p) {
		buf = (*bp)[:len(p)]
	} else {
		buf = make([]byte, len(p))
	}
	s.c.xorAt(buf, p, off)
	n, err := s.f.WriteAt(buf, off)
	if cap(buf) <= maxPooledCrypt {
		buf = buf[:0]
		cryptPool.Put(&buf)
	}
	return n, err
}

// Truncate cuts the file at size (positions are plaintext positions).
func (s *segFile) Truncate(size int64) error { return s.f.Truncate(size) }

// Sync fsyncs the file.
func (s *segFile) Sync() error { return s.f.Sync() }

// Close closes the file.
func (s *segFile) Close() error { return s.f.Close() }

// Stat describes the file; its size is the plaintext size.
func (s *segFile) Stat() (os.FileInfo, error) { return s.f.Stat() }

// Name is the file's path.
func (s *segFile) Name() string { return s.f.Name() }

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
