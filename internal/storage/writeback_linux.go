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
//
// Appends call it once writebackChunk bytes have accumulated in a
// segment rather than for every batch: with many partitions of small
// batches a call per batch was a quarter of the broker's CPU, and the
// backlog it bounds stays small either way.
func startWriteback(f *os.File, off, n int64) {
	unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
