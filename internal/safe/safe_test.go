package safe

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func testLogger() (*slog.Logger, *syncBuf) {
	var b syncBuf
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunRecoversAndLogs(t *testing.T) {
	log, buf := testLogger()
	deferred := false
	ok := Run(log, "worker", func() {
		defer func() { deferred = true }()
		panic("boom")
	})
	if ok {
		t.Fatal("Run reported a panicking fn as ok")
	}
	if !deferred {
		t.Fatal("fn's deferred calls did not run")
	}
	out := buf.String()
	for _, want := range []string{"panic in background goroutine", "goroutine=worker", "boom", "stack="} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q lacks %q", out, want)
		}
	}
	if !Run(log, "worker", func() {}) {
		t.Fatal("Run reported a normal return as a panic")
	}
}

// chanHandler sends every record's message and panic value on ch.
type chanHandler struct{ ch chan string }

func (h chanHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h chanHandler) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "panic" {
			msg += ": " + a.Value.String()
		}
		return true
	})
	h.ch <- msg
	return nil
}
func (h chanHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h chanHandler) WithGroup(string) slog.Handler      { return h }

func TestGoAndFunc(t *testing.T) {
	ch := make(chan string, 2)
	log := slog.New(chanHandler{ch})
	Go(log, "go", func() { panic("in go") })
	time.AfterFunc(0, Func(log, "timer", func() { panic("in timer") }))
	got := map[string]bool{<-ch: true, <-ch: true}
	for _, want := range []string{"panic in background goroutine: in go", "panic in background goroutine: in timer"} {
		if !got[want] {
			t.Errorf("logged %v, want %q", got, want)
		}
	}
}

func TestLoopRestartsUntilNormalReturn(t *testing.T) {
	log, buf := testLogger()
	calls := 0
	stop := make(chan struct{})
	Loop(log, "loop", stop, func() {
		calls++
		if calls == 1 {
			panic("first run")
		}
	})
	if calls != 2 {
		t.Fatalf("fn ran %d times, want 2 (restart after the panic, then return)", calls)
	}
	if !strings.Contains(buf.String(), "restarting background loop") {
		t.Errorf("restart not logged: %s", buf.String())
	}
}

func TestLoopStopsWhenStopped(t *testing.T) {
	log, _ := testLogger()
	stop := make(chan struct{})
	close(stop)
	calls := 0
	Loop(log, "loop", stop, func() { calls++; panic("always") })
	if calls != 1 {
		t.Fatalf("fn ran %d times after stop, want 1", calls)
	}
}
