package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMonitoringRules: deploy/monitoring's alert rules pass `promtool
// check rules` and their unit tests (`promtool test rules`), the Grafana
// dashboard is valid JSON, and every metric the rules and the dashboard
// use is one docs/METRICS.md documents.
func TestMonitoringRules(t *testing.T) {
	promtool := requireTool(t, "promtool", "apt-get install prometheus")
	dir := filepath.Join("..", "deploy", "monitoring")
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	doc, err := os.ReadFile(filepath.Join("..", "docs", "METRICS.md"))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile(filepath.Join(dir, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dash, err := os.ReadFile(filepath.Join(dir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	exprs := string(rules)
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs += "\n" + tg.Expr
		}
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`\b(kafka|tributary|process|go)_[a-z0-9_]+`).FindAllString(exprs, -1) {
		names[strings.TrimSuffix(m, "_bucket")] = true
	}
	if len(names) < 15 {
		t.Fatalf("found only %d metric names in the rules and dashboard: %v", len(names), names)
	}
	for n := range names {
		if !strings.Contains(string(doc), "`"+n+"`") {
			t.Errorf("%s is used by deploy/monitoring but not documented in docs/METRICS.md", n)
		}
	}
}

// promServer is a Prometheus server (Debian's binary) run by a test.
type promServer struct {
	url string
	t   *testing.T
}

// startPrometheus runs prometheus scraping targets every second.
func startPrometheus(t *testing.T, targets []string) *promServer {
	bin := requireTool(t, "prometheus", "apt-get install prometheus")
	dir := t.TempDir()
	var quoted []string
	for _, a := range targets {
		quoted = append(quoted, strconv.Quote(a))
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
scrape_configs:
  - job_name: tributary
    static_configs:
      - targets: [%s]
`, strings.Join(quoted, ", "))
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("--- prometheus log (tail) ---\n%s", tail(string(b)))
		}
	})
	p := &promServer{url: "http://" + addr, t: t}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("prometheus exited:\n%s", b)
		default:
		}
		if code, _, _ := tryGet(p.url + "/-/ready"); code == 200 {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatal("prometheus not ready within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// query runs an instant query and returns its samples by their labels'
// rendering (one sample for an aggregate without labels: key "{}").
func (p *promServer) query(q string) (map[string]float64, error) {
	code, body, err := tryGet(p.url + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	var r struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Status != "success" {
		return nil, fmt.Errorf("query %s: HTTP %d %s %v", q, code, r.Error, err)
	}
	out := map[string]float64{}
	for _, s := range r.Data.Result {
		v, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		out[fmt.Sprint(s.Metric)] = v
	}
	return out, nil
}

// waitValue polls an aggregate query until cond holds for its single
// value (absent counts as not holding).
func (p *promServer) waitValue(timeout time.Duration, q, what string, cond func(float64) bool) float64 {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		res, err := p.query(q)
		if err == nil && len(res) == 1 {
			for _, v := range res {
				if cond(v) {
					return v
				}
				last = fmt.Sprint(v)
			}
		} else {
			last = fmt.Sprint(res, err)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out after %v waiting for %s: %s = %s", timeout, what, q, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// adminAddrOf reads a broker process's admin listener address from its
// log ("admin listener started").
func adminAddrOf(t *testing.T, nd *procNode) string {
	re := regexp.MustCompile(`msg="admin listener started" admin_listen=(\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(nd.logPath)
		if m := re.FindSubmatch(b); m != nil {
			return string(m[1])
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker %d logged no admin listener address", nd.id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPrometheusScrapesCluster: a real Prometheus server scrapes three
// `trib broker` processes. While a producer runs and a group lags behind,
// Prometheus's query API shows the messages-in rate, zero under-replicated
// partitions and the group's lag growing; after one broker is killed
// (kill -9) it shows the dead target, under-replicated partitions on the
// survivors, ISR shrinks, and the lag still reported (by the group's
// coordinator, wherever it moved).
func TestPrometheusScrapesCluster(t *testing.T) {
	requireTool(t, "prometheus", "apt-get install prometheus")
	c := startProcClusterWith(t, 3, procOptions{settings: append(append([]string{}, procSettings...),
		"admin.listen=127.0.0.1:0", "consumer.lag.sample.interval.ms=300", "offsets.topic.replication.factor=3")})
	admins := map[int32]string{}
	var targets []string
	for _, nd := range c.nodes {
		admins[nd.id] = adminAddrOf(t, nd)
		targets = append(targets, admins[nd.id])
	}
	prom := startPrometheus(t, targets)
	prom.waitValue(30*time.Second, `count(up{job="tributary"} == 1)`, "every broker scraped", func(v float64) bool { return v == 3 })

	cl := c.client(kgo.DefaultProduceTopic("prom"), kgo.RequiredAcks(kgo.AllISRAcks()))
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, "prom"); err != nil {
		t.Fatal(err)
	}
	// A steady producer until the test ends.
	produceStart := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			cl.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte("v")}, nil)
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	prom.waitValue(60*time.Second, `sum(rate(kafka_server_brokertopicmetrics_messagesin_total{topic="prom"}[5s]))`,
		"a messages-in rate", func(v float64) bool { return v > 10 })
	// Replication, seen from both ends: followers append what leaders send.
	for _, q := range []string{`sum(rate(kafka_server_brokertopicmetrics_replicationbytesin_total{topic="prom"}[5s]))`,
		`sum(rate(kafka_server_brokertopicmetrics_replicationbytesout_total{topic="prom"}[5s]))`} {
		prom.waitValue(30*time.Second, q, "replication traffic", func(v float64) bool { return v > 0 })
	}
	prom.waitValue(30*time.Second, `sum(kafka_server_replicamanager_underreplicatedpartitions)`,
		"no under-replicated partition", func(v float64) bool { return v == 0 })
	prom.waitValue(30*time.Second, `sum(kafka_controller_kafkacontroller_activecontrollercount)`,
		"one active controller", func(v float64) bool { return v == 1 })

	// A group reads some records, commits and stops reading: it lags.
	// It starts once 800 records are in (4 s at this rate), so the
	// records it stops at are seconds older than its commit.
	prom.waitValue(60*time.Second, `sum(kafka_server_brokertopicmetrics_messagesin_total{topic="prom"})`,
		"800 records produced", func(v float64) bool { return v >= 800 })
	g := c.client(kgo.ConsumeTopics("prom"), kgo.ConsumerGroup("prom-lagging"), kgo.DisableAutoCommit())
	for read := 0; read < 100; {
		fs := g.PollRecords(ctx, 100)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		read += fs.NumRecords()
	}
	if err := g.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	committedAt := time.Now()
	g.Close()
	lagQ := `sum(kafka_consumergroup_lag{consumergroup="prom-lagging",topic="prom"})`
	lag1 := prom.waitValue(60*time.Second, lagQ, "the group's lag", func(v float64) bool { return v > 0 })
	prom.waitValue(60*time.Second, lagQ, "the group's lag growing", func(v float64) bool { return v > lag1+100 })
	prom.waitValue(30*time.Second, `count(tributary_consumergroup_status{consumergroup="prom-lagging",status!="OK"} == 1)`,
		"the lagging group's status not OK", func(v float64) bool { return v == 1 })
	// Lag in seconds is the age of the first unconsumed records, which
	// were produced near the producer's start, well before the commit:
	// on every partition (the coordinator reads its own, fetches the
	// others' from their leaders) it exceeds the time since the commit.
	gap := committedAt.Sub(produceStart)
	prom.waitValue(30*time.Second, `min(tributary_consumergroup_lag_seconds{consumergroup="prom-lagging",topic="prom"})`,
		"lag seconds measured from record timestamps", func(v float64) bool { return v > time.Since(committedAt).Seconds()+gap.Seconds()/2 })

	// Kill a broker other than the controller.
	controller, _, err := describeCluster(cl)
	if err != nil {
		t.Fatal(err)
	}
	victim := int32(1)
	if controller == victim {
		victim = 2
	}
	// The survivors' counters: the killed broker's series go stale.
	shrinksQ := fmt.Sprintf(`sum(kafka_server_replicamanager_isrshrinks_total{instance!=%q})`, admins[victim])
	shrinks0 := prom.waitValue(10*time.Second, shrinksQ, "ISR shrinks", func(float64) bool { return true })
	c.kill9(victim)
	prom.waitValue(30*time.Second, fmt.Sprintf(`up{instance=%q}`, admins[victim]), "the killed broker's target down", func(v float64) bool { return v == 0 })
	prom.waitValue(60*time.Second, `sum(kafka_server_replicamanager_underreplicatedpartitions)`,
		"under-replicated partitions on the survivors", func(v float64) bool { return v > 0 })
	prom.waitValue(30*time.Second, shrinksQ, "ISR shrinks counted",
		func(v float64) bool { return v > shrinks0 })
	prom.waitValue(60*time.Second, `sum(rate(kafka_server_brokertopicmetrics_messagesin_total{topic="prom"}[5s]))`,
		"messages still flowing in", func(v float64) bool { return v > 10 })
	lag2 := prom.waitValue(60*time.Second, lagQ, "the group's lag after the kill", func(v float64) bool { return v > 0 })
	prom.waitValue(60*time.Second, lagQ, "the group's lag growing after the kill", func(v float64) bool { return v > lag2+100 })
}

// tryGet GETs u with a short timeout.
func tryGet(u string) (int, string, error) {
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
