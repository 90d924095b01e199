package tests

// Exactly-once source support (KIP-618) on a real worker: a
// FileStreamSource whose worker is killed (SIGKILL) in the middle of the
// file; another worker takes the task over, and a read_committed consumer
// sees every line exactly once, in order.

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestConnectExactlyOnceSource(t *testing.T) {
	t.Parallel() // see connectNode
	n := connectNode(t)
	eos := []string{"--set", "exactly.once.source.support=enabled"}
	w1 := startConnectWorker(t, n.Addr(), eos...)
	in := filepath.Join(t.TempDir(), "in.txt")
	const lines = 30000
	writeLines(t, in, "e", 0, lines)
	mustCall(t, "POST", w1.URL+"/connectors", fmt.Sprintf(`{"name":"eos","config":{"connector.class":"FileStreamSource","file":%q,"topic":"eos","batch.size":"50",
		"exactly.once.support":"required","value.converter":"org.apache.kafka.connect.storage.StringConverter"}}`, in), 201, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	// Kill the worker once part of the file is committed.
	cl := newClient(t, n.Addr(), kgo.ConsumeTopics("eos"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var got []string
	for len(got) < lines/5 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	w1.Kill()
	startConnectWorker(t, n.Addr(), eos...)
	for len(got) < lines && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	// Anything beyond (a duplicate) shows up within a short poll.
	sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
	defer scancel()
	cl.PollFetches(sctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	if len(got) != lines {
		t.Fatalf("read_committed consumer read %d records, want %d", len(got), lines)
	}
	for i, v := range got {
		if want := fmt.Sprintf("e-%d some text to make the line longer", i); v != want {
			t.Fatalf("record %d is %q, want %q (a duplicate or a gap)", i, v, want)
		}
	}
}
