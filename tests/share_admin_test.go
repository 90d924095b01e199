package tests

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestShareGroupAdmin drives the share group admin APIs with kadm:
// ListGroups by type share, DescribeShareGroups, DescribeShareGroupOffsets
// (start offset and lag), AlterShareGroupOffsets and
// DeleteShareGroupOffsets on an empty group (NON_EMPTY_GROUP while a
// member is in), and DeleteGroups, which removes the group and its state.
func TestShareGroupAdmin(t *testing.T) {
	n := startNode(t, "", shareSettings())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())
	const topic, group = "share-admin", "sg-admin"
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	prod := newClient(t, n.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	setShareEarliest(t, prod, group)
	for i := 0; i < 20; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// One consumer accepts every record.
	cl := newShareConsumer(t, n.Addr(), group, topic)
	got := 0
	waitUntil(t, "20 records consumed", 20*time.Second, func() bool {
		pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer pcancel()
		cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) { got++; r.Ack(kgo.AckAccept) })
		if err := cl.FlushAcks(ctx); err != nil {
			t.Fatal(err)
		}
		return got >= 20
	})

	listed, err := adm.ListGroupsByType(ctx, []string{"share"})
	if err != nil {
		t.Fatal(err)
	}
	if lg, ok := listed[group]; !ok || lg.State != "Stable" {
		t.Fatalf("ListGroups type share: %+v", listed)
	}
	if other, err := adm.ListGroupsByType(ctx, []string{"consumer"}); err != nil || len(other) != 0 {
		t.Fatalf("ListGroups type consumer lists %v (%v)", other, err)
	}
	dg, err := adm.DescribeShareGroups(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if d := dg[group]; d.Err != nil || len(d.Members) != 1 {
		t.Fatalf("DescribeShareGroups: %+v", d)
	}
	offs, err := adm.DescribeShareGroupOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 2; p++ {
		o, ok := offs[group].Offsets.Lookup(topic, p)
		if !ok || o.Err != nil || o.StartOffset != 10 || o.Lag != 0 {
			t.Fatalf("offsets of partition %d: %+v (ok %v)", p, o, ok)
		}
	}
	// A group with a member cannot be altered.
	alter := kadm.Offsets{}
	alter.Add(kadm.Offset{Topic: topic, Partition: 0, At: 4})
	if _, err := adm.AlterShareGroupOffsets(ctx, group, alter); !errors.Is(err, kerr.NonEmptyGroup) {
		t.Fatalf("alter with a member: %v, want NON_EMPTY_GROUP", err)
	}
	cl.Close() // leaves the group
	waitUntil(t, "the group to empty", 10*time.Second, func() bool {
		dg, err := adm.DescribeShareGroups(ctx, group)
		return err == nil && len(dg[group].Members) == 0
	})
	res, err := adm.AlterShareGroupOffsets(ctx, group, alter)
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := res.Lookup(topic, 0); e != nil {
		t.Fatalf("alter: %v", e)
	}
	offs, _ = adm.DescribeShareGroupOffsets(ctx, group)
	if o, _ := offs[group].Offsets.Lookup(topic, 0); o.StartOffset != 4 || o.Lag != 6 {
		t.Fatalf("after alter: %+v", o)
	}
	// A new consumer starts partition 0 at offset 4: records 8, 10, ...,
	// 18 (the even values from index 4 of partition 0) come back.
	cl2 := newShareConsumer(t, n.Addr(), group, topic)
	again := map[string]bool{}
	waitUntil(t, "partition 0 from offset 4", 20*time.Second, func() bool {
		pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer pcancel()
		cl2.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			if r.Partition != 0 || r.Offset < 4 {
				t.Errorf("redelivered %s at %d-%d after the alter", r.Value, r.Partition, r.Offset)
			}
			again[string(r.Value)] = true
			r.Ack(kgo.AckAccept)
		})
		_ = cl2.FlushAcks(ctx)
		return len(again) >= 6
	})
	cl2.Close()
	waitUntil(t, "the group to empty again", 10*time.Second, func() bool {
		dg, err := adm.DescribeShareGroups(ctx, group)
		return err == nil && len(dg[group].Members) == 0
	})
	// trib group shows the share group: its type in the list, and per
	// partition the start offset, log end offset and lag.
	out := mustTrib(t, n.Addr(), "", "group", "list")
	if !regexp.MustCompile(`(?m)^` + group + `\s+Empty\s+share\s+share$`).MatchString(out) {
		t.Fatalf("trib group list:\n%s", out)
	}
	out = mustTrib(t, n.Addr(), "", "group", "describe", group)
	if !strings.Contains(out, "TYPE share") || !regexp.MustCompile(`(?m)^`+topic+`\s+0\s+10\s+10\s+0\s+-$`).MatchString(out) {
		t.Fatalf("trib group describe:\n%s", out)
	}
	// Delete the offsets of the topic: nothing is described any more.
	if dres, err := adm.DeleteShareGroupOffsets(ctx, group, topic); err != nil {
		t.Fatal(err)
	} else if e, _ := dres.Lookup(topic); e != nil {
		t.Fatalf("delete offsets: %v", e)
	}
	offs, _ = adm.DescribeShareGroupOffsets(ctx, group)
	if len(offs[group].Offsets) != 0 {
		t.Fatalf("offsets after delete: %+v", offs[group].Offsets)
	}
	// DeleteGroups removes the empty share group.
	del, err := adm.DeleteGroups(ctx, group)
	if err != nil || del[group].Err != nil {
		t.Fatalf("delete group: %v %+v", err, del)
	}
	if listed, _ := adm.ListGroupsByType(ctx, []string{"share"}); len(listed) != 0 {
		t.Fatalf("share groups after delete: %v", listed)
	}
}
