package tests

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkShareConsume measures share-group consumption (KIP-932) with
// 1, 4 and 16 franz-go share consumers on a 6-partition topic, and a
// classic consumer group with as many members on the same topic in the
// same run; each iteration reads every record once with a fresh group,
// timed from the consumers' start (joining included). It reports
// records/s over all iterations; the ratio share/classic is the figure
// to compare (go test -run XXX -bench ShareConsume -benchtime 3x ./tests/).
func BenchmarkShareConsume(b *testing.B) {
	n := startNode(b, "", shareSettings())
	ctx := context.Background()
	adm := newAdmin(b, n.Addr())
	const topic, total = "share-bench", 200000
	if _, err := adm.CreateTopic(ctx, 6, 1, nil, topic); err != nil {
		b.Fatal(err)
	}
	prod := newClient(b, n.Addr(), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))
	val := make([]byte, 100)
	for i := 0; i < total; i++ {
		prod.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	group := 0
	run := func(b *testing.B, share bool, consumers int) {
		var took time.Duration
		for i := 0; i < b.N; i++ {
			group++
			g := fmt.Sprintf("bench-%d", group)
			var opts []kgo.Opt
			if share {
				setShareEarliest(b, prod, g)
				opts = []kgo.Opt{kgo.ShareGroup(g), kgo.ConsumeTopics(topic)}
			} else {
				opts = []kgo.Opt{kgo.ConsumerGroup(g), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
			}
			var got atomic.Int64
			cctx, cancel := context.WithCancel(ctx)
			var wg sync.WaitGroup
			start := time.Now()
			for c := 0; c < consumers; c++ {
				cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(n.Addr())}, opts...)...)
				if err != nil {
					b.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer cl.Close()
					for cctx.Err() == nil {
						fs := cl.PollFetches(cctx)
						got.Add(int64(fs.NumRecords()))
					}
				}()
			}
			deadline := time.Now().Add(120 * time.Second)
			for got.Load() < total && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			el := time.Since(start)
			cancel()
			wg.Wait()
			if got.Load() < total {
				b.Fatalf("read %d of %d records", got.Load(), total)
			}
			took += el
		}
		b.ReportMetric(float64(total*b.N)/took.Seconds(), "records/s")
	}
	for _, k := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("classic-%d", k), func(b *testing.B) { run(b, false, k) })
		b.Run(fmt.Sprintf("share-%d", k), func(b *testing.B) { run(b, true, k) })
	}
}
