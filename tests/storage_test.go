package tests

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"os/exec"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFullDisk fills a small tmpfs data dir: produce must fail with
// KAFKA_STORAGE_ERROR and the stored records must stay readable. It needs
// permission to mount tmpfs (root) and skips otherwise.
func TestFullDisk(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	n := startNode(t, dir, map[string]string{"log.dir.min.free.bytes": "131072"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := newAdmin(t, n.Addr()).CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": storagePtr("262144")}, "full"); err != nil {
		t.Fatal(err)
	}
	p := newClient(t, n.Addr(), kgo.DefaultProduceTopic("full"), kgo.RecordRetries(0), kgo.DisableIdempotentWrite(), kgo.ProducerLinger(0))
	val := make([]byte, 16<<10) // incompressible
	rand.New(rand.NewSource(1)).Read(val)
	acked := 0
	var failure error
	for i := 0; i < 200 && failure == nil; i++ {
		if err := p.ProduceSync(ctx, &kgo.Record{Value: val}).FirstErr(); err != nil {
			failure = err
		} else {
			acked++
		}
	}
	if !errors.Is(failure, kerr.KafkaStorageError) {
		t.Fatalf("after %d records on a 1 MiB disk: %v, want KAFKA_STORAGE_ERROR", acked, failure)
	}
	if acked == 0 {
		t.Fatal("nothing was stored before the disk filled")
	}
	c := newClient(t, n.Addr(), kgo.ConsumeTopics("full"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < acked {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("reading after the disk filled (%d of %d): %v", got, acked, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !bytes.Equal(r.Value, val) {
				t.Fatalf("record %d has a wrong value", r.Offset)
			}
			got++
		})
	}
	t.Logf("%d records stored, then %v; all %d read back", acked, failure, got)
}

func storagePtr(s string) *string { return &s }

// TestRetentionThroughBroker: retention.bytes deletes old segments in the
// background; the log start offset moves and a consumer from offset 0
// resets to it.
func TestRetentionThroughBroker(t *testing.T) {
	n := startNode(t, "", map[string]string{"log.retention.check.interval.ms": "50"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": storagePtr("16384"), "retention.bytes": storagePtr("32768"), "file.delete.delay.ms": storagePtr("0")}, "ret"); err != nil {
		t.Fatal(err)
	}
	p := newClient(t, n.Addr(), kgo.DefaultProduceTopic("ret"), kgo.ProducerLinger(0))
	val := make([]byte, 1000)
	rand.New(rand.NewSource(2)).Read(val)
	for i := 0; i < 200; i++ {
		if err := p.ProduceSync(ctx, &kgo.Record{Value: val}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var start int64
	for start == 0 {
		so, err := adm.ListStartOffsets(ctx, "ret")
		if err != nil {
			t.Fatal(err)
		}
		start = so["ret"][0].Offset
		if start == 0 {
			if ctx.Err() != nil {
				t.Fatal("log start offset never moved")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	c := newClient(t, n.Addr(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"ret": {0: kgo.NewOffset().At(0)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := c.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatal(err)
	}
	first := int64(-1)
	fs.EachRecord(func(r *kgo.Record) {
		if first < 0 {
			first = r.Offset
		}
	})
	if first < start {
		t.Fatalf("consumer from 0 got offset %d below the log start %d", first, start)
	}
	t.Logf("log start offset moved to %d; consumer reset to %d", start, first)
}
