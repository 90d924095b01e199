package tests

// The managed service (issue 13): a real `trib cloud serve` process with
// the local provisioner, driven with DigitalOcean's own Go client (godo)
// through a custom base URL; the clusters it creates are used with
// franz-go through the connection it returns.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/digitalocean/godo"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary/tributary/internal/checker"
)

// upgradeVersion is the version the lifecycle upgrades to, run by
// tribBuildB.
const upgradeVersion = "3.9-b"

var tribBBuild builtBinary

// tribBuildB is "another build" of trib: built with the version string
// upgradeVersion (tributary_build_info{version}; the tests' trib says
// "dev") at another path, so a broker's command line and metrics tell
// which one it runs.
func tribBuildB(t *testing.T) string {
	t.Helper()
	return buildBinary(t, &tribBBuild, "trib-b", "", []string{"GOFLAGS=-ldflags=-X=github.com/tributary/tributary/internal/metrics.Version=" + upgradeVersion},
		"github.com/tributary/tributary/cmd/trib")
}

// brokerBinary returns the executable a cluster's broker runs (from its
// pid file and /proc).
func brokerBinary(dir, clusterID string, id int) string {
	b, err := os.ReadFile(filepath.Join(dir, "clusters", clusterID, fmt.Sprintf("broker-%d", id), "broker.pid"))
	if err != nil {
		return ""
	}
	cmdline, err := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/cmdline")
	if err != nil {
		return ""
	}
	return strings.SplitN(string(cmdline), "\x00", 2)[0]
}

// cloudProc is a `trib cloud serve` process.
type cloudProc struct {
	URL    string
	dir    string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{}
}

// startCloud runs `trib cloud serve` on a free port with its state in dir
// and waits for its listening line; brokerSettings are added to every
// broker's configs. The brokers of the clusters it made
// are killed when the test ends (they outlive the control plane).
func startCloud(t *testing.T, dir, store string, brokerSettings ...string) *cloudProc {
	t.Helper()
	return startCloudWith(t, dir, store, nil, brokerSettings...)
}

// startCloudWith is startCloud with more `trib cloud serve` flags.
func startCloudWith(t *testing.T, dir, store string, serveFlags []string, brokerSettings ...string) *cloudProc {
	t.Helper()
	args := []string{"cloud", "serve", "--listen", "127.0.0.1:0", "--data-dir", dir, "--store", store,
		"--version-binary", upgradeVersion + "=" + tribBuildB(t)}
	args = append(args, serveFlags...)
	for _, s := range append(append([]string{}, procSettings...), brokerSettings...) {
		args = append(args, "--broker-set", s)
	}
	cmd := exec.Command(tribBinary(t), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &cloudProc{dir: dir, cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{w: p.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "trib cloud API listening on "); ok {
				urlc <- strings.TrimSpace(u)
			}
		}
	}()
	go func() { cmd.Wait(); close(p.done) }()
	select {
	case p.URL = <-urlc:
	case <-p.done:
		t.Fatalf("trib cloud serve exited: %s", p.stderr)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("trib cloud serve did not listen within 30s: %s", p.stderr)
	}
	t.Cleanup(func() {
		p.kill9()
		if t.Failed() {
			t.Logf("--- trib cloud serve log (tail) ---\n%s", tail(p.stderr.String()))
		}
	})
	return p
}

func (p *cloudProc) kill9() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// killBrokers SIGKILLs the broker processes under a control plane's data
// dir, by the pids in their pid files.
func killBrokers(dir string) { signalBrokers(dir, syscall.SIGKILL) }

// signalBrokers sends sig to the broker processes under a control plane's
// data dir, by the pids in their pid files.
func signalBrokers(dir string, sig syscall.Signal) {
	pids, _ := filepath.Glob(filepath.Join(dir, "clusters", "*", "*", "broker.pid"))
	for _, f := range pids {
		b, _ := os.ReadFile(f)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			syscall.Kill(pid, sig)
		}
	}
}

func godoClient(t *testing.T, url, token string) *godo.Client {
	t.Helper()
	return godoClientOver(t, url, token, http.DefaultTransport)
}

// godoClientOver is godoClient sending over rt (its own connection pool).
func godoClientOver(t *testing.T, url, token string, rt http.RoundTripper) *godo.Client {
	t.Helper()
	hc := &http.Client{Transport: tokenTransport{token: token, rt: rt}, Timeout: 60 * time.Second}
	cl, err := godo.New(hc, godo.SetBaseURL(url+"/"))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// tokenTransport adds a bearer token (none when empty) to each request
// it sends over rt.
type tokenTransport struct {
	token string
	rt    http.RoundTripper
}

func (tt tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if tt.token != "" {
		r.Header.Set("Authorization", "Bearer "+tt.token)
	}
	return tt.rt.RoundTrip(r)
}

// apiStatus returns the HTTP status of a godo error (0 for none).
func apiStatus(err error) int {
	var er *godo.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}

// waitStatus polls the cluster until its status is want.
func waitStatus(t *testing.T, cl *godo.Client, id, want string, timeout time.Duration) *godo.Database {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		d, _, err := cl.Databases.Get(context.Background(), id)
		if err == nil && d.Status == want {
			return d
		}
		if err == nil {
			last = d.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster %s not %s within %v (last: %s)", id, want, timeout, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// maxGap is the longest stretch since from in which some partition had no
// acknowledged record of producer "p" (reported, not asserted).
func maxGap(h *checker.History, from time.Time) time.Duration {
	var m time.Duration
	for _, g := range h.Gaps("p", from, time.Now()) {
		m = max(m, g)
	}
	return m.Round(time.Millisecond)
}

// replicaCounts lists how many replicas of topic brokers 1..n hold.
func replicaCounts(adm *kadm.Client, topic string, n int) []int {
	var out []int
	for id := 1; id <= n; id++ {
		out = append(out, replicasOn(adm, topic, int32(id)))
	}
	return out
}

// replicasOn counts the replicas broker id holds of topic.
func replicasOn(adm *kadm.Client, topic string, id int32) int {
	td := describeTopic(adm, topic)
	n := 0
	for _, p := range td.Partitions {
		if slices.Contains(p.Replicas, id) {
			n++
		}
	}
	return n
}

func TestCloudLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and up to 5 broker processes")
	}
	cloudLifecycle(t, "sqlite")
}

// TestCloudLifecyclePostgres is the lifecycle with the control plane's
// state in PostgreSQL (a fresh database through TRIB_TEST_POSTGRES, which
// .ci/run sets; skipped without it, failed under CI).
func TestCloudLifecyclePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and up to 5 broker processes")
	}
	cloudLifecycle(t, postgresStore(t, "trib_cloud_lifecycle"))
}

// postgresStore makes a fresh PostgreSQL database (dropped when the test
// ends) through TRIB_TEST_POSTGRES, which .ci/run sets, and returns its
// URL; it skips without it, and fails under CI.
func postgresStore(t *testing.T, prefix string) string {
	t.Helper()
	admin := os.Getenv("TRIB_TEST_POSTGRES")
	if admin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TRIB_TEST_POSTGRES is not set (.ci/run starts PostgreSQL and sets it)")
		}
		t.Skip("TRIB_TEST_POSTGRES is not set")
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	name := fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec("DROP DATABASE " + name + " WITH (FORCE)") })
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// brokerLogs logs the tail of every broker's log under a control
// plane's data dir (for a failed test).
// produceWithin produces r synchronously with a control plane's cluster
// (dir). If it is not acknowledged within d, every broker prints its
// goroutines into its broker.log (SIGQUIT; they exit), the cluster's
// directory is kept under the system temp dir for study, and the test
// fails: kgo retries an idempotent record that was sent for as long as it
// takes, whatever its context says.
func produceWithin(t *testing.T, kc *kgo.Client, dir string, r *kgo.Record, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- kc.ProduceSync(ctx, r).FirstErr() }() // safe: test only
	select {
	case err := <-done:
		return err
	case <-time.After(d + 5*time.Second):
	}
	signalBrokers(dir, syscall.SIGQUIT)
	time.Sleep(3 * time.Second)
	keep := filepath.Join(os.TempDir(), fmt.Sprintf("trib-hang-%s-%d", t.Name(), time.Now().Unix()))
	out, err := exec.Command("cp", "-a", filepath.Join(dir, "clusters"), keep).CombinedOutput()
	t.Fatalf("record %q not acknowledged within %v; the brokers' goroutines are in their broker.log, kept in %s (%s %v)", r.Value, d, keep, out, err)
	return nil
}

func brokerLogs(t *testing.T, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "clusters", "*", "*", "broker.log"))
	for _, f := range logs {
		b, _ := os.ReadFile(f)
		t.Logf("--- %s (tail) ---\n%s", f, tail(string(b)))
	}
}

func cloudLifecycle(t *testing.T, store string) {
	dir := t.TempDir()
	t.Cleanup(func() {
		if t.Failed() {
			brokerLogs(t, dir)
		}
		killBrokers(dir)
	})
	cp := startCloud(t, dir, store)
	token := adminToken(t, dir)
	if st, _ := os.Stat(filepath.Join(dir, "admin.token")); st.Mode().Perm() != 0o600 {
		t.Errorf("admin.token mode %v, want 0600", st.Mode().Perm())
	}
	cl := godoClient(t, cp.URL, token)
	ctx := context.Background()

	// Bad tokens and bad requests: DigitalOcean-shaped errors, nothing made.
	if _, _, err := godoClient(t, cp.URL, "").Databases.List(ctx, nil); apiStatus(err) != 401 {
		t.Errorf("no token: %v, want 401", err)
	}
	if _, _, err := godoClient(t, cp.URL, "trib_wrong").Databases.List(ctx, nil); apiStatus(err) != 401 {
		t.Errorf("bad token: %v, want 401", err)
	}
	for _, bad := range []godo.DatabaseCreateRequest{
		{Name: "bad-engine", EngineSlug: "pg", SizeSlug: "local", NumNodes: 3},
		{Name: "bad-size", EngineSlug: "kafka", SizeSlug: "db-s-64vcpu", NumNodes: 3},
		{Name: "bad-region", EngineSlug: "kafka", SizeSlug: "local", Region: "mars1", NumNodes: 3},
		{Name: "bad-version", EngineSlug: "kafka", SizeSlug: "local", Version: "0.7", NumNodes: 3},
		{Name: "too-many", EngineSlug: "kafka", SizeSlug: "local", NumNodes: 50},
		{Name: "no-nodes", EngineSlug: "kafka", SizeSlug: "local"},
		{Name: "Bad Name!", EngineSlug: "kafka", SizeSlug: "local", NumNodes: 3},
	} {
		if _, _, err := cl.Databases.Create(ctx, &bad); apiStatus(err) != 422 || !strings.Contains(err.Error(), " ") {
			t.Errorf("create %+v: %v, want 422 with a message", bad, err)
		}
	}
	if ds, _, err := cl.Databases.List(ctx, nil); err != nil || len(ds) != 0 {
		t.Fatalf("after refused creates: %v %v, want no cluster", ds, err)
	}
	// A read-only token reads but may not write (403), made with the CLI.
	out, stderr, err := runCmd(t, 30*time.Second, "", nil, tribBinary(t), "cloud", "token", "create", "--data-dir", dir, "--store", store, "--scopes", "read", "--name", "ro")
	if err != nil {
		t.Fatalf("token create: %v %s", err, stderr)
	}
	ro := godoClient(t, cp.URL, strings.TrimSpace(out))
	if _, _, err := ro.Databases.List(ctx, nil); err != nil {
		t.Errorf("read-only token list: %v", err)
	}
	if _, _, err := ro.Databases.Create(ctx, &godo.DatabaseCreateRequest{Name: "ro-made", EngineSlug: "kafka", SizeSlug: "local", NumNodes: 1}); apiStatus(err) != 403 {
		t.Errorf("read-only token create: %v, want 403", err)
	}
	opts, _, err := cl.Databases.ListOptions(ctx)
	if err != nil || len(opts.KafkaOptions.Layouts) == 0 || len(opts.KafkaOptions.Versions) == 0 {
		t.Fatalf("options: %+v %v", opts, err)
	}

	// Create a 3-broker cluster and wait until it is online.
	start := time.Now()
	db, resp, err := cl.Databases.Create(ctx, &godo.DatabaseCreateRequest{Name: "orders", EngineSlug: "kafka",
		SizeSlug: "local", NumNodes: 3, Tags: []string{"env:test"}})
	if err != nil || resp.StatusCode != 201 || db.Status != "creating" {
		t.Fatalf("create: %+v %v", db, err)
	}
	if _, _, err := cl.Databases.Create(ctx, &godo.DatabaseCreateRequest{Name: "orders", EngineSlug: "kafka", SizeSlug: "local", NumNodes: 3}); apiStatus(err) != 409 {
		t.Errorf("duplicate name: %v, want 409", err)
	}
	db = waitStatus(t, cl, db.ID, "online", 90*time.Second)
	t.Logf("create → online (3 brokers): %v", time.Since(start).Round(time.Millisecond))
	if db.Connection == nil || db.Connection.Port == 0 || db.NumNodes != 3 {
		t.Fatalf("online cluster without a connection: %+v", db)
	}
	bootstrap := fmt.Sprintf("%s:%d", db.Connection.Host, db.Connection.Port)

	// Topics through the API.
	parts, rf := uint32(6), uint32(3)
	retention := int64(86400000)
	topic, _, err := cl.Databases.CreateTopic(ctx, db.ID, &godo.DatabaseCreateTopicRequest{Name: "events",
		PartitionCount: &parts, ReplicationFactor: &rf, Config: &godo.TopicConfig{RetentionMS: &retention}})
	if err != nil || topic.Name != "events" || len(topic.Partitions) != 6 || topic.ReplicationFactor == nil || *topic.ReplicationFactor != 3 {
		t.Fatalf("create topic: %+v %v, want events with 6 partitions, replication factor 3", topic, err)
	}
	if _, _, err := cl.Databases.CreateTopic(ctx, db.ID, &godo.DatabaseCreateTopicRequest{Name: "events"}); apiStatus(err) != 409 {
		t.Errorf("duplicate topic: %v, want 409", err)
	}
	rf9 := uint32(9)
	if _, _, err := cl.Databases.CreateTopic(ctx, db.ID, &godo.DatabaseCreateTopicRequest{Name: "wide", ReplicationFactor: &rf9}); apiStatus(err) != 422 {
		t.Errorf("replication factor 9 on 3 brokers: %v, want 422", err)
	}
	got, _, err := cl.Databases.GetTopic(ctx, db.ID, "events")
	if err != nil || len(got.Partitions) != 6 || got.ReplicationFactor == nil || *got.ReplicationFactor != 3 ||
		got.Config == nil || got.Config.RetentionMS == nil || *got.Config.RetentionMS != retention {
		t.Fatalf("get topic: %+v %v", got, err)
	}

	// Load through every step: an idempotent acks=all producer and a tail.
	// The process-cluster helpers only need the seed address here.
	if !db.Connection.SSL || db.Connection.User != "doadmin" {
		t.Fatalf("connection without SASL_SSL and doadmin: %+v", db.Connection)
	}
	// The clients run as a user with DigitalOcean's ACL on events only.
	app, _, err := cl.Databases.CreateUser(ctx, db.ID, &godo.DatabaseCreateUserRequest{Name: "app",
		Settings: &godo.DatabaseUserSettings{ACL: []*godo.KafkaACL{{Topic: "events", Permission: "produceconsume"}}}})
	if err != nil || app.Password == "" {
		t.Fatalf("create user app: %+v %v", app, err)
	}
	appOpts := cloudClientOpts(t, cl, db.ID, "app", app.Password)
	eventually(t, "app signs in and sees events", func() error {
		c, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(bootstrap)}, appOpts...)...)
		if err != nil {
			return err
		}
		defer c.Close()
		td := describeTopic(kadm.NewClient(c), "events")
		if td.Err != nil || len(td.Partitions) != 6 {
			return fmt.Errorf("events as app: %v, %d partitions", td.Err, len(td.Partitions))
		}
		return nil
	})
	pc := &procCluster{t: t, nodes: []*procNode{{addr: bootstrap}}, clientOpts: appOpts}
	h := checker.New()
	ld := startLoadWith(pc, h, "events", "p", 2000)
	stopTail := pc.startTail(h, "events", 6)
	pc.waitAcks(h, 500, 60*time.Second, "before the resize")
	adm := kadm.NewClient(pc.client(kgo.MetadataMinAge(100 * time.Millisecond)))

	// A broker that crashes (kill -9) is restarted by the control plane
	// and rejoins every ISR.
	pidFile, _ := filepath.Glob(filepath.Join(dir, "clusters", db.ID, "broker-2", "broker.pid"))
	if len(pidFile) != 1 {
		t.Fatalf("no pid file for broker 2")
	}
	b, _ := os.ReadFile(pidFile[0])
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill broker 2 (pid %d): %v", pid, err)
	}
	pc.waitFor(60*time.Second, "broker 2 restarted by the control plane", func() bool {
		evs, _, err := cl.Databases.ListDatabaseEvents(ctx, db.ID, nil)
		return err == nil && slices.ContainsFunc(evs, func(e godo.DatabaseEvent) bool { return e.EventType == "broker_2_restarted" })
	})
	pc.waitFor(60*time.Second, "broker 2 back in every ISR of events", func() bool { return fullISR(describeTopic(adm, "events"), 6) })
	pc.waitAcks(h, 500, 60*time.Second, "after the broker restart")

	// Scale out 3 → 5, killing the control plane (kill -9) right after the
	// request: the restarted one finishes the operation, and partitions
	// move onto both new brokers.
	outFrom := time.Now()
	if _, err := cl.Databases.Resize(ctx, db.ID, &godo.DatabaseResizeRequest{NumNodes: 5}); err != nil {
		t.Fatalf("resize to 5: %v", err)
	}
	if _, err := cl.Databases.Resize(ctx, db.ID, &godo.DatabaseResizeRequest{NumNodes: 4}); apiStatus(err) != 409 {
		t.Errorf("second resize during the first: %v, want 409", err)
	}
	time.Sleep(300 * time.Millisecond) // let it start a step; any point will do
	cp.kill9()
	cp = startCloud(t, dir, store)
	cl = godoClient(t, cp.URL, token)
	start = time.Now()
	db = waitStatus(t, cl, db.ID, "online", 120*time.Second)
	t.Logf("resize 3 → 5 after a control plane kill -9: online %v after the restart (%v after the request); longest produce gap of a partition meanwhile %v",
		time.Since(start).Round(time.Millisecond), time.Since(outFrom).Round(time.Millisecond), maxGap(h, outFrom))
	if db.NumNodes != 5 {
		t.Errorf("num_nodes %d after resize, want 5", db.NumNodes)
	}
	// Online means the reassignments are done; the client's metadata may
	// be up to MetadataMinAge old.
	pc.waitFor(30*time.Second, "replicas of events on the new brokers 4 and 5", func() bool {
		return replicasOn(adm, "events", 4) > 0 && replicasOn(adm, "events", 5) > 0
	})
	t.Logf("after the scale out: replicas of events per broker 1..5: %v", replicaCounts(adm, "events", 5))
	pc.waitAcks(h, 500, 60*time.Second, "after the scale out")
	// kcat (librdkafka) reads events as app over SASL_SSL with the CA from
	// GET /ca, through the 5 brokers.
	if kcat, err := exec.LookPath("kcat"); err == nil {
		ca, _, err := cl.Databases.GetCA(ctx, db.ID)
		if err != nil {
			t.Fatal(err)
		}
		caPath := filepath.Join(dir, "ca.pem")
		if err := os.WriteFile(caPath, ca.Certificate, 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, err := runCmd(t, time.Minute, "", nil, kcat, "-b", bootstrap, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-512",
			"-X", "sasl.username=app", "-X", "sasl.password="+app.Password, "-X", "ssl.ca.location="+caPath, "-C", "-t", "events", "-o", "beginning", "-c", "20", "-q")
		if err != nil || strings.Count(out, "\n") < 20 {
			t.Errorf("kcat -C events as app: %v, %d lines\n%s", err, strings.Count(out, "\n"), tail(errOut))
		}
	} else if strictTools() {
		t.Fatal("kcat not installed (.ci/run installs it)")
	}

	// A scale in below a topic's replication factor is refused.
	if _, err := cl.Databases.Resize(ctx, db.ID, &godo.DatabaseResizeRequest{NumNodes: 2}); apiStatus(err) != 422 {
		t.Errorf("resize to 2 with a replication factor 3 topic: %v, want 422", err)
	}
	// Scale in 5 → 3: brokers 4 and 5 are drained while they still run,
	// then stopped.
	inFrom := time.Now()
	if _, err := cl.Databases.Resize(ctx, db.ID, &godo.DatabaseResizeRequest{NumNodes: 3}); err != nil {
		t.Fatalf("resize to 3: %v", err)
	}
	// Every sample until they are empty: a broker that holds a replica
	// of events still runs.
	pc.waitFor(120*time.Second, "brokers 4 and 5 drained", func() bool {
		td := describeTopic(adm, "events")
		if td.Err != nil || len(td.Partitions) != 6 {
			return false
		}
		drained := true
		for _, id := range []int32{4, 5} {
			held := 0
			for _, p := range td.Partitions {
				if slices.Contains(p.Replicas, id) {
					held++
				}
			}
			if held > 0 && brokerBinary(dir, db.ID, int(id)) == "" {
				t.Fatalf("broker %d stopped while it still holds %d replicas of events", id, held)
			}
			drained = drained && held == 0
		}
		return drained
	})
	db = waitStatus(t, cl, db.ID, "online", 120*time.Second)
	// A replica left on broker 4 or 5 would stay in the replica lists for
	// good.
	if n4, n5 := replicasOn(adm, "events", 4), replicasOn(adm, "events", 5); n4 != 0 || n5 != 0 {
		t.Errorf("after the scale in: %d replicas on broker 4, %d on broker 5, want none", n4, n5)
	}
	t.Logf("resize 5 → 3: online %v after the request; longest produce gap of a partition %v",
		time.Since(inFrom).Round(time.Millisecond), maxGap(h, inFrom))
	pc.waitAcks(h, 500, 60*time.Second, "after the scale in")

	// Upgrade to another build, one broker at a time (Strimzi's rules),
	// with the control plane killed (SIGKILL) in the middle of the roll.
	upFrom := time.Now()
	if _, err := cl.Databases.UpgradeMajorVersion(ctx, db.ID, &godo.UpgradeVersionRequest{Version: "0.1"}); apiStatus(err) != 422 {
		t.Errorf("upgrade to an unknown version: %v, want 422", err)
	}
	// With a maintenance window (12 hours from now), the upgrade waits
	// for it; install_update starts it now.
	later := time.Now().UTC().Add(12 * time.Hour)
	if _, err := cl.Databases.UpdateMaintenance(ctx, db.ID, &godo.DatabaseUpdateMaintenanceRequest{
		Day: strings.ToLower(later.Weekday().String()), Hour: later.Format("15:04")}); err != nil {
		t.Fatalf("maintenance window: %v", err)
	}
	if _, err := cl.Databases.UpdateMaintenance(ctx, db.ID, &godo.DatabaseUpdateMaintenanceRequest{Day: "someday", Hour: "10:00"}); apiStatus(err) != 422 {
		t.Errorf("maintenance window on someday: %v, want 422", err)
	}
	if _, err := cl.Databases.UpgradeMajorVersion(ctx, db.ID, &godo.UpgradeVersionRequest{Version: upgradeVersion}); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	db, _, err = cl.Databases.Get(ctx, db.ID)
	if err != nil || db.Status != "online" || db.VersionSlug == upgradeVersion || db.MaintenanceWindow == nil ||
		!db.MaintenanceWindow.Pending || len(db.MaintenanceWindow.Description) == 0 {
		t.Fatalf("upgrade outside the window: %+v %v, want online, pending in the maintenance window", db, err)
	}
	if _, err := cl.Databases.InstallUpdate(ctx, db.ID); err != nil {
		t.Fatalf("install_update: %v", err)
	}
	pc.waitFor(60*time.Second, "the first broker restarted onto the new build", func() bool {
		for id := 1; id <= 3; id++ {
			if brokerBinary(dir, db.ID, id) == tribBuildB(t) {
				return true
			}
		}
		return false
	})
	cp.kill9()
	cp = startCloud(t, dir, store)
	cl = godoClient(t, cp.URL, token)
	start = time.Now()
	db = waitStatus(t, cl, db.ID, "online", 180*time.Second)
	t.Logf("upgrade of 3 brokers after a control plane kill -9: online %v after the restart", time.Since(start).Round(time.Millisecond))
	if db.VersionSlug != upgradeVersion {
		t.Errorf("version %q after the upgrade, want %q", db.VersionSlug, upgradeVersion)
	}
	for id := 1; id <= 3; id++ {
		if got := brokerBinary(dir, db.ID, id); got != tribBuildB(t) {
			t.Errorf("broker %d runs %q after the upgrade, want %q", id, got, tribBuildB(t))
		}
	}
	// Each broker's metrics endpoint says it runs the new build's version.
	creds, _, err := cl.Databases.GetMetricsCredentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(db.MetricsEndpoints) != 3 {
		t.Errorf("metrics endpoints after the upgrade: %+v", db.MetricsEndpoints)
	}
	for _, ep := range db.MetricsEndpoints {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s:%d/metrics", ep.Host, ep.Port), nil)
		req.SetBasicAuth(creds.BasicAuthUsername, creds.BasicAuthPassword)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("scrape %s:%d: %v", ep.Host, ep.Port, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := `tributary_build_info{version="` + upgradeVersion + `"} 1`; !strings.Contains(string(body), want) {
			t.Errorf("broker metrics at %s:%d after the upgrade: %d, no %s", ep.Host, ep.Port, resp.StatusCode, want)
		}
	}
	t.Logf("upgrade: longest produce gap of a partition %v", maxGap(h, upFrom))
	pc.waitAcks(h, 500, 60*time.Second, "after the upgrade")

	ld.stop(t, 30*time.Second)
	stopTail()
	pc.readBack(h, "events", 60*time.Second)
	rep := h.Check()
	t.Logf("checker: %s", rep)
	if !rep.OK() {
		t.Errorf("checker: %s", rep)
		brokerLogs(t, dir) // before the delete removes them
	}

	evs, _, err := cl.Databases.ListDatabaseEvents(ctx, db.ID, nil)
	if err != nil || len(evs) < 4 {
		t.Errorf("events: %+v %v", evs, err)
	}

	// Delete: the cluster, its brokers and data go.
	if _, err := cl.Databases.Delete(ctx, db.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	waitDeleted(t, cl, dir, db.ID, "delete")
}

// waitDeleted waits (60 s at most) until cluster id is gone from the API
// (404), then checks the control plane in dir left none of its broker
// data; after names what deleted it, for the messages.
func waitDeleted(t *testing.T, cl *godo.Client, dir, id, after string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		_, _, err := cl.Databases.Get(context.Background(), id)
		if apiStatus(err) == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster still there 60s after a %s: %v", after, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "clusters", id, "*")); len(left) > 0 {
		t.Errorf("broker data left after a %s: %v", after, left)
	}
}

// TestCloudCLIAndBadInput: the doctl-shaped CLI against a control plane
// (a 1-broker cluster), and DigitalOcean-shaped errors for bad requests.
func TestCloudCLIAndBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and a broker process")
	}
	dir := t.TempDir()
	t.Cleanup(func() { killBrokers(dir) })
	cp := startCloud(t, dir, "sqlite")
	token := adminToken(t, dir)
	env := []string{"TRIB_CLOUD_URL=" + cp.URL, "TRIB_CLOUD_TOKEN=" + token}
	trib := func(args ...string) string {
		t.Helper()
		out, stderr, err := runCmd(t, 120*time.Second, "", env, tribBinary(t), append([]string{"cloud"}, args...)...)
		if err != nil {
			t.Fatalf("trib cloud %v: %v\n%s%s", args, err, out, stderr)
		}
		return out
	}
	// --wait shows the progress on stderr: statuses, and the running
	// operation's steps.
	out, progress, err := runCmd(t, 120*time.Second, "", env, tribBinary(t), "cloud", "databases", "create", "cli-db", "--num-nodes", "1", "--deletion-protection", "--wait", "-o", "json")
	if err != nil {
		t.Fatalf("databases create --wait: %v\n%s%s", err, out, progress)
	}
	if !strings.Contains(progress, "cli-db: creating") || !strings.Contains(progress, "cli-db: create: ") || !strings.Contains(progress, "cli-db: online") {
		t.Errorf("databases create --wait progress, want statuses and steps:\n%s", progress)
	}
	var dbs []godo.Database
	if err := json.Unmarshal([]byte(out), &dbs); err != nil || len(dbs) != 1 || dbs[0].Status != "online" || dbs[0].Connection == nil {
		t.Fatalf("create -o json: %v\n%s", err, out)
	}
	id := dbs[0].ID
	if out := trib("databases", "events", id); !strings.Contains(out, "cluster_create") || !strings.Contains(out, "cluster_online") {
		t.Errorf("databases events:\n%s", out)
	}
	// Another tenant's token (made with the CLI) neither lists the
	// cluster nor finds it by id: 404, as for an unknown id.
	out, stderr, err := runCmd(t, 30*time.Second, "", nil, tribBinary(t), "cloud", "token", "create", "--data-dir", dir, "--tenant", "acme", "--name", "acme-ops")
	if err != nil {
		t.Fatalf("token create --tenant acme: %v %s", err, stderr)
	}
	acme := godoClient(t, cp.URL, strings.TrimSpace(out))
	if ds, _, err := acme.Databases.List(context.Background(), nil); err != nil || len(ds) != 0 {
		t.Errorf("another tenant's list: %+v %v, want none", ds, err)
	}
	if _, _, err := acme.Databases.Get(context.Background(), id); apiStatus(err) != 404 {
		t.Errorf("another tenant's get of the cluster: %v, want 404", err)
	}
	if _, err := acme.Databases.Delete(context.Background(), id); apiStatus(err) != 404 {
		t.Errorf("another tenant's delete of the cluster: %v, want 404", err)
	}
	if out := trib("databases", "list"); !strings.Contains(out, "cli-db") || !strings.Contains(out, "online") || !strings.HasPrefix(out, "ID") {
		t.Errorf("list (table):\n%s", out)
	}
	// The create answers with the topic as DigitalOcean does: its
	// partitions included (the table's PARTITIONS column counts them).
	out = trib("databases", "topics", "create", id, "t1", "--partition-count", "2", "--replication-factor", "1", "--config", "cleanup_policy=compact")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if f := strings.Fields(lines[len(lines)-1]); len(f) < 4 || f[0] != "t1" || f[1] != "2" || f[2] != "1" {
		t.Errorf("topics create: want t1 with 2 partitions, replication factor 1:\n%s", out)
	}
	if out := trib("databases", "topics", "get", id, "t1", "-o", "json"); !strings.Contains(out, `"cleanup_policy": "compact"`) {
		t.Errorf("topics get -o json:\n%s", out)
	}
	if out := trib("databases", "topics", "list", id); !strings.Contains(out, "t1") {
		t.Errorf("topics list:\n%s", out)
	}
	// Users, the CA and the connection through the CLI; kcat (librdkafka)
	// produces and consumes over SASL_SSL with them.
	out = trib("databases", "user", "create", id, "app", "--acl", "t1:produceconsume", "-o", "json")
	var users []godo.DatabaseUser
	if err := json.Unmarshal([]byte(out), &users); err != nil || len(users) != 1 || users[0].Password == "" {
		t.Fatalf("user create -o json: %v\n%s", err, out)
	}
	if out := trib("databases", "user", "list", id); !strings.Contains(out, "doadmin") || !strings.Contains(out, "t1:produceconsume") {
		t.Errorf("user list:\n%s", out)
	}
	caPath := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caPath, []byte(trib("databases", "get-ca", id)), 0o600); err != nil {
		t.Fatal(err)
	}
	var conn godo.DatabaseConnection
	if out := trib("databases", "connection", id, "-o", "json"); json.Unmarshal([]byte(out), &conn) != nil || !conn.SSL || conn.User != "doadmin" {
		t.Fatalf("connection -o json:\n%s", out)
	}
	// The user's client certificate through the CLI (--cert-dir); kcat
	// lists the topics over the mTLS port with it.
	if out := trib("databases", "user", "get", id, "app", "--cert-dir", dir); !strings.Contains(out, "app") {
		t.Errorf("user get --cert-dir:\n%s", out)
	}
	if st, err := os.Stat(filepath.Join(dir, "app.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("app.key from --cert-dir: %v %v, want mode 0600", st, err)
	}
	if conn.ApplicationPorts["kafka_mtls"] == 0 {
		t.Errorf("connection without an mTLS port: %+v", conn)
	}
	if kcat, err := exec.LookPath("kcat"); err == nil {
		mtls := fmt.Sprintf("%s:%d", conn.Host, conn.ApplicationPorts["kafka_mtls"])
		if out, errOut, err := runCmd(t, time.Minute, "", nil, kcat, "-b", mtls, "-X", "security.protocol=SSL", "-X", "ssl.ca.location="+caPath,
			"-X", "ssl.certificate.location="+filepath.Join(dir, "app.pem"), "-X", "ssl.key.location="+filepath.Join(dir, "app.key"), "-L", "-t", "t1"); err != nil || !strings.Contains(out, `topic "t1"`) {
			t.Errorf("kcat -L over mTLS as app: %v\n%s%s", err, out, tail(errOut))
		}
		kc := func(stdin string, args ...string) (string, string, error) {
			base := []string{"-b", fmt.Sprintf("%s:%d", conn.Host, conn.Port), "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-512",
				"-X", "sasl.username=app", "-X", "sasl.password=" + users[0].Password, "-X", "ssl.ca.location=" + caPath}
			return runCmd(t, time.Minute, stdin, nil, kcat, append(base, args...)...)
		}
		var lines strings.Builder
		for i := 0; i < 100; i++ {
			fmt.Fprintf(&lines, "k%d:line-%d\n", i, i) // t1 is compacted: records need keys
		}
		if _, errOut, err := kc(lines.String(), "-P", "-K:", "-t", "t1"); err != nil {
			t.Fatalf("kcat -P as app over SASL_SSL: %v\n%s", err, tail(errOut))
		}
		if out, errOut, err := kc("", "-C", "-t", "t1", "-o", "beginning", "-e", "-q"); err != nil || strings.Count(out, "\n") != 100 {
			t.Fatalf("kcat -C as app: %v, %d lines\n%s", err, strings.Count(out, "\n"), tail(errOut))
		}
	} else if strictTools() {
		t.Fatal("kcat not installed (.ci/run installs it)")
	}
	if out := trib("databases", "firewalls", "replace", id, "--rule", "ip_addr:127.0.0.1"); !strings.Contains(out, "127.0.0.1") {
		t.Errorf("firewalls replace:\n%s", out)
	}
	trib("databases", "firewalls", "replace", id)
	trib("databases", "maintenance-window", "update", id, "--day", "sunday", "--hour", "03:00")
	if out := trib("databases", "maintenance-window", "get", id); !strings.Contains(out, "sunday") || !strings.Contains(out, "03:00") {
		t.Errorf("maintenance-window get:\n%s", out)
	}
	// --force upgrades now despite the window.
	if out := trib("databases", "upgrade", id, "--version", upgradeVersion, "--force", "--wait", "-o", "json"); !strings.Contains(out, `"version": "`+upgradeVersion+`"`) {
		t.Errorf("upgrade --force --wait:\n%s", out)
	}

	if _, stderr, err := runCmd(t, 30*time.Second, "", env, tribBinary(t), "cloud", "databases", "resize", id, "--num-nodes", "99"); err == nil || !strings.Contains(stderr, "422") {
		t.Errorf("resize to 99: %v %s, want a 422", err, stderr)
	}

	// Raw HTTP: status codes and {"id","message"} bodies.
	do := func(method, path, body string) (int, map[string]string) {
		t.Helper()
		req, _ := http.NewRequest(method, cp.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e map[string]string
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e
	}
	for _, c := range []struct {
		method, path, body string
		status             int
		id                 string
	}{
		{"GET", "/v2/databases/no-such-cluster", "", 404, "not_found"},
		{"GET", "/v2/databases/" + id + "/topics/nope", "", 404, "not_found"},
		{"POST", "/v2/databases", `{"name":`, 400, "bad_request"},
		{"POST", "/v2/databases", `{"name":"x` + strings.Repeat("y", 2<<20) + `"}`, 413, "request_entity_too_large"},
		{"POST", "/v2/databases/" + id + "/topics", `{"name":"t2","config":{"retention_ms":"soon"}}`, 422, "unprocessable_entity"},
		{"POST", "/v2/databases/" + id + "/topics", `{"name":"t2","config":{"no_such_key":1}}`, 422, "unprocessable_entity"},
		{"POST", "/v2/databases/" + id + "/topics", `{"name":"bad/name"}`, 422, "unprocessable_entity"},
		{"PUT", "/v2/databases/" + id + "/topics/t1", `{"partition_count":1}`, 422, "unprocessable_entity"},
		{"PATCH", "/v2/databases/" + id + "/config", `{"config":{"log_retention_ms":"x"}}`, 422, "unprocessable_entity"},
		{"GET", "/v2/nothing-here", "", 404, "not_found"},
		{"POST", "/v2/databases/" + id + "/users", `{"name":"has space"}`, 422, "unprocessable_entity"},
		{"POST", "/v2/databases/" + id + "/users", `{"name":"u2","settings":{"acl":[{"topic":"t1","permission":"all"}]}}`, 422, "unprocessable_entity"},
		{"DELETE", "/v2/databases/" + id + "/users/doadmin", "", 422, "unprocessable_entity"},
		{"PUT", "/v2/databases/" + id + "/firewall", `{"rules":[{"type":"k8s","value":"x"}]}`, 422, "unprocessable_entity"},
		{"PUT", "/v2/databases/" + id + "/maintenance", `{"day":"monday","hour":"24:00"}`, 422, "unprocessable_entity"},
		{"GET", "/v2/databases/no-such-cluster/ca", "", 404, "not_found"},
	} {
		status, e := do(c.method, c.path, c.body)
		if status != c.status || e["id"] != c.id || e["message"] == "" {
			t.Errorf("%s %s: %d %v, want %d with id %q and a message", c.method, c.path, status, e, c.status, c.id)
		}
	}
	if status, _ := do("PUT", "/v2/databases/"+id+"/topics/t1", `{"partition_count":4}`); status != 200 {
		t.Errorf("add partitions: %d", status)
	}
	if status, _ := do("PATCH", "/v2/databases/"+id+"/config", `{"config":{"log_retention_ms":3600000}}`); status != 200 {
		t.Errorf("patch config: %d", status)
	}
	if status, _ := do("GET", "/v2/databases/"+id+"/config", ""); status != 200 {
		t.Errorf("get config: %d", status)
	}
	if status, _ := do("GET", "/v2/openapi.json", ""); status != 200 {
		t.Errorf("openapi.json: %d", status)
	}
	cloudTopicDetailAndConfig(t, godoClient(t, cp.URL, token), id, conn)
	// Made with --deletion-protection: the delete is refused until it is
	// turned off.
	if _, stderr, err := runCmd(t, 30*time.Second, "", env, tribBinary(t), "cloud", "databases", "delete", id); err == nil || !strings.Contains(stderr, "422") || !strings.Contains(stderr, "deletion protection") {
		t.Errorf("delete of a cluster made with --deletion-protection: %v %s, want a 422", err, stderr)
	}
	if status, _ := do("GET", "/v2/databases/"+id, ""); status != 200 {
		t.Errorf("the cluster after a refused delete: %d", status)
	}
	trib("databases", "deletion-protection", id, "off")
	trib("databases", "delete", id, "--wait")
	if out := trib("databases", "list", "-o", "json"); strings.TrimSpace(out) != "[]" && strings.TrimSpace(out) != "null" {
		t.Errorf("list after delete: %s", out)
	}
}

// adminToken is the control plane's admin token, which it writes to
// admin.token in its directory at start.
func adminToken(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// cloudTopicDetailAndConfig checks, through godo, the topic detail view
// (per partition: size, in-sync replicas, earliest offset, consumer
// group offsets) against what was written with franz-go, and that the
// cluster-wide KafkaConfig reaches the broker (a 1-broker cluster).
func cloudTopicDetailAndConfig(t *testing.T, gc *godo.Client, id string, conn godo.DatabaseConnection) {
	t.Helper()
	ctx := context.Background()
	parts, rf := uint32(2), uint32(1)
	if _, _, err := gc.Databases.CreateTopic(ctx, id, &godo.DatabaseCreateTopicRequest{Name: "detail", PartitionCount: &parts, ReplicationFactor: &rf}); err != nil {
		t.Fatalf("create topic detail: %v", err)
	}
	kc, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(fmt.Sprintf("%s:%d", conn.Host, conn.Port)), kgo.DefaultProduceTopic("detail"),
		kgo.RecordPartitioner(kgo.ManualPartitioner())}, cloudClientOpts(t, gc, id, conn.User, conn.Password)...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	for i := 0; i < 10; i++ {
		if err := kc.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte(fmt.Sprintf("record-%d", i))}).FirstErr(); err != nil {
			t.Fatalf("produce to detail-0: %v", err)
		}
	}
	adm := kadm.NewClient(kc)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "detail", Partition: 0, At: 7, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "detail-readers", offs); err != nil {
		t.Fatalf("commit detail-readers: %v", err)
	}
	del := kadm.Offsets{}
	del.Add(kadm.Offset{Topic: "detail", Partition: 0, At: 3})
	if res, err := adm.DeleteRecords(ctx, del); err != nil || res.Error() != nil {
		t.Fatalf("delete records below 3: %v %v", err, res.Error())
	}
	topic, _, err := gc.Databases.GetTopic(ctx, id, "detail")
	if err != nil || len(topic.Partitions) != 2 {
		t.Fatalf("get topic detail: %+v %v", topic, err)
	}
	p0, p1 := topic.Partitions[0], topic.Partitions[1]
	if p0.Id != 0 || p0.EarliestOffset != 3 || p0.InSyncReplicas != 1 || p0.Size == 0 ||
		len(p0.ConsumerGroups) != 1 || p0.ConsumerGroups[0].Name != "detail-readers" || p0.ConsumerGroups[0].Offset != 7 {
		t.Errorf("detail-0: %+v (groups %v), want earliest offset 3, 1 in-sync replica, a size, detail-readers at 7", *p0, p0.ConsumerGroups)
	}
	if p1.Id != 1 || p1.EarliestOffset != 0 || p1.Size != 0 || len(p1.ConsumerGroups) != 0 {
		t.Errorf("detail-1: %+v, want empty", *p1)
	}

	// KafkaConfig: what is set is read back and is the broker's config.
	retention, preallocate := big.NewInt(7200000), true
	if _, err := gc.Databases.UpdateKafkaConfig(ctx, id, &godo.KafkaConfig{LogRetentionMs: retention, LogPreallocate: &preallocate}); err != nil {
		t.Fatalf("update kafka config: %v", err)
	}
	kcfg, _, err := gc.Databases.GetKafkaConfig(ctx, id)
	if err != nil || kcfg.LogRetentionMs == nil || kcfg.LogRetentionMs.Cmp(retention) != 0 || kcfg.LogPreallocate == nil || !*kcfg.LogPreallocate {
		t.Errorf("get kafka config: %+v %v, want log_retention_ms %d, log_preallocate true", kcfg, err, retention)
	}
	rcs, err := adm.DescribeBrokerConfigs(ctx)
	if err != nil {
		t.Fatalf("describe broker configs: %v", err)
	}
	got := map[string]string{}
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Value != nil {
				got[c.Key] = *c.Value
			}
		}
	}
	if got["log.retention.ms"] != "7200000" || got["log.preallocate"] != "true" {
		t.Errorf("the broker's log.retention.ms %q, log.preallocate %q, want 7200000 and true", got["log.retention.ms"], got["log.preallocate"])
	}

	// Keys a broker reads only at start (in Kafka too): the update is a
	// rolling restart onto them.
	autoCreate, delay := false, 500
	if _, err := gc.Databases.UpdateKafkaConfig(ctx, id, &godo.KafkaConfig{AutoCreateTopicsEnable: &autoCreate, GroupInitialRebalanceDelayMs: &delay}); err != nil {
		t.Fatalf("update kafka config (start-time keys): %v", err)
	}
	if d, _, err := gc.Databases.Get(ctx, id); err != nil || d.Status != "restarting" {
		t.Errorf("after a start-time config change: %+v %v, want restarting", d, err)
	}
	waitStatus(t, gc, id, "online", 90*time.Second)
	kcfg, _, err = gc.Databases.GetKafkaConfig(ctx, id)
	if err != nil || kcfg.AutoCreateTopicsEnable == nil || *kcfg.AutoCreateTopicsEnable || kcfg.GroupInitialRebalanceDelayMs == nil || *kcfg.GroupInitialRebalanceDelayMs != delay ||
		kcfg.LogRetentionMs == nil || kcfg.LogRetentionMs.Cmp(retention) != 0 {
		t.Errorf("get kafka config after the restart: %+v %v", kcfg, err)
	}
	ac, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(fmt.Sprintf("%s:%d", conn.Host, conn.Port))}, cloudClientOpts(t, gc, id, conn.User, conn.Password)...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close()
	rcs, err = kadm.NewClient(ac).DescribeBrokerConfigs(ctx, 1) // broker 1 itself: its start-time configs too
	if err != nil {
		t.Fatalf("describe broker configs after the restart: %v", err)
	}
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Value != nil {
				got[c.Key] = *c.Value
			}
		}
	}
	if got["auto.create.topics.enable"] != "false" || got["group.initial.rebalance.delay.ms"] != "500" || got["log.retention.ms"] != "7200000" {
		t.Errorf("the restarted broker's auto.create.topics.enable %q, group.initial.rebalance.delay.ms %q, log.retention.ms %q, want false, 500, 7200000",
			got["auto.create.topics.enable"], got["group.initial.rebalance.delay.ms"], got["log.retention.ms"])
	}
	bad := -5
	if _, err := gc.Databases.UpdateKafkaConfig(ctx, id, &godo.KafkaConfig{GroupInitialRebalanceDelayMs: &bad}); apiStatus(err) != 422 {
		t.Errorf("group_initial_rebalance_delay_ms -5: %v, want 422", err)
	}
	if d, _, err := gc.Databases.Get(ctx, id); err != nil || d.Status != "online" {
		t.Errorf("after a refused config change: %+v %v, want online", d, err)
	}
}
