package tests

// A rolling upgrade that fails (issue 13: "a failed step stops the roll
// and reports it"): the upgrade's build never comes up, so the first
// broker it restarts is not back within the control plane's
// --roll-timeout; the roll stops there, the operation fails with the
// reason in /operations and an event, and an upgrade back to the previous
// version rolls the brokers back. And the control plane killed during a
// create and during a delete (the lifecycle kills it during a resize and
// an upgrade).

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/godo"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type cloudOperation struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	State string `json:"state"`
	Error string `json:"error"`
}

// cloudOperations reads GET /v2/databases/{id}/operations (Tributary's).
func cloudOperations(t *testing.T, cl *godo.Client, id string) []cloudOperation {
	t.Helper()
	req, err := cl.NewRequest(context.Background(), http.MethodGet, "/v2/databases/"+id+"/operations", nil)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Operations []cloudOperation `json:"operations"`
	}
	if _, err := cl.Do(context.Background(), req, &out); err != nil {
		t.Fatalf("GET operations: %v", err)
	}
	return out.Operations
}

func TestCloudFailedUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and 3 broker processes")
	}
	dir := t.TempDir()
	t.Cleanup(func() {
		if t.Failed() {
			brokerLogs(t, dir)
		}
		killBrokers(dir)
	})
	// Version "broken" is run by /bin/false: its brokers exit at once.
	cp := startCloudWith(t, dir, "sqlite", []string{"--version-binary", "broken=/bin/false", "--roll-timeout", "8s"})
	cl := godoClient(t, cp.URL, adminToken(t, dir))
	ctx := context.Background()
	db, _, err := cl.Databases.Create(ctx, &godo.DatabaseCreateRequest{Name: "roll", EngineSlug: "kafka", SizeSlug: "local", NumNodes: 3})
	if err != nil {
		t.Fatal(err)
	}
	db = waitStatus(t, cl, db.ID, "online", 90*time.Second)
	previous := db.VersionSlug
	parts, rf := uint32(3), uint32(3)
	if _, _, err := cl.Databases.CreateTopic(ctx, db.ID, &godo.DatabaseCreateTopicRequest{Name: "events", PartitionCount: &parts, ReplicationFactor: &rf}); err != nil {
		t.Fatal(err)
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(fmt.Sprintf("%s:%d", db.Connection.Host, db.Connection.Port)), kgo.DefaultProduceTopic("events"),
		kgo.MetadataMinAge(100 * time.Millisecond)}, cloudClientOpts(t, cl, db.ID, db.Connection.User, db.Connection.Password)...)
	kc, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	produce := func(n int, what string) {
		t.Helper()
		for i := 0; i < n; i++ {
			// kgo keeps retrying an idempotent record already sent past
			// its context, so a stuck partition would hang here until
			// the package's timeout: dump the brokers' goroutines first.
			err := produceWithin(t, kc, dir, &kgo.Record{Value: []byte(fmt.Sprintf("%s-%d", what, i))}, 60*time.Second)
			if err != nil {
				t.Fatalf("produce %s %d: %v", what, i, err)
			}
		}
	}
	produce(100, "before")
	running := func() (trib []int, other []int) {
		for id := 1; id <= 3; id++ {
			if brokerBinary(dir, db.ID, id) == tribBinary(t) {
				trib = append(trib, id)
			} else {
				other = append(other, id)
			}
		}
		return trib, other
	}

	if _, err := cl.Databases.UpgradeMajorVersion(ctx, db.ID, &godo.UpgradeVersionRequest{Version: "broken"}); err != nil {
		t.Fatalf("upgrade to broken: %v", err)
	}
	start := time.Now()
	var failed cloudOperation
	for {
		ops := cloudOperations(t, cl, db.ID)
		if len(ops) > 0 && ops[len(ops)-1].State != "running" {
			failed = ops[len(ops)-1]
			break
		}
		if time.Since(start) > 90*time.Second {
			t.Fatalf("the upgrade onto a build that never starts did not fail within 90s: %+v", ops)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("upgrade failed after %v: %s", time.Since(start).Round(time.Millisecond), failed.Error)
	if failed.State != "failed" || failed.Kind != "restart" || !strings.Contains(failed.Error, "was not back") {
		t.Errorf("the upgrade's operation: %+v, want failed, saying which broker was not back", failed)
	}
	// The roll stopped at its first broker: the two others still run the
	// build they ran.
	if trib, other := running(); len(trib) != 2 || len(other) != 1 || !strings.Contains(failed.Error, fmt.Sprintf("broker %d ", other[0])) {
		t.Errorf("after the failed upgrade: brokers %v run trib, %v do not (error %q), want the roll stopped at one broker", trib, other, failed.Error)
	}
	d, _, err := cl.Databases.Get(ctx, db.ID)
	if err != nil || d.Status != "online" {
		t.Errorf("after the failed upgrade: %+v %v, want online (it can be acted on)", d, err)
	}
	evs, _, err := cl.Databases.ListDatabaseEvents(ctx, db.ID, nil)
	if err != nil || !slices.ContainsFunc(evs, func(e godo.DatabaseEvent) bool { return e.EventType == "cluster_upgrade_failed" }) {
		t.Errorf("events: %+v %v, want cluster_upgrade_failed", evs, err)
	}
	// The other two brokers keep the cluster writable meanwhile.
	produce(100, "broken")

	// An upgrade back to the previous version rolls every broker onto it.
	start = time.Now()
	if _, err := cl.Databases.UpgradeMajorVersion(ctx, db.ID, &godo.UpgradeVersionRequest{Version: previous}); err != nil {
		t.Fatalf("upgrade back to %s: %v", previous, err)
	}
	d = waitStatus(t, cl, db.ID, "online", 120*time.Second)
	t.Logf("upgrade back to %s: online after %v", previous, time.Since(start).Round(time.Millisecond))
	if ops := cloudOperations(t, cl, db.ID); ops[len(ops)-1].State != "done" || d.VersionSlug != previous {
		t.Errorf("after the upgrade back: version %s, operation %+v", d.VersionSlug, ops[len(ops)-1])
	}
	if trib, other := running(); len(trib) != 3 {
		t.Errorf("after the upgrade back: brokers %v run trib, %v do not", trib, other)
	}
	adm := kadm.NewClient(kc)
	deadline := time.Now().Add(60 * time.Second)
	for !fullISR(describeTopic(adm, "events"), 3) {
		if time.Now().After(deadline) {
			t.Fatalf("events not fully in sync after the upgrade back: %+v", describeTopic(adm, "events"))
		}
		time.Sleep(250 * time.Millisecond)
	}
	produce(100, "after")
	// Every record is there.
	cons, err := kgo.NewClient(append(opts, kgo.ConsumeTopics("events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	read := 0
	for read < 300 {
		fs := cons.PollFetches(cctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("read back after %d of 300 records: %v", read, err)
		}
		read += fs.NumRecords()
	}
	if read != 300 {
		t.Errorf("read %d records, want 300", read)
	}
}

// brokerProcs counts the running processes whose command line names a
// path under dir (the brokers of a control plane's clusters).
func brokerProcs(dir string) int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), "\x00broker\x00") && strings.Contains(string(cmdline), dir+"/clusters/") {
			n++
		}
	}
	return n
}

// TestCloudKillDuringCreateAndDelete: the control plane killed (SIGKILL)
// right after a create and right after a delete; restarted, it finishes
// each: the cluster comes online with one process per broker and serves,
// then goes with its brokers and data.
func TestCloudKillDuringCreateAndDelete(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and 3 broker processes")
	}
	dir := t.TempDir()
	t.Cleanup(func() {
		if t.Failed() {
			brokerLogs(t, dir)
		}
		killBrokers(dir)
	})
	cp := startCloud(t, dir, "sqlite")
	token := adminToken(t, dir)
	cl := godoClient(t, cp.URL, token)
	ctx := context.Background()
	db, _, err := cl.Databases.Create(ctx, &godo.DatabaseCreateRequest{Name: "crash", EngineSlug: "kafka", SizeSlug: "local", NumNodes: 3})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	cp.kill9()
	cp = startCloud(t, dir, "sqlite")
	cl = godoClient(t, cp.URL, token)
	db = waitStatus(t, cl, db.ID, "online", 90*time.Second)
	if n := brokerProcs(dir); n != 3 {
		t.Errorf("%d broker processes after a create interrupted by a kill -9, want 3", n)
	}
	one := uint32(1)
	if _, _, err := cl.Databases.CreateTopic(ctx, db.ID, &godo.DatabaseCreateTopicRequest{Name: "t", PartitionCount: &one}); err != nil {
		t.Fatal(err)
	}
	kc, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(fmt.Sprintf("%s:%d", db.Connection.Host, db.Connection.Port)), kgo.DefaultProduceTopic("t")},
		cloudClientOpts(t, cl, db.ID, db.Connection.User, db.Connection.Password)...)...)
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = kc.ProduceSync(pctx, &kgo.Record{Value: []byte("x")}).FirstErr()
	cancel()
	kc.Close()
	if err != nil {
		t.Fatalf("produce: %v", err)
	}

	if _, err := cl.Databases.Delete(ctx, db.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	cp.kill9()
	cp = startCloud(t, dir, "sqlite")
	cl = godoClient(t, cp.URL, token)
	waitDeleted(t, cl, dir, db.ID, "delete interrupted by a kill -9")
	if n := brokerProcs(dir); n != 0 {
		t.Errorf("%d broker processes left after the delete", n)
	}
}
