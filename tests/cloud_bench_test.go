package tests

// The managed service's figures (issue 13's closing note): time from
// create to online for 3 brokers, time of a scale out 3 → 5 with the
// client-visible produce latency during it (and of the scale in back),
// and the API's latency for GET /v2/databases under 50 concurrent godo
// clients, against a real `trib cloud serve` process. It measures, it
// asserts nothing about speed; it runs only when asked:
//
//	TRIB_CLOUD_BENCH=1 go test -run TestCloudBench -v -timeout 30m ./tests/
//
// TRIB_CLOUD_BENCH_ROUNDS (default 3) sets how many creates and resize
// round trips are timed; TRIB_CLOUD_BENCH_METADATA_MIN_AGE (a duration)
// sets the producer's kgo.MetadataMinAge (default 5s), how soon it may
// refresh metadata after a NOT_LEADER_OR_FOLLOWER.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/digitalocean/godo"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestCloudBench(t *testing.T) {
	if os.Getenv("TRIB_CLOUD_BENCH") == "" {
		t.Skip("a measurement, not a check: TRIB_CLOUD_BENCH=1 runs it")
	}
	rounds := 3
	if n, err := strconv.Atoi(os.Getenv("TRIB_CLOUD_BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	dir := t.TempDir()
	t.Cleanup(func() { killBrokers(dir) })
	cp := startCloud(t, dir, "sqlite")
	token := adminToken(t, dir)
	gc := godoClient(t, cp.URL, token)
	ctx := context.Background()

	// untilStatus polls every 20ms, for a finer figure than waitStatus.
	untilStatus := func(id, want string) time.Time {
		t.Helper()
		deadline := time.Now().Add(5 * time.Minute)
		for {
			d, _, err := gc.Databases.Get(ctx, id)
			if err == nil && d.Status == want {
				return time.Now()
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster %s not %s within 5m (%v)", id, want, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Create → online, 3 brokers; every cluster but the last is deleted.
	var creates []time.Duration
	var db *godo.Database
	for r := 0; r < rounds; r++ {
		start := time.Now()
		d, _, err := gc.Databases.Create(ctx, &godo.DatabaseCreateRequest{Name: fmt.Sprintf("bench-%d", r), EngineSlug: "kafka",
			SizeSlug: "local", NumNodes: 3})
		if err != nil {
			t.Fatal(err)
		}
		creates = append(creates, untilStatus(d.ID, "online").Sub(start))
		if r < rounds-1 {
			if _, err := gc.Databases.Delete(ctx, d.ID); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if db, _, err = gc.Databases.Get(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("create → online, 3 brokers (%d rounds): %v", rounds, roundAll(creates))

	// Scale out 3 → 5 and back under an acks=all producer at a fixed
	// rate: each record's latency from Produce to its acknowledgement.
	parts, rf := uint32(6), uint32(3)
	if _, _, err := gc.Databases.CreateTopic(ctx, db.ID, &godo.DatabaseCreateTopicRequest{Name: "load", PartitionCount: &parts, ReplicationFactor: &rf}); err != nil {
		t.Fatal(err)
	}
	bootstrap := fmt.Sprintf("%s:%d", db.Connection.Host, db.Connection.Port)
	popts := []kgo.Opt{kgo.SeedBrokers(bootstrap), kgo.DefaultProduceTopic("load"), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0)}
	if d, err := time.ParseDuration(os.Getenv("TRIB_CLOUD_BENCH_METADATA_MIN_AGE")); err == nil {
		popts = append(popts, kgo.MetadataMinAge(d)) // kgo's default is 5s
	}
	cl, err := kgo.NewClient(append(popts, cloudClientOpts(t, gc, db.ID, db.Connection.User, db.Connection.Password)...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const rate = 2000 // records per second, 1 KiB each
	type ack struct {
		at  time.Time
		lat time.Duration
	}
	var mu sync.Mutex
	var acks []ack
	failed := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		val := make([]byte, 1024)
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for range rate / 100 {
				sent := time.Now()
				cl.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						failed++
						return
					}
					acks = append(acks, ack{at: time.Now(), lat: time.Since(sent)})
				})
			}
		}
	}()
	window := func(from, to time.Time) (n int, p50, p99, pmax time.Duration) {
		mu.Lock()
		var ls []time.Duration
		for _, a := range acks {
			if !a.at.Before(from) && a.at.Before(to) {
				ls = append(ls, a.lat)
			}
		}
		mu.Unlock()
		if len(ls) == 0 {
			return 0, 0, 0, 0
		}
		slices.Sort(ls)
		return len(ls), ls[len(ls)/2], ls[len(ls)*99/100], ls[len(ls)-1]
	}
	report := func(what string, from, to time.Time) {
		n, p50, p99, pmax := window(from, to)
		t.Logf("%s: %v; produce acks=all at %d rec/s meanwhile: %d acks, p50 %v p99 %v max %v", what, to.Sub(from).Round(time.Millisecond),
			rate, n, p50.Round(100*time.Microsecond), p99.Round(100*time.Microsecond), pmax.Round(time.Millisecond))
	}
	steady := time.Now()
	time.Sleep(5 * time.Second)
	report("steady state, 3 brokers (5s)", steady, time.Now())
	for r := 0; r < rounds; r++ {
		for _, to := range []int{5, 3} {
			from := time.Now()
			if _, err := gc.Databases.Resize(ctx, db.ID, &godo.DatabaseResizeRequest{NumNodes: to}); err != nil {
				t.Fatal(err)
			}
			report(fmt.Sprintf("round %d: resize to %d → online", r+1, to), from, untilStatus(db.ID, "online"))
			time.Sleep(2 * time.Second) // a few seconds of steady state between resizes
		}
	}
	close(stop)
	wg.Wait()
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("produce: %d failed records", failed)

	// GET /v2/databases (the list, 1 cluster, its users and nodes) from 50
	// concurrent godo clients, each with its own connection, for 10s.
	const clients = 50
	lat := make([][]time.Duration, clients)
	end := time.Now().Add(10 * time.Second)
	gcs := make([]*godo.Client, clients)
	for w := range gcs {
		gcs[w] = godoClientOver(t, cp.URL, token, http.DefaultTransport.(*http.Transport).Clone())
	}
	var lwg sync.WaitGroup
	for w, c := range gcs {
		lwg.Add(1)
		go func() {
			defer lwg.Done()
			for time.Now().Before(end) {
				start := time.Now()
				if _, _, err := c.Databases.List(ctx, nil); err != nil {
					t.Errorf("list: %v", err)
					return
				}
				lat[w] = append(lat[w], time.Since(start))
			}
		}()
	}
	lwg.Wait()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		t.Logf("GET /v2/databases, %d godo clients for 10s: %d requests (%.0f/s), p50 %v p99 %v max %v", clients, len(all),
			float64(len(all))/10, all[len(all)/2].Round(10*time.Microsecond), all[len(all)*99/100].Round(10*time.Microsecond),
			all[len(all)-1].Round(time.Millisecond))
	}
}

// roundAll rounds durations to milliseconds for a log line.
func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
