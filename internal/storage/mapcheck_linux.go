package storage

import (
	"fmt"
	"os"
	"runtime/debug"
	"syscall"
)

// canMapCheck: readMapped works here.
const canMapCheck = true

// readMapped calls fn with the n bytes of the plaintext segment file f
// at pos, read from the page cache through a read-only mapping made for
// the call: no copy into a buffer, so a check can read them in place and
// the same pages can then go to the socket with sendfile
// (Log.sliceMapped). fn must not keep the slice.
//
// A file cut under the mapping (a truncation between the caller's size
// and the read) makes the access fault: the fault is recovered here
// (debug.SetPanicOnFault, which is meant for mapped files; the runtime's
// error then has the faulting address) and returned as an error, and the
// caller's copying read then reports what it finds. Any other panic in fn
// goes on up.
func readMapped(f *os.File, pos, n int64, fn func([]byte) error) (err error) {
	page := int64(os.Getpagesize())
	start := pos &^ (page - 1)
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var m []byte
	cerr := rc.Control(func(fd uintptr) {
		m, err = syscall.Mmap(int(fd), start, int(pos+n-start), syscall.PROT_READ, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("map %s [%d, %d): %w", f.Name(), pos, pos+n, err)
	}
	defer syscall.Munmap(m)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if fault, ok := r.(interface{ Addr() uintptr }); ok {
			err = fmt.Errorf("map %s [%d, %d): %v", f.Name(), pos, pos+n, fault)
			return
		}
		panic(r) // not a fault of the mapping: a bug, not to be hidden
	}()
	return fn(m[pos-start:])
}
