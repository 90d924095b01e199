package partition

import (
	"errors"
	"log/slog"
	"sync"

	"github.com/tributary/tributary/internal/safe"
)

// SyncTarget is a partition whose log must be durable below End.
type SyncTarget struct {
	P   *Partition
	End int64
}

// errSyncPanicked is a target's result when its Sync panicked.
var errSyncPanicked = errors.New("fsync panicked")

// SyncAll fsyncs every target's log at once and returns each one's error,
// in order. Each log runs its own group commit outside its append lock
// (storage.Log.Sync), so the caller waits for the slowest fsync instead of
// their sum, and the file system may cover several with one journal
// commit. Used by acks=all produce requests and follower fetches that span
// several partitions.
func SyncAll(log *slog.Logger, ts []SyncTarget) []error {
	errs := make([]error, len(ts))
	if len(ts) == 1 {
		errs[0] = ts[0].P.Sync(ts[0].End)
		return errs
	}
	var wg sync.WaitGroup
	for i, t := range ts {
		errs[i] = errSyncPanicked // kept if Sync panics (safe.Go recovers it)
		wg.Add(1)
		safe.Go(log, "fsync", func() {
			defer wg.Done()
			errs[i] = t.P.Sync(t.End)
		})
	}
	wg.Wait()
	return errs
}
