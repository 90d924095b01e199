package storage

import (
	"errors"
	"fmt"
	"io"
	"net"
)

// FileSlice is a run of whole batches left in a plaintext segment file by
// ReadZeroCopy, for the connection's writer to send with sendfile(2).
//
// The bytes below a segment's published size only change when the file
// is cut (follower truncation, Repair, recovery: segFile.Truncate), and
// a cut after the read may be followed by appends of other bytes at the
// same positions. So WriteTo sends all but the slice's last byte, reads
// that byte, and sends it only if the file was not cut since the read
// (segFile.cuts, counted before the file changes): a send that may hold
// bytes written since fails one byte short, the caller (who announced
// the length) closes the connection, and the client never sees a whole
// response and retries. A slice of a segment removed meanwhile (retention,
// TruncateTo, DeleteRecords' deletions, the cleaner's swap) sends its old
// bytes if its descriptor is still open, else fails the same way (a
// closed or retired segFile is never reopened); a file shorter than the
// slice fails as a short send. The descriptor is held (acquirePlain) from
// before the first byte to after the last, so the open-files LRU never
// closes it under a send.
type FileSlice struct {
	f      *segFile
	pos, n int64
	cuts   uint64  // f.cuts when the slice was read
	last   [1]byte // WriteTo's last byte (a local escaped per send)
}

// errSliceCut is a FileSlice's send stopped by a cut of its file.
var errSliceCut = errors.New("segment file cut under a pending zero-copy send")

// Len is the slice's length in bytes.
func (fs *FileSlice) Len() int64 { return fs.n }

// WriteTo writes the slice to w: with sendfile when w is a *net.TCPConn
// (Linux), else through a buffer. It writes Len bytes or fails.
func (fs *FileSlice) WriteTo(w io.Writer) (int64, error) {
	f, err := fs.f.acquirePlain()
	if err != nil {
		return 0, err
	}
	if f == nil {
		return 0, fmt.Errorf("segment %s is encrypted: no zero-copy send", fs.f.Name())
	}
	defer fs.f.release(false)
	if fs.n <= 0 {
		return 0, nil
	}
	body := fs.n - 1
	var n int64
	handled := false
	if tc, ok := w.(*net.TCPConn); ok {
		n, handled, err = sendFile(tc, f, fs.pos, body)
	}
	if !handled {
		n, err = io.Copy(w, io.NewSectionReader(f, fs.pos, body))
	}
	if err == nil && n < body {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return n, err
	}
	last := fs.last[:]
	if _, err := f.ReadAt(last, fs.pos+body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	}
	if fs.f.cuts.Load() != fs.cuts {
		return n, errSliceCut
	}
	m, err := w.Write(last)
	return n + int64(m), err
}
