package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary/tributary/internal/node"
)

// encMarker is produced as record keys and values; it must never be
// found on disk in the clear.
const encMarker = "tributary-at-rest-marker-7f3a"

// writeKEK writes a 256-bit key-encryption key (hex) into dir.
func writeKEK(t *testing.T, dir, name string, fill byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(strings.Repeat(fmt.Sprintf("%02x", fill), 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// filesWith lists the files under dirs whose bytes contain s.
func filesWith(t *testing.T, s string, dirs ...string) (hits []string, scanned int) {
	t.Helper()
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			scanned++
			if bytes.Contains(b, []byte(s)) {
				hits = append(hits, p)
			}
			return nil
		})
	}
	return hits, scanned
}

func encSettings(keyFile string, extra ...string) map[string]string {
	s := map[string]string{"log.encryption.enable": "true", "log.encryption.key.file": keyFile, "log.cleaner.backoff.ms": "100",
		"offsets.topic.num.partitions": "1"}
	for i := 0; i+1 < len(extra); i += 2 {
		s[extra[i]] = extra[i+1]
	}
	return s
}

func startNodeErr(dir string, settings map[string]string) (*node.Node, error) {
	return node.Start(context.Background(), node.Config{NodeID: 1, DataDir: dir, Listen: "127.0.0.1:0", Settings: settings,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// consumeAll reads every record of topic from the start until it has
// want of them.
func consumeAll(t *testing.T, ctx context.Context, addr, topic string, want int) []*kgo.Record {
	t.Helper()
	c := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer c.Close()
	var got []*kgo.Record
	for len(got) < want {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: consumed %d of %d records", topic, len(got), want)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch: %v", err) })
		got = append(got, fs.Records()...)
	}
	return got
}

// A broker with log.encryption.enable writes no record byte in the
// clear (the plain and the compacted topic, __consumer_offsets), reads
// everything back after a restart, refuses to start with a wrong or no
// key naming the segment, rotates its KEK at start-up (previous key) and
// offline (trib log rekey) without rewriting data, and trib log dump
// reads its segments given the key.
func TestEncryptionAtRestBroker(t *testing.T) {
	keys := t.TempDir()
	kekA := writeKEK(t, keys, "kek-a", 0xa1)
	kekB := writeKEK(t, keys, "kek-b", 0xb2)
	kekC := writeKEK(t, keys, "kek-c", 0xc3)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	n := startNode(t, dir, encSettings(kekA))
	adm := newAdmin(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"segment.bytes": storagePtr("4096")}, "enc"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": storagePtr("compact"), "segment.bytes": storagePtr("2048"),
		"min.cleanable.dirty.ratio": storagePtr("0.01"), "file.delete.delay.ms": storagePtr("0")}, "encc"); err != nil {
		t.Fatal(err)
	}
	// Uncompressed, so the marker would be on disk as is.
	p := newClient(t, n.Addr(), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(1500))
	const plain, compacted, keysN = 400, 300, 10
	for i := 0; i < plain; i++ {
		r := &kgo.Record{Topic: "enc", Key: []byte(fmt.Sprintf("%s-k%d", encMarker, i)), Value: []byte(fmt.Sprintf("%s-v%d", encMarker, i))}
		p.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	for i := 0; i < compacted; i++ {
		r := &kgo.Record{Topic: "encc", Key: []byte(fmt.Sprintf("%s-k%d", encMarker, i%keysN)), Value: []byte(fmt.Sprintf("%s-v%d", encMarker, i))}
		if err := p.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// A consumer group commits offsets: __consumer_offsets is a log too.
	g := newClient(t, n.Addr(), kgo.ConsumeTopics("enc"), kgo.ConsumerGroup(encMarker+"-group"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for seen := 0; seen < plain; {
		fs := g.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("group consumer timed out")
		}
		seen += len(fs.Records())
	}
	if err := g.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	g.Close()

	// The cleaner compacts the encrypted compacted topic (new segments,
	// new data keys): wait until it has.
	var latest []*kgo.Record
	for {
		end, err := adm.ListEndOffsets(ctx, "encc")
		if err != nil {
			t.Fatal(err)
		}
		recs := consumeAllFrom(t, ctx, n.Addr(), "encc", 0, int(end["encc"][0].Offset))
		if len(recs) < compacted {
			latest = recs
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the cleaner never compacted encc")
		}
		time.Sleep(200 * time.Millisecond)
	}
	byKey := map[string]string{}
	for _, r := range latest {
		byKey[string(r.Key)] = string(r.Value)
	}
	for i := compacted - keysN; i < compacted; i++ {
		if v := byKey[fmt.Sprintf("%s-k%d", encMarker, i%keysN)]; v != fmt.Sprintf("%s-v%d", encMarker, i) {
			t.Fatalf("compacted: key %d holds %q", i%keysN, v)
		}
	}
	// DescribeLogDirs reports the (plaintext-sized) segment bytes.
	dirs, err := adm.DescribeBrokerLogDirs(ctx, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	dirs.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			if p.Topic == "enc" {
				size += p.Size
			}
		})
	})
	if size < int64(plain)*int64(2*len(encMarker)) {
		t.Fatalf("DescribeLogDirs: enc holds %d bytes", size)
	}
	// The cipher is length preserving: the reported size is the files'.
	var onDisk int64
	logs, _ := filepath.Glob(filepath.Join(dir, "enc-*", "*.log"))
	for _, p := range logs {
		if st, err := os.Stat(p); err == nil {
			onDisk += st.Size()
		}
	}
	if onDisk != size {
		t.Fatalf("DescribeLogDirs: enc holds %d bytes, its .log files %d", size, onDisk)
	}
	n.Close()

	hits, scanned := filesWith(t, encMarker, dir)
	if len(hits) > 0 {
		t.Fatalf("plaintext marker on disk in %v", hits)
	}
	if keyFiles, _ := filepath.Glob(filepath.Join(dir, "enc-0", "*.key")); len(keyFiles) < 2 {
		t.Fatalf("enc-0 has %d key files", len(keyFiles))
	}
	t.Logf("scanned %d files: no plaintext", scanned)

	// Wrong key, or encryption turned off: a clear start-up error.
	if nd, err := startNodeErr(dir, encSettings(kekB)); err == nil {
		nd.Close()
		t.Fatal("started with the wrong key")
	} else if !strings.Contains(err.Error(), "cannot be unwrapped") || !strings.Contains(err.Error(), ".key") {
		t.Fatalf("wrong key: %v", err)
	}
	if nd, err := startNodeErr(dir, map[string]string{}); err == nil {
		nd.Close()
		t.Fatal("started without the key")
	} else if !strings.Contains(err.Error(), "encrypted") || !strings.Contains(err.Error(), ".log") {
		t.Fatalf("no key: %v", err)
	}

	// trib log dump reads an encrypted segment given the key.
	seg := filepath.Join(dir, "enc-0", "00000000000000000000.log")
	out, stderr, err := runCmd(t, 60*time.Second, "", nil, tribBinary(t), "log", "dump", "--files", seg+","+strings.TrimSuffix(seg, ".log")+".index",
		"--print-data-log", "--encryption-key-file", kekA)
	if err != nil || !strings.Contains(out, encMarker) || !strings.Contains(out, "passed sanity check") {
		t.Fatalf("dump: %v\n%s\n%s", err, out, stderr)
	}
	if _, stderr, err := runCmd(t, 60*time.Second, "", nil, tribBinary(t), "log", "dump", "--files", seg); err == nil || !strings.Contains(stderr, "encryption-key-file") {
		t.Fatalf("dump without the key: %v %s", err, stderr)
	}

	// Rotation at start-up: B current, A previous.
	logBytes := func() string {
		var all []string
		paths, _ := filepath.Glob(filepath.Join(dir, "enc-*", "*.log"))
		for _, p := range paths {
			b, _ := os.ReadFile(p)
			all = append(all, p, string(b))
		}
		return strings.Join(all, "\x00")
	}
	before := logBytes()
	n = startNode(t, dir, encSettings(kekB, "log.encryption.previous.key.file", kekA))
	if got := consumeAll(t, ctx, n.Addr(), "enc", plain); len(got) != plain {
		t.Fatalf("after rotation: %d records", len(got))
	}
	// No clean shutdown: the next start recovers (CRC scan) the
	// encrypted segments.
	n.Kill()
	// Offline: trib log rekey B -> C; then C alone opens everything.
	out, stderr, err = runCmd(t, 60*time.Second, "", nil, tribBinary(t), "log", "rekey", "--data-dir", dir, "--key-file", kekC, "--previous-key-file", kekB)
	if err != nil || !strings.Contains(out, "re-wrapped") {
		t.Fatalf("rekey: %v\n%s\n%s", err, out, stderr)
	}
	if logBytes() != before {
		t.Fatal("rotation rewrote segment data")
	}
	if nd, err := startNodeErr(dir, encSettings(kekB)); err == nil {
		nd.Close()
		t.Fatal("the rotated-out key still opens the data dir")
	}
	n = startNode(t, dir, encSettings(kekC))
	got := consumeAll(t, ctx, n.Addr(), "enc", plain)
	seen := map[string]bool{}
	for _, r := range got {
		if !strings.HasPrefix(string(r.Value), encMarker) {
			t.Fatalf("record %d: %q", r.Offset, r.Value)
		}
		seen[string(r.Value)] = true
	}
	if len(seen) != plain {
		t.Fatalf("read back %d distinct records of %d", len(seen), plain)
	}
	n.Close()
	if hits, _ := filesWith(t, encMarker, dir); len(hits) > 0 {
		t.Fatalf("plaintext marker on disk in %v", hits)
	}
}

// consumeAllFrom reads partition 0 of topic from offset until offset want.
func consumeAllFrom(t *testing.T, ctx context.Context, addr, topic string, from int64, want int) []*kgo.Record {
	t.Helper()
	c := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(from)}}))
	defer c.Close()
	var got []*kgo.Record
	for {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: timed out reading to %d", topic, want)
		}
		for _, r := range fs.Records() {
			got = append(got, r)
			if r.Offset+1 >= int64(want) {
				return got
			}
		}
	}
}

// Followers encrypt too: with RF=3 on three encrypted brokers, no data
// dir holds the plaintext, and every replica has key files.
func TestEncryptionAtRestReplicas(t *testing.T) {
	kek := writeKEK(t, t.TempDir(), "kek", 0x3c)
	settings := encSettings(kek)
	for k, v := range clusterSettings {
		settings[k] = v
	}
	c := startClusterWith(t, 3, settings)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := newAdmin(t, c.addrs[0])
	if _, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": storagePtr("3")}, "encr"); err != nil {
		t.Fatal(err)
	}
	c.waitFor("encr with a full ISR", func() bool {
		td := c.describe(adm, "encr")
		return len(td.Partitions) == 1 && len(td.Partitions[0].ISR) == 3
	})
	p := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), kgo.DefaultProduceTopic("encr"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	const n = 100
	for i := 0; i < n; i++ {
		if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("%s-%d", encMarker, i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for i, d := range c.dirs {
		if keyFiles, _ := filepath.Glob(filepath.Join(d, "encr-0", "*.key")); len(keyFiles) == 0 {
			t.Fatalf("node %d: replica has no key file", i+1)
		}
	}
	if hits, _ := filesWith(t, encMarker, c.dirs...); len(hits) > 0 {
		t.Fatalf("plaintext marker on disk in %v", hits)
	}
	// A follower's copy decrypts: stop the leader (leadership moves to
	// a follower) and read everything from the new leader.
	leader := c.describe(adm, "encr").Partitions[0].Leader
	c.nodes[leader-1].Close()
	c.nodes[leader-1] = nil // stopped: the cleanup skips it
	other := c.addrs[leader%3]
	c.waitFor("a new leader", func() bool {
		l := c.describe(newAdmin(t, other), "encr").Partitions[0].Leader
		return l > 0 && l != leader
	})
	if got := consumeAll(t, ctx, other, "encr", n); len(got) != n {
		t.Fatalf("read %d", len(got))
	}
}
