package partition

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/record"
	"github.com/tributary/tributary/internal/storage"
)

// TestTransactionEvents replays testdata/txn/*.txt like TestHighWatermarkEvents
// (same file format, same events), with transaction events added, and
// prints after each the last stable offset, the open transactions
// (producer:first offset) and the aborted ones (producer:first-marker):
//
//	txn-append n=N pid=P epoch=E seq=S [guard=none|saved] leader append of a transactional batch,
//	                                                    verified first (KIP-890) unless guard= says
//	                                                    none or the one saved by verify
//	verify pid=P epoch=E [add=true]                     BeginVerification; the guard is saved
//	marker pid=P epoch=E type=commit|abort coord=C      leader appends a WriteTxnMarkers marker
//	replicate-txn n=N pid=P epoch=E seq=S               follower append of a transactional batch
//	replicate-marker pid=P epoch=E type=commit|abort coord=C   follower append of a marker
//	reopen                                              close the replica and open it from its files
//	aborted from=F upto=U                               AbortedTransactions (read_committed Fetch)
//	txnindex                                            the .txnindex files' entries (pid:first-last/lso)
//	damage-txnindex                                     remove one .txnindex file, truncate the others mid-entry
//
// Run with -update to rewrite the files after a deliberate change.
func TestTransactionEvents(t *testing.T) {
	files, err := filepath.Glob("testdata/txn/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runTxnFile(t, f) })
	}
}

func openTxnPartition(t *testing.T, dir string) *Partition {
	l, err := storage.Open(dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Open("txn", 0, 1, l)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func runTxnFile(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "txn-0")
	h := &hwHarness{t: t, p: openTxnPartition(t, dir), now: time.Unix(1_700_000_000, 0), expired: make(chan time.Time)}
	close(h.expired)
	defer func() { h.p.Close() }()

	var out bytes.Buffer
	for _, c := range parseHWCases(t, string(data)) {
		got := h.runTxn(c.cmd, dir)
		if !*update && got != c.want {
			t.Errorf("%s:%d: %s\ngot:\n%s\nwant:\n%s", path, c.line, c.cmd, got, c.want)
		}
		for _, l := range c.comments {
			out.WriteString(l + "\n")
		}
		fmt.Fprintf(&out, "%s\n----\n%s\n", c.cmd, got)
	}
	if *update {
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func (h *hwHarness) runTxn(cmd, dir string) string {
	fields := strings.Fields(cmd)
	args := map[string]string{}
	for _, f := range fields[1:] {
		if k, v, ok := strings.Cut(f, "="); ok {
			args[k] = v
		}
	}
	var out strings.Builder
	p := h.p
	switch fields[0] {
	case "verify":
		g := p.BeginVerification(h.i64(args["pid"]), int16(h.i32(args["epoch"])), args["add"] == "true")
		if h.guards == nil {
			h.guards = map[int64]*VerificationGuard{}
		}
		h.guards[h.i64(args["pid"])] = g
		fmt.Fprintf(&out, "needed=%v\n", g != nil)
	case "txn-append":
		pid, epoch := h.i64(args["pid"]), int16(h.i32(args["epoch"]))
		b := h.txnBatch(int(h.i32(args["n"])), 0, pid, epoch, h.i32(args["seq"]))
		var g *VerificationGuard
		switch args["guard"] {
		case "":
			g = p.BeginVerification(pid, epoch, false) // the coordinator agrees
		case "saved":
			g = h.guards[pid]
		case "none":
		default:
			h.t.Fatalf("guard=%s: none or saved", args["guard"])
		}
		res, err := p.Append(b, AppendOptions{LogAppendTime: -1, Verification: g})
		switch {
		case err != nil:
			fmt.Fprintf(&out, "error: %v\n", err)
		case res.Duplicate:
			fmt.Fprintf(&out, "duplicate of base=%d end=%d\n", res.BaseOffset, res.End)
		default:
			fmt.Fprintf(&out, "base=%d end=%d\n", res.BaseOffset, res.End)
		}
	case "marker":
		res, err := p.AppendMarker(MarkerOptions{ProducerID: h.i64(args["pid"]), ProducerEpoch: int16(h.i32(args["epoch"])),
			Commit: h.commit(args["type"]), CoordinatorEpoch: h.i32(args["coord"]), Now: h.now})
		if err != nil {
			fmt.Fprintf(&out, "error: %v\n", err)
		} else {
			fmt.Fprintf(&out, "base=%d end=%d\n", res.BaseOffset, res.End)
		}
	case "replicate-txn":
		b := h.txnBatch(int(h.i32(args["n"])), p.Snapshot().LogEndOffset, h.i64(args["pid"]), int16(h.i32(args["epoch"])), h.i32(args["seq"]))
		b.SetPartitionLeaderEpoch(p.LeaderEpoch())
		if _, err := p.AppendReplica(b); err != nil {
			fmt.Fprintf(&out, "error: %v\n", err)
		}
	case "replicate-marker":
		b, err := record.Marker(h.i64(args["pid"]), int16(h.i32(args["epoch"])), h.commit(args["type"]), h.i32(args["coord"]), h.now.UnixMilli())
		if err != nil {
			h.t.Fatal(err)
		}
		b.SetBaseOffset(p.Snapshot().LogEndOffset)
		b.SetPartitionLeaderEpoch(p.LeaderEpoch())
		if _, err := p.AppendReplica(b); err != nil {
			fmt.Fprintf(&out, "error: %v\n", err)
		}
	case "reopen":
		if err := p.Close(); err != nil {
			h.t.Fatal(err)
		}
		h.p = openTxnPartition(h.t, dir)
		h.waiters, h.watches = nil, nil
		p = h.p
	case "txnindex":
		files, _ := filepath.Glob(filepath.Join(dir, "*.txnindex"))
		slices.Sort(files)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				h.t.Fatal(err)
			}
			es, err := storage.ParseTxnIndex(data)
			var parts []string
			for _, e := range es {
				parts = append(parts, fmt.Sprintf("%d:%d-%d/%d", e.ProducerID, e.FirstOffset, e.LastOffset, e.LastStableOffset))
			}
			fmt.Fprintf(&out, "%s: [%s] %v\n", filepath.Base(f), strings.Join(parts, " "), err)
		}
		return out.String()
	case "damage-txnindex":
		files, _ := filepath.Glob(filepath.Join(dir, "*.txnindex"))
		slices.Sort(files)
		for i, f := range files {
			if i == 0 {
				os.Remove(f)
			} else if err := os.Truncate(f, 20); err != nil {
				h.t.Fatal(err)
			}
		}
		return "damaged\n"
	case "aborted":
		fmt.Fprintf(&out, "aborted: %s\n", fmtAborted(p.AbortedTransactions(h.i64(args["from"]), h.i64(args["upto"]))))
	default:
		out.WriteString(h.run(cmd))
		fmt.Fprintf(&out, "lso=%d ongoing=%s aborted=%s\n", p.LastStableOffset(), fmtOngoing(p.OngoingTransactions()), fmtAborted(p.AbortedTransactions(0, 1<<62)))
		return out.String()
	}
	fmt.Fprintf(&out, "hw=%d leo=%d lso=%d ongoing=%s aborted=%s\n", p.HighWatermark(), p.Snapshot().LogEndOffset, p.LastStableOffset(),
		fmtOngoing(p.OngoingTransactions()), fmtAborted(p.AbortedTransactions(0, 1<<62)))
	return out.String()
}

func (h *hwHarness) commit(s string) bool {
	switch s {
	case "commit":
		return true
	case "abort":
		return false
	}
	h.t.Fatalf("marker type %q: commit or abort", s)
	return false
}

func (h *hwHarness) txnBatch(n int, base, pid int64, epoch int16, seq int32) record.Batch {
	recs := make([]kmsg.Record, n)
	for i := range recs {
		recs[i] = kmsg.Record{OffsetDelta: int32(i), Value: []byte("v")}
	}
	b, err := record.Build(record.Header{BaseOffset: base, Attributes: record.AttrTransactional, LastOffsetDelta: int32(n - 1),
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}, recs)
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

func fmtOngoing(m map[int64]int64) string {
	var parts []string
	for _, pid := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d:%d", pid, m[pid]))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func fmtAborted(ts []AbortedTxn) string {
	var parts []string
	for _, t := range ts {
		parts = append(parts, fmt.Sprintf("%d:%d-%d", t.ProducerID, t.FirstOffset, t.LastOffset))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// TestMarkerBatch: the control batch built for WriteTxnMarkers is what
// Kafka writes (control + transactional attributes, no sequence, one
// record keyed {0, type} with value {0, coordinator epoch}) and reads back.
func TestMarkerBatch(t *testing.T) {
	for _, commit := range []bool{true, false} {
		b, err := record.Marker(42, 3, commit, 7, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := record.Validate(b); err != nil {
			t.Fatal(err)
		}
		if !b.IsControl() || !b.IsTransactional() || b.ProducerID() != 42 || b.ProducerEpoch() != 3 || b.BaseSequence() != -1 || b.RecordCount() != 1 {
			t.Fatalf("header: %+v", record.HeaderOf(b))
		}
		typ, coord, err := b.ControlType()
		want := record.ControlAbort
		if commit {
			want = record.ControlCommit
		}
		if err != nil || typ != want || coord != 7 {
			t.Fatalf("ControlType = %d, %d, %v; want %d, 7", typ, coord, err, want)
		}
	}
	// A client may not write one.
	b, _ := record.Marker(42, 3, true, 7, 1000)
	l, err := storage.Open(filepath.Join(t.TempDir(), "m-0"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Open("m", 0, 1, l)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SetRole(Role{Leader: 1, LeaderEpoch: 0, Replicas: []int32{1}, ISR: []int32{1}}, time.Now())
	if _, err := p.Append(b, AppendOptions{LogAppendTime: -1}); err != ErrControlBatch {
		t.Fatalf("client control batch: %v", err)
	}
}
