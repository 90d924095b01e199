package partition

import (
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary/tributary/internal/storage"
)

// TestSnapshotIsConsistent: readers taking the snapshot without the mutex
// never see fields of two different publications. The writer alternates
// leadership with each epoch (even epochs led here, odd ones by broker 2),
// so a snapshot pairing a leader with the other's epoch is torn.
func TestSnapshotIsConsistent(t *testing.T) {
	l, err := storage.Open(filepath.Join(t.TempDir(), "snap-0"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Open("snap", 0, 1, l)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				s := p.Snapshot()
				reads.Add(1)
				if s.LeaderEpoch >= 0 && (s.LeaderEpoch%2 == 0) != s.IsLeader {
					t.Errorf("torn snapshot: leader %d with epoch %d", s.Leader, s.LeaderEpoch)
					return
				}
				if s.LastStableOffset > s.HighWatermark {
					t.Errorf("last stable offset %d above high watermark %d", s.LastStableOffset, s.HighWatermark)
					return
				}
			}
		}()
	}
	now := time.Now()
	for e := int32(0); e < 2000; e++ {
		leader := int32(1)
		if e%2 == 1 {
			leader = 2
		}
		p.SetRole(Role{Leader: leader, LeaderEpoch: e, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}, now)
	}
	for reads.Load() < 1000 {
		time.Sleep(time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
}
