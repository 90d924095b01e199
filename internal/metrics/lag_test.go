package metrics

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestLagStatus runs testdata/lag_status: commit windows -> Burrow status.
func TestLagStatus(t *testing.T) {
	datadriven.RunTest(t, "testdata/lag_status", func(t *testing.T, d *datadriven.TestData) string {
		switch d.Cmd {
		case "eval":
			var now, lag int64
			d.ScanArgs(t, "now", &now)
			d.ScanArgs(t, "lag", &lag)
			var window []Commit
			for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
				if line == "" {
					continue
				}
				var c Commit
				if _, err := fmt.Sscanf(line, "offset=%d time=%d lag=%d", &c.Offset, &c.TimeMs, &c.Lag); err != nil {
					t.Fatalf("%s: %q: %v", d.Pos, line, err)
				}
				window = append(window, c)
			}
			return EvaluatePartition(window, lag, now).String()
		case "group":
			var parts []LagStatus
			for _, f := range strings.Fields(d.Input) {
				s, err := ParseLagStatus(f)
				if err != nil {
					t.Fatalf("%s: %v", d.Pos, err)
				}
				parts = append(parts, s)
			}
			return GroupStatus(parts).String()
		}
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
		return ""
	})
}

// TestLagTracker: commits become windows with the lag at each commit, the
// window slides, lag seconds come from the end-offset history, and groups
// that disappear are forgotten.
func TestLagTracker(t *testing.T) {
	tr := NewLagTracker(3)
	tp := TopicPartition{"t", 0}
	commit := func(off, at int64) []CommittedOffset {
		return []CommittedOffset{{Group: "g", Topic: "t", Partition: 0, Offset: off, CommitMs: at}}
	}
	tr.Observe(1000, commit(0, 900), map[TopicPartition]int64{tp: 10})
	tr.Observe(2000, commit(0, 900), map[TopicPartition]int64{tp: 20})  // same commit: no new entry
	tr.Observe(3000, commit(5, 2900), map[TopicPartition]int64{tp: 30}) // lag 25
	tr.Observe(4000, commit(10, 3900), map[TopicPartition]int64{tp: 30})
	tr.Observe(5000, commit(12, 4900), map[TopicPartition]int64{tp: 40})
	l := tr.Lags(6000, "g")
	if len(l) != 1 {
		t.Fatalf("lags %+v", l)
	}
	got := l[0]
	if got.Offset != 12 || got.EndOffset != 40 || got.Lag != 28 {
		t.Errorf("offset/end/lag %d/%d/%d, want 12/40/28", got.Offset, got.EndOffset, got.Lag)
	}
	var w []string
	for _, c := range got.Window {
		w = append(w, strconv.FormatInt(c.Offset, 10)+":"+strconv.FormatInt(c.Lag, 10))
	}
	if strings.Join(w, " ") != "5:25 10:20 12:28" {
		t.Errorf("window %v, want the last 3 commits with their lags", w)
	}
	// The end passed offset 12 at the sample of t=2000 (end 20): the
	// oldest unconsumed record has waited 4 s at t=6000.
	if got.LagSeconds != 4 {
		t.Errorf("lag seconds %v, want 4", got.LagSeconds)
	}
	if got.StatusName != "OK" {
		t.Errorf("status %s, want OK (lag decreasing)", got.StatusName)
	}
	// A record timestamp, where the sampler read one, wins over the
	// history.
	c := []CommittedOffset{{Group: "g", Topic: "t", Partition: 0, Offset: 12, CommitMs: 4900, RecordMs: 1500}}
	tr.Observe(5500, c, map[TopicPartition]int64{tp: 40})
	if s := tr.Lags(6000, "g")[0].LagSeconds; s != 4.5 {
		t.Errorf("lag seconds from the record timestamp %v, want 4.5", s)
	}
	if n := len(tr.Lags(6000, "g")[0].Window); n != 3 {
		t.Errorf("a sample without a new commit changed the window: %d entries", n)
	}
	tr.Observe(7000, nil, nil)
	if l := tr.Lags(8000, ""); len(l) != 0 {
		t.Errorf("a group that left is still tracked: %+v", l)
	}
}

// TestLagTrackerEndHistoryBounded: the end-offset history halves its
// resolution instead of growing, and keeps its oldest sample.
func TestLagTrackerEndHistoryBounded(t *testing.T) {
	tr := NewLagTracker(10)
	tp := TopicPartition{"t", 0}
	c := []CommittedOffset{{Group: "g", Topic: "t", Offset: 0, CommitMs: 1}}
	for i := int64(1); i <= 1000; i++ {
		tr.Observe(i*1000, c, map[TopicPartition]int64{tp: i})
	}
	if n := len(tr.ends[tp]); n > maxEndSamples {
		t.Fatalf("history has %d samples", n)
	}
	if first := tr.ends[tp][0]; first.timeMs != 1000 {
		t.Errorf("oldest sample %+v, want the first one kept", first)
	}
	if s := tr.Lags(1001000, "g")[0].LagSeconds; s != 1000 {
		t.Errorf("lag seconds %v, want 1000", s)
	}
}
