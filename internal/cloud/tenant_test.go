package cloud

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestTenantIsolation: a token of another tenant gets, on every route of
// the API with a cluster id, exactly the answer an unknown id gets (404
// for every read), does not list the cluster, changes nothing of it, and
// may not read the installation's metrics credentials; the clusters it
// creates are its own.
func TestTenantIsolation(t *testing.T) {
	ctx := context.Background()
	a := newPlanAPI(t)
	st, svc, srv, log, admin := a.st, a.svc, a.srv, a.log, a.token
	rw := []string{ScopeRead, ScopeWrite}
	acme, err := CreateToken(ctx, st, "acme-ops", "acme", rw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CreateToken(ctx, st, "bad", "Not A Tenant", rw); err == nil {
		t.Error("a token of tenant \"Not A Tenant\" was made")
	}

	do := func(token, method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	create := func(token, name string) string {
		t.Helper()
		status, body := do(token, "POST", "/v2/databases", `{"name":"`+name+`","engine":"kafka","size":"local","region":"local","num_nodes":3}`)
		var out struct {
			Database struct{ ID string } `json:"database"`
		}
		if status != http.StatusCreated || json.Unmarshal([]byte(body), &out) != nil || out.Database.ID == "" {
			t.Fatalf("create %s: %d %s", name, status, body)
		}
		return out.Database.ID
	}
	names := func(token string) []string {
		t.Helper()
		status, body := do(token, "GET", "/v2/databases", "")
		var out struct {
			Databases []struct{ Name string } `json:"databases"`
		}
		if status != 200 || json.Unmarshal([]byte(body), &out) != nil {
			t.Fatalf("list: %d %s", status, body)
		}
		var ns []string
		for _, d := range out.Databases {
			ns = append(ns, d.Name)
		}
		slices.Sort(ns)
		return ns
	}
	// What the owner sees of its cluster; the other tenant's requests
	// must leave it as it is.
	snapshot := func(id string) string {
		t.Helper()
		var b strings.Builder
		for _, p := range []string{"", "/events", "/operations", "/users", "/firewall"} {
			status, body := do(admin, "GET", "/v2/databases/"+id+p, "")
			b.WriteString(p + " " + http.StatusText(status) + " " + body)
		}
		return b.String()
	}

	id := create(admin, "orders")
	before := snapshot(id)
	const unknown = "00000000-0000-0000-0000-000000000000"
	h := &api{s: svc, st: st, log: log}
	checked := 0
	for _, rt := range h.routes() {
		method, pattern, _ := strings.Cut(rt.pattern, " ")
		if !strings.Contains(pattern, "{id}") {
			continue
		}
		path := strings.ReplaceAll(pattern, "{name}", "doadmin")
		body := ""
		if method != "GET" && method != "DELETE" {
			body = "{}"
		}
		gotStatus, got := do(acme, method, strings.ReplaceAll(path, "{id}", id), body)
		wantStatus, want := do(acme, method, strings.ReplaceAll(path, "{id}", unknown), body)
		if gotStatus != wantStatus || got != want {
			t.Errorf("%s as another tenant: %d %s; an unknown id: %d %s", rt.pattern, gotStatus, got, wantStatus, want)
		}
		if method == "GET" && gotStatus != http.StatusNotFound {
			t.Errorf("%s as another tenant: %d, want 404", rt.pattern, gotStatus)
		}
		checked++
	}
	if checked < 20 {
		t.Fatalf("only %d routes with a cluster id checked", checked)
	}
	if after := snapshot(id); after != before {
		t.Errorf("the cluster changed through another tenant's requests:\nbefore %s\nafter  %s", before, after)
	}
	if ns := names(acme); len(ns) != 0 {
		t.Errorf("another tenant lists %v, want nothing", ns)
	}
	for _, m := range []string{"GET", "PUT"} {
		if status, body := do(acme, m, "/v2/databases/metrics/credentials", `{"credentials":{"basic_auth_username":"x","basic_auth_password":"longenough"}}`); status != http.StatusForbidden {
			t.Errorf("%s metrics credentials as a tenant: %d %s, want 403", m, status, body)
		}
	}
	if status, body := do(admin, "GET", "/v2/databases/metrics/credentials", ""); status != 200 {
		t.Errorf("metrics credentials as the default tenant: %d %s", status, body)
	}

	// The tenant's own cluster: it sees it, the default tenant does not.
	// Names are the tenant's own: another tenant's "orders" is no conflict.
	own := create(acme, "acme-events")
	create(acme, "orders")
	if status, body := do(acme, "POST", "/v2/databases", `{"name":"orders","engine":"kafka","size":"local","num_nodes":1}`); status != http.StatusConflict {
		t.Errorf("a duplicate name within a tenant: %d %s, want 409", status, body)
	}
	if status, _ := do(acme, "GET", "/v2/databases/"+own, ""); status != 200 {
		t.Errorf("the tenant's own cluster: %d", status)
	}
	if status, _ := do(admin, "GET", "/v2/databases/"+own, ""); status != http.StatusNotFound {
		t.Errorf("another tenant's cluster as the default tenant: %d, want 404", status)
	}
	if ns := names(acme); len(ns) != 2 || ns[0] != "acme-events" || ns[1] != "orders" {
		t.Errorf("the tenant lists %v, want [acme-events orders]", ns)
	}
	if ns := names(admin); len(ns) != 1 || ns[0] != "orders" {
		t.Errorf("the default tenant lists %v, want [orders]", ns)
	}
	// The store keeps each cluster's tenant, and the reconciler (no
	// tenant) sees both.
	if c, err := st.Cluster(ctx, own); err != nil || c.Tenant != "acme" {
		t.Errorf("stored tenant of acme-events: %q %v", c.Tenant, err)
	}
	if cs, err := svc.Clusters(ctx); err != nil || len(cs) != 3 {
		t.Errorf("clusters without a tenant: %d %v, want 3", len(cs), err)
	}
}
