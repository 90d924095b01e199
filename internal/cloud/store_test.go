package cloud

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// storeSuite runs against any Store.
func storeSuite(t *testing.T, st Store) {
	ctx := context.Background()
	c := Cluster{ID: "c1", Name: "one", Engine: Engine, Version: "3.9", Size: "local", Region: "local", NumNodes: 3,
		StorageSizeMiB: 10240, Tags: []string{"a"}, Status: StatusCreating, CreatedAt: time.Now().UTC().Truncate(time.Second),
		CACert: "ca-pem", CAKey: "ca-key", ControlPassword: "cp", Tenant: "acme", BrokerConfig: map[string]string{"auto.create.topics.enable": "false"}}
	nodes := []Node{{ClusterID: "c1", NodeID: 1, Listen: "l1", Controller: "c1", Admin: "a1", Metrics: "m1", Voter: true, State: NodeActive, DataDir: "/d1"}}
	op := Operation{ID: "op1", ClusterID: "c1", Kind: OpCreate, To: 3, Step: stepStart, State: OpRunning}
	if err := st.CreateCluster(ctx, c, nodes, op, nil, nil); err != nil {
		t.Fatal(err)
	}
	// A duplicate name is a conflict and changes nothing.
	c2 := c
	c2.ID = "c2"
	err := st.CreateCluster(ctx, c2, nil, Operation{ID: "op2", ClusterID: "c2", Kind: OpCreate, State: OpRunning}, nil, nil)
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindConflict {
		t.Fatalf("duplicate name: %v", err)
	}
	if cs, _ := st.Clusters(ctx); len(cs) != 1 {
		t.Fatalf("clusters after a refused create: %+v", cs)
	}
	got, err := st.Cluster(ctx, "c1")
	if err != nil || got.Name != "one" || len(got.Tags) != 1 || !got.CreatedAt.Equal(c.CreatedAt) || got.Tenant != "acme" || got.BrokerConfig["auto.create.topics.enable"] != "false" {
		t.Fatalf("cluster: %+v %v", got, err)
	}
	if _, err := st.Cluster(ctx, "nope"); !errors.Is(err, errNoRow) {
		t.Fatalf("missing cluster: %v", err)
	}
	// A second operation while one runs is refused, atomically.
	err = st.StartOperation(ctx, Operation{ID: "op3", ClusterID: "c1", Kind: OpResize, State: OpRunning}, StatusResizing, 4,
		[]Node{{ClusterID: "c1", NodeID: 4, State: NodeActive}})
	if !errors.As(err, &e) || e.Kind != KindConflict {
		t.Fatalf("concurrent operation: %v", err)
	}
	if ns, _ := st.Nodes(ctx, "c1"); len(ns) != 1 {
		t.Fatalf("nodes after a refused operation: %+v", ns)
	}
	op.Step, op.State = stepDone, OpDone
	if err := st.FinishOperation(ctx, op, StatusOnline, 0); err != nil {
		t.Fatal(err)
	}
	// Deletion protection: a delete is refused in the operation's
	// transaction, the cluster unchanged.
	if err := st.SetDeletionProtection(ctx, "c1", true); err != nil {
		t.Fatal(err)
	}
	if err := st.SetDeletionProtection(ctx, "nope", true); !errors.Is(err, errNoRow) {
		t.Fatalf("deletion protection of a missing cluster: %v", err)
	}
	if err := st.StartOperation(ctx, Operation{ID: "opd", ClusterID: "c1", Kind: OpDelete, Step: stepStart, State: OpRunning}, StatusDeleting, 3, nil); err != errDeletionProtected {
		t.Fatalf("delete of a protected cluster: %v", err)
	}
	if got, _ := st.Cluster(ctx, "c1"); !got.DeletionProtection || got.Status != StatusOnline {
		t.Fatalf("after a refused delete: %+v", got)
	}
	if ops, _ := st.Operations(ctx, "c1"); len(ops) != 1 {
		t.Fatalf("operations after a refused delete: %+v", ops)
	}
	if err := st.SetDeletionProtection(ctx, "c1", false); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Cluster(ctx, "c1"); got.DeletionProtection {
		t.Fatalf("deletion protection still on: %+v", got)
	}
	if err := st.StartOperation(ctx, Operation{ID: "op3", ClusterID: "c1", Kind: OpResize, From: 3, To: 4, Step: stepStart, State: OpRunning}, StatusResizing, 4,
		[]Node{{ClusterID: "c1", NodeID: 4, State: NodeActive}}); err != nil {
		t.Fatal(err)
	}
	got, _ = st.Cluster(ctx, "c1")
	ns, _ := st.Nodes(ctx, "c1")
	running, _ := st.Operations(ctx, "")
	if got.Status != StatusResizing || got.NumNodes != 4 || len(ns) != 2 || len(running) != 1 || running[0].To != 4 {
		t.Fatalf("after resize start: %+v %+v %+v", got, ns, running)
	}
	if err := st.SetNodeState(ctx, "c1", 4, NodeDraining); err != nil {
		t.Fatal(err)
	}
	if ns, _ := st.Nodes(ctx, "c1"); ns[1].State != NodeDraining || ns[0].Metrics != "m1" {
		t.Fatalf("node state: %+v", ns)
	}
	st.AddEvent(ctx, "c1", "x")
	st.AddEvent(ctx, "c1", "y")
	if evs, _ := st.Events(ctx, "c1"); len(evs) != 2 || evs[0].Type != "x" || evs[1].Type != "y" {
		t.Fatalf("events: %+v", evs)
	}
	usersAndRules(t, st)
	if err := st.DeleteCluster(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if cs, _ := st.Clusters(ctx); len(cs) != 0 {
		t.Fatalf("after delete: %+v", cs)
	}
	if ns, _ := st.AllNodes(ctx); len(ns) != 0 {
		t.Fatalf("nodes after delete: %+v", ns)
	}
	if us, _ := st.Users(ctx, "c1"); len(us) != 0 {
		t.Fatalf("users after delete: %+v", us)
	}
	if rs, _ := st.FirewallRules(ctx, "c1"); len(rs) != 0 {
		t.Fatalf("firewall rules after delete: %+v", rs)
	}
	// Tokens.
	secret, err := CreateToken(ctx, st, "ro", "acme", []string{ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := st.TokenByHash(ctx, hashToken(secret))
	if err != nil || !tok.allows(ScopeRead) || tok.allows(ScopeWrite) || tok.Tenant != "acme" {
		t.Fatalf("token: %+v %v", tok, err)
	}
	if _, err := st.TokenByHash(ctx, hashToken("other")); !errors.Is(err, errNoRow) {
		t.Fatalf("unknown token: %v", err)
	}
	if err := st.Audit(ctx, tok.ID, "POST", "/v2/databases", 201); err != nil {
		t.Fatal(err)
	}
	if err := st.Audit(ctx, tok.ID, "DELETE", "/v2/databases/c1", 204); err != nil {
		t.Fatal(err)
	}
	log, err := st.AuditLog(ctx, 1)
	if err != nil || len(log) != 1 || log[0].Method != "DELETE" || log[0].TokenName != tok.Name || log[0].Status != 204 || log[0].Time.IsZero() {
		t.Fatalf("audit log, newest first, limit 1: %+v %v", log, err)
	}
}

func TestSQLiteStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.db")
	st, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	storeSuite(t, st)
	st.Close()
	// Reopening applies no migration twice.
	st, err = OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, _ := st.TokenCount(context.Background()); n != 1 {
		t.Fatalf("tokens after reopen: %d", n)
	}
	concurrentOperations(t, st)
}

// TestPostgresStore runs the same suite against PostgreSQL: a fresh
// database made through TRIB_TEST_POSTGRES (a postgres:// URL of a role
// with CREATEDB; .ci/run starts Debian's server and sets it). Without it
// the test skips, except under CI where it fails.
func TestPostgresStore(t *testing.T) {
	admin := os.Getenv("TRIB_TEST_POSTGRES")
	if admin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TRIB_TEST_POSTGRES is not set (.ci/run starts PostgreSQL and sets it)")
		}
		t.Skip("TRIB_TEST_POSTGRES is not set")
	}
	ctx := context.Background()
	adb, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer adb.Close()
	var b [6]byte
	rand.Read(b[:])
	name := "trib_cloud_test_" + hex.EncodeToString(b[:])
	if _, err := adb.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	defer adb.ExecContext(ctx, "DROP DATABASE "+name+" WITH (FORCE)")
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	st, err := OpenPostgres(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	storeSuite(t, st)
	st.Close()
	st, err = OpenPostgres(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, _ := st.TokenCount(ctx); n != 1 {
		t.Fatalf("tokens after reopen: %d", n)
	}
	concurrentOperations(t, st)
}

// concurrentOperations: of many concurrent operations on one cluster
// exactly one is recorded.
func concurrentOperations(t *testing.T, st Store) {
	ctx := context.Background()
	c := Cluster{ID: "cc", Name: "concurrent", Engine: Engine, Version: "3.9", Size: "local", Region: "local", NumNodes: 3,
		Status: StatusOnline, CreatedAt: time.Now()}
	done := Operation{ID: "cc-create", ClusterID: "cc", Kind: OpCreate, Step: stepDone, State: OpDone}
	if err := st.CreateCluster(ctx, c, nil, done, nil, nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			op := Operation{ID: "cc-" + string(rune('a'+i)), ClusterID: "cc", Kind: OpResize, Step: stepStart, State: OpRunning}
			if err := st.StartOperation(ctx, op, StatusResizing, 4, nil); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	running, _ := st.Operations(ctx, "")
	if ok != 1 || len(running) != 1 {
		t.Fatalf("%d of 8 concurrent operations accepted, %d running; want 1", ok, len(running))
	}
}

// usersAndRules: users, trusted sources, maintenance window and cluster
// secrets of cluster c1 round-trip.
func usersAndRules(t *testing.T, st Store) {
	ctx := context.Background()
	u := User{ClusterID: "c1", Name: "app", Role: RoleNormal, Password: "pw", ACL: []UserACL{{ID: "a", Topic: "t*", Permission: PermConsume}}, State: UserActive}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	var e *Error
	if err := st.CreateUser(ctx, u); !errors.As(err, &e) || e.Kind != KindConflict {
		t.Fatalf("duplicate user: %v", err)
	}
	if err := st.CreateUser(ctx, User{ClusterID: "nope", Name: "x", Role: RoleNormal}); !errors.Is(err, errNoRow) {
		t.Fatalf("user of a missing cluster: %v", err)
	}
	u.Password, u.State = "pw2", UserDeleting
	if err := st.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	us, err := st.Users(ctx, "c1")
	if err != nil || len(us) != 1 || us[0].Password != "pw2" || us[0].State != UserDeleting || len(us[0].ACL) != 1 || us[0].ACL[0].Topic != "t*" {
		t.Fatalf("users: %+v %v", us, err)
	}
	if err := st.RemoveUser(ctx, "c1", "app"); err != nil {
		t.Fatal(err)
	}
	if us, _ := st.Users(ctx, "c1"); len(us) != 0 {
		t.Fatalf("users after remove: %+v", us)
	}
	rules := []FirewallRule{{UUID: "r1", Type: FirewallTypeIPAddr, Value: "127.0.0.1"}, {UUID: "r2", Type: FirewallTypeIPAddr, Value: "::1"}}
	if err := st.SetFirewallRules(ctx, "c1", rules); err != nil {
		t.Fatal(err)
	}
	if err := st.SetFirewallRules(ctx, "c1", rules[1:]); err != nil {
		t.Fatal(err)
	}
	if rs, err := st.FirewallRules(ctx, "c1"); err != nil || len(rs) != 1 || rs[0].Value != "::1" || rs[0].ClusterID != "c1" {
		t.Fatalf("rules: %+v %v", rs, err)
	}
	if err := st.SetMaintenance(ctx, "c1", "monday", "10:00", "3.9-b"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetMaintenance(ctx, "nope", "monday", "10:00", ""); !errors.Is(err, errNoRow) {
		t.Fatalf("maintenance of a missing cluster: %v", err)
	}
	if _, err := st.Setting(ctx, "x"); !errors.Is(err, errNoRow) {
		t.Fatalf("missing setting: %v", err)
	}
	if err := st.SetSetting(ctx, "x", "1", true); err != nil {
		t.Fatal(err)
	}
	if err := st.SetSetting(ctx, "x", "2", true); err != nil {
		t.Fatal(err)
	}
	if v, err := st.Setting(ctx, "x"); err != nil || v != "1" {
		t.Fatalf("setting kept: %q %v", v, err)
	}
	if err := st.SetSetting(ctx, "x", "3", false); err != nil {
		t.Fatal(err)
	}
	if v, _ := st.Setting(ctx, "x"); v != "3" {
		t.Fatalf("setting replaced: %q", v)
	}
	c, _ := st.Cluster(ctx, "c1")
	if c.MaintenanceDay != "monday" || c.MaintenanceHour != "10:00" || c.PendingVersion != "3.9-b" || c.CACert != "ca-pem" || c.ControlPassword != "cp" {
		t.Fatalf("cluster after maintenance: %+v", c)
	}
}

// TestMigrationKeepsClusters: a store made at schema version 8 keeps its
// clusters through migration 9 (the clusters table rebuilt with names
// unique per tenant), which then lets another tenant use a name.
func TestMigrationKeepsClusters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cloud.db")
	all := migrations
	migrations = all[:8]
	st, err := OpenSQLite(ctx, path)
	migrations = all
	if err != nil {
		t.Fatal(err)
	}
	c := Cluster{ID: "c1", Name: "one", Engine: Engine, Version: "3.9", Size: "local", Region: "local", NumNodes: 1,
		StorageSizeMiB: 10240, Tags: []string{"a"}, Status: StatusOnline, CreatedAt: time.Now().UTC().Truncate(time.Second),
		CACert: "ca", Tenant: "acme", DeletionProtection: true, BrokerConfig: map[string]string{"auto.create.topics.enable": "false"}}
	if err := st.CreateCluster(ctx, c, nil, Operation{ID: "op1", ClusterID: "c1", Kind: OpCreate, State: OpDone}, nil, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if st, err = OpenSQLite(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.Cluster(ctx, "c1")
	if err != nil || got.Name != "one" || got.Tenant != "acme" || !got.DeletionProtection || got.CACert != "ca" ||
		got.BrokerConfig["auto.create.topics.enable"] != "false" || len(got.Tags) != 1 || !got.CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("after migration 9: %+v %v", got, err)
	}
	c2 := c
	c2.ID, c2.Tenant = "c2", "other"
	if err := st.CreateCluster(ctx, c2, nil, Operation{ID: "op2", ClusterID: "c2", Kind: OpCreate, State: OpDone}, nil, nil); err != nil {
		t.Errorf("another tenant's cluster named one: %v", err)
	}
	c3 := c
	c3.ID = "c3"
	var e *Error
	if err := st.CreateCluster(ctx, c3, nil, Operation{ID: "op3", ClusterID: "c3", Kind: OpCreate, State: OpDone}, nil, nil); !errors.As(err, &e) || e.Kind != KindConflict {
		t.Errorf("a second cluster named one of tenant acme: %v, want a conflict", err)
	}
}
