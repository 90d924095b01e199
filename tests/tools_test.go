package tests

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// trib runs the trib binary against addr (via TRIB_BROKERS, so the env path
// is exercised too) and returns stdout, stderr and the exit error.
func trib(t testing.TB, addr, stdin string, args ...string) (string, string, error) {
	t.Helper()
	return runCmd(t, 60*time.Second, stdin, []string{"TRIB_BROKERS=" + addr}, tribBinary(t), args...)
}

func mustTrib(t testing.TB, addr, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := trib(t, addr, stdin, args...)
	if err != nil {
		t.Fatalf("trib %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, tail(out), tail(errOut))
	}
	return out
}

func TestToolsTopicLifecycle(t *testing.T) {
	n := startNode(t, "", nil)
	addr := n.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := newAdmin(t, addr)

	out := mustTrib(t, addr, "", "topic", "create", "orders", "--partitions", "6", "--replication-factor", "1", "--config", "retention.ms=100000", "-c", "cleanup.policy=delete")
	if out != "Created topic orders.\n" {
		t.Fatalf("create output %q", out)
	}
	tds, err := adm.ListTopics(ctx, "orders")
	if err != nil || tds["orders"].Err != nil || len(tds["orders"].Partitions) != 6 {
		t.Fatalf("after create: %+v %v", tds["orders"], err)
	}

	// Broker defaults (-1) when partitions/RF are not given; --brokers flag
	// overrides the environment.
	out, errOut, err := runCmd(t, time.Minute, "", []string{"TRIB_BROKERS=127.0.0.1:1"}, tribBinary(t), "topic", "create", "plain", "--brokers", addr)
	if err != nil || out != "Created topic plain.\n" {
		t.Fatalf("create plain: %v %q %s", err, out, errOut)
	}

	_, errOut, err = trib(t, addr, "", "topic", "create", "orders", "-p", "1")
	if err == nil || !strings.Contains(errOut, "TOPIC_ALREADY_EXISTS") {
		t.Fatalf("duplicate create: err=%v stderr=%q", err, errOut)
	}
	_, errOut, err = trib(t, addr, "", "topic", "create", "badcfg", "-c", "no.such.config=1")
	if err == nil || !strings.Contains(errOut, "INVALID_CONFIG") {
		t.Fatalf("bad config: err=%v stderr=%q", err, errOut)
	}
	_, errOut, err = trib(t, addr, "", "topic", "create", "bad/name")
	if err == nil || !strings.Contains(errOut, "INVALID_TOPIC_EXCEPTION") {
		t.Fatalf("bad name: err=%v stderr=%q", err, errOut)
	}
	out = mustTrib(t, addr, "", "topic", "create", "dry", "-p", "3", "--dry-run")
	if !strings.Contains(out, "not created") {
		t.Fatalf("dry-run output %q", out)
	}

	out = mustTrib(t, addr, "", "topic", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Fields(lines[0])[0] != "NAME" {
		t.Fatalf("list output:\n%s", out)
	}
	if f := strings.Fields(lines[1]); f[0] != "orders" || f[1] != "6" || f[2] != "1" {
		t.Fatalf("list row %q", lines[1])
	}
	if f := strings.Fields(lines[2]); f[0] != "plain" || f[1] != "1" {
		t.Fatalf("list row %q (want broker default num.partitions=1)", lines[2])
	}

	out = mustTrib(t, addr, "", "topic", "describe", "orders")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 7 {
		t.Fatalf("describe: want 1+6 lines:\n%s", out)
	}
	head := lines[0]
	for _, want := range []string{"Topic: orders\t", "PartitionCount: 6", "ReplicationFactor: 1", "cleanup.policy=delete", "retention.ms=100000"} {
		if !strings.Contains(head, want) {
			t.Errorf("describe header %q lacks %q", head, want)
		}
	}
	for i, l := range lines[1:] {
		want := fmt.Sprintf("\tTopic: orders\tPartition: %d\tLeader: 1\tReplicas: 1\tIsr: 1", i)
		if l != want {
			t.Errorf("describe partition line %q, want %q", l, want)
		}
	}
	out = mustTrib(t, addr, "", "topic", "describe", "orders", "--all-configs")
	if !strings.Contains(out, "\tConfig: retention.ms=100000\tSource: DYNAMIC_TOPIC_CONFIG") ||
		!strings.Contains(out, "\tConfig: max.message.bytes=") {
		t.Errorf("describe --all-configs:\n%s", out)
	}
	out = mustTrib(t, addr, "", "topic", "describe")
	if !strings.Contains(out, "Topic: orders\t") || !strings.Contains(out, "Topic: plain\t") {
		t.Errorf("describe (all):\n%s", out)
	}
	_, errOut, err = trib(t, addr, "", "topic", "describe", "missing")
	if err == nil || !strings.Contains(errOut, "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("describe missing: err=%v stderr=%q", err, errOut)
	}
	if tds, _ := newAdmin(t, addr).ListTopics(ctx); tds.Has("missing") {
		t.Fatal("describe auto-created the topic it was asked about")
	}

	out = mustTrib(t, addr, "", "topic", "alter-config", "orders", "--set", "retention.ms=5000", "--set", "max.message.bytes=2000", "--delete", "cleanup.policy")
	if out != "Altered configs of topic orders.\n" {
		t.Fatalf("alter-config output %q", out)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := rcs.On("orders", nil)
	got := map[string]string{}
	for _, c := range rc.Configs {
		if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			got[c.Key] = c.MaybeValue()
		}
	}
	if len(got) != 2 || got["retention.ms"] != "5000" || got["max.message.bytes"] != "2000" {
		t.Fatalf("overrides after alter-config: %v", got)
	}
	_, errOut, err = trib(t, addr, "", "topic", "alter-config", "orders", "--set", "retention.ms=banana")
	if err == nil || !strings.Contains(errOut, "INVALID_CONFIG") {
		t.Fatalf("invalid alter: err=%v stderr=%q", err, errOut)
	}

	out = mustTrib(t, addr, "", "topic", "delete", "orders", "plain")
	if out != "Deleted topic orders.\nDeleted topic plain.\n" {
		t.Fatalf("delete output %q", out)
	}
	// A fresh admin: kadm caches metadata.
	if tds, _ := newAdmin(t, addr).ListTopics(ctx); len(tds) != 0 {
		t.Fatalf("topics left after delete: %v", tds.Names())
	}
	_, errOut, err = trib(t, addr, "", "topic", "delete", "orders")
	if err == nil || !strings.Contains(errOut, "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("delete missing: err=%v stderr=%q", err, errOut)
	}
}

func TestToolsProduceConsume(t *testing.T) {
	n := startNode(t, "", nil)
	addr := n.Addr()
	mustTrib(t, addr, "", "topic", "create", "keyed", "-p", "6")

	const total, keys = 2000, 37
	in := strings.Join(keyedLines(total, keys), "\n") + "\n"
	out := mustTrib(t, addr, in, "produce", "keyed", "--key-separator", ":", "--format", `%p %o\n`)
	if got := strings.Count(out, "\n"); got != total {
		t.Fatalf("produce acknowledged %d records, want %d", got, total)
	}

	// Read back with kgo: keys in one partition each, in order.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := newClient(t, addr, kgo.ConsumeTopics("keyed"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var recs []keyedRecord
	for len(recs) < total && ctx.Err() == nil {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			recs = append(recs, keyedRecord{r.Partition, r.Offset, string(r.Key), string(r.Value)})
		})
	}
	checkKeyedOrder(t, recs, total, keys)

	// Read back with trib consume -e and a kcat-like format.
	out, errOut, err := trib(t, addr, "", "consume", "keyed", "--from-beginning", "-e", "-f", `%p|%o|%k|%s|%T\n`)
	if err != nil {
		t.Fatalf("consume: %v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, fmt.Sprintf("Processed a total of %d messages", total)) {
		t.Errorf("consume stderr %q", errOut)
	}
	recs = recs[:0]
	now := time.Now().UnixMilli()
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		f := strings.Split(l, "|")
		if len(f) != 5 {
			t.Fatalf("consume line %q", l)
		}
		p, _ := strconv.Atoi(f[0])
		o, _ := strconv.ParseInt(f[1], 10, 64)
		ts, _ := strconv.ParseInt(f[4], 10, 64)
		if ts <= 0 || ts > now+60_000 || ts < now-10*60_000 {
			t.Fatalf("consume line %q: implausible timestamp", l)
		}
		recs = append(recs, keyedRecord{int32(p), o, f[2], f[3]})
	}
	checkKeyedOrder(t, recs, total, keys)

	// -n stops after n records; -p restricts partitions; --offset N and -N.
	out = mustTrib(t, addr, "", "consume", "keyed", "--from-beginning", "-n", "5", "-q")
	if strings.Count(out, "\n") != 5 {
		t.Errorf("-n 5 printed:\n%s", out)
	}
	var p0 int
	for _, r := range recs {
		if r.Partition == 0 {
			p0++
		}
	}
	out = mustTrib(t, addr, "", "consume", "keyed", "-p", "0", "--offset", "-3", "-e", "-f", `%p %o\n`, "-q")
	want := ""
	for o := max(p0-3, 0); o < p0; o++ {
		want += fmt.Sprintf("0 %d\n", o)
	}
	if out != want {
		t.Errorf("--offset -3 -p 0: got %q, want %q", out, want)
	}
	if p0 > 1 {
		out = mustTrib(t, addr, "", "consume", "keyed", "-p", "0", "--offset", "1", "-e", "-f", `%o\n`, "-q")
		if strings.Count(out, "\n") != p0-1 || !strings.HasPrefix(out, "1\n") {
			t.Errorf("--offset 1 -p 0: got %q", out)
		}
	}
	// From a timestamp in the future: nothing; -e exits at once.
	out = mustTrib(t, addr, "", "consume", "keyed", "--offset", fmt.Sprintf("@%d", now+3_600_000), "-e", "-q")
	if out != "" {
		t.Errorf("--offset @future printed %q", out)
	}

	// acks=1 and acks=0, headers, a fixed partition.
	mustTrib(t, addr, "one\ntwo\n", "produce", "keyed", "--acks", "1", "-p", "5", "-H", "src=test")
	mustTrib(t, addr, "three\n", "produce", "keyed", "--acks", "0", "-p", "5", "-H", "src=test")
	deadline := time.Now().Add(10 * time.Second)
	for {
		out = mustTrib(t, addr, "", "consume", "keyed", "-p", "5", "--offset", "-3", "-e", "-f", `%s %h\n`, "-q")
		if strings.HasSuffix(out, "one src=test\ntwo src=test\nthree src=test\n") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // acks=0: the write may land after the producer exits
	}
	if !strings.HasSuffix(out, "one src=test\ntwo src=test\nthree src=test\n") {
		t.Errorf("acks 1/0 records: got %q", out)
	}

	// Consuming a topic that does not exist is an error and does not create it.
	_, errOut, err = trib(t, addr, "", "consume", "nope", "-e")
	if err == nil || !strings.Contains(errOut, "does not exist") {
		t.Errorf("consume missing topic: err=%v stderr=%q", err, errOut)
	}
	_, errOut, err = trib(t, addr, "", "produce", "keyed", "--acks", "2")
	if err == nil || !strings.Contains(errOut, "--acks") {
		t.Errorf("bad --acks: err=%v stderr=%q", err, errOut)
	}
}

// TestToolsConsumeFollows checks that consume without -e waits for new
// records (fetch long-poll) and stops after -n.
func TestToolsConsumeFollows(t *testing.T) {
	n := startNode(t, "", nil)
	addr := n.Addr()
	mustTrib(t, addr, "", "topic", "create", "live", "-p", "1")
	type result struct {
		out, errOut string
		err         error
	}
	done := make(chan result, 1)
	go func() {
		out, errOut, err := trib(t, addr, "", "consume", "live", "-n", "2", "-q")
		done <- result{out, errOut, err}
	}()
	// The consumer starts at the end; keep producing until it has seen two
	// records produced after it started.
	deadline := time.After(50 * time.Second)
	for i := 0; ; i++ {
		select {
		case r := <-done:
			if r.err != nil {
				t.Fatalf("consume: %v %s", r.err, r.errOut)
			}
			lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[0], "msg") {
				t.Fatalf("consume -n 2 printed %q", r.out)
			}
			return
		case <-deadline:
			t.Fatal("consume -n 2 did not finish")
		case <-time.After(300 * time.Millisecond):
			mustTrib(t, addr, fmt.Sprintf("msg%d\n", i), "produce", "live")
		}
	}
}

// TestToolsUnreachableBroker: every tool fails with a clear error instead of
// hanging when no broker listens.
func TestToolsUnreachableBroker(t *testing.T) {
	const dead = "127.0.0.1:1"
	for _, args := range [][]string{
		{"topic", "list"},
		{"topic", "create", "x"},
		{"consume", "x", "-e"},
		{"produce", "x", "--delivery-timeout", "2s"},
	} {
		_, errOut, err := trib(t, dead, "line\n", args...)
		if err == nil || !strings.Contains(errOut, "connection refused") {
			t.Errorf("trib %s against a dead broker: err=%v stderr=%q", strings.Join(args, " "), err, errOut)
		}
	}
}

// TestToolsConsumeGroup: trib consume --group resumes where the group left
// off and commits exactly what it printed.
func TestToolsConsumeGroup(t *testing.T) {
	n := startNode(t, "", map[string]string{"group.initial.rebalance.delay.ms": "0"})
	addr := n.Addr()
	mustTrib(t, addr, "", "topic", "create", "grouped", "-p", "1")
	var in strings.Builder
	for i := range 10 {
		fmt.Fprintf(&in, "m%d\n", i)
	}
	mustTrib(t, addr, in.String(), "produce", "grouped")

	out := mustTrib(t, addr, "", "consume", "grouped", "--group", "g1", "--from-beginning", "-n", "4", "-q")
	if out != "m0\nm1\nm2\nm3\n" {
		t.Fatalf("first run printed %q", out)
	}
	out = mustTrib(t, addr, "", "consume", "grouped", "-g", "g1", "-n", "6", "-q", "-f", `%o:%s\n`)
	if out != "4:m4\n5:m5\n6:m6\n7:m7\n8:m8\n9:m9\n" {
		t.Fatalf("second run printed %q (want to resume at offset 4)", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := newAdmin(t, addr).FetchOffsets(ctx, "g1")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup("grouped", 0); !ok || o.At != 10 {
		t.Fatalf("committed %+v, want 10", o)
	}
	// A new group without --from-beginning starts at the end.
	done := make(chan string, 1)
	go func() {
		out, _, _ := trib(t, addr, "", "consume", "grouped", "-g", "g2", "-n", "1", "-q")
		done <- out
	}()
	deadline := time.After(50 * time.Second)
	for i := 0; ; i++ {
		select {
		case out := <-done:
			if !strings.HasPrefix(out, "late") {
				t.Fatalf("new group at end printed %q", out)
			}
			return
		case <-deadline:
			t.Fatal("consume -g g2 -n 1 did not finish")
		case <-time.After(300 * time.Millisecond):
			mustTrib(t, addr, fmt.Sprintf("late%d\n", i), "produce", "grouped")
		}
	}
}
