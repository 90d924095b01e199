package storage

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// datasync makes f's written bytes durable with fdatasync(2): the data and
// the metadata needed to read it back (the size an append grew), not the
// modification time, which recovery never reads. A new file's name is
// made durable by fsyncing its directory (syncDir), as before.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if serr = unix.Fdatasync(int(fd)); serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &fs.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
