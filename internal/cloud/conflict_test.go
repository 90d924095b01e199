package cloud

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentConflictingRequests: requests that each start an
// operation on one online cluster, sent at once: exactly one is taken,
// every other is a 409, and the store holds that one operation and its
// change only.
func TestConcurrentConflictingRequests(t *testing.T) {
	ctx := context.Background()
	a := newPlanAPI(t)
	st, svc, srv, token := a.st, a.svc, a.srv, a.token
	c, err := svc.CreateCluster(ctx, CreateRequest{Name: "busy", Engine: Engine, Size: "local", NumNodes: 3})
	if err != nil {
		t.Fatal(err)
	}
	ops, _ := st.Operations(ctx, c.ID)
	op := ops[0]
	op.Step, op.State = stepDone, OpDone
	if err := st.FinishOperation(ctx, op, StatusOnline, 0); err != nil {
		t.Fatal(err)
	}
	// Scale outs to 4..8 nodes, a rolling restart and an upgrade (no
	// maintenance window: at once), all at the same moment.
	type req struct{ method, path, body string }
	var reqs []req
	for n := 4; n <= 8; n++ {
		reqs = append(reqs, req{"PUT", "/v2/databases/" + c.ID + "/resize", `{"num_nodes":` + string(rune('0'+n)) + `}`})
	}
	reqs = append(reqs, req{"PUT", "/v2/databases/" + c.ID + "/install_update", ""},
		req{"PUT", "/v2/databases/" + c.ID + "/upgrade", `{"version":"3.9-x"}`})
	svc.cfg.Catalog.Versions = append(svc.cfg.Catalog.Versions, "3.9-x")
	statuses := make([]int, len(reqs))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hr, _ := http.NewRequest(r.method, srv.URL+r.path, strings.NewReader(r.body))
			hr.Header.Set("Authorization", "Bearer "+token)
			<-start
			resp, err := http.DefaultClient.Do(hr)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	taken := -1
	for i, s := range statuses {
		switch {
		case s/100 == 2 && taken < 0:
			taken = i
		case s/100 == 2:
			t.Errorf("both %s %s and %s %s were taken", reqs[taken].path, reqs[taken].body, reqs[i].path, reqs[i].body)
		case s != http.StatusConflict:
			t.Errorf("%s %s: %d, want 409", reqs[i].path, reqs[i].body, s)
		}
	}
	if taken < 0 {
		t.Fatalf("no request was taken: %v", statuses)
	}
	ops, _ = st.Operations(ctx, c.ID)
	running := 0
	for _, o := range ops {
		if o.State == OpRunning {
			running++
		}
	}
	got, _ := st.Cluster(ctx, c.ID)
	nodes, _ := st.Nodes(ctx, c.ID)
	if running != 1 {
		t.Errorf("%d running operations, want 1", running)
	}
	if strings.HasSuffix(reqs[taken].path, "/resize") {
		want := int(reqs[taken].body[len(`{"num_nodes":`)] - '0')
		if got.NumNodes != want || len(nodes) != want || got.Status != StatusResizing {
			t.Errorf("after %s: %d nodes (%d planned), status %s, want %d", reqs[taken].body, got.NumNodes, len(nodes), got.Status, want)
		}
	} else if got.NumNodes != 3 || len(nodes) != 3 {
		t.Errorf("after %s: %d nodes (%d planned), want 3", reqs[taken].path, got.NumNodes, len(nodes))
	}
	t.Logf("taken: %s %s; statuses %v", reqs[taken].path, reqs[taken].body, statuses)
}
