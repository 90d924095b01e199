package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// In-memory fakes of the herder's Kafka interfaces: topics are record
// lists, the group coordinator has a single member, the sink consumer
// keeps its group's offsets in a map. They let the core run end to end
// without a broker.

type fakeRecord struct{ key, value []byte }

type fakeCluster struct {
	mu      sync.Mutex
	topics  map[string][]fakeRecord
	subs    map[string][]ApplyFunc
	offsets map[string]int // sink group → next offset (topics of one partition)
	gen     int32
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{topics: map[string][]fakeRecord{}, subs: map[string][]ApplyFunc{}, offsets: map[string]int{}}
}

type fakeLog struct {
	c     *fakeCluster
	topic string
}

func (c *fakeCluster) openLog(topic string, apply ApplyFunc) (Log, error) {
	c.mu.Lock()
	recs := append([]fakeRecord(nil), c.topics[topic]...)
	c.subs[topic] = append(c.subs[topic], apply)
	c.mu.Unlock()
	for i, r := range recs {
		apply(0, int64(i), r.key, r.value)
	}
	return &fakeLog{c, topic}, nil
}

// Send applies the record on the caller's goroutine, to every reader.
func (l *fakeLog) Send(_ context.Context, key, value []byte) error {
	l.c.mu.Lock()
	off := len(l.c.topics[l.topic])
	l.c.topics[l.topic] = append(l.c.topics[l.topic], fakeRecord{key, value})
	subs := append([]ApplyFunc(nil), l.c.subs[l.topic]...)
	l.c.mu.Unlock()
	for _, apply := range subs {
		apply(0, int64(off), key, value)
	}
	return nil
}

func (l *fakeLog) ReadToEnd(context.Context) error { return nil }
func (l *fakeLog) Close()                          {}

func (c *fakeCluster) Produce(_ context.Context, r ProducerRecord, done func(int32, int64, error)) {
	c.mu.Lock()
	c.topics[r.Topic] = append(c.topics[r.Topic], fakeRecord{r.Key, r.Value})
	off := int64(len(c.topics[r.Topic]) - 1)
	c.mu.Unlock()
	done(0, off, nil)
}

func (c *fakeCluster) Flush(context.Context) error { return nil }

func (c *fakeCluster) records(topic string) []fakeRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]fakeRecord(nil), c.topics[topic]...)
}

// Request is a one-member group coordinator.
func (c *fakeCluster) Request(_ context.Context, req kmsg.Request) (kmsg.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		c.gen++
		resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.MemberID, resp.LeaderID, resp.Generation = "m1", "m1", c.gen
		resp.Protocol = kmsg.StringPtr(r.Protocols[0].Name)
		m := kmsg.NewJoinGroupResponseMember()
		m.MemberID, m.ProtocolMetadata = "m1", r.Protocols[0].Metadata
		resp.Members = append(resp.Members, m)
		return resp, nil
	case *kmsg.SyncGroupRequest:
		resp := r.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.MemberAssignment = r.GroupAssignment[0].MemberAssignment
		return resp, nil
	case *kmsg.HeartbeatRequest:
		return r.ResponseKind(), nil
	case *kmsg.LeaveGroupRequest:
		return r.ResponseKind(), nil
	}
	return nil, fmt.Errorf("fake coordinator: unexpected %T", req)
}

type fakeSinkConsumer struct {
	c        *fakeCluster
	cfg      SinkConsumerConfig
	pos      int
	consumed int
}

func (c *fakeCluster) newSinkConsumer(cfg SinkConsumerConfig) (SinkConsumer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &fakeSinkConsumer{c: c, cfg: cfg, pos: c.offsets[cfg.Group]}, nil
}

func (s *fakeSinkConsumer) Poll(ctx context.Context) ([]ConsumedRecord, error) {
	for {
		recs := s.c.records(s.cfg.Topics[0])
		if len(recs) > s.pos {
			var out []ConsumedRecord
			for i := s.pos; i < len(recs); i++ {
				out = append(out, ConsumedRecord{Topic: s.cfg.Topics[0], Offset: int64(i), Key: recs[i].key, Value: recs[i].value})
			}
			s.pos = len(recs)
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (s *fakeSinkConsumer) Done() {}
func (s *fakeSinkConsumer) Commit(context.Context) error {
	s.c.mu.Lock()
	s.c.offsets[s.cfg.Group] = s.pos
	s.c.mu.Unlock()
	return nil
}
func (s *fakeSinkConsumer) Pause(bool) {}
func (s *fakeSinkConsumer) Close()     {}

func testWorkerConfig() WorkerConfig {
	return WorkerConfig{GroupID: "g", WorkerID: "w1:8083", ConfigTopic: "configs", OffsetTopic: "offsets", StatusTopic: "status",
		KeyConverter: StringConverterClass, ValueConverter: JSONConverterClass,
		OffsetFlushInterval: 20 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond, SessionTimeout: time.Second,
		RebalanceTimeout: time.Second, TaskShutdownTimeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// startFakeHerder runs a herder over c until the returned stop is called.
func startFakeHerder(t *testing.T, c *fakeCluster) (*Herder, func()) {
	t.Helper()
	deps := Deps{Group: c, OpenLog: c.openLog, Producer: c, NewSinkConsumer: c.newSinkConsumer,
		SinkOffsets: func(context.Context, string) ([]ConnectorOffset, error) { return nil, nil }}
	h, err := NewHerder(testWorkerConfig(), deps, NewPlugins())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	waitUntil(t, "the herder ready", h.Ready)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("herder: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return h, stop
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func appendLines(t *testing.T, path, prefix string, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		fmt.Fprintf(f, "%s %d\n", prefix, i)
	}
	f.Close()
}

func sameFiles(a, b string) bool {
	x, err1 := os.ReadFile(a)
	y, err2 := os.ReadFile(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// TestHerderFileCopyAndResume runs the core over the fakes: a source and a
// sink copy a file, the statuses say RUNNING, and a second herder after
// the first stopped resumes both from their committed offsets.
func TestHerderFileCopyAndResume(t *testing.T) {
	c := newFakeCluster()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	appendLines(t, in, "first", 500)
	h, stop := startFakeHerder(t, c)
	ctx := context.Background()
	if created, _, err := h.PutConnectorConfig(ctx, "src", map[string]string{"name": "src", "connector.class": "FileStreamSource", "file": in, "topic": "t", "batch.size": "7"}, false, ""); err != nil || !created {
		t.Fatalf("create source: %v %v", created, err)
	}
	if _, _, err := h.PutConnectorConfig(ctx, "dst", map[string]string{"name": "dst", "connector.class": "FileStreamSink", "file": out, "topics": "t"}, false, ""); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the first copy", func() bool { return sameFiles(in, out) })
	waitUntil(t, "both RUNNING", func() bool {
		for _, n := range []string{"src", "dst"} {
			st, err := h.ConnectorStatus(n)
			if err != nil || st.Connector.State != StateRunning || len(st.Tasks) != 1 || st.Tasks[0].State != StateRunning || st.Tasks[0].WorkerID != "w1:8083" {
				return false
			}
		}
		return true
	})
	if _, _, err := h.PutConnectorConfig(ctx, "src", map[string]string{"name": "src", "connector.class": "FileStreamSource", "topic": "t"}, false, ""); err == nil {
		t.Fatal("duplicate create accepted")
	}
	stop()

	appendLines(t, in, "second", 300)
	startFakeHerder(t, c)
	waitUntil(t, "the second copy", func() bool { return sameFiles(in, out) })
	if n := len(c.records("t")); n != 800 {
		t.Fatalf("topic has %d records, want 800: the restarted source re-read lines", n)
	}
	var v struct{ Payload string }
	json.Unmarshal(c.records("t")[500].value, &v)
	if v.Payload != "second 0" {
		t.Fatalf("record 500 is %q", c.records("t")[500].value)
	}
}

// TestHerderREST drives the HTTP layer over the fake-backed core.
func TestHerderREST(t *testing.T) {
	c := newFakeCluster()
	h, _ := startFakeHerder(t, c)
	srv := httptest.NewServer(NewREST(h, http.DefaultClient, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	call := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	file := filepath.Join(t.TempDir(), "in")
	appendLines(t, file, "x", 3)
	for _, tc := range []struct {
		method, path, body string
		status             int
		contains           string
	}{
		{"POST", "/connectors", `not json`, 400, `"error_code":400`},
		{"POST", "/connectors", `{"name":"a"}`, 400, "config is required"},
		{"POST", "/connectors", `{"name":"a","config":{"connector.class":"FileStreamSource","file":"` + file + `","topic":"t"}}`, 201, `"type":"source"`},
		{"POST", "/connectors", `{"name":"a","config":{"connector.class":"FileStreamSource","topic":"t"}}`, 409, `"error_code":409`},
		{"POST", "/connectors", `{"name":"b","config":{"connector.class":"FileStreamSource","topic":"t","tasks.max":"0"}}`, 400, "tasks.max"},
		{"PUT", "/connectors/b/config", `{"connector.class":"FileStreamSink","topics":"t","name":"c"}`, 400, "doesn't match"},
		{"GET", "/connectors/zz", ``, 404, `"error_code":404`},
		{"GET", "/connectors/a/tasks/x/status", ``, 404, ""},
		{"PUT", "/connectors/a/pause", ``, 202, ""},
		{"PUT", "/connectors/a/resume", ``, 202, ""},
		{"POST", "/connectors/a/restart?includeTasks=maybe", ``, 400, "includeTasks"},
		{"GET", "/connector-plugins?connectorsOnly=false", ``, 200, `"type":"converter"`},
		{"GET", "/connector-plugins/Nope/config", ``, 404, "Nope"},
		{"DELETE", "/connectors/a", ``, 204, ""},
		{"GET", "/connectors", ``, 200, "[]"},
	} {
		status, body := call(tc.method, tc.path, tc.body)
		if status != tc.status || !strings.Contains(body, tc.contains) {
			t.Errorf("%s %s: %d %s, want %d with %q", tc.method, tc.path, status, body, tc.status, tc.contains)
		}
	}
}
