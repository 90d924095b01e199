package tests

// Storage faults surface instead of hanging clients (issue 19), against real
// `trib broker` processes and franz-go clients: a batch failing its CRC in
// the middle of a segment takes the replica offline (single node: the
// consumer gets an error within seconds and the partition is listed as
// unavailable; three nodes: the consumer reads on through a new leader and
// the damaged replica repairs itself), `trib log dump` fails on the damaged
// segment, and a full disk (a small tmpfs) answers KAFKA_STORAGE_ERROR with
// an ERROR log, then recovers by itself when space is freed, losing no
// acknowledged record.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary/tributary/internal/checker"
)

// faultBroker is one single-node `trib broker` process whose log is kept in
// memory for assertions.
type faultBroker struct {
	addr string
	ctl  string
	dir  string
	sets []string
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
}

func (p *faultBroker) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// waitLog waits up to 10s for a log line containing every one of parts
// (the process's output reaches us through a pipe, after its responses).
func (p *faultBroker) waitLog(t *testing.T, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(p.log(), "\n") {
			ok := true
			for _, part := range parts {
				ok = ok && strings.Contains(line, part)
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q:\n%s", parts, tail(p.log()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startFaultBroker runs `trib broker` alone (its own quorum) on dir with
// extra --set settings and waits until it serves.
func startFaultBroker(t *testing.T, dir string, sets ...string) *faultBroker {
	t.Helper()
	return spawnFaultBroker(t, dir, freePort(t), freePort(t), sets)
}

// restart stops the broker (SIGTERM, a clean shutdown) and starts it again
// on the same data dir and ports.
func (p *faultBroker) restart(t *testing.T) *faultBroker {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("broker did not stop within 30s of SIGTERM")
	}
	return spawnFaultBroker(t, p.dir, p.addr, p.ctl, p.sets)
}

func spawnFaultBroker(t *testing.T, dir, addr, ctl string, sets []string) *faultBroker {
	t.Helper()
	p := &faultBroker{addr: addr, ctl: ctl, dir: dir, sets: sets, done: make(chan struct{})}
	args := []string{"broker", "--node-id", "1", "--listen", p.addr, "--controller-listen", ctl, "--data-dir", dir}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	p.cmd = exec.Command(tribBinary(t), args...)
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := false
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if !once && strings.Contains(sc.Text(), `msg="broker started"`) {
				once = true
				close(started)
			}
		}
		io.Copy(io.Discard, pr)
	}()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); pw.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("--- broker log (tail) ---\n%s", tail(p.log()))
		}
	})
	select {
	case <-started:
	case <-p.done:
		t.Fatalf("broker exited before serving:\n%s", p.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("broker did not start within 60s:\n%s", p.log())
	}
	return p
}

// segmentFiles lists the .log files of a partition directory, oldest first.
func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

// flipMiddleCRC flips one bit of the CRC field of a batch in the middle of
// a sealed segment in the middle of the partition directory, writing
// through the page cache as a disk error read back would look. It returns
// the segment and the base offset of the damaged batch.
func flipMiddleCRC(t *testing.T, partDir string) (string, int64) {
	t.Helper()
	segs := segmentFiles(t, partDir)
	if len(segs) < 3 {
		t.Fatalf("%d segments in %s, want at least 3", len(segs), partDir)
	}
	type batch struct {
		pos  int
		base int64
	}
	// The middle sealed segment with at least three batches (a batch in
	// the middle of a segment), else the middle one.
	sealed := segs[:len(segs)-1]
	var seg string
	var data []byte
	var batches []batch
	for i := range sealed {
		cand := sealed[(len(sealed)/2+i)%len(sealed)]
		d, err := os.ReadFile(cand)
		if err != nil {
			t.Fatal(err)
		}
		var bs []batch
		for pos := 0; pos+61 <= len(d); {
			bs = append(bs, batch{pos, int64(binary.BigEndian.Uint64(d[pos:]))})
			pos += int(binary.BigEndian.Uint32(d[pos+8:])) + 12
		}
		if seg == "" || len(bs) >= 3 && len(batches) < 3 {
			seg, data, batches = cand, d, bs
		}
	}
	if len(batches) == 0 {
		t.Fatalf("no batches in %s", seg)
	}
	b := batches[len(batches)/2]
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const crcAt = 17 // base offset 8, length 4, leader epoch 4, magic 1
	if _, err := f.WriteAt([]byte{data[b.pos+crcAt] ^ 0x01}, int64(b.pos+crcAt)); err != nil {
		t.Fatal(err)
	}
	return seg, b.base
}

func produceValues(t *testing.T, cl *kgo.Client, topic string, n int, h *checker.History, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("%s-%06d-%s", name, i, strings.Repeat("x", 200))
		h.Sent(name, v)
		r := &kgo.Record{Topic: topic, Value: []byte(v)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		h.Ack(r.Partition, r.Offset, v)
	}
}

func TestCorruptBatchSingleNode(t *testing.T) {
	dir := t.TempDir()
	br := startFaultBroker(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := newAdmin(t, br.addr)
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": storagePtr("16384")}, "crc"); err != nil {
		t.Fatal(err)
	}
	h := checker.New()
	produceValues(t, newClient(t, br.addr), "crc", 400, h, "p")
	seg, bad := flipMiddleCRC(t, filepath.Join(dir, "crc-0"))

	// `trib log dump` passes a healthy segment and its index, and fails a
	// truncated copy and the damaged segment.
	first := segmentFiles(t, filepath.Join(dir, "crc-0"))[0]
	if out, stderr, err := runCmd(t, 30*time.Second, "", nil, tribBinary(t), "log", "dump", "--files", first+","+strings.TrimSuffix(first, ".log")+".index"); err != nil {
		t.Fatalf("log dump of a healthy segment: %v\n%s%s", err, tail(out), stderr)
	}
	whole, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(t.TempDir(), filepath.Base(first))
	os.WriteFile(truncated, whole[:len(whole)-10], 0o644)
	if out, _, err := runCmd(t, 30*time.Second, "", nil, tribBinary(t), "log", "dump", "--files", truncated); err == nil || !strings.Contains(out, "invalid bytes at the end") {
		t.Fatalf("log dump of a truncated segment: %v\n%s", err, tail(out))
	}
	if out, _, err := runCmd(t, 30*time.Second, "", nil, tribBinary(t), "log", "dump", "--files", seg); err == nil || !strings.Contains(out, "isvalid: false") {
		t.Fatalf("log dump of a damaged segment: %v\n%s", err, tail(out))
	}

	// A consumer reads up to the damaged batch, then gets an error within
	// seconds (never an endless retry).
	cons := newClient(t, br.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"crc": {0: kgo.NewOffset().AtStart()}}))
	var next int64
	var fetchErr error
	start := time.Now()
	var errAt time.Duration
	for fetchErr == nil {
		pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
		fs := cons.PollFetches(pctx)
		timedOut := pctx.Err() != nil
		pcancel()
		if timedOut {
			t.Fatalf("no error after %v; consumer at offset %d, damage at %d", time.Since(start), next, bad)
		}
		fs.EachError(func(_ string, _ int32, err error) { fetchErr = err })
		fs.EachRecord(func(r *kgo.Record) {
			h.Read(r.Partition, r.Offset, string(r.Value))
			next = r.Offset + 1
		})
		errAt = time.Since(start)
	}
	if !errors.Is(fetchErr, kerr.UnknownServerError) {
		t.Fatalf("consumer error %v, want a non-retriable error", fetchErr)
	}
	if next != bad {
		t.Fatalf("consumer stopped at %d, damaged batch at %d", next, bad)
	}
	t.Logf("consumer read %d records, then %q after %v", next, fetchErr, errAt)

	// The partition is listed as unavailable, with its replica offline.
	out, stderr, err := runCmd(t, 30*time.Second, "", nil, tribBinary(t), "topic", "describe", "--brokers", br.addr, "--unavailable-partitions", "crc")
	if err != nil || !strings.Contains(out, "Partition: 0") {
		t.Fatalf("describe --unavailable-partitions: %v\n%s%s", err, out, stderr)
	}
	out, stderr, err = runCmd(t, 30*time.Second, "", nil, tribBinary(t), "topic", "describe", "--brokers", br.addr, "crc")
	if err != nil || !strings.Contains(out, "Leader: none") || !strings.Contains(out, "Offline: 1") {
		t.Fatalf("describe: %v\n%s%s", err, out, stderr)
	}
	md, err := adm.Metadata(ctx, "crc")
	if err != nil {
		t.Fatal(err)
	}
	if p := md.Topics["crc"].Partitions[0]; p.Leader != -1 || !slices.Equal(p.OfflineReplicas, []int32{1}) {
		t.Fatalf("metadata of the damaged partition: leader %d offline %v", p.Leader, p.OfflineReplicas)
	}
	br.waitLog(t, "level=ERROR", filepath.Base(seg))
	// Producers get a prompt answer too, not an endless retry.
	pr := newClient(t, br.addr, kgo.RecordRetries(3), kgo.RecordDeliveryTimeout(10*time.Second))
	if err := pr.ProduceSync(ctx, &kgo.Record{Topic: "crc", Value: []byte("x")}).FirstErr(); err == nil {
		t.Fatal("produce to an offline partition succeeded")
	}
	// Nothing wrong was read: the records before the damage are the ones
	// acknowledged there (those at and after it are unreadable here).
	if r := h.Check(); r.Duplicated+r.Misplaced+r.Reordered+r.Phantom+r.Divergent != 0 || r.Read != int(bad) {
		t.Errorf("checker: %s", r)
	}

	// After a clean restart the replica is back online as it is (nothing
	// is cut without a replica to re-fetch from): the records before the
	// damage read again, and the damage is found again.
	br = br.restart(t)
	br.waitLog(t, "replica back online")
	// librdkafka (kcat) exits with the error instead of waiting for a
	// leader.
	t.Run("kcat", func(t *testing.T) {
		kcat := requireTool(t, "kcat", "apt-get install kcat")
		start := time.Now()
		out, stderr, err := runCmd(t, 30*time.Second, "", nil, kcat, "-C", "-b", br.addr, "-t", "crc", "-p", "0", "-o", "beginning", "-e", "-q")
		if err == nil || !strings.Contains(stderr, "Fetch from broker 1 failed") || strings.Count(out, "\n") != int(bad) {
			t.Fatalf("kcat: %v after %v, %d lines\n%s", err, time.Since(start), strings.Count(out, "\n"), stderr)
		}
		t.Logf("kcat read %d records, then exited after %v: %s", bad, time.Since(start), strings.TrimSpace(stderr))
	})
	cons = newClient(t, br.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"crc": {0: kgo.NewOffset().AtStart()}}))
	next, fetchErr = 0, nil
	for fetchErr == nil {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("after restart: no error; consumer at %d, damage at %d", next, bad)
		}
		fs.EachError(func(_ string, _ int32, err error) { fetchErr = err })
		fs.EachRecord(func(r *kgo.Record) { next = r.Offset + 1 })
	}
	// (After kcat met the damage the replica is offline again, and a new
	// consumer gets the error at once.)
	if next > bad || !errors.Is(fetchErr, kerr.UnknownServerError) {
		t.Fatalf("after restart: read to %d (damage at %d), then %v", next, bad, fetchErr)
	}
}

func TestCorruptLeaderRepairsFromReplicas(t *testing.T) {
	c := startProcCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	// Metadata answers are cached by the client for MetadataMinAge: keep
	// it short so waits see changes when they happen.
	adm := kadm.NewClient(c.client(kgo.MetadataMinAge(50 * time.Millisecond)))
	if _, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"segment.bytes": storagePtr("16384"), "min.insync.replicas": storagePtr("2")}, "crc3"); err != nil {
		t.Fatal(err)
	}
	c.waitFor(30*time.Second, "a full ISR", func() bool { return fullISR(describeTopic(adm, "crc3"), 1) })
	h := checker.New()
	prod := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MetadataMinAge(100*time.Millisecond))
	produceValues(t, prod, "crc3", 400, h, "a")
	leader := describeTopic(adm, "crc3").Partitions[0].Leader
	partDir := filepath.Join(c.node(leader).dir, "crc3-0")
	_, bad := flipMiddleCRC(t, partDir)
	// An idempotent acks=all producer keeps writing through the fault.
	load := startLoad(c, h, "crc3", "load")

	// The consumer reads everything: the damaged leader goes offline and a
	// replica that has the data takes over.
	cons := c.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"crc3": {0: kgo.NewOffset().AtStart()}}),
		kgo.MetadataMinAge(100*time.Millisecond))
	var next int64
	start := time.Now()
	for next < 400 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumer stuck at %d (damage at %d)", next, bad)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("consumer error: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			h.Read(r.Partition, r.Offset, string(r.Value))
			next = r.Offset + 1
		})
	}
	t.Logf("consumer read all 400 records past the damage at %d in %v", bad, time.Since(start))
	c.waitFor(10*time.Second, "leadership to move off the damaged replica", func() bool {
		td := describeTopic(adm, "crc3")
		return len(td.Partitions) == 1 && td.Partitions[0].Leader >= 0 && td.Partitions[0].LeaderEpoch > 0
	})
	// Writes go on, and the damaged replica repairs itself: back in the
	// ISR with the same data as the others.
	c.waitAcks(h, 2000, 60*time.Second, "after the leader moved")
	c.waitFor(60*time.Second, fmt.Sprintf("broker %d back in the ISR", leader), func() bool {
		return fullISR(describeTopic(adm, "crc3"), 1)
	})
	t.Logf("damaged replica %d back in the ISR %v after the damage was found", leader, time.Since(start))
	c.waitAcks(h, 2000, 60*time.Second, "after the repair")
	load.stop(t, 30*time.Second)
	t.Logf("%d records acknowledged", h.Acknowledged())
	other := int32(1 + leader%3)
	c.waitFor(30*time.Second, "identical replica logs", func() bool {
		return bytes.Equal(partitionBytes(t, partDir), partitionBytes(t, filepath.Join(c.node(other).dir, "crc3-0")))
	})
	b, _ := os.ReadFile(c.node(leader).logPath)
	for _, want := range []string{"corrupt data in segment", "replica offline", "repaired offline replica", "replica back online"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("broker %d log lacks %q", leader, want)
		}
	}
	c.readBack(h, "crc3", 60*time.Second)
	if r := h.Check(); !r.OK() {
		t.Fatal(r)
	}
}

// partitionBytes is the concatenation of a partition's .log files: the
// stored batches in order, equal on every replica in sync.
func partitionBytes(t *testing.T, dir string) []byte {
	var out []byte
	for _, f := range segmentFiles(t, dir) {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil
		}
		out = append(out, b...)
	}
	return out
}

// TestFullDiskRecovers fills a small tmpfs under a broker process:
// producers get KAFKA_STORAGE_ERROR within seconds, the broker logs an
// ERROR with the path and free space, DescribeLogDirs shows the dir as
// unusable, and once space is freed writes resume by themselves; every
// acknowledged record is read back.
func TestFullDiskRecovers(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	// A file that is not the broker's takes some of the space; removing
	// it later is the operator freeing space.
	ballast := filepath.Join(dir, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	br := startFaultBroker(t, dir, "log.dir.min.free.bytes=1048576")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := newAdmin(t, br.addr)
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": storagePtr("262144")}, "full"); err != nil {
		t.Fatal(err)
	}
	h := checker.New()
	p := newClient(t, br.addr, kgo.DefaultProduceTopic("full"), kgo.RecordRetries(0), kgo.ProducerLinger(0))
	val := make([]byte, 16<<10) // incompressible
	rnd := rand.New(rand.NewSource(1))
	produce := func(i int) (time.Duration, error) {
		rnd.Read(val)
		v := fmt.Sprintf("%06d-%s", i, val)
		h.Sent("p", v)
		r := &kgo.Record{Value: []byte(v)}
		start := time.Now()
		err := p.ProduceSync(ctx, r).FirstErr()
		if err == nil {
			h.Ack(r.Partition, r.Offset, v)
		}
		return time.Since(start), err
	}
	var failure error
	var took time.Duration
	i := 0
	for ; i < 1000 && failure == nil; i++ {
		took, failure = produce(i)
	}
	if !errors.Is(failure, kerr.KafkaStorageError) {
		t.Fatalf("after %d records: %v, want KAFKA_STORAGE_ERROR", h.Acknowledged(), failure)
	}
	if took > 5*time.Second {
		t.Fatalf("KAFKA_STORAGE_ERROR took %v", took)
	}
	t.Logf("%d records acknowledged, then %v after %v", h.Acknowledged(), failure, took)
	br.waitLog(t, "level=ERROR", "log dir is full", "path="+dir, "free_bytes=")
	dirs, err := adm.DescribeBrokerLogDirs(ctx, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	dirs.Each(func(d kadm.DescribedLogDir) {
		if !errors.Is(d.Err, kerr.KafkaStorageError) {
			t.Errorf("log dir %s while full: err %v", d.Dir, d.Err)
		}
	})
	// trib topic describe and trib cluster info show the condition.
	out, stderr, err := runCmd(t, 30*time.Second, "", nil, tribBinary(t), "topic", "describe", "--brokers", br.addr, "full")
	if err != nil || !strings.Contains(out, "Storage: broker 1 log dir "+dir) || !strings.Contains(out, "KAFKA_STORAGE_ERROR") {
		t.Errorf("topic describe on a full disk: %v\n%s%s", err, out, stderr)
	}
	out, stderr, err = runCmd(t, 30*time.Second, "", nil, tribBinary(t), "cluster", "info", "--brokers", br.addr)
	if err != nil || !strings.Contains(out, dir) || !strings.Contains(out, "FULL") {
		t.Errorf("cluster info on a full disk: %v\n%s%s", err, out, stderr)
	}
	// The metadata quorum still writes: creating a topic is a Raft write.
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "while-full"); err != nil {
		t.Fatalf("creating a topic on a full disk: %v", err)
	}

	// Free space: writes resume by themselves.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	resumed := false
	for ; !resumed && time.Now().Before(deadline); i++ {
		_, err := produce(i)
		resumed = err == nil
		if !resumed {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !resumed {
		t.Fatalf("writes did not resume after space was freed:\n%s", tail(br.log()))
	}
	br.waitLog(t, "level=INFO", "writes resume")
	for j := 0; j < 20; j++ {
		if _, err := produce(i + j); err != nil {
			t.Fatalf("produce after recovery: %v", err)
		}
	}
	cons := newClient(t, br.addr, kgo.ConsumeTopics("full"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ends, err := adm.ListEndOffsets(ctx, "full")
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup("full", 0)
	var next int64
	for next < end.Offset {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read back stuck at %d of %d", next, end.Offset)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("read back: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			h.Read(r.Partition, r.Offset, string(r.Value))
			next = r.Offset + 1
		})
	}
	if r := h.Check(); !r.OK() {
		t.Fatal(r)
	}
}

// TestUnreadableSegment: a segment that cannot be opened at start-up (here
// a directory where the .log should be) takes the replica offline instead
// of leaving the partition led by a broker that cannot serve it: the
// partition is listed as unavailable and a consumer gets an error.
func TestUnreadableSegment(t *testing.T) {
	dir := t.TempDir()
	br := startFaultBroker(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := newAdmin(t, br.addr).CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": storagePtr("16384")}, "unreadable"); err != nil {
		t.Fatal(err)
	}
	produceValues(t, newClient(t, br.addr), "unreadable", 200, checker.New(), "p")
	br.cmd.Process.Signal(syscall.SIGTERM)
	<-br.done
	segs := segmentFiles(t, filepath.Join(dir, "unreadable-0"))
	seg := segs[len(segs)/2]
	if err := os.Rename(seg, seg+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(seg, 0o755); err != nil {
		t.Fatal(err)
	}
	br = spawnFaultBroker(t, dir, br.addr, br.ctl, nil)
	br.waitLog(t, "level=ERROR", "its log cannot be opened")
	out, stderr, err := runCmd(t, 30*time.Second, "", nil, tribBinary(t), "topic", "describe", "--brokers", br.addr, "--unavailable-partitions")
	if err != nil || !strings.Contains(out, "Topic: unreadable\tPartition: 0\tLeader: none") {
		t.Fatalf("describe --unavailable-partitions: %v\n%s%s", err, out, stderr)
	}
	cons := newClient(t, br.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"unreadable": {0: kgo.NewOffset().AtStart()}}))
	pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
	defer pcancel()
	var fetchErr error
	for fetchErr == nil && pctx.Err() == nil {
		cons.PollFetches(pctx).EachError(func(_ string, _ int32, err error) { fetchErr = err })
	}
	if !errors.Is(fetchErr, kerr.UnknownServerError) {
		t.Fatalf("consumer of an unreadable partition: %v", fetchErr)
	}
}

// A sealed segment read well once, then damaged under the running broker,
// is never served from the damage on: with segments and fetches large
// enough that the broker checks sealed batches through a mapping of the
// file and sends them with sendfile (storage.Log.sliceFrom), the second
// consumer reads exactly the records before the damaged batch, then gets
// the error, and the replica goes offline.
func TestCorruptSealedSegmentAfterGoodRead(t *testing.T) {
	dir := t.TempDir()
	br := startFaultBroker(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := newAdmin(t, br.addr)
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": storagePtr("196608")}, "crcmap"); err != nil {
		t.Fatal(err)
	}
	h := checker.New()
	const total = 4000 // about 4 segments of 16 KiB batches
	p := newClient(t, br.addr, kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(16<<10))
	for i := 0; i < total; i++ {
		v := fmt.Sprintf("m-%06d-%s", i, strings.Repeat("y", 200))
		h.Sent("m", v)
		p.Produce(ctx, &kgo.Record{Topic: "crcmap", Value: []byte(v)}, func(r *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
				return
			}
			h.Ack(r.Partition, r.Offset, string(r.Value))
		})
	}
	if err := p.Flush(ctx); err != nil || t.Failed() {
		t.Fatal(err)
	}
	consume := func() (int64, error) {
		cons := newClient(t, br.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"crcmap": {0: kgo.NewOffset().AtStart()}}),
			kgo.FetchMaxPartitionBytes(1<<20))
		defer cons.Close()
		var next int64
		for next < total {
			pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
			fs := cons.PollFetches(pctx)
			timedOut := pctx.Err() != nil
			pcancel()
			if timedOut {
				t.Fatalf("consumer stuck at %d", next)
			}
			var err error
			fs.EachError(func(_ string, _ int32, e error) { err = e })
			if err != nil {
				return next, err
			}
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset != next {
					t.Fatalf("offset %d, want %d", r.Offset, next)
				}
				h.Read(r.Partition, r.Offset, string(r.Value))
				next = r.Offset + 1
			})
		}
		return next, nil
	}
	if next, err := consume(); err != nil || next != total {
		t.Fatalf("first read: to %d: %v", next, err)
	}
	segs := segmentFiles(t, filepath.Join(dir, "crcmap-0"))
	if st, err := os.Stat(segs[0]); err != nil || st.Size() < 128<<10 {
		t.Fatalf("first segment: %v: want 128 KiB or more", err)
	}
	_, bad := flipMiddleCRC(t, filepath.Join(dir, "crcmap-0"))
	next, err := consume()
	if next != bad || !errors.Is(err, kerr.UnknownServerError) {
		t.Fatalf("read after the damage: to %d (damage at %d), then %v", next, bad, err)
	}
	br.waitLog(t, "level=ERROR", "CRC")
	if r := h.Check(); r.Duplicated+r.Misplaced+r.Reordered+r.Phantom+r.Divergent != 0 {
		t.Errorf("checker: %s", r)
	}
}

// TestFollowerRefusesDamagedAppend: a batch damaged on the leader after it
// was appended (written through the page cache, as another process or a
// bad write-back read back would) goes to followers with sendfile,
// unchecked. They refuse it and ask again; the leader then reads it for
// them checked, finds the damage, goes offline for the partition, and a
// follower leads. Without the checked re-read the followers stayed stuck
// on the batch and acks=all writes waited until the ISR shrank.
func TestFollowerRefusesDamagedAppend(t *testing.T) {
	// Sessions and lag long enough that pausing the followers for a
	// second changes no ISR.
	c := startProcClusterWith(t, 3, procOptions{settings: []string{"broker.session.timeout.ms=30000", "broker.heartbeat.interval.ms=200", "replica.lag.time.max.ms=30000", "replica.fetch.wait.max.ms=300"}})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := kadm.NewClient(c.client(kgo.MetadataMinAge(50 * time.Millisecond)))
	if _, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": storagePtr("2")}, "refuse"); err != nil {
		t.Fatal(err)
	}
	c.waitFor(30*time.Second, "a full ISR", func() bool { return fullISR(describeTopic(adm, "refuse"), 1) })
	h := checker.New()
	td := describeTopic(adm, "refuse").Partitions[0]
	leader := td.Leader
	// The acks=1 client knows only the leader and has its connection
	// open before the followers pause: two of the three nodes paused
	// also leave no metadata quorum, and a request to a paused broker
	// would wait out the client's timeouts while the ISR shrinks.
	one := c.client(kgo.SeedBrokers(c.node(leader).addr), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	produceValues(t, one, "refuse", 1, h, "w")
	all := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MetadataMinAge(100*time.Millisecond))
	produceValues(t, all, "refuse", 200, h, "a")
	var followers []int32
	for _, id := range td.Replicas {
		if id != leader {
			followers = append(followers, id)
		}
	}
	// Followers paused past their long poll hold no fetch at the leader,
	// so the next batch reaches them only after the damage.
	for _, id := range followers {
		c.pause(id)
	}
	time.Sleep(500 * time.Millisecond)
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	defer pcancel()
	if err := one.ProduceSync(pctx, &kgo.Record{Topic: "refuse", Value: []byte("damaged-to-be")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	segs := segmentFiles(t, filepath.Join(c.node(leader).dir, "refuse-0"))
	flipLastByte(t, segs[len(segs)-1])
	start := time.Now()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, id := range td.Replicas { // what each broker said about the partition
			b, _ := os.ReadFile(c.node(id).logPath)
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, "refuse") || strings.Contains(line, "ISR") || strings.Contains(line, "isr") || strings.Contains(line, "fenc") {
					t.Logf("broker %d: %s", id, line)
				}
			}
		}
	})
	for _, id := range followers {
		c.resume(id)
	}
	c.waitFor(20*time.Second, "leadership to move off the damaged replica", func() bool {
		p := describeTopic(adm, "refuse").Partitions[0]
		return p.Leader >= 0 && p.Leader != leader
	})
	t.Logf("leadership moved %v after the followers resumed", time.Since(start))
	produceValues(t, all, "refuse", 200, h, "b")
	t.Logf("200 acks=all records written %v after the resume", time.Since(start))
	c.waitFor(60*time.Second, fmt.Sprintf("broker %d back in the ISR", leader), func() bool {
		return fullISR(describeTopic(adm, "refuse"), 1)
	})
	t.Logf("broker %d back in the ISR %v after the resume", leader, time.Since(start))
	c.readBack(h, "refuse", 30*time.Second)
	b, _ := os.ReadFile(c.node(leader).logPath)
	if !strings.Contains(string(b), "corrupt data in segment") {
		t.Errorf("broker %d log lacks %q", leader, "corrupt data in segment")
	}
}

// flipLastByte flips the last byte of a file (the last batch's last
// record), writing through the page cache.
func flipLastByte(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		t.Fatalf("%s: size %d, %v", path, st.Size(), err)
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, st.Size()-1); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, st.Size()-1); err != nil {
		t.Fatal(err)
	}
}
