package tests

// Kafka Connect runtime (trib connect) against a real broker: the seeds'
// flow over the REST API with two worker processes, restarts that resume
// from committed offsets, a killed worker whose tasks move, and Connect's
// answers to bad requests.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary/tributary/internal/node"
)

// connectWorker is a `trib connect` process.
type connectWorker struct {
	URL    string
	cmd    *exec.Cmd
	stderr *lockedWriter
	done   chan error
}

// fastConnect are worker settings that keep the tests short: frequent
// offset commits and heartbeats, the broker's minimum session timeout, a
// short hold on a dead worker's work.
var fastConnect = []string{
	"--set", "offset.flush.interval.ms=300",
	"--set", "heartbeat.interval.ms=500",
	"--set", "session.timeout.ms=6000",
	"--set", "scheduled.rebalance.max.delay.ms=1000",
}

// connectNode starts a broker for Connect workers without the initial
// rebalance delay (3 s by default), which every new group (the workers'
// own, each sink connector's) would otherwise wait before its first
// assignment.
//
// The Connect tests run in parallel with each other (t.Parallel): each has
// its own broker, worker processes, ports and files, and they spend their
// time waiting (group rebalances, the workers' flush and session
// intervals), not on the CPU.
func connectNode(t testing.TB) *node.Node {
	return startNode(t, "", noRebalanceDelay())
}

// startConnectWorker runs `trib connect` on a free port and waits for its
// banner; it is stopped with SIGTERM when the test ends.
func startConnectWorker(t testing.TB, brokers string, args ...string) *connectWorker {
	t.Helper()
	all := append([]string{"connect", "--brokers", brokers, "--listen", "127.0.0.1:0"}, fastConnect...)
	cmd := exec.Command(tribBinary(t), append(all, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	w := &connectWorker{cmd: cmd, stderr: &lockedWriter{w: &bytes.Buffer{}}, done: make(chan error, 1)}
	cmd.Stderr = w.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, rest, ok := strings.Cut(sc.Text(), "REST API: "); ok {
				urlc <- strings.TrimSuffix(strings.Fields(rest)[0], "/")
			}
		}
	}()
	go func() { w.done <- cmd.Wait() }()
	select {
	case w.URL = <-urlc:
	case err := <-w.done:
		t.Fatalf("trib connect exited before serving: %v\n%s", err, w.logs())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("trib connect printed no REST address within 30s\n%s", w.logs())
	}
	t.Cleanup(func() {
		w.Stop(t)
		if t.Failed() {
			t.Logf("worker %s log:\n%s", w.URL, w.logs())
		}
	})
	waitFor(t, 30*time.Second, "worker "+w.URL+" healthy", func() bool {
		code, _ := httpCall(t, "GET", w.URL+"/health", "")
		return code == 200
	})
	return w
}

func (w *connectWorker) logs() string {
	w.stderr.mu.Lock()
	defer w.stderr.mu.Unlock()
	return tail(w.stderr.w.String())
}

// Stop sends SIGTERM and waits for a clean exit. Idempotent.
func (w *connectWorker) Stop(t testing.TB) {
	t.Helper()
	if w.cmd.ProcessState != nil {
		return
	}
	w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-w.done:
		w.done <- err
		if err != nil {
			t.Errorf("trib connect did not exit cleanly on SIGTERM: %v\n%s", err, w.logs())
		}
	case <-time.After(30 * time.Second):
		w.cmd.Process.Kill()
		t.Errorf("trib connect did not stop within 30s of SIGTERM\n%s", w.logs())
	}
}

// Kill sends SIGKILL and reaps the process.
func (w *connectWorker) Kill() {
	if w.cmd.ProcessState != nil {
		return
	}
	w.cmd.Process.Kill()
	w.done <- <-w.done
}

// httpCall sends a request (JSON body if non-empty) and returns the status
// and body.
func httpCall(t testing.TB, method, url, body string) (int, []byte) {
	t.Helper()
	code, _, b := httpCallH(t, method, url, body)
	return code, b
}

func httpCallH(t testing.TB, method, url, body string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// mustCall checks the status and decodes the JSON answer into out (if non-nil).
func mustCall(t testing.TB, method, url, body string, want int, out any) {
	t.Helper()
	code, b := httpCall(t, method, url, body)
	if code != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, url, code, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeLines appends lines "<prefix>-<i>" for i in [from, to) to path.
func writeLines(t testing.TB, path, prefix string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := from; i < to; i++ {
		fmt.Fprintf(w, "%s-%d some text to make the line longer\n", prefix, i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func sameFile(a, b string) bool {
	x, err1 := os.ReadFile(a)
	y, err2 := os.ReadFile(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// waitSameFile waits until out is a copy of in.
func waitSameFile(t testing.TB, in, out string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !sameFile(in, out) {
		if time.Now().After(deadline) {
			t.Fatalf("the sink file is not a copy of the source file after 90s: %s", describeFiles(in, out))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// describeFiles says how two files differ, for a failure message.
func describeFiles(a, b string) string {
	x, _ := os.ReadFile(a)
	y, _ := os.ReadFile(b)
	i := 0
	for i < len(x) && i < len(y) && x[i] == y[i] {
		i++
	}
	return fmt.Sprintf("%s: %d bytes, %d lines; %s: %d bytes, %d lines; first difference at byte %d",
		a, len(x), bytes.Count(x, []byte("\n")), b, len(y), bytes.Count(y, []byte("\n")), i)
}

type connectorState struct {
	Name      string `json:"name"`
	Connector struct {
		State    string `json:"state"`
		WorkerID string `json:"worker_id"`
	} `json:"connector"`
	Tasks []struct {
		ID       int    `json:"id"`
		State    string `json:"state"`
		WorkerID string `json:"worker_id"`
		Trace    string `json:"trace"`
	} `json:"tasks"`
	Type string `json:"type"`
}

func connectorStatus(t testing.TB, url, name string) connectorState {
	t.Helper()
	var st connectorState
	code, b := httpCall(t, "GET", url+"/connectors/"+name+"/status", "")
	if code == 200 {
		json.Unmarshal(b, &st)
	}
	return st
}

// waitRunning waits until the connector and n tasks are RUNNING.
func waitRunning(t testing.TB, url, name string, n int) connectorState {
	t.Helper()
	var st connectorState
	waitFor(t, 60*time.Second, name+" RUNNING with its tasks", func() bool {
		st = connectorStatus(t, url, name)
		if st.Connector.State != "RUNNING" || len(st.Tasks) != n {
			return false
		}
		for _, task := range st.Tasks {
			if task.State != "RUNNING" {
				return false
			}
		}
		return true
	})
	return st
}

// topicValues reads every record value of a one-partition topic.
func topicValues(t testing.TB, addr, topic string, want int) []string {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []string
	for len(out) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	// Anything beyond want (duplicates) shows up within a short poll.
	sctx, scancel := context.WithTimeout(context.Background(), time.Second)
	defer scancel()
	cl.PollFetches(sctx).EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	return out
}

// TestConnectSeedFlow is the seeds' flow with two workers: a
// FileStreamSource by its short class name, the plugin and connector
// lists, a FileStreamSink to another file, identical files, DELETE → 204.
func TestConnectSeedFlow(t *testing.T) {
	t.Parallel() // see connectNode
	n := connectNode(t)
	w1 := startConnectWorker(t, n.Addr())
	w2 := startConnectWorker(t, n.Addr())
	dir := t.TempDir()
	in, out := filepath.Join(dir, "server.properties"), filepath.Join(dir, "copy-of-server.properties")
	writeLines(t, in, "line", 0, 20000)

	// Written through w2: whichever worker leads, the write is served.
	src := fmt.Sprintf(`{"name":"load-kafka-config","config":{"connector.class":"FileStreamSource","file":%q,"topic":"kafka-config-topic"}}`, in)
	code, hdr, b := httpCallH(t, "POST", w2.URL+"/connectors", src)
	if code != 201 {
		t.Fatalf("POST /connectors: %d %s", code, b)
	}
	if loc := hdr.Get("Location"); loc != "/connectors/load-kafka-config" {
		t.Errorf("Location %q", loc)
	}
	var info struct {
		Name   string            `json:"name"`
		Config map[string]string `json:"config"`
		Tasks  []any             `json:"tasks"`
		Type   string            `json:"type"`
	}
	if err := json.Unmarshal(b, &info); err != nil || info.Name != "load-kafka-config" || info.Type != "source" || info.Config["name"] != "load-kafka-config" || info.Config["topic"] != "kafka-config-topic" {
		t.Fatalf("POST answer %s (%v)", b, err)
	}

	var plugins []struct{ Class, Type, Version string }
	mustCall(t, "GET", w1.URL+"/connector-plugins", "", 200, &plugins)
	types := map[string]string{}
	for _, p := range plugins {
		types[p.Class] = p.Type
	}
	if types["org.apache.kafka.connect.file.FileStreamSourceConnector"] != "source" || types["org.apache.kafka.connect.file.FileStreamSinkConnector"] != "sink" {
		t.Fatalf("connector-plugins: %+v", plugins)
	}
	var names []string
	mustCall(t, "GET", w1.URL+"/connectors", "", 200, &names)
	if len(names) != 1 || names[0] != "load-kafka-config" {
		t.Fatalf("GET /connectors = %v", names)
	}

	sink := fmt.Sprintf(`{"name":"dump-kafka-config","config":{"connector.class":"FileStreamSink","file":%q,"topics":"kafka-config-topic"}}`, out)
	mustCall(t, "POST", w1.URL+"/connectors", sink, 201, nil)
	waitRunning(t, w1.URL, "load-kafka-config", 1)
	waitRunning(t, w2.URL, "dump-kafka-config", 1)
	waitSameFile(t, in, out)

	// The topic holds each line once, in JsonConverter's envelope (the
	// worker's default converter, as in connect-distributed.properties).
	vals := topicValues(t, n.Addr(), "kafka-config-topic", 20000)
	if len(vals) != 20000 {
		t.Fatalf("topic has %d records, want 20000", len(vals))
	}
	if want := `{"schema":{"type":"string","optional":false},"payload":"line-0 some text to make the line longer"}`; vals[0] != want {
		t.Errorf("first record %s, want %s", vals[0], want)
	}

	if _, err := exec.LookPath("curl"); err == nil {
		o, _, err := runCmd(t, 30*time.Second, "", nil, "curl", "-s", w2.URL+"/connectors")
		if err != nil || !strings.Contains(o, `"dump-kafka-config"`) || !strings.Contains(o, `"load-kafka-config"`) {
			t.Errorf("curl /connectors: %q %v", o, err)
		}
	}

	mustCall(t, "DELETE", w2.URL+"/connectors/dump-kafka-config", "", 204, nil)
	waitFor(t, 10*time.Second, "the deleted connector gone from both workers", func() bool {
		var a, b []string
		mustCall(t, "GET", w1.URL+"/connectors", "", 200, &a)
		mustCall(t, "GET", w2.URL+"/connectors", "", 200, &b)
		return len(a) == 1 && len(b) == 1
	})
	var e struct {
		ErrorCode int    `json:"error_code"`
		Message   string `json:"message"`
	}
	mustCall(t, "GET", w1.URL+"/connectors/dump-kafka-config", "", 404, &e)
	if e.ErrorCode != 404 || e.Message == "" {
		t.Errorf("404 body %+v", e)
	}
}

// TestConnectRestartResumes stops every worker, adds lines, starts new
// workers: the source resumes at its committed position and the sink at
// its group's offsets, so nothing is read twice.
func TestConnectRestartResumes(t *testing.T) {
	t.Parallel() // see connectNode
	n := connectNode(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	writeLines(t, in, "a", 0, 5000)
	w1 := startConnectWorker(t, n.Addr())
	w2 := startConnectWorker(t, n.Addr())
	mustCall(t, "POST", w1.URL+"/connectors", fmt.Sprintf(`{"name":"src","config":{"connector.class":"org.apache.kafka.connect.file.FileStreamSourceConnector","file":%q,"topic":"resume","batch.size":"100"}}`, in), 201, nil)
	mustCall(t, "POST", w1.URL+"/connectors", fmt.Sprintf(`{"name":"dst","config":{"connector.class":"FileStreamSinkConnector","file":%q,"topics":"resume"}}`, out), 201, nil)
	waitSameFile(t, in, out)
	w1.Stop(t)
	w2.Stop(t)

	writeLines(t, in, "b", 0, 1000)
	w3 := startConnectWorker(t, n.Addr())
	startConnectWorker(t, n.Addr())
	waitSameFile(t, in, out)
	if vals := topicValues(t, n.Addr(), "resume", 6000); len(vals) != 6000 {
		t.Fatalf("topic has %d records after the restart, want 6000 (re-read from the start?)", len(vals))
	}
	var offs struct {
		Offsets []struct {
			Partition map[string]any `json:"partition"`
			Offset    map[string]any `json:"offset"`
		} `json:"offsets"`
	}
	st, _ := os.Stat(in)
	waitFor(t, 30*time.Second, "the source offset at the end of the file", func() bool {
		mustCall(t, "GET", w3.URL+"/connectors/src/offsets", "", 200, &offs)
		return len(offs.Offsets) == 1 && offs.Offsets[0].Offset["position"] == float64(st.Size())
	})
	if offs.Offsets[0].Partition["filename"] != in {
		t.Errorf("source partition %v", offs.Offsets[0].Partition)
	}
	waitFor(t, 30*time.Second, "the sink group offset at 6000", func() bool {
		mustCall(t, "GET", w3.URL+"/connectors/dst/offsets", "", 200, &offs)
		return len(offs.Offsets) == 1 && offs.Offsets[0].Offset["kafka_offset"] == float64(6000) &&
			offs.Offsets[0].Partition["kafka_topic"] == "resume"
	})
}

// TestConnectWorkerKilled kills (SIGKILL) the worker running the source
// task while the file grows: the task moves to the other worker, which
// finishes the file; every line reaches the sink file (at least once).
func TestConnectWorkerKilled(t *testing.T) {
	t.Parallel() // see connectNode
	n := connectNode(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	w1 := startConnectWorker(t, n.Addr())
	w2 := startConnectWorker(t, n.Addr())
	workers := map[string]*connectWorker{strings.TrimPrefix(w1.URL, "http://"): w1, strings.TrimPrefix(w2.URL, "http://"): w2}
	writeLines(t, in, "x", 0, 20000)
	mustCall(t, "POST", w1.URL+"/connectors", fmt.Sprintf(`{"name":"src","config":{"connector.class":"FileStreamSource","file":%q,"topic":"kill","batch.size":"50"}}`, in), 201, nil)
	mustCall(t, "POST", w2.URL+"/connectors", fmt.Sprintf(`{"name":"dst","config":{"connector.class":"FileStreamSink","file":%q,"topics":"kill"}}`, out), 201, nil)
	st := waitRunning(t, w1.URL, "src", 1)
	waitRunning(t, w1.URL, "dst", 1)
	victim := workers[st.Tasks[0].WorkerID]
	if victim == nil {
		t.Fatalf("source task runs on unknown worker %q", st.Tasks[0].WorkerID)
	}
	var survivor *connectWorker
	for _, w := range workers {
		if w != victim {
			survivor = w
		}
	}
	waitFor(t, 60*time.Second, "some lines copied", func() bool {
		fi, err := os.Stat(out)
		return err == nil && fi.Size() > 0
	})
	victim.Kill()
	killed := time.Now()
	writeLines(t, in, "y", 0, 20000)
	waitFor(t, 60*time.Second, "the source task running on the surviving worker", func() bool {
		s := connectorStatus(t, survivor.URL, "src")
		return len(s.Tasks) == 1 && s.Tasks[0].State == "RUNNING" && workers[s.Tasks[0].WorkerID] == survivor
	})
	t.Logf("source task resumed on the other worker %v after the kill (session timeout 6s + rebalance delay 1s)", time.Since(killed).Round(100*time.Millisecond))

	want := map[string]bool{}
	b, _ := os.ReadFile(in)
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		want[l] = true
	}
	var missing int
	waitFor(t, 120*time.Second, "every line in the sink file", func() bool {
		got, _ := os.ReadFile(out)
		seen := map[string]bool{}
		for _, l := range strings.Split(string(got), "\n") {
			seen[l] = true
		}
		missing = 0
		for l := range want {
			if !seen[l] {
				missing++
			}
		}
		return missing == 0
	})
	got, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	for _, l := range lines {
		if !want[l] {
			t.Fatalf("sink wrote a line that is not in the source: %q", l)
		}
	}
	t.Logf("%d source lines, %d sink lines (%d duplicates from replays after the kill)", len(want), len(lines), len(lines)-len(want))
}

// TestConnectREST checks Connect's status codes, shapes and errors.
func TestConnectREST(t *testing.T) {
	t.Parallel() // see connectNode
	n := connectNode(t)
	w := startConnectWorker(t, n.Addr())
	u := w.URL
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	writeLines(t, in, "r", 0, 100)

	var root map[string]string
	mustCall(t, "GET", u+"/", "", 200, &root)
	if root["version"] == "" || root["kafka_cluster_id"] == "" {
		t.Errorf("GET / = %v", root)
	}
	type errBody struct {
		ErrorCode int    `json:"error_code"`
		Message   string `json:"message"`
	}
	expectErr := func(method, path, body string, status int, msgPart string) {
		t.Helper()
		var e errBody
		mustCall(t, method, u+path, body, status, &e)
		if e.ErrorCode != status || !strings.Contains(e.Message, msgPart) {
			t.Errorf("%s %s: %+v, want error_code %d and a message with %q", method, path, e, status, msgPart)
		}
	}
	expectErr("POST", "/connectors", `{"name":`, 400, "")
	expectErr("POST", "/connectors", `{"name":"a","config":{"connector.class":"FileStreamSource","file":"x"}}`, 400, `Missing required configuration "topic"`)
	expectErr("POST", "/connectors", `{"name":"a","config":{"connector.class":"NoSuchConnector","topic":"t"}}`, 400, "NoSuchConnector")
	expectErr("POST", "/connectors", `{"name":"a","config":{"connector.class":"FileStreamSource","topic":"t","name":"b"}}`, 400, "doesn't match")
	expectErr("POST", "/connectors", `{"name":"a","config":{"connector.class":"FileStreamSource","topic":"t","batch.size":"x"}}`, 400, "batch.size")
	expectErr("GET", "/connectors/nope", "", 404, "nope")
	expectErr("GET", "/connectors/nope/status", "", 404, "nope")
	expectErr("DELETE", "/connectors/nope", "", 404, "nope")
	expectErr("GET", "/no/such/path", "", 404, "")

	cfg := fmt.Sprintf(`{"connector.class":"FileStreamSource","file":%q,"topic":"rest","value.converter":"org.apache.kafka.connect.storage.StringConverter"}`, in)
	mustCall(t, "PUT", u+"/connectors/a/config", cfg, 201, nil)
	expectErr("POST", "/connectors", `{"name":"a","config":`+cfg+`}`, 409, "already exists")
	mustCall(t, "PUT", u+"/connectors/a/config", cfg, 200, nil)
	expectErr("PUT", "/connectors/a/config", `{"name":"b","connector.class":"FileStreamSource","topic":"t"}`, 400, "doesn't match")
	var conf map[string]string
	mustCall(t, "GET", u+"/connectors/a/config", "", 200, &conf)
	if conf["name"] != "a" || conf["topic"] != "rest" {
		t.Errorf("config %v", conf)
	}
	waitRunning(t, u, "a", 1)
	// StringConverter: the record value is the line itself.
	if vals := topicValues(t, n.Addr(), "rest", 100); len(vals) != 100 || vals[0] != "r-0 some text to make the line longer" {
		t.Errorf("rest topic: %d records, first %q", len(vals), vals[0])
	}

	var tasks []struct {
		ID struct {
			Connector string
			Task      int
		} `json:"id"`
		Config map[string]string `json:"config"`
	}
	mustCall(t, "GET", u+"/connectors/a/tasks", "", 200, &tasks)
	if len(tasks) != 1 || tasks[0].ID.Connector != "a" || tasks[0].Config["topic"] != "rest" {
		t.Errorf("tasks %+v", tasks)
	}
	var ts map[string]any
	mustCall(t, "GET", u+"/connectors/a/tasks/0/status", "", 200, &ts)
	if ts["state"] != "RUNNING" || ts["id"] != float64(0) {
		t.Errorf("task status %v", ts)
	}
	expectErr("GET", "/connectors/a/tasks/7/status", "", 404, "")
	mustCall(t, "POST", u+"/connectors/a/tasks/0/restart", "", 204, nil)
	mustCall(t, "POST", u+"/connectors/a/restart", "", 204, nil)
	var rs connectorState
	mustCall(t, "POST", u+"/connectors/a/restart?includeTasks=true", "", 202, &rs)
	if rs.Connector.State != "RESTARTING" || len(rs.Tasks) != 1 || rs.Tasks[0].State != "RESTARTING" {
		t.Errorf("restart answer %+v", rs)
	}
	waitRunning(t, u, "a", 1)

	mustCall(t, "PUT", u+"/connectors/a/pause", "", 202, nil)
	waitFor(t, 30*time.Second, "PAUSED", func() bool {
		s := connectorStatus(t, u, "a")
		return s.Connector.State == "PAUSED" && len(s.Tasks) == 1 && s.Tasks[0].State == "PAUSED"
	})
	mustCall(t, "PUT", u+"/connectors/a/resume", "", 202, nil)
	waitRunning(t, u, "a", 1)
	mustCall(t, "PUT", u+"/connectors/a/stop", "", 204, nil)
	waitFor(t, 30*time.Second, "STOPPED with no tasks", func() bool {
		s := connectorStatus(t, u, "a")
		return s.Connector.State == "STOPPED" && len(s.Tasks) == 0
	})
	mustCall(t, "PUT", u+"/connectors/a/resume", "", 202, nil)
	waitRunning(t, u, "a", 1)

	var topics map[string]map[string][]string
	mustCall(t, "GET", u+"/connectors/a/topics", "", 200, &topics)
	if got := topics["a"]["topics"]; len(got) != 1 || got[0] != "rest" {
		t.Errorf("topics %v", topics)
	}
	mustCall(t, "PUT", u+"/connectors/a/topics/reset", "", 202, nil)
	mustCall(t, "GET", u+"/connectors/a/topics", "", 200, &topics)
	if got := topics["a"]["topics"]; len(got) != 0 {
		t.Errorf("topics after reset %v", topics)
	}
	var patched struct{ Config map[string]string }
	mustCall(t, "PATCH", u+"/connectors/a/config", `{"batch.size":"10","value.converter":null}`, 200, &patched)
	if patched.Config["batch.size"] != "10" || patched.Config["value.converter"] != "" {
		t.Errorf("patched config %v", patched.Config)
	}

	var expanded map[string]struct {
		Status *connectorState  `json:"status"`
		Info   *json.RawMessage `json:"info"`
	}
	mustCall(t, "GET", u+"/connectors?expand=status&expand=info", "", 200, &expanded)
	if e := expanded["a"]; e.Status == nil || e.Info == nil || e.Status.Type != "source" {
		t.Errorf("expanded %+v", expanded)
	}

	var vi struct {
		Name       string `json:"name"`
		ErrorCount int    `json:"error_count"`
		Configs    []struct {
			Definition map[string]any `json:"definition"`
			Value      struct {
				Name   string   `json:"name"`
				Errors []string `json:"errors"`
			} `json:"value"`
		} `json:"configs"`
	}
	mustCall(t, "PUT", u+"/connector-plugins/FileStreamSink/config/validate", `{"connector.class":"FileStreamSink","name":"s","tasks.max":"0"}`, 200, &vi)
	errs := map[string][]string{}
	for _, c := range vi.Configs {
		errs[c.Value.Name] = c.Value.Errors
	}
	if vi.Name != "org.apache.kafka.connect.file.FileStreamSinkConnector" || vi.ErrorCount != 3 || len(errs["tasks.max"]) != 1 || len(errs["topics"]) != 1 {
		t.Errorf("validate: %d errors %v", vi.ErrorCount, errs)
	}
	expectErr("PUT", "/connector-plugins/FileStreamSink/config/validate", `{"connector.class":"FileStreamSource"}`, 400, "does not match")
	var defs []map[string]any
	mustCall(t, "GET", u+"/connector-plugins/FileStreamSourceConnector/config", "", 200, &defs)
	found := false
	for _, d := range defs {
		found = found || (d["name"] == "batch.size" && d["default_value"] == "2000" && d["type"] == "INT")
	}
	if !found {
		t.Errorf("plugin config lacks batch.size: %v", defs)
	}
	mustCall(t, "DELETE", u+"/connectors/a", "", 204, nil)

	var loggers map[string]struct {
		Level        string `json:"level"`
		LastModified *int64 `json:"last_modified"`
	}
	mustCall(t, "GET", u+"/admin/loggers", "", 200, &loggers)
	if loggers["root"].Level != "INFO" || loggers["root"].LastModified != nil {
		t.Errorf("loggers %+v", loggers)
	}
	var affected []string
	mustCall(t, "PUT", u+"/admin/loggers/root", `{"level":"DEBUG"}`, 200, &affected)
	if len(affected) != 1 || affected[0] != "root" {
		t.Errorf("affected %v", affected)
	}
	var lv struct {
		Level        string `json:"level"`
		LastModified *int64 `json:"last_modified"`
	}
	mustCall(t, "GET", u+"/admin/loggers/root", "", 200, &lv)
	if lv.Level != "DEBUG" || lv.LastModified == nil {
		t.Errorf("root after PUT %+v", lv)
	}
	mustCall(t, "PUT", u+"/admin/loggers/root?scope=cluster", `{"level":"WARN"}`, 204, nil)
	waitFor(t, 10*time.Second, "the cluster-scope level applied", func() bool {
		mustCall(t, "GET", u+"/admin/loggers/root", "", 200, &lv)
		return lv.Level == "WARN"
	})
	expectErr("PUT", "/admin/loggers/root", `{"level":"LOUD"}`, 400, "LOUD")
	expectErr("GET", "/admin/loggers/org.nope", "", 404, "org.nope")
}

// TestConnectJSONConverters: a source with JsonConverter without schemas
// writes plain JSON strings, and a sink reading them with the same
// converter writes the lines back.
func TestConnectJSONConverters(t *testing.T) {
	t.Parallel() // see connectNode
	n := connectNode(t)
	w := startConnectWorker(t, n.Addr())
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	writeLines(t, in, "j", 0, 50)
	conv := `"value.converter":"org.apache.kafka.connect.json.JsonConverter","value.converter.schemas.enable":"false"`
	mustCall(t, "POST", w.URL+"/connectors", fmt.Sprintf(`{"name":"js","config":{"connector.class":"FileStreamSource","file":%q,"topic":"json",%s}}`, in, conv), 201, nil)
	mustCall(t, "POST", w.URL+"/connectors", fmt.Sprintf(`{"name":"jk","config":{"connector.class":"FileStreamSink","file":%q,"topics":"json",%s}}`, out, conv), 201, nil)
	waitSameFile(t, in, out)
	if vals := topicValues(t, n.Addr(), "json", 50); len(vals) != 50 || vals[0] != `"j-0 some text to make the line longer"` {
		t.Errorf("json topic: %d records, first %q", len(vals), vals[0])
	}
	// A sink expecting schemas fails its task on schemaless JSON, with a trace.
	mustCall(t, "POST", w.URL+"/connectors", fmt.Sprintf(`{"name":"bad","config":{"connector.class":"FileStreamSink","file":%q,"topics":"json"}}`, filepath.Join(dir, "bad.txt")), 201, nil)
	waitFor(t, 60*time.Second, "the schema-expecting sink task FAILED", func() bool {
		s := connectorStatus(t, w.URL, "bad")
		return len(s.Tasks) == 1 && s.Tasks[0].State == "FAILED" && strings.Contains(s.Tasks[0].Trace, "schemas.enable")
	})
}

// TestConnectSeedHTTPie types the seed's httpie commands (the README's)
// against a worker: only the port differs, and --ignore-stdin because the
// test's stdin is not a terminal (httpie would read it as the body).
func TestConnectSeedHTTPie(t *testing.T) {
	t.Parallel() // see connectNode
	if _, err := exec.LookPath("http"); err != nil {
		t.Skip("httpie (http) not installed; .ci/run installs it")
	}
	n := connectNode(t)
	w := startConnectWorker(t, n.Addr())
	port := w.URL[strings.LastIndexByte(w.URL, ':'):]
	dir := t.TempDir()
	in, out := filepath.Join(dir, "server.properties"), filepath.Join(dir, "copy-of-server.properties")
	writeLines(t, in, "broker.setting", 0, 300)
	httpie := func(args ...string) string {
		t.Helper()
		o, e, err := runCmd(t, 60*time.Second, "", nil, "http", append([]string{"--ignore-stdin", "--check-status", "--print=hb"}, args...)...)
		if err != nil {
			t.Fatalf("http %s: %v\n%s\n%s", strings.Join(args, " "), err, o, e)
		}
		return o
	}
	o := httpie("POST", port+"/connectors",
		"name=load-kafka-config",
		`config:={"connector.class":"FileStreamSource","file":"`+in+`","topic":"kafka-config-topic"}`)
	if !strings.Contains(o, "201 Created") || !strings.Contains(o, `"type":"source"`) {
		t.Fatalf("POST source:\n%s", o)
	}
	if o := httpie(port + "/connector-plugins"); !strings.Contains(o, "org.apache.kafka.connect.file.FileStreamSourceConnector") {
		t.Fatalf("connector-plugins:\n%s", o)
	}
	if o := httpie(port + "/connectors"); !strings.Contains(o, `"load-kafka-config"`) {
		t.Fatalf("connectors:\n%s", o)
	}
	o = httpie("POST", port+"/connectors",
		"name=dump-kafka-config",
		`config:={"connector.class":"FileStreamSink","file":"`+out+`","topics":"kafka-config-topic"}`)
	if !strings.Contains(o, "201 Created") {
		t.Fatalf("POST sink:\n%s", o)
	}
	waitSameFile(t, in, out)
	if o := httpie("DELETE", port+"/connectors/dump-kafka-config"); !strings.Contains(o, "204 No Content") {
		t.Fatalf("DELETE:\n%s", o)
	}
}

// TestConnectCleanStopMovesWorkAtOnce: with Connect's default hold on a
// departed worker's work (5 minutes), a worker stopped with SIGTERM marks
// its work UNASSIGNED before leaving, so the other worker takes it at once.
func TestConnectCleanStopMovesWorkAtOnce(t *testing.T) {
	t.Parallel() // see connectNode
	n := connectNode(t)
	hold := []string{"--set", "scheduled.rebalance.max.delay.ms=300000"}
	w1 := startConnectWorker(t, n.Addr(), hold...)
	w2 := startConnectWorker(t, n.Addr(), hold...)
	workers := map[string]*connectWorker{strings.TrimPrefix(w1.URL, "http://"): w1, strings.TrimPrefix(w2.URL, "http://"): w2}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	writeLines(t, in, "s", 0, 10)
	mustCall(t, "POST", w1.URL+"/connectors", fmt.Sprintf(`{"name":"src","config":{"connector.class":"FileStreamSource","file":%q,"topic":"stop"}}`, in), 201, nil)
	st := waitRunning(t, w1.URL, "src", 1)
	owner := workers[st.Tasks[0].WorkerID]
	var other *connectWorker
	for _, w := range workers {
		if w != owner {
			other = w
		}
	}
	stopped := time.Now()
	owner.Stop(t)
	waitFor(t, 30*time.Second, "the task running on the other worker", func() bool {
		s := connectorStatus(t, other.URL, "src")
		return len(s.Tasks) == 1 && s.Tasks[0].State == "RUNNING" && workers[s.Tasks[0].WorkerID] == other
	})
	t.Logf("task moved %v after SIGTERM", time.Since(stopped).Round(100*time.Millisecond))
}

// TestConnectOffsetsAPI alters and resets offsets of STOPPED connectors
// (KIP-875): a source rewound to position 0 reads its file again, a sink
// moved back to offset 100 writes the records from there again.
func TestConnectOffsetsAPI(t *testing.T) {
	t.Parallel() // see connectNode
	n := connectNode(t)
	w := startConnectWorker(t, n.Addr())
	u := w.URL
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	writeLines(t, in, "o", 0, 100)
	st, _ := os.Stat(in)
	mustCall(t, "POST", u+"/connectors", fmt.Sprintf(`{"name":"src","config":{"connector.class":"FileStreamSource","file":%q,"topic":"offs"}}`, in), 201, nil)
	waitRunning(t, u, "src", 1)
	if vals := topicValues(t, n.Addr(), "offs", 100); len(vals) != 100 {
		t.Fatalf("%d records", len(vals))
	}
	var e struct {
		ErrorCode int    `json:"error_code"`
		Message   string `json:"message"`
	}
	rewind := fmt.Sprintf(`{"offsets":[{"partition":{"filename":%q},"offset":{"position":0}}]}`, in)
	mustCall(t, "PATCH", u+"/connectors/src/offsets", rewind, 400, &e)
	if !strings.Contains(e.Message, "STOPPED") {
		t.Errorf("PATCH on a running connector: %+v", e)
	}
	mustCall(t, "PUT", u+"/connectors/src/stop", "", 204, nil)
	waitFor(t, 30*time.Second, "src STOPPED", func() bool { return connectorStatus(t, u, "src").Connector.State == "STOPPED" })
	var offs struct {
		Offsets []struct {
			Partition map[string]any `json:"partition"`
			Offset    map[string]any `json:"offset"`
		} `json:"offsets"`
	}
	mustCall(t, "GET", u+"/connectors/src/offsets", "", 200, &offs)
	if len(offs.Offsets) != 1 || offs.Offsets[0].Offset["position"] != float64(st.Size()) {
		t.Fatalf("offsets before the rewind: %+v", offs)
	}
	var msg map[string]string
	mustCall(t, "PATCH", u+"/connectors/src/offsets", rewind, 200, &msg)
	if !strings.Contains(msg["message"], "altered successfully") {
		t.Errorf("PATCH answer %v", msg)
	}
	mustCall(t, "PUT", u+"/connectors/src/resume", "", 202, nil)
	if vals := topicValues(t, n.Addr(), "offs", 200); len(vals) != 200 {
		t.Fatalf("%d records after the rewind, want 200", len(vals))
	}

	mustCall(t, "POST", u+"/connectors", fmt.Sprintf(`{"name":"dst","config":{"connector.class":"FileStreamSink","file":%q,"topics":"offs"}}`, out), 201, nil)
	lines := func() int {
		b, _ := os.ReadFile(out)
		return bytes.Count(b, []byte("\n"))
	}
	waitFor(t, 60*time.Second, "200 sink lines", func() bool { return lines() == 200 })
	mustCall(t, "PUT", u+"/connectors/dst/stop", "", 204, nil)
	waitFor(t, 30*time.Second, "dst STOPPED", func() bool { return connectorStatus(t, u, "dst").Connector.State == "STOPPED" })
	mustCall(t, "GET", u+"/connectors/dst/offsets", "", 200, &offs)
	if len(offs.Offsets) != 1 || offs.Offsets[0].Offset["kafka_offset"] != float64(200) {
		t.Fatalf("sink offsets: %+v", offs)
	}
	// STOPPED is reported before the sink task has left its consumer
	// group (it leaves on the next rebalance): until then the worker
	// answers 500 and says to retry, as Kafka's does (KIP-875).
	rewindSink := `{"offsets":[{"partition":{"kafka_topic":"offs","kafka_partition":0},"offset":{"kafka_offset":100}}]}`
	waitFor(t, 30*time.Second, "the sink offsets altered", func() bool {
		code, b := httpCall(t, "PATCH", u+"/connectors/dst/offsets", rewindSink)
		if code == 500 && strings.Contains(string(b), "retry the request") {
			return false
		}
		if code != 200 {
			t.Fatalf("PATCH sink offsets: status %d: %s", code, b)
		}
		return true
	})
	mustCall(t, "PATCH", u+"/connectors/dst/offsets", `{"offsets":[{"partition":{"kafka_topic":"offs"},"offset":{"kafka_offset":1}}]}`, 400, nil)
	mustCall(t, "PUT", u+"/connectors/dst/resume", "", 202, nil)
	waitFor(t, 60*time.Second, "300 sink lines", func() bool { return lines() == 300 })

	mustCall(t, "PUT", u+"/connectors/src/stop", "", 204, nil)
	waitFor(t, 30*time.Second, "src STOPPED", func() bool { return connectorStatus(t, u, "src").Connector.State == "STOPPED" })
	mustCall(t, "DELETE", u+"/connectors/src/offsets", "", 200, &msg)
	mustCall(t, "GET", u+"/connectors/src/offsets", "", 200, &offs)
	if len(offs.Offsets) != 0 {
		t.Fatalf("offsets after DELETE: %+v", offs)
	}
}
