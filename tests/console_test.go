package tests

// The web console (issue 14) in a real browser: headless Chromium (Debian's
// `chromium`, installed by .ci/run) driven with chromedp against a real
// `trib cloud serve` process with the local provisioner, doing what a user
// does: sign in, create a cluster through the form and watch it come
// online, create a topic, produce with franz-go, browse and search the
// records, look at a lagging group, reset its offsets.
//
// With TRIB_CONSOLE_SCREENSHOTS=1 the test writes a screenshot of every
// page it visits into docs/console/ (the README shows them).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// chromiumPath finds a Chromium to drive: skipped when there is none on a
// developer's machine, failed under CI (which installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on PATH: .ci/run installs Debian's chromium package")
	}
	t.Skip("no chromium on PATH: install Debian's chromium package (apt-get install -y chromium) to run the console's browser tests")
	return ""
}

// newBrowser starts headless Chromium at 1280×800 and returns a context
// whose actions run in one tab.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // the CI container runs as root
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // start the browser
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// shots saves screenshots when TRIB_CONSOLE_SCREENSHOTS is set.
type shots struct{ dir string }

func (s shots) take(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if s.dir == "" {
		return
	}
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, name+".png"), img, 0o644); err != nil {
		t.Fatal(err)
	}
}

// run runs browser actions with a deadline, failing the test with what
// was being done.
func run(t *testing.T, ctx context.Context, what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	defer func() { t.Logf("%s: %v", what, time.Since(start).Round(time.Millisecond)) }()
	if err := chromedp.Do(tctx, actions...); err != nil {
		t.Fatalf("%s: %v\npage %s:\n%s", what, err, evalString(ctx, `location.href`), evalString(ctx, textOf("main")))
	}
}

// textOf is a script that returns the text of the first element sel
// matches ("" when none does).
func textOf(sel string) string {
	return fmt.Sprintf(`(function(){var e=document.querySelector(%q);return e?e.innerText:""})()`, sel)
}

func evalString(ctx context.Context, expr string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

// waitText waits until the element sel's text contains want (pages that
// reload or refresh themselves meanwhile are read again).
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		for {
			got, err := chromedp.Evaluate[string](textOf(sel))(ctx, tg)
			if err == nil && strings.Contains(got, want) {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("%s never showed %q (last %q, %v): %w", sel, want, got, err, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// waitJS waits until the script expr is true in the page.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		for {
			ok, err := chromedp.Evaluate[bool](expr)(ctx, tg)
			if err == nil && ok {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("never true: %s (%v): %w", expr, err, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// read returns what action a gives, failing the test on an error.
func read[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestConsoleBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane, a broker process and Chromium")
	}
	ctx := newBrowser(t)
	dir := t.TempDir()
	t.Cleanup(func() { killBrokers(dir) })
	cp := startCloud(t, dir, "sqlite")
	token := adminToken(t, dir)
	var sh shots
	if os.Getenv("TRIB_CONSOLE_SCREENSHOTS") != "" {
		sh.dir = filepath.Join("..", "docs", "console")
		if err := os.MkdirAll(sh.dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// Sign in: a wrong token is refused, the admin token gets in.
	run(t, ctx, "open the console", 20*time.Second,
		chromedp.Navigate(cp.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#token")))
	sh.take(t, ctx, "login")
	run(t, ctx, "sign in with a wrong token", 20*time.Second,
		chromedp.SendKeys(chromedp.CSS("#token"), "trib_wrong"),
		chromedp.Submit(chromedp.CSS("#login")),
		waitText("#login-error", "not valid"))
	run(t, ctx, "sign in", 20*time.Second,
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Submit(chromedp.CSS("#login")),
		waitText("main h1", "Clusters"))

	// Create a cluster through the form and watch it come online: the
	// overview starts "creating" and the page updates itself.
	start := time.Now()
	run(t, ctx, "open the create form", 20*time.Second,
		chromedp.Click(chromedp.CSS("#create-cluster")),
		chromedp.WaitVisible(chromedp.CSS("#new-cluster")),
		chromedp.SendKeys(chromedp.CSS("#name"), "web-demo"),
		chromedp.SetValue(chromedp.CSS("#num_nodes"), "1"),
		chromedp.SetValue(chromedp.CSS("#storage_gib"), "2"))
	sh.take(t, ctx, "create")
	run(t, ctx, "create the cluster", 20*time.Second,
		chromedp.Submit(chromedp.CSS("#new-cluster")),
		chromedp.WaitVisible(chromedp.CSS("#status")))
	firstStatus := read(t, ctx, chromedp.Evaluate[string](textOf("#status")))
	t.Logf("overview shown with status %q after %v", firstStatus, time.Since(start).Round(time.Millisecond))
	run(t, ctx, "wait for the cluster to come online", 60*time.Second,
		waitText("#status", "online"),
		waitText("#brokers", "up"),
		waitText("#controller", "broker 1"))
	t.Logf("online in the browser %v after submitting the form", time.Since(start).Round(time.Millisecond))
	sh.take(t, ctx, "overview")
	bootstrap := strings.TrimSpace(read(t, ctx, chromedp.Evaluate[string](textOf("#bootstrap"))))

	run(t, ctx, "connection details", 20*time.Second,
		chromedp.Click(chromedp.CSS(`a[href$="/connection"]`)),
		waitText("#client-properties", "bootstrap.servers="+bootstrap))
	sh.take(t, ctx, "connection")

	// Create a topic; a bad config is refused with the broker's reason.
	run(t, ctx, "refuse a bad topic config", 20*time.Second,
		chromedp.Click(chromedp.CSS(`nav.tabs a[href$="/topics"]`)),
		chromedp.WaitVisible(chromedp.CSS("#new-topic")),
		chromedp.SendKeys(chromedp.CSS("#topic-name"), "orders"),
		chromedp.SetValue(chromedp.CSS("#replication_factor"), "1"),
		chromedp.SetValue(chromedp.CSS("#config"), "retention.ms=soon"),
		chromedp.Submit(chromedp.CSS("#new-topic")),
		waitText("#error", "retention.ms"))
	run(t, ctx, "create a topic", 20*time.Second,
		chromedp.SendKeys(chromedp.CSS("#topic-name"), "orders"),
		chromedp.SetValue(chromedp.CSS("#replication_factor"), "1"),
		chromedp.SetValue(chromedp.CSS("#partitions"), "2"),
		chromedp.SetValue(chromedp.CSS("#config"), "retention.ms=3600000"),
		chromedp.Submit(chromedp.CSS("#new-topic")),
		waitText("#topic-title", "orders"),
		waitText("#topic-config", "3600000"))

	// Produce with franz-go: one record carries markup that must be shown
	// as text, one a header to search for.
	// The cluster serves SASL_SSL: the CA and doadmin's password come
	// from the API.
	gc := godoClient(t, cp.URL, token)
	db, _, err := gc.Databases.Get(context.Background(), clusterIDFromURL(t, ctx))
	if err != nil || db.Connection == nil {
		t.Fatalf("get the cluster: %+v %v", db, err)
	}
	secure := cloudClientOpts(t, gc, db.ID, db.Connection.User, db.Connection.Password)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(bootstrap), kgo.DefaultProduceTopic("orders"), kgo.RecordPartitioner(kgo.ManualPartitioner())},
		secure...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	recs := []*kgo.Record{
		{Key: []byte("order-1"), Value: []byte(`{"id":1,"item":"tea"}`), Partition: 0},
		{Key: []byte("order-2"), Value: []byte(`<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>`), Partition: 0},
		{Key: []byte("order-3"), Value: []byte("plain"), Partition: 1, Headers: []kgo.RecordHeader{{Key: "trace-id", Value: []byte("abc-123")}}},
	}
	if err := cl.ProduceSync(pctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "partitions with offsets", 20*time.Second,
		chromedp.Reload(),
		waitText("#partitions", "2"))
	sh.take(t, ctx, "topic")
	run(t, ctx, "topic list", 20*time.Second,
		chromedp.Click(chromedp.CSS(`nav.tabs a[href$="/topics"]`)),
		waitText("#topics", "orders"))
	// The list shows the topic's size from the brokers' log dirs: the three
	// acknowledged records are on the leaders' disks.
	if size := read(t, ctx, chromedp.Evaluate[string](`document.querySelector('#topics tr[data-topic="orders"] td.size').innerText`)); !regexp.MustCompile(`^[1-9][0-9]*(\.[0-9])? (B|KiB)$`).MatchString(size) {
		t.Fatalf("topic list size of orders: %q", size)
	}
	sh.take(t, ctx, "topics")

	// Browse from the beginning: the records are there, the markup is text.
	run(t, ctx, "browse the records", 20*time.Second,
		chromedp.Navigate(cp.URL+"/clusters/"+clusterIDFromURL(t, ctx)+"/topics/orders/messages?from=beginning"),
		waitText("#records", "order-3"),
		waitText("#records", `"item": "tea"`),
		waitText("#records", "<script>window.pwned=1</script>"))
	pwned := read(t, ctx, chromedp.Evaluate[bool](`window.pwned === 1`))
	scripts := read(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#records script, #records img').length`))
	if pwned || scripts != 0 {
		t.Fatalf("a record's markup ran or was rendered as HTML (pwned=%v, elements=%d)", pwned, scripts)
	}
	sh.take(t, ctx, "messages")
	run(t, ctx, "browse one partition from an offset", 20*time.Second,
		chromedp.SetValue(chromedp.CSS("#partition"), "0"),
		chromedp.SetValue(chromedp.CSS("#from"), "offset"),
		chromedp.SetValue(chromedp.CSS("#offset"), "1"),
		chromedp.Submit(chromedp.CSS("#browse-form")),
		waitText("#records", "order-2"))
	rows := read(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#records tbody tr').length`))
	if rows != 1 {
		t.Fatalf("partition 0 from offset 1 shows %d records, want 1", rows)
	}

	// Search by a header value, on the server.
	run(t, ctx, "search by header", 30*time.Second,
		chromedp.SendKeys(chromedp.CSS("#q"), "abc-123"),
		chromedp.Submit(chromedp.CSS("#search-form")),
		waitText("#search-state", "done"),
		waitText("#found", "1"),
		waitText("#records", "order-3"))
	sh.take(t, ctx, "search")

	// A user with no access: kcat's produce is refused; the ACL wizard
	// previews the Kafka ACLs of "producer on orders", applies them, and
	// the same kcat produce is accepted.
	kcat := requireTool(t, "kcat", "apt-get install kcat")
	id := clusterIDFromURL(t, ctx)
	run(t, ctx, "create a user", 20*time.Second,
		chromedp.Navigate(cp.URL+"/clusters/"+id+"/users"),
		chromedp.SendKeys(chromedp.CSS("#user-name"), "app"),
		chromedp.Submit(chromedp.CSS("#new-user")),
		waitText("#users", "app"),
		waitText(`#users tr[data-user="app"]`, "nothing yet"))
	app, _, err := gc.Databases.GetUser(context.Background(), id, "app")
	if err != nil {
		t.Fatal(err)
	}
	ca, _, err := gc.Databases.GetCA(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	caPath := filepath.Join(dir, "console-ca.pem")
	if err := os.WriteFile(caPath, ca.Certificate, 0o600); err != nil {
		t.Fatal(err)
	}
	kcatProduce := func() (string, error) {
		_, errOut, err := runCmd(t, time.Minute, "from-kcat\n", nil, kcat, "-b", bootstrap, "-X", "security.protocol=SASL_SSL",
			"-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username=app", "-X", "sasl.password="+app.Password,
			"-X", "ssl.ca.location="+caPath, "-P", "-t", "orders", "-p", "1")
		return errOut, err
	}
	refusedAt := time.Now()
	if errOut, err := kcatProduce(); err == nil || !strings.Contains(strings.ToLower(errOut), "authorization") {
		t.Fatalf("kcat produce as a user without ACLs: %v\n%s", err, tail(errOut))
	}
	t.Logf("kcat refused in %v", time.Since(refusedAt).Round(time.Millisecond))
	run(t, ctx, "ACL wizard preview", 20*time.Second,
		chromedp.Click(chromedp.CSS("#acl-wizard")),
		chromedp.WaitVisible(chromedp.CSS("#acl-form")),
		chromedp.SetValue(chromedp.CSS("#acl-user"), "app"),
		chromedp.Click(chromedp.CSS(`input[name=role][value=produce]`)),
		chromedp.SendKeys(chromedp.CSS("#acl-topic"), "orders"),
		chromedp.Submit(chromedp.CSS("#acl-form")),
		waitText("#kafka-acls", "principal=User:app"),
		waitText("#kafka-acls", "operation=WRITE"),
		waitText("#kafka-acls", "TOPIC:LITERAL:orders"))
	sh.take(t, ctx, "acl-wizard")
	run(t, ctx, "apply the ACL", 20*time.Second,
		chromedp.Submit(chromedp.CSS("#apply-acl")),
		waitText("main", "app may now produce orders"),
		waitText("#acl-list", "User:app"))
	sh.take(t, ctx, "acls")
	deadline := time.Now().Add(20 * time.Second)
	for {
		errOut, err := kcatProduce()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kcat produce after the ACL wizard granted produce: %v\n%s", err, tail(errOut))
		}
		time.Sleep(200 * time.Millisecond)
	}
	run(t, ctx, "the record from kcat", 20*time.Second,
		chromedp.Navigate(cp.URL+"/clusters/"+id+"/topics/orders/messages?partition=1&from=end"),
		waitText("#records", "from-kcat"))

	// Produce a record from the messages page, then export the range
	// (JSON Lines) with the link beside it.
	run(t, ctx, "produce from the console", 20*time.Second,
		chromedp.Click(chromedp.CSS("#produce-card summary")),
		chromedp.SetValue(chromedp.CSS("#p-partition"), "1"),
		chromedp.SendKeys(chromedp.CSS("#p-key"), "ui-key"),
		chromedp.SendKeys(chromedp.CSS("#p-value"), "from-the-console"),
		chromedp.SetValue(chromedp.CSS("#p-headers"), "source=ui"),
		chromedp.Submit(chromedp.CSS("#produce-form")),
		waitText("main", "Produced to partition 1 at offset 2"),
		chromedp.Navigate(cp.URL+"/clusters/"+id+"/topics/orders/messages?partition=1&from=beginning"),
		waitText("#records", "from-the-console"),
		waitText("#records", "source"))
	export := read(t, ctx, chromedp.Evaluate[string](`fetch(document.querySelector('#export').href).then(r => r.text())`, chromedp.EvalAwaitPromise))
	if lines := strings.Split(strings.TrimSpace(export), "\n"); len(lines) != 3 || !strings.Contains(lines[2], `"key":"ui-key","value":"from-the-console"`) ||
		!strings.Contains(lines[2], `{"key":"source","value":"ui"}`) || !strings.Contains(lines[0], `"trace-id"`) {
		t.Fatalf("export of partition 1 from the beginning:\n%s", export)
	}

	// A group that committed offset 1 of partition 0 lags by 1 there
	// (and by 3 on partition 1, where it committed nothing); reset it to
	// the earliest offsets through the form.
	commitOffset(t, bootstrap, secure, "web-group", "orders", 0, 1)
	run(t, ctx, "group lag", 20*time.Second,
		chromedp.Navigate(cp.URL+"/clusters/"+id+"/groups"),
		waitText("#groups", "web-group"),
		chromedp.Click(chromedp.CSS(`#groups a`)),
		waitText("#lag", "orders"),
		waitText("#total-lag", "4"), // partition 0: 2 records, 1 committed; partition 1: 3 (from franz-go, kcat, the console), none
		waitJS(`/OK|WARN|ERR|STOP|STALL|REWIND|NOTFOUND/.test((document.querySelector('#lag-status')||{}).innerText||'')`))
	run(t, ctx, "reset offsets", 20*time.Second,
		chromedp.SetValue(chromedp.CSS("#to"), "earliest"),
		chromedp.Click(chromedp.CSS(`input[name=dry_run]`)), // uncheck: commit
		chromedp.Submit(chromedp.CSS("#reset-form")),
		waitText("#reset-result", "Committed new offsets"),
		waitText("#total-lag", "5"))
	// Shifting by 1 as a dry run shows each committed 0 moving to 1 and
	// commits nothing.
	run(t, ctx, "shift offsets (dry run)", 20*time.Second,
		chromedp.SetValue(chromedp.CSS("#to"), "shift"),
		chromedp.SetValue(chromedp.CSS("#shift_by"), "1"),
		chromedp.Submit(chromedp.CSS("#reset-form")),
		waitText("#reset-result", "Dry run"),
		waitJS(`/orders\s+0\s+0\s+1\b/.test(document.querySelector('#reset-result').innerText) && /orders\s+1\s+0\s+1\b/.test(document.querySelector('#reset-result').innerText)`),
		waitText("#total-lag", "5"))
	sh.take(t, ctx, "group")

	// Resize 1 → 2 brokers from the operations page and watch it finish:
	// the page follows the operation's steps by itself.
	run(t, ctx, "operations", 20*time.Second,
		chromedp.Navigate(cp.URL+"/clusters/"+id+"/operations"),
		waitText("#operations", "create"),
		waitText("#events", "cluster_online"))
	start = time.Now()
	run(t, ctx, "start a resize", 20*time.Second,
		chromedp.SetValue(chromedp.CSS("#num_nodes"), "2"),
		chromedp.Submit(chromedp.CSS("#resize-form")),
		waitText("main", "Resizing to 2 brokers"),
		waitText("#operations", "resize 1 → 2"))
	sh.take(t, ctx, "operations")
	run(t, ctx, "resize finishes", 90*time.Second,
		waitText("#operations tbody tr:first-child", "done"),
		waitText("#status", "online"),
		waitText("#operations-live", "2 brokers"))
	t.Logf("resize 1 → 2 done in the browser %v after submitting", time.Since(start).Round(time.Millisecond))
	run(t, ctx, "the audit log", 20*time.Second,
		waitText("#audit", "PUT /v2/databases/"+id+"/resize"),
		waitText("#audit", "POST /clusters/"+id+"/groups/web-group/reset"),
		chromedp.Navigate(cp.URL+"/audit"),
		waitText("#audit", "POST /v2/databases/"+id+"/topics"),
		waitText("#audit", "admin"))
	sh.take(t, ctx, "audit")
	run(t, ctx, "two ready brokers and charts on the overview", 20*time.Second,
		chromedp.Navigate(cp.URL+"/clusters/"+id),
		waitText("#brokers", "2"),
		waitJS(`document.querySelectorAll('#brokers tbody tr').length === 2 && [...document.querySelectorAll('#brokers tbody tr')].every(r => r.innerText.includes('ready') && !r.innerText.includes('not ready'))`),
		waitText("#urp", "0"),
		waitText("#brokers", "2.0 GiB"), // each broker's disk budget
		waitText("#charts", "Messages in"),
		waitJS(`document.querySelectorAll('#charts svg polyline').length === 5`))
	sh.take(t, ctx, "overview-charts")
	// At a phone's width nothing is wider than the screen but the tables,
	// which scroll in their own box.
	run(t, ctx, "phone width", 20*time.Second,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Reload(),
		waitText("#brokers", "ready"),
		waitJS(`document.documentElement.scrollWidth <= window.innerWidth + 1`))
	sh.take(t, ctx, "overview-phone")
	run(t, ctx, "desktop width again", 10*time.Second, chromedp.EmulateReset())
	run(t, ctx, "cluster list", 20*time.Second,
		chromedp.Navigate(cp.URL+"/clusters"),
		waitText("#clusters", "web-demo"),
		waitText("#clusters", "online"))
	sh.take(t, ctx, "clusters")

	// Delete with confirmation: a wrong name is refused, the right one
	// deletes, and the cluster leaves the list.
	run(t, ctx, "delete refused without the name", 20*time.Second,
		chromedp.Navigate(cp.URL+"/clusters/"+id+"/operations"),
		chromedp.SendKeys(chromedp.CSS("#confirm"), "web"),
		chromedp.Submit(chromedp.CSS("#delete-form")),
		waitText("#error", "to confirm"))
	run(t, ctx, "delete", 60*time.Second,
		chromedp.SendKeys(chromedp.CSS("#confirm"), "web-demo"),
		chromedp.Submit(chromedp.CSS("#delete-form")),
		waitText("main", "is being deleted"),
		waitText("#clusters", "No clusters"))
	// The deleted cluster's page says so.
	run(t, ctx, "a deleted cluster's page", 20*time.Second,
		chromedp.Navigate(cp.URL+"/clusters/"+id+"/topics"),
		waitText("#status-message", "deleted"))
}

// clusterIDFromURL reads the cluster id from the page's URL.
func clusterIDFromURL(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc := read(t, ctx, chromedp.Location())
	_, rest, ok := strings.Cut(loc, "/clusters/")
	if !ok {
		t.Fatalf("not on a cluster's page: %s", loc)
	}
	id, _, _ := strings.Cut(rest, "/")
	id, _, _ = strings.Cut(id, "?")
	return id
}

// commitOffset commits offset for group on topic's partition.
func commitOffset(t *testing.T, bootstrap string, opts []kgo.Opt, group, topic string, partition int32, offset int64) {
	t.Helper()
	kc, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(bootstrap)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	adm := kadm.NewClient(kc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	o := kadm.Offsets{}
	o.Add(kadm.Offset{Topic: topic, Partition: partition, At: offset, LeaderEpoch: -1})
	rs, err := adm.CommitOffsets(ctx, group, o)
	if err == nil {
		err = rs.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
}
