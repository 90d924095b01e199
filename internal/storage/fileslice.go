package storage

import (
	"fmt"
	"io"
	"net"
)

// FileSlice is a run of whole batches left in a plaintext segment file by
// ReadZeroCopy, for the connection's writer to send with sendfile(2).
//
// The bytes stay valid while the segment is live (bytes below a published
// size never change). If the segment is removed or replaced before the
// send and its descriptor was closed meanwhile, or the file is shorter
// than the slice (a truncation), WriteTo fails without having written
// the whole length: the caller has announced it and must close the
// connection (the client retries the fetch).
type FileSlice struct {
	f      *segFile
	pos, n int64
}

// Len is the slice's length in bytes.
func (fs *FileSlice) Len() int64 { return fs.n }

// WriteTo writes the slice to w: with sendfile when w is a *net.TCPConn
// (Linux), else through a buffer.
func (fs *FileSlice) WriteTo(w io.Writer) (int64, error) {
	f, err := fs.f.acquirePlain()
	if err != nil {
		return 0, err
	}
	if f == nil {
		return 0, fmt.Errorf("segment %s is encrypted: no zero-copy send", fs.f.Name())
	}
	defer fs.f.release(false)
	if tc, ok := w.(*net.TCPConn); ok {
		if n, handled, err := sendFile(tc, f, fs.pos, fs.n); handled {
			if err == nil && n < fs.n {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
	}
	n, err := io.Copy(w, io.NewSectionReader(f, fs.pos, fs.n))
	if err == nil && n < fs.n {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
