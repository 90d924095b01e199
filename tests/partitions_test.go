package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Many partitions under a low descriptor limit: the trib binary runs with
// RLIMIT_NOFILE 1024 and hosts 2,000 partitions (each holds three segment
// files, so 6,000 files: descriptors are opened on demand and bounded,
// storage/files.go). Every partition is written and read back, the broker
// restarts and serves them all again, and creating partitions beyond
// max.broker.partitions is refused whole with INVALID_PARTITIONS, leaving
// nothing half-created. A kill -9 after acks=1 writes to every partition
// then recovers all of them, under the same limit, keeping every record.
// bench/partitions measures 10,000.
func TestManyPartitionsUnderDescriptorLimit(t *testing.T) {
	const (
		nofile   = 1024
		topics   = 4
		parts    = 500
		capacity = topics*parts + 100
	)
	dir := t.TempDir()
	args := []string{"--set", "max.broker.partitions=" + strconv.Itoa(capacity)}
	p := startTribProcessLimited(t, dir, nofile, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	names := make([]string, topics)
	for i := range names {
		names[i] = fmt.Sprintf("many-%d", i)
	}
	adm := newAdmin(t, p.Addr)
	res, err := adm.CreateTopics(ctx, parts, 1, nil, names...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create %s: %v\n%s", r.Topic, r.Err, tail(p.stderr.String()))
		}
	}

	// One record per partition, each naming its partition.
	cl := newClient(t, p.Addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for _, name := range names {
		for i := int32(0); i < parts; i++ {
			recs = append(recs, &kgo.Record{Topic: name, Partition: i, Value: []byte(fmt.Sprintf("%s/%d", name, i))})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v\n%s", err, tail(p.stderr.String()))
	}
	// readAll reads perPart records from every partition: the first
	// names its partition, the second (offset 1) also its offset.
	readAll := func(addr string, perPart int) {
		t.Helper()
		c := newClient(t, addr, kgo.ConsumeTopics(names...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		defer c.Close()
		seen := map[string]bool{}
		for len(seen) < topics*parts*perPart {
			fs := c.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("read %d of %d records: %v\n%s", len(seen), topics*parts*perPart, ctx.Err(), tail(p.stderr.String()))
			}
			fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
			fs.EachRecord(func(r *kgo.Record) {
				want := fmt.Sprintf("%s/%d", r.Topic, r.Partition)
				if r.Offset > 0 {
					want += fmt.Sprintf("@%d", r.Offset)
				}
				if string(r.Value) != want || r.Offset >= int64(perPart) {
					t.Fatalf("%s/%d@%d: %q", r.Topic, r.Partition, r.Offset, r.Value)
				}
				seen[string(r.Value)] = true
			})
		}
	}
	readAll(p.Addr, 1)
	if strings.Contains(p.stderr.String(), "too many open files") {
		t.Fatalf("the broker ran out of descriptors:\n%s", tail(p.stderr.String()))
	}
	if n := openFDs(t, p.cmd.Process.Pid); n >= nofile {
		t.Fatalf("%d descriptors open, limit %d", n, nofile)
	}

	// Beyond capacity: refused before anything is created.
	res, err = adm.CreateTopics(ctx, 200, 1, nil, "over")
	if err != nil {
		t.Fatal(err)
	}
	if r := res["over"]; !errors.Is(r.Err, kerr.InvalidPartitions) || !strings.Contains(r.ErrMessage, "max.broker.partitions") {
		t.Fatalf("create beyond capacity: %v (%q)", r.Err, r.ErrMessage)
	}
	cres, err := adm.CreatePartitions(ctx, 200, names[0])
	if err != nil {
		t.Fatal(err)
	}
	if r := cres[names[0]]; !errors.Is(r.Err, kerr.InvalidPartitions) {
		t.Fatalf("add partitions beyond capacity: %v", r.Err)
	}
	td, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if td.Has("over") || len(td[names[0]].Partitions) != parts {
		t.Fatalf("a refused change left something behind: over=%v, %s has %d partitions", td.Has("over"), names[0], len(td[names[0]].Partitions))
	}
	// What fits is still created.
	if res, err := adm.CreateTopics(ctx, 50, 1, nil, "fits"); err != nil || res["fits"].Err != nil {
		t.Fatalf("create within capacity: %v %v", err, res["fits"].Err)
	}

	// A restart under the same limit serves every partition again.
	restart := func(kill bool) {
		t.Helper()
		if kill {
			p.cmd.Process.Kill()
			<-p.done
		} else {
			p.Stop(t)
		}
		p = startTribProcessLimited(t, dir, nofile, args...)
		adm = newAdmin(t, p.Addr)
		for {
			td, err := adm.ListTopics(ctx, names...)
			if err == nil && allLed(td, names, parts) {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("partitions without a leader after restart: %v\n%s", err, tail(p.stderr.String()))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	restart(false)
	readAll(p.Addr, 1)

	// acks=1 records (never fsynced: flush.ms is off), then kill -9: the
	// restart recovers every partition's active segment (no clean-shutdown
	// marker) under the same descriptor limit and keeps every record.
	cl = newClient(t, p.Addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	recs = recs[:0]
	for _, name := range names {
		for i := int32(0); i < parts; i++ {
			recs = append(recs, &kgo.Record{Topic: name, Partition: i, Value: []byte(fmt.Sprintf("%s/%d@1", name, i))})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v\n%s", err, tail(p.stderr.String()))
	}
	cl.Close()
	restart(true)
	readAll(p.Addr, 2)
	if strings.Contains(p.stderr.String(), "too many open files") || strings.Contains(p.stderr.String(), "truncated log during recovery") {
		t.Fatalf("recovery after kill -9:\n%s", tail(p.stderr.String()))
	}
}

func allLed(td kadm.TopicDetails, names []string, parts int) bool {
	for _, n := range names {
		d, ok := td[n]
		if !ok || d.Err != nil || len(d.Partitions) != parts {
			return false
		}
		for _, p := range d.Partitions {
			if p.Leader < 0 || p.Err != nil {
				return false
			}
		}
	}
	return true
}

func openFDs(t *testing.T, pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
