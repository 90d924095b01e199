package tests

import (
	"bytes"
	"context"
	"crypto/x509/pkix"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// sealedValue is record i of partition p: 4 KiB of bytes drawn from a
// generator seeded with both (incompressible).
func sealedValue(p int32, i int) []byte {
	r := rand.New(rand.NewPCG(uint64(p), uint64(i)))
	v := make([]byte, 4096)
	for j := 0; j < len(v); j += 8 {
		binary.LittleEndian.PutUint64(v[j:], r.Uint64())
	}
	return v
}

// TestConsumeSealedSegments: a consumer reading batches from sealed
// segments gets every batch CRC-checked before it is sent. Large reads of
// plaintext segments are checked through a mapping of the file and go
// out with sendfile (storage.Log.sliceFrom); those of encrypted segments
// are read into memory, checked, and go to the socket from that buffer by
// reference (broker/splice.go spliceBytes); small reads copy. Every
// record comes back once, in order, with its bytes, for each of these, on
// plaintext connections and on TLS (where the writer sends the file's
// bytes or the buffer through its own).
func TestConsumeSealedSegments(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		name := "plaintext-segments"
		if encrypted {
			name = "encrypted-segments"
		}
		t.Run(name, func(t *testing.T) { consumeSealedSegments(t, encrypted) })
	}
}

func consumeSealedSegments(t *testing.T, encrypted bool) {
	pk := newPKI(t)
	var extra map[string]string
	if encrypted {
		extra = map[string]string{"log.encryption.enable": "true", "log.encryption.key.file": writeKEK(t, t.TempDir(), "kek", 0x5e)}
	}
	n := startSecureNode(t, pk, extra)
	plain, ssl := n.ListenerAddr("PLAINTEXT"), n.ListenerAddr("SSL")
	clientKS := pk.keystore("client", pkix.Name{CommonName: "reader"})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := newAdmin(t, plain)
	const topic, parts, per = "sealed", 3, 1500 // 6 MiB per partition
	if _, err := adm.CreateTopic(ctx, parts, 1, map[string]*string{"segment.bytes": storagePtr("1048576")}, topic); err != nil {
		t.Fatal(err)
	}
	p := newClient(t, plain, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(32<<10))
	for i := 0; i < per; i++ {
		for part := int32(0); part < parts; part++ {
			p.Produce(ctx, &kgo.Record{Partition: part, Value: sealedValue(part, i)}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Error(err)
				}
			})
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		return
	}
	for _, tc := range []struct {
		name         string
		partitionMax int32
		tls          bool
	}{
		{"large", 8 << 20, false},   // reads of up to a segment
		{"copied", 64 << 10, false}, // reads of a few 32 KiB batches
		{"large-tls", 8 << 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			offs := map[int32]kgo.Offset{}
			for part := int32(0); part < parts; part++ {
				offs[part] = kgo.NewOffset().At(0)
			}
			addr, opts := plain, []kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}),
				kgo.FetchMaxPartitionBytes(tc.partitionMax), kgo.FetchMaxBytes(32 << 20)}
			if tc.tls {
				addr, opts = ssl, append(opts, kgo.DialTLSConfig(pk.clientTLS(clientKS)))
			}
			c := newClient(t, addr, opts...)
			next := map[int32]int{}
			total := 0
			for total < parts*per {
				fs := c.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					t.Fatalf("after %d records: %v", total, err)
				}
				fs.EachRecord(func(r *kgo.Record) {
					i := next[r.Partition]
					if r.Offset != int64(i) {
						t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, i)
					}
					if !bytes.Equal(r.Value, sealedValue(r.Partition, i)) {
						t.Fatalf("partition %d offset %d: value differs", r.Partition, r.Offset)
					}
					next[r.Partition] = i + 1
					total++
				})
			}
			if total != parts*per {
				t.Fatalf("read %d records, want %d", total, parts*per)
			}
		})
	}
}
