package tests

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// Registry benchmarks against an in-process broker and registry:
//
//	go test -run XXX -bench SchemaRegistry -benchtime 2000x ./tests/
//
// Register and lookup report their p50/p99 latency; GetByID reports
// requests/s of cached GET /schemas/ids/{id} from 50 concurrent clients.

func benchRegistry(b *testing.B) (*sr.Client, string) {
	n := startNode(b, "", nil)
	reg := startRegistry(b, n.Addr())
	waitWriter(b, reg)
	return newSR(b, reg.URL()), reg.URL()
}

func reportLatencies(b *testing.B, lat []time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

func BenchmarkSchemaRegistryRegister(b *testing.B) {
	cl, _ := benchRegistry(b)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := cl.RegisterSchema(ctx, fmt.Sprintf("bench-%d-value", i), sr.Schema{Schema: fmt.Sprintf(`{"type":"fixed","name":"f%d","size":4}`, i)}, -1, -1); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	reportLatencies(b, lat)
}

func BenchmarkSchemaRegistryLookup(b *testing.B) {
	cl, _ := benchRegistry(b)
	ctx := context.Background()
	s := sr.Schema{Schema: orderSchema}
	if _, err := cl.RegisterSchema(ctx, "orders-value", s, -1, -1); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := cl.LookupSchema(ctx, "orders-value", s); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	reportLatencies(b, lat)
}

func BenchmarkSchemaRegistryGetByID(b *testing.B) {
	cl, url := benchRegistry(b)
	ss, err := cl.CreateSchema(context.Background(), "orders-value", sr.Schema{Schema: orderSchema})
	if err != nil {
		b.Fatal(err)
	}
	const clients = 50
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	target := fmt.Sprintf("%s/schemas/ids/%d", url, ss.ID)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				resp, err := hc.Get(target)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}
