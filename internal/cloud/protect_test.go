package cloud

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestDeletionProtection: a cluster created with deletion protection (or
// given it later) refuses DELETE with a DigitalOcean-shaped 422 and stays
// as it is; turned off, the delete starts.
func TestDeletionProtection(t *testing.T) {
	ctx := context.Background()
	a := newPlanAPI(t)
	st, svc, srv, token := a.st, a.svc, a.srv, a.token
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	// online marks the cluster's create done (no brokers run here).
	online := func(id string) {
		t.Helper()
		ops, err := st.Operations(ctx, id)
		if err != nil || len(ops) == 0 {
			t.Fatalf("operations: %v %v", ops, err)
		}
		op := ops[len(ops)-1]
		op.Step, op.State = stepDone, OpDone
		if err := st.FinishOperation(ctx, op, StatusOnline, 0); err != nil {
			t.Fatal(err)
		}
	}
	protected := func(id string) bool {
		t.Helper()
		status, out := do("GET", "/v2/databases/"+id, "")
		db, _ := out["database"].(map[string]any)
		if status != 200 || db == nil {
			t.Fatalf("get: %d %v", status, out)
		}
		if db["status"] != StatusOnline {
			t.Fatalf("status %v, want online", db["status"])
		}
		return db["deletion_protection"] == true
	}

	status, out := do("POST", "/v2/databases", `{"name":"kept","engine":"kafka","size":"local","num_nodes":3,"deletion_protection":true}`)
	db, _ := out["database"].(map[string]any)
	if status != 201 || db == nil || db["deletion_protection"] != true {
		t.Fatalf("create with deletion protection: %d %v", status, out)
	}
	id := db["id"].(string)
	online(id)
	status, out = do("DELETE", "/v2/databases/"+id, "")
	if status != 422 || out["id"] != "unprocessable_entity" || !strings.Contains(out["message"].(string), "deletion protection") {
		t.Errorf("delete of a protected cluster: %d %v, want 422", status, out)
	}
	if !protected(id) {
		t.Error("deletion protection lost after a refused delete")
	}
	for _, bad := range []string{`{}`, `{"deletion_protection":"yes"}`} {
		if status, out := do("PUT", "/v2/databases/"+id+"/deletion_protection", bad); status/100 != 4 {
			t.Errorf("PUT deletion_protection %s: %d %v, want a 4xx", bad, status, out)
		}
	}
	if status, out := do("PUT", "/v2/databases/no-such-cluster/deletion_protection", `{"deletion_protection":false}`); status != 404 {
		t.Errorf("PUT deletion_protection of an unknown cluster: %d %v", status, out)
	}
	if status, out := do("PUT", "/v2/databases/"+id+"/deletion_protection", `{"deletion_protection":false}`); status != 204 {
		t.Fatalf("turn deletion protection off: %d %v", status, out)
	}
	if protected(id) {
		t.Fatal("deletion protection still on")
	}
	if status, out := do("DELETE", "/v2/databases/"+id, ""); status != 204 {
		t.Fatalf("delete without deletion protection: %d %v", status, out)
	}

	// Turned on after the create, likewise.
	status, out = do("POST", "/v2/databases", `{"name":"later","engine":"kafka","size":"local","num_nodes":1}`)
	db, _ = out["database"].(map[string]any)
	if status != 201 || db == nil || db["deletion_protection"] != false {
		t.Fatalf("create: %d %v", status, out)
	}
	id = db["id"].(string)
	online(id)
	if status, out := do("PUT", "/v2/databases/"+id+"/deletion_protection", `{"deletion_protection":true}`); status != 204 {
		t.Fatalf("turn deletion protection on: %d %v", status, out)
	}
	if status, _ := do("DELETE", "/v2/databases/"+id, ""); status != 422 {
		t.Errorf("delete after deletion protection was turned on: %d, want 422", status)
	}
	evs, err := svc.Events(ctx, id)
	if err != nil || !slices.ContainsFunc(evs, func(e Event) bool { return e.Type == "deletion_protection_on" }) {
		t.Errorf("events: %+v %v, want deletion_protection_on", evs, err)
	}
}
