package schemaregistry

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
)

// memLog is an in-memory Log: one partition, no compaction unless
// compact is called. Several readers may share one memLog through view.
type memLog struct {
	mu      sync.Mutex
	recs    []Record
	changed chan struct{}
}

func newMemLog() *memLog { return &memLog{changed: make(chan struct{})} }

func (l *memLog) Append(_ context.Context, key, value []byte) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	off := int64(len(l.recs))
	if len(l.recs) > 0 {
		off = l.recs[len(l.recs)-1].Offset + 1
	}
	l.recs = append(l.recs, Record{Offset: off, Key: append([]byte(nil), key...), Value: value})
	close(l.changed)
	l.changed = make(chan struct{})
	return off, nil
}

func (l *memLog) EndOffset(context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.recs) == 0 {
		return 0, nil
	}
	return l.recs[len(l.recs)-1].Offset + 1, nil
}

// compact keeps only the last record of each key (and drops tombstones),
// in offset order, as the log cleaner would eventually.
func (l *memLog) compact() {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := map[string]int64{}
	for _, r := range l.recs {
		last[string(r.Key)] = r.Offset
	}
	var out []Record
	for _, r := range l.recs {
		if last[string(r.Key)] == r.Offset && r.Value != nil {
			out = append(out, r)
		}
	}
	l.recs = out
}

// reader is one instance's cursor over a shared memLog.
type reader struct {
	*memLog
	next int64
}

func (l *memLog) view() *reader { return &reader{memLog: l} }

func (r *reader) Fetch(ctx context.Context) ([]Record, error) {
	for {
		r.mu.Lock()
		var out []Record
		for _, rec := range r.recs {
			if rec.Offset >= r.next {
				out = append(out, rec)
			}
		}
		ch := r.changed
		r.mu.Unlock()
		if len(out) > 0 {
			r.next = out[len(out)-1].Offset + 1
			return out, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// startRegistry runs a Registry over log and an httptest server for it.
func startRegistry(t testing.TB, log Log) (*Registry, *httptest.Server) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(testLogOut, nil))
	reg, err := New(log, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); reg.Run(ctx) }()
	if err := reg.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(reg, Standalone{}, quiet, 0))
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	return reg, srv
}

var testLogOut io.Writer = io.Discard
