package tests

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// txnRetentionSettings: txnSettings with a retention pass every 50 ms.
var txnRetentionSettings = map[string]string{"transaction.state.log.num.partitions": "3", "offsets.topic.num.partitions": "3",
	"log.retention.check.interval.ms": "50"}

// TestTxnReadCommittedAfterRestartFromTxnIndex: two transactional
// producers interleave transactions in one partition whose segments roll
// every few batches, so aborted transactions start in one sealed segment
// and end (ABORT marker, .txnindex entry) in a later one. DeleteRecords
// then moves the log start into the middle of an aborted transaction
// (the segments below it are deleted with their .txnindex), and the broker
// restarts. franz-go and kcat (librdkafka) read_committed consumers
// reading from the log start get every committed record after it and no
// aborted one; a read_uncommitted consumer gets them all.
func TestTxnReadCommittedAfterRestartFromTxnIndex(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, txnRetentionSettings)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const topic = "txr"
	if _, err := newAdmin(t, n.Addr()).CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": kadm.StringPtr("1200")}, topic); err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("p", 200) // ~3 batches a segment
	producers := map[string]*kgo.Client{}
	for _, name := range []string{"A", "B"} {
		producers[name] = newClient(t, n.Addr(), kgo.TransactionalID("txr-"+name), kgo.DefaultProduceTopic(topic), kgo.TransactionTimeout(60*time.Second))
	}
	produce := func(name string, i, j int) {
		v := fmt.Sprintf("%s-%02d-%d-%s", name, i, j, pad)
		if err := producers[name].ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v[:8], err)
		}
	}
	// commits[name-i]: whether transaction i of the producer commits.
	commits := map[string]bool{}
	const txns = 12
	for i := range txns {
		for _, name := range []string{"A", "B"} {
			if err := producers[name].BeginTransaction(); err != nil {
				t.Fatal(err)
			}
		}
		for j := range 2 {
			produce("A", i, 2*j)
			produce("B", i, 2*j)
			produce("A", i, 2*j+1)
		}
		commits[fmt.Sprintf("A-%02d", i)] = i%2 == 0
		commits[fmt.Sprintf("B-%02d", i)] = i%3 == 0
		// B ends inside A's transaction: A's aborted range spans B's marker.
		for _, name := range []string{"B", "A"} {
			if err := producers[name].EndTransaction(ctx, kgo.TransactionEndTry(commits[fmt.Sprintf("%s-%02d", name, i)])); err != nil {
				t.Fatalf("end %s-%d: %v", name, i, err)
			}
		}
	}
	for _, p := range producers {
		p.Close()
	}

	// Every record with its offset, to pick the new log start: the third
	// record of A's aborted transaction 5 (its first batches go below it).
	all := readOffsets(t, ctx, n.Addr(), topic, kgo.ReadUncommitted(), txns*6)
	start := int64(-1)
	for _, r := range all {
		if strings.HasPrefix(r.value, "A-05-2-") {
			start = r.offset
		}
	}
	if start < 0 || commits["A-05"] {
		t.Fatalf("no record A-05-2 to start the log at (or transaction A-05 commits)")
	}
	if _, err := newAdmin(t, n.Addr()).DeleteRecords(ctx, kadm.Offsets{topic: {0: {At: start}}}); err != nil {
		t.Fatal(err)
	}
	var wantCommitted, wantAll []string
	for _, r := range all {
		if r.offset < start {
			continue
		}
		wantAll = append(wantAll, r.value[:6])
		if commits[r.value[:4]] {
			wantCommitted = append(wantCommitted, r.value[:6])
		}
	}

	// Retention deletes the segments below the new log start, .txnindex
	// and all; the aborted transactions' entries above it stay spread
	// over several sealed segments' .txnindex files.
	pdir := partitionDir(t, dir, topic+"-0")
	var idx, logs []string
	for {
		idx, _ = filepath.Glob(filepath.Join(pdir, "*.txnindex"))
		logs, _ = filepath.Glob(filepath.Join(pdir, "*.log"))
		below := 0 // segments starting below the log start: only the one holding it stays
		for _, l := range logs {
			if base, _ := strconv.ParseInt(strings.TrimSuffix(filepath.Base(l), ".log"), 10, 64); base < start {
				below++
			}
		}
		if below == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("retention left %d segments below the log start %d: %v", below, start, logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if len(idx) < 3 || len(logs) < 5 {
		t.Fatalf("want aborts spread over sealed segments: %d .txnindex files, %d segments", len(idx), len(logs))
	}
	for _, f := range idx {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Kafka's format: 34-byte entries, version 0, producer id,
		// first offset, last offset (the marker), last stable offset.
		if len(data) == 0 || len(data)%34 != 0 {
			t.Fatalf("%s: %d bytes", f, len(data))
		}
		for ; len(data) > 0; data = data[34:] {
			if last := int64(binary.BigEndian.Uint64(data[18:])); binary.BigEndian.Uint16(data) != 0 || last < start {
				t.Fatalf("%s: entry version %d marker %d (log start %d)", f, binary.BigEndian.Uint16(data), last, start)
			}
		}
	}

	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = startNode(t, dir, txnRetentionSettings)

	check := func(who string, got, want []string) {
		t.Helper()
		slices.Sort(got)
		want = slices.Sorted(slices.Values(want))
		if !slices.Equal(got, want) {
			t.Fatalf("%s read %d records, want %d:\ngot  %v\nwant %v", who, len(got), len(want), got, want)
		}
	}
	values := func(rs []offsetValue) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = r.value[:6]
		}
		return out
	}
	check("franz-go read_committed", values(readOffsets(t, ctx, n.Addr(), topic, kgo.ReadCommitted(), len(wantCommitted))), wantCommitted)
	check("franz-go read_uncommitted", values(readOffsets(t, ctx, n.Addr(), topic, kgo.ReadUncommitted(), len(wantAll))), wantAll)

	kcat := requireTool(t, "kcat", "apt-get install kcat")
	for _, level := range []string{"read_committed", "read_uncommitted"} {
		out, errOut, err := runCmd(t, time.Minute, "", nil, kcat, "-b", n.Addr(), "-C", "-t", topic, "-o", "beginning", "-e", "-q",
			"-X", "isolation.level="+level, "-f", "%s\n")
		if err != nil {
			t.Fatalf("kcat %s: %v\n%s", level, err, tail(errOut))
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if l != "" {
				got = append(got, l[:6])
			}
		}
		want := wantAll
		if level == "read_committed" {
			want = wantCommitted
		}
		check("kcat "+level, got, want)
	}
}

type offsetValue struct {
	offset int64
	value  string
}

// readOffsets reads topic from the start at level until it has want
// records, then polls one more second for any record beyond them.
func readOffsets(t *testing.T, ctx context.Context, addr, topic string, level kgo.IsolationLevel, want int) []offsetValue {
	t.Helper()
	c := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(level))
	defer c.Close()
	var got []offsetValue
	add := func(r *kgo.Record) { got = append(got, offsetValue{r.Offset, string(r.Value)}) }
	for len(got) < want {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume %s: %v (got %d of %d)", topic, err, len(got), want)
		}
		fs.EachRecord(add)
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c.PollFetches(short).EachRecord(add)
	return got
}

// partitionDir finds the directory of partition name ("topic-0") under
// a node's data dir.
func partitionDir(t *testing.T, dataDir, name string) string {
	t.Helper()
	var found string
	filepath.WalkDir(dataDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == name {
			found = p
			return filepath.SkipAll
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no directory %s under %s", name, dataDir)
	}
	return found
}
