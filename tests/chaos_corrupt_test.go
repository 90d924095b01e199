//go:build chaos

package tests

// Corruption chaos (make chaos): three `trib broker` processes under an
// idempotent acks=all load; each cycle flips a CRC in a sealed segment of
// the current leader's log, a consumer reads the partition from the start
// (which finds the damage), leadership moves, and the damaged replica
// repairs itself and rejoins the ISR. At the end every acknowledged record
// is read back (internal/checker) and the replicas' logs are identical.
// CHAOS_CORRUPT_CYCLES sets the number of cycles (default 10).

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary/tributary/internal/checker"
)

func TestChaosCorruptLeader(t *testing.T) {
	cycles := 10
	if v, err := strconv.Atoi(os.Getenv("CHAOS_CORRUPT_CYCLES")); err == nil && v > 0 {
		cycles = v
	}
	c := startProcCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cycles)*time.Minute+5*time.Minute)
	defer cancel()
	// Metadata answers are cached by the client for MetadataMinAge: keep
	// it short so waits see changes when they happen.
	adm := kadm.NewClient(c.client(kgo.MetadataMinAge(50 * time.Millisecond)))
	if _, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"segment.bytes": storagePtr("16384"), "min.insync.replicas": storagePtr("2")}, "chaos-crc"); err != nil {
		t.Fatal(err)
	}
	c.waitFor(30*time.Second, "a full ISR", func() bool { return fullISR(describeTopic(adm, "chaos-crc"), 1) })
	h := checker.New()
	load := startLoad(c, h, "chaos-crc", "load")
	for i := 0; i < cycles; i++ {
		c.waitAcks(h, 5000, 60*time.Second, fmt.Sprintf("before cycle %d", i))
		td := describeTopic(adm, "chaos-crc")
		if len(td.Partitions) != 1 || td.Partitions[0].Leader < 0 {
			t.Fatalf("cycle %d: no leader: %+v", i, td)
		}
		leader, epoch := td.Partitions[0].Leader, td.Partitions[0].LeaderEpoch
		_, bad := flipMiddleCRC(t, filepath.Join(c.node(leader).dir, "chaos-crc-0"))
		// Read to the high watermark from the start: the read of the damage
		// takes the replica offline and moves the leadership.
		ends, err := adm.ListEndOffsets(ctx, "chaos-crc")
		if err != nil {
			t.Fatal(err)
		}
		end, _ := ends.Lookup("chaos-crc", 0)
		cons := c.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"chaos-crc": {0: kgo.NewOffset().AtStart()}}),
			kgo.MetadataMinAge(100*time.Millisecond))
		start := time.Now()
		var next int64
		for next < end.Offset {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("cycle %d: consumer stuck at %d (damage at %d on broker %d)", i, next, bad, leader)
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("cycle %d: consumer error: %v", i, err) })
			fs.EachRecord(func(r *kgo.Record) {
				h.Read(r.Partition, r.Offset, string(r.Value))
				next = r.Offset + 1
			})
		}
		cons.Close()
		readIn := time.Since(start)
		c.waitFor(60*time.Second, fmt.Sprintf("cycle %d: broker %d repaired and back in the ISR", i, leader), func() bool {
			td := describeTopic(adm, "chaos-crc")
			return fullISR(td, 1) && td.Partitions[0].LeaderEpoch > epoch
		})
		t.Logf("cycle %d: damage at %d on broker %d; read past it in %v, back to a full ISR in %v (%d acknowledged)",
			i, bad, leader, readIn, time.Since(start), h.Acknowledged())
	}
	load.stop(t, 60*time.Second)
	c.waitFor(60*time.Second, "identical replica logs", func() bool {
		a := partitionBytes(t, filepath.Join(c.node(1).dir, "chaos-crc-0"))
		return bytes.Equal(a, partitionBytes(t, filepath.Join(c.node(2).dir, "chaos-crc-0"))) &&
			bytes.Equal(a, partitionBytes(t, filepath.Join(c.node(3).dir, "chaos-crc-0")))
	})
	c.readBack(h, "chaos-crc", 120*time.Second)
	r := h.Check()
	t.Log(r)
	if !r.OK() {
		t.Fatal(r)
	}
}
