package tests

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// scrape GETs url and returns status and body.
func scrape(t testing.TB, url string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// metricValue finds one sample by its name and labels as written in the
// exposition ("name{a=\"x\"}"), or reports it missing.
func metricValue(body, series string) (float64, bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

// TestAdminListener: a broker with admin.listen serves /healthz, /readyz
// and /metrics (text and OpenMetrics) with Kafka's metric names; produce
// and fetch move the per-topic counters by exactly what was sent; a
// committed group offset shows as kafka-exporter's lag; unknown paths are
// 404, a huge query string 431, and a thousand concurrent scrapes all get
// answers.
func TestAdminListener(t *testing.T) {
	// Built before any deadline starts: on a loaded machine the first
	// build of the test run alone can take longer than the Kafka steps'
	// 30 s (the test once failed that way, its final produce finding the
	// shared context expired).
	trib := tribBinary(t)
	n := startNode(t, "", map[string]string{"admin.listen": ":0", "consumer.lag.sample.interval.ms": "100",
		"metrics.partition.series.enable": "true", "group.initial.rebalance.delay.ms": "0"})
	admin := n.AdminAddr()
	if !strings.HasPrefix(admin, "127.0.0.1:") {
		t.Fatalf("admin.listen=:0 bound %s, want localhost only", admin)
	}
	base := "http://" + admin
	if code, body, _ := scrape(t, base+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body, _ := scrape(t, base+"/readyz"); code != 200 || strings.TrimSpace(body) != "ready" {
		t.Errorf("/readyz: %d %q", code, body)
	}

	const records, topic = 500, "obs"
	cl := newClient(t, n.Addr(), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var bytesIn int
	for i := range records {
		r := &kgo.Record{Value: []byte(fmt.Sprintf("value-%04d", i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// One record per batch (ProduceSync one at a time): bytes in is the
	// sum of the batch sizes, which the consumer cannot see; check it is
	// at least the values' size.
	bytesIn = records * len("value-0000")

	// A group consumes 200 records and commits: lag 300.
	g := newClient(t, n.Addr(), kgo.ConsumeTopics(topic), kgo.ConsumerGroup("obs-g"), kgo.DisableAutoCommit())
	got := 0
	for got < 200 {
		fs := g.PollRecords(ctx, 200-got)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	if got != 200 {
		t.Fatalf("polled %d records, asked for 200", got)
	}
	if err := g.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}

	var body string
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body, _ = scrape(t, base+"/metrics")
		if v, ok := metricValue(body, `kafka_consumergroup_lag{consumergroup="obs-g",partition="0",topic="obs"}`); ok && v == records-200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no kafka_consumergroup_lag of %d for obs-g:\n%s", records-200, grepLines(body, "consumergroup"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	want := map[string]float64{
		`kafka_server_brokertopicmetrics_messagesin_total{topic="obs"}`:                                           records,
		`kafka_server_brokertopicmetrics_messagesin_total{topic=""}`:                                              records,
		`kafka_server_brokertopicmetrics_totalproducerequests_total{topic="obs"}`:                                 records,
		`kafka_consumergroup_current_offset{consumergroup="obs-g",partition="0",topic="obs"}`:                     200,
		`kafka_server_replicamanager_partitioncount`:                                                              -1, // present
		`kafka_server_replicamanager_underreplicatedpartitions`:                                                   0,
		`kafka_controller_kafkacontroller_activecontrollercount`:                                                  1,
		`kafka_controller_kafkacontroller_offlinepartitionscount`:                                                 0,
		`kafka_log_log_logendoffset{partition="0",topic="obs"}`:                                                   records,
		`kafka_log_log_logstartoffset{partition="0",topic="obs"}`:                                                 0,
		`kafka_server_delayedoperationpurgatory_purgatorysize{delayedOperation="Produce"}`:                        -1,
		`tributary_consumergroup_partition_status{consumergroup="obs-g",partition="0",status="STOP",topic="obs"}`: -1,
	}
	for series, v := range want {
		got, ok := metricValue(body, series)
		switch {
		case !ok:
			t.Errorf("missing %s", series)
		case v >= 0 && got != v:
			t.Errorf("%s = %v, want %v", series, got, v)
		}
	}
	// The first unconsumed record (offset 200) was produced during this
	// test: its age is positive and below the test's run time.
	if v, ok := metricValue(body, `tributary_consumergroup_lag_seconds{consumergroup="obs-g",partition="0",topic="obs"}`); !ok || v <= 0 || v > 120 {
		t.Errorf("lag seconds %v (present %v), want the age of record 200", v, ok)
	}
	for _, series := range []string{`kafka_server_brokertopicmetrics_bytesin_total{topic="obs"}`, `kafka_server_brokertopicmetrics_bytesout_total{topic="obs"}`,
		`kafka_log_log_size{partition="0",topic="obs"}`} {
		if v, _ := metricValue(body, series); v < float64(bytesIn) {
			t.Errorf("%s = %v, want at least the %d bytes of values", series, v, bytesIn)
		}
	}
	for _, re := range []string{`(?m)^kafka_network_requestmetrics_requests_total\{request="Produce",version="\d+"\} \d+`,
		`(?m)^kafka_network_requestmetrics_totaltimems_bucket\{request="FetchConsumer",le="\+Inf"\} \d+`,
		`(?m)^kafka_log_logflushstats_logflushrateandtimems_count [1-9]`,
		`(?m)^tributary_log_dir_free_bytes\{log_dir=".+"\} [0-9.e+]+`,
		`(?m)^go_goroutines `, `(?m)^process_resident_memory_bytes `} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("no line matches %s", re)
		}
	}

	// docs/METRICS.md documents every metric the broker exports (the Go
	// runtime and process collectors' as a group).
	doc, err := os.ReadFile(filepath.Join("..", "docs", "METRICS.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^# HELP (\S+) `).FindAllStringSubmatch(body, -1) {
		if name := m[1]; !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") && !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("metric %s is not documented in docs/METRICS.md", name)
		}
	}

	// OpenMetrics when asked for it.
	_, om, h := scrape(t, base+"/metrics", "Accept", "application/openmetrics-text; version=1.0.0")
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") || !strings.HasSuffix(strings.TrimSpace(om), "# EOF") {
		t.Errorf("OpenMetrics: content type %q, ends %q", ct, om[max(0, len(om)-20):])
	}
	// The lag API.
	if code, lag, _ := scrape(t, base+"/v1/consumer-groups/lag?group=obs-g"); code != 200 || !strings.Contains(lag, `"lag":300`) {
		t.Errorf("lag API: %d %s", code, lag)
	}
	// trib group describe --status reads it from the admin listener.
	out, stderr, err := runCmd(t, 60*time.Second, "", nil, trib, "group", "describe", "obs-g", "--brokers", n.Addr(), "--status", "--admin", admin)
	if err != nil {
		t.Fatalf("trib group describe --status: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "GROUP obs-g  STATUS ERR") || !regexp.MustCompile(`(?m)^obs\s+0\s+200\s+500\s+300\s+\S+\s+STOP\s+200$`).MatchString(out) {
		t.Errorf("trib group describe --status printed:\n%s", out)
	}
	if _, stderr, err := runCmd(t, 60*time.Second, "", nil, trib, "group", "describe", "obs-g", "--brokers", n.Addr(), "--status"); err == nil || !strings.Contains(stderr, "--admin") {
		t.Errorf("--status without --admin: err %v, stderr %s", err, stderr)
	}

	// Bad input.
	if code, _, _ := scrape(t, base+"/no/such/path"); code != 404 {
		t.Errorf("unknown path: %d, want 404", code)
	}
	if code, _, _ := scrape(t, base+"/metrics?x="+strings.Repeat("a", 100<<10)); code != 431 {
		t.Errorf("100 KiB query string: %d, want 431", code)
	}
	// A thousand concurrent scrapes: every one answered.
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	tr := &http.Transport{MaxIdleConnsPerHost: 1000}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	for range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code := -1
			if resp, err := hc.Get(base + "/metrics"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[200] != 1000 {
		t.Errorf("1000 concurrent scrapes: status counts %v", codes)
	}
	// The Kafka side kept serving meanwhile. Its own deadline: ctx bounds
	// the produce and consume steps above, not the scrapes (each may take
	// up to the client's 60 s on a loaded machine).
	after, cancelAfter := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelAfter()
	if err := cl.ProduceSync(after, &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		t.Errorf("produce after the scrapes: %v", err)
	}
}

func grepLines(body, sub string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestAdminDuringStartAndStop: scrapes while a broker starts and while it
// shuts down get answers (or a refused connection before the listener is
// bound and after it closed), never anything else: /metrics 200,
// /readyz 503 with reasons until the broker serves, then 200, and 503
// again once the controlled shutdown begins.
func TestAdminDuringStartAndStop(t *testing.T) {
	adminAddr := freePort(t)
	type result struct {
		path string
		code int
		body string
	}
	var mu sync.Mutex
	var results []result
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, path := range []string{"/metrics", "/readyz"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, body, err := tryGet("http://" + adminAddr + path)
				if err == nil {
					mu.Lock()
					results = append(results, result{path, code, body})
					mu.Unlock()
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	n := startNode(t, "", map[string]string{"admin.listen": adminAddr})
	if code, _, _ := tryGet("http://" + adminAddr + "/readyz"); code != 200 {
		t.Errorf("/readyz after start: %d", code)
	}
	n.Close()
	close(stop)
	wg.Wait()
	seen := map[string]int{}
	for _, r := range results {
		seen[fmt.Sprintf("%s %d", r.path, r.code)]++
		switch {
		case r.path == "/metrics" && r.code != 200,
			r.path == "/readyz" && r.code != 200 && r.code != 503,
			r.code == 503 && !strings.Contains(r.body, "not ready: "):
			t.Errorf("%s answered %d: %q", r.path, r.code, r.body)
		}
	}
	if seen["/metrics 200"] == 0 || seen["/readyz 503"] == 0 {
		t.Errorf("answers seen: %v", seen)
	}
}
