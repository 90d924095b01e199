package tests

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkTxnProduce compares, as a paired A/B in one run on one broker,
// transactional produce committing every 100 ms with idempotent produce of
// the same records (acks=all, 100-byte values, 6 partitions). Each
// iteration produces for one second with each producer, the order
// alternating; it reports both throughputs, their ratio, and the p50/p99
// commit latency (Flush of the transaction's last records, then
// EndTransaction).
//
//	go test -run XXX -bench BenchmarkTxnProduce -benchtime 5x ./tests/
func BenchmarkTxnProduce(b *testing.B) {
	n := startNode(b, "", txnSettings)
	ctx := context.Background()
	adm := newAdmin(b, n.Addr())
	if _, err := adm.CreateTopics(ctx, 6, 1, nil, "bench-idem", "bench-txn"); err != nil {
		b.Fatal(err)
	}
	idem := newClient(b, n.Addr(), kgo.DefaultProduceTopic("bench-idem"), kgo.ProducerLinger(time.Millisecond))
	txn := newClient(b, n.Addr(), kgo.DefaultProduceTopic("bench-txn"), kgo.ProducerLinger(time.Millisecond), kgo.TransactionalID("bench-txn"))
	value := make([]byte, 100)
	const window = time.Second
	produceFor := func(cl *kgo.Client, d time.Duration) int {
		count := 0
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) {
			for range 100 {
				cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
					if err != nil && !errors.Is(err, kgo.ErrClientClosed) {
						b.Error(err)
					}
				})
			}
			count += 100
		}
		return count
	}
	var commits []time.Duration
	idemRound := func() float64 {
		start := time.Now()
		c := produceFor(idem, window)
		if err := idem.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		return float64(c) / time.Since(start).Seconds()
	}
	txnRound := func() float64 {
		start := time.Now()
		c := 0
		for time.Since(start) < window {
			if err := txn.BeginTransaction(); err != nil {
				b.Fatal(err)
			}
			c += produceFor(txn, 100*time.Millisecond)
			t0 := time.Now()
			if err := txn.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
				b.Fatal(err)
			}
			commits = append(commits, time.Since(t0))
		}
		return float64(c) / time.Since(start).Seconds()
	}
	var idemRate, txnRate float64
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			idemRate += idemRound()
			txnRate += txnRound()
		} else {
			txnRate += txnRound()
			idemRate += idemRound()
		}
	}
	b.StopTimer()
	sort.Slice(commits, func(i, j int) bool { return commits[i] < commits[j] })
	pct := func(p float64) float64 { return float64(commits[int(p*float64(len(commits)-1))].Microseconds()) / 1000 }
	b.ReportMetric(idemRate/float64(b.N), "idempotent-rec/s")
	b.ReportMetric(txnRate/float64(b.N), "txn-rec/s")
	b.ReportMetric(txnRate/idemRate, "txn/idempotent")
	b.ReportMetric(pct(0.5), "commit-p50-ms")
	b.ReportMetric(pct(0.99), "commit-p99-ms")
}
