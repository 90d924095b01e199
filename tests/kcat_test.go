package tests

import (
	"context"
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// requireTool returns the path of an external client tool. It skips the test
// when the tool is missing locally, but fails under CI (CI=true), where
// .ci/run installs every tool.
func requireTool(t testing.TB, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if strictTools() {
			t.Fatalf("%s not installed (.ci/run installs it: %s)", name, install)
		}
		t.Skipf("%s not installed (%s)", name, install)
	}
	return path
}

// TestKcat drives the real trib binary (`trib dev` as a process) with kcat
// (librdkafka): metadata, 10,000 keyed lines produced (plain, then
// idempotent+compressed), consumed back from the beginning; keyed records
// land in one partition each and keep their order, also after a restart.
func TestKcat(t *testing.T) {
	kcat := requireTool(t, "kcat", "apt-get install kcat")
	dir := t.TempDir()
	p := startTribProcess(t, dir)
	const topic = "kcat-events"
	if out := mustTrib(t, p.Addr, "", "topic", "create", topic, "--partitions", "6", "--replication-factor", "1"); out != "Created topic kcat-events.\n" {
		t.Fatalf("trib topic create: %q", out)
	}
	run := func(in string, args ...string) string {
		t.Helper()
		out, errOut, err := runCmd(t, 2*time.Minute, in, nil, kcat, append([]string{"-b", p.Addr}, args...)...)
		if err != nil {
			t.Fatalf("kcat %s: %v\nstderr:\n%s", strings.Join(args, " "), err, tail(errOut))
		}
		return out
	}

	out := run("", "-L")
	for _, want := range []string{"1 brokers:", "broker 1 at " + p.Addr, `topic "kcat-events" with 6 partitions:`} {
		if !strings.Contains(out, want) {
			t.Errorf("kcat -L lacks %q:\n%s", want, out)
		}
	}
	var md struct {
		Brokers []struct {
			ID   int32  `json:"id"`
			Name string `json:"name"`
		} `json:"brokers"`
		Topics []struct {
			Topic      string `json:"topic"`
			Partitions []struct {
				Partition int32 `json:"partition"`
				Leader    int32 `json:"leader"`
				Replicas  []any `json:"replicas"`
				ISRs      []any `json:"isrs"`
			} `json:"partitions"`
		} `json:"topics"`
	}
	if err := json.Unmarshal([]byte(run("", "-L", "-J", "-t", topic)), &md); err != nil {
		t.Fatalf("kcat -L -J: %v", err)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].ID != 1 || len(md.Topics) != 1 || len(md.Topics[0].Partitions) != 6 {
		t.Fatalf("kcat -L -J: %+v", md)
	}
	for _, pm := range md.Topics[0].Partitions {
		if pm.Leader != 1 || len(pm.Replicas) != 1 || len(pm.ISRs) != 1 {
			t.Errorf("partition %+v", pm)
		}
	}

	const total, keys = 10000, 100
	lines := keyedLines(total, keys)
	half := total / 2
	run(strings.Join(lines[:half], "\n")+"\n", "-P", "-t", topic, "-K:")
	run(strings.Join(lines[half:], "\n")+"\n", "-P", "-t", topic, "-K:", "-z", "lz4", "-X", "enable.idempotence=true")

	consume := func(args ...string) []keyedRecord {
		t.Helper()
		if len(args) == 0 {
			args = []string{"-C", "-t", topic}
		}
		out := run("", append(args, "-e", "-o", "beginning", "-q", "-f", `%p|%o|%k|%s\n`)...)
		var recs []keyedRecord
		for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			f := strings.Split(l, "|")
			if len(f) != 4 {
				t.Fatalf("kcat -C line %q", l)
			}
			part, err1 := strconv.Atoi(f[0])
			off, err2 := strconv.ParseInt(f[1], 10, 64)
			if err1 != nil || err2 != nil {
				t.Fatalf("kcat -C line %q", l)
			}
			recs = append(recs, keyedRecord{int32(part), off, f[2], f[3]})
		}
		return recs
	}
	checkKeyedOrder(t, consume(), total, keys)

	// The same as a member of a consumer group (balanced consumer): all
	// six partitions are assigned to it, and its offsets are committed on
	// close.
	checkKeyedOrder(t, consume("-G", "kcat-group", topic), total, keys)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := newAdmin(t, p.Addr)
	committed, err := adm.FetchOffsets(ctx, "kcat-group")
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if c, ok := committed.Lookup(topic, o.Partition); !ok || c.At != o.Offset {
			t.Errorf("kcat-group committed %+v for partition %d, want end offset %d", c, o.Partition, o.Offset)
		}
	})

	// Offsets per partition as kcat's consumer saw them match the broker's
	// end offsets (kcat -Q is by timestamp; use trib consume -e counts).
	out, errOut, err := trib(t, p.Addr, "", "consume", topic, "--from-beginning", "-e", "-q", "-f", `%p\n`)
	if err != nil || strings.Count(out, "\n") != total {
		t.Fatalf("trib consume after kcat produce: %v, %d lines\n%s", err, strings.Count(out, "\n"), errOut)
	}

	// Stop cleanly (SIGTERM), restart on the same data dir: everything is
	// served again.
	p.Stop(t)
	p = startTribProcess(t, dir)
	checkKeyedOrder(t, consume(), total, keys)
}
