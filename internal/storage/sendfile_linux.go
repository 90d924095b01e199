package storage

import (
	"net"
	"os"
	"syscall"
)

// sendFile copies n bytes of f at off to c with sendfile(2), which takes
// the offset explicitly (f's own position is shared by concurrent
// readers and is not used). A full socket buffer waits for writability
// through the connection's poller (RawConn.Write).
func sendFile(c *net.TCPConn, f *os.File, off, n int64) (written int64, handled bool, err error) {
	dst, err := c.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	src, err := f.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	var serr error
	cerr := src.Control(func(sfd uintptr) {
		werr := dst.Write(func(dfd uintptr) bool {
			for written < n {
				chunk := min(n-written, 1<<30)
				m, e := syscall.Sendfile(int(dfd), int(sfd), &off, int(chunk))
				if m > 0 {
					written += int64(m)
				}
				switch {
				case e == syscall.EAGAIN:
					return false // wait until writable
				case e == syscall.EINTR:
					continue
				case e != nil:
					serr = e
					return true
				case m == 0:
					return true // end of file: the caller reports it
				}
			}
			return true
		})
		if serr == nil {
			serr = werr
		}
	})
	if serr == nil {
		serr = cerr
	}
	return written, true, serr
}
