package cloud

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// planOnly is a provisioner that plans addresses and runs nothing (the
// API benchmark needs no brokers).
type planOnly struct{}

func (planOnly) Plan(_ context.Context, c Cluster, ids []int32, _ []Node) ([]Node, error) {
	var out []Node
	for _, id := range ids {
		out = append(out, Node{ClusterID: c.ID, NodeID: id, State: NodeActive, Listen: fmt.Sprintf("127.0.0.1:%d", 20000+id),
			Controller: "127.0.0.1:1", Admin: "127.0.0.1:2", DataDir: "/nonexistent"})
	}
	return out, nil
}
func (planOnly) Ensure(context.Context, Cluster, Node, []Node) (bool, error) { return false, nil }
func (planOnly) Stop(context.Context, Node, bool) error                      { return nil }
func (planOnly) Destroy(context.Context, Node) error                         { return nil }

// planAPI is the API over a fresh SQLite store and the planOnly
// provisioner (nothing runs), with an admin token (read and write); the
// test's cleanup closes the server and the store.
type planAPI struct {
	st    Store
	svc   *Service
	srv   *httptest.Server
	log   *slog.Logger
	token string
}

func newPlanAPI(t testing.TB) planAPI {
	t.Helper()
	ctx := context.Background()
	st, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "cloud.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := New(Config{Store: st, Provisioner: planOnly{}, Logger: log})
	srv := httptest.NewServer(Handler(svc, st, log))
	t.Cleanup(srv.Close)
	token, err := CreateToken(ctx, st, "admin", "", []string{ScopeRead, ScopeWrite})
	if err != nil {
		t.Fatal(err)
	}
	return planAPI{st: st, svc: svc, srv: srv, log: log, token: token}
}

// BenchmarkAPIGetDatabase: GET /v2/databases/{id} from 50 concurrent
// clients (SQLite store, 10 clusters); reports p50 and p99 latency.
func BenchmarkAPIGetDatabase(b *testing.B) {
	ctx := context.Background()
	st, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), "cloud.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	svc := New(Config{Store: st, Provisioner: planOnly{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	var ids []string
	for i := range 10 {
		c, err := svc.CreateCluster(ctx, CreateRequest{Name: fmt.Sprintf("bench-%d", i), Engine: Engine, Size: "local", NumNodes: 3})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	token, err := CreateToken(ctx, st, "bench", "", []string{ScopeRead})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(Handler(svc, st, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	const clients = 50
	lat := make([][]time.Duration, clients)
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < b.N; i += clients {
				req, _ := http.NewRequest("GET", srv.URL+"/v2/databases/"+ids[i%len(ids)], nil)
				req.Header.Set("Authorization", "Bearer "+token)
				start := time.Now()
				resp, err := hc.Do(req)
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
				lat[w] = append(lat[w], time.Since(start))
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
}
