package partition

import (
	"errors"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
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
//
// The caller's goroutine syncs the first target; the others go to idle
// sync workers (a process-wide pool that grows to maxSyncWorkers and
// keeps them), or to a new goroutine when none is idle, so a request
// allocates per request, not per partition, once the pool is warm.
func SyncAll(log *slog.Logger, ts []SyncTarget) []error {
	errs := make([]error, len(ts))
	if len(ts) == 0 {
		return errs
	}
	if len(ts) == 1 {
		errs[0] = ts[0].P.Sync(ts[0].End)
		return errs
	}
	var wg sync.WaitGroup
	jobs := make([]syncJob, len(ts)-1)
	for i := range jobs {
		jobs[i] = syncJob{t: ts[i+1], err: &errs[i+1], wg: &wg, log: log}
		wg.Add(1)
		dispatchSync(&jobs[i])
	}
	runSync(&syncJob{t: ts[0], err: &errs[0], log: log})
	wg.Wait()
	return errs
}

// syncJob is one target of a SyncAll; wg is nil for the caller's own.
type syncJob struct {
	t   SyncTarget
	err *error
	wg  *sync.WaitGroup
	log *slog.Logger
}

// maxSyncWorkers bounds the sync workers kept; beyond it a busy moment's
// extra targets get goroutines of their own.
const maxSyncWorkers = 64

var (
	syncJobs    = make(chan *syncJob) // unbuffered: a send succeeds only to an idle worker
	syncWorkers atomic.Int32
)

func dispatchSync(j *syncJob) {
	select {
	case syncJobs <- j:
		return
	default:
	}
	if syncWorkers.Add(1) <= maxSyncWorkers {
		go func() { // safe: runSync recovers a Sync's panic
			runSync(j)
			for j := range syncJobs {
				runSync(j)
			}
		}()
		return
	}
	syncWorkers.Add(-1)
	go runSync(j) // safe: runSync recovers a Sync's panic
}

// runSync syncs j's target into *j.err, recovering a panic as
// errSyncPanicked.
func runSync(j *syncJob) {
	defer func() {
		if v := recover(); v != nil {
			j.log.Error("panic in fsync", "topic", j.t.P.Topic, "partition", j.t.P.Index, "panic", v, "stack", string(debug.Stack()))
			*j.err = errSyncPanicked
		}
		if j.wg != nil {
			j.wg.Done()
		}
	}()
	*j.err = j.t.P.Sync(j.t.End)
}
