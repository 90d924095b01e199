package tests

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKafkajsTransactions: kafkajs's transactional producer (transaction
// version 0: AddPartitionsToTxn, EndTxn v0-3, verified by the partition
// leaders) commits, aborts and commits again over three partitions, and
// a second producer with the same transactional id fences it (its next
// transaction fails). read_committed consumers see exactly the two
// committed transactions, read_uncommitted ones all three; the zombie's
// record is never written.
func TestKafkajsTransactions(t *testing.T) {
	n := startNode(t, "", txnSettings)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := newAdmin(t, n.Addr()).CreateTopic(ctx, 3, 1, nil, "kafkajs-txn"); err != nil {
		t.Fatal(err)
	}
	res := runKafkajs(t, n.Addr(), "txn.js", 90*time.Second, "TOPIC=kafkajs-txn", "TXN_ID=kafkajs-txn")
	var out struct {
		Ends   []struct{ Prefix string } `json:"ends"`
		Fenced *string                   `json:"fenced"`
	}
	if err := json.Unmarshal(res[0], &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Ends) != 3 {
		t.Fatalf("kafkajs ended %d transactions: %s", len(out.Ends), res[0])
	}
	if out.Fenced == nil {
		t.Fatalf("the fenced producer's transaction succeeded: %s", res[0])
	}
	t.Logf("fenced producer: %s", *out.Fenced)

	read := func(level kgo.IsolationLevel, want int) []string {
		return readIsolated(t, ctx, n.Addr(), "kafkajs-txn", level, want)
	}
	committed := read(kgo.ReadCommitted(), 6)
	if strings.Join(committed, ",") != "commit-0,commit-1,commit-2,last-0,last-1,last-2" {
		t.Fatalf("read_committed: %v", committed)
	}
	all := read(kgo.ReadUncommitted(), 9)
	if strings.Join(all, ",") != "abort-0,abort-1,abort-2,commit-0,commit-1,commit-2,last-0,last-1,last-2" {
		t.Fatalf("read_uncommitted: %v", all)
	}
}
