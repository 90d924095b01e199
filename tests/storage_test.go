package tests

import (
	"context"
	"math/rand"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

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
