package storage

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to begin writing [off, off+n) of f to disk
// now, without waiting. Appends otherwise let dirty pages pile up until
// the kernel throttles the appending thread (tail latency spikes of
// hundreds of ms); this keeps the dirty backlog small. It does not change
// what is durable: only Sync (fsync) promises that.
func startWriteback(f *os.File, off, n int64) {
	unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
