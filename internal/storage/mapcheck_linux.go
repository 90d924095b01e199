package storage

import (
	"fmt"
	"os"
	"runtime/debug"
	"syscall"

	"github.com/tributary/tributary/internal/record"
)

// canMapCheck: checkMapped works here.
const canMapCheck = true

// checkMapped checks every batch in [pos, end) of the plaintext segment
// file f (whole batches, pos a batch boundary) as a checking read does
// (length, magic, CRC), reading the page cache through a read-only
// mapping made for the call: no copy into a buffer, so the bytes can
// then go to the socket with sendfile (Log.sliceFrom).
//
// A file cut under the mapping (a truncation between the caller's size
// and the check) makes the access fault: the fault is recovered here
// (debug.SetPanicOnFault, which is meant for mapped files) and returned
// as an error, and the caller's copying read then reports what it finds.
func checkMapped(f *os.File, pos, end int64) (err error) {
	page := int64(os.Getpagesize())
	start := pos &^ (page - 1)
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var m []byte
	cerr := rc.Control(func(fd uintptr) {
		m, err = syscall.Mmap(int(fd), start, int(end-start), syscall.PROT_READ, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("map %s [%d, %d): %w", f.Name(), pos, end, err)
	}
	defer syscall.Munmap(m)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("map %s [%d, %d): %v", f.Name(), pos, end, r)
		}
	}()
	b := m[pos-start:]
	for off := int64(0); len(b) > 0; {
		n, err := record.Peek(b)
		if err != nil {
			return fmt.Errorf("%w at %s position %d", err, f.Name(), pos+off)
		}
		if !record.Batch(b[:n]).CheckCRC() {
			return fmt.Errorf("%w: CRC mismatch at %s position %d", record.ErrCorrupt, f.Name(), pos+off)
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}
