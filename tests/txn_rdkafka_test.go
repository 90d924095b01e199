package tests

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRdkafkaTransactions: librdkafka's transactional producer
// (confluent-kafka-go, tests/rdkafka-producer --txn) commits, aborts and
// commits again over three partitions; read_committed consumers see the
// two committed transactions only, read_uncommitted ones all three.
func TestRdkafkaTransactions(t *testing.T) {
	bin := rdkafkaProducerBinary(t)
	n := startNode(t, "", txnSettings)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := newAdmin(t, n.Addr()).CreateTopic(ctx, 3, 1, nil, "rdk-txn"); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runCmd(t, 60*time.Second, "", nil, bin, "--brokers", n.Addr(), "--topic", "rdk-txn", "--name", "rdk", "--txn", "commit,abort,commit")
	if err != nil || strings.Count(out, " ok\n") != 3 {
		t.Fatalf("rdkafka-producer --txn: %v\nstdout:\n%s\nstderr:\n%s", err, out, tail(errOut))
	}
	read := func(level kgo.IsolationLevel, want int) string {
		return strings.Join(readIsolated(t, ctx, n.Addr(), "rdk-txn", level, want), ",")
	}
	if got := read(kgo.ReadCommitted(), 6); got != "rdk-0-0,rdk-0-1,rdk-0-2,rdk-2-0,rdk-2-1,rdk-2-2" {
		t.Fatalf("read_committed: %s", got)
	}
	if got := read(kgo.ReadUncommitted(), 9); got != "rdk-0-0,rdk-0-1,rdk-0-2,rdk-1-0,rdk-1-1,rdk-1-2,rdk-2-0,rdk-2-1,rdk-2-2" {
		t.Fatalf("read_uncommitted: %s", got)
	}
}

// readIsolated reads topic from the start at level until it has want
// records, then polls one more second for any record beyond them; the
// values come back sorted.
func readIsolated(t *testing.T, ctx context.Context, addr, topic string, level kgo.IsolationLevel, want int) []string {
	t.Helper()
	c := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(level))
	var got []string
	for len(got) < want {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume %s: %v (got %v)", topic, err, got)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c.PollFetches(short).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	sort.Strings(got)
	return got
}
