package storage

import (
	"encoding/binary"
	"hash/crc32"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/record"
)

// Benchmarks of the log's hot paths through its exported API only
// (Open/Append/Sync/Read), 16 × 1 KiB records per batch.

func benchLogBatch(n, size int) []byte {
	var recs []byte
	val := make([]byte, size)
	for i := range n {
		r := kmsg.Record{OffsetDelta: int32(i), Value: val}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	// Current timestamps: ancient ones would make every append roll a
	// segment (segment.ms counts from the first batch's timestamp).
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(n - 1), FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(n), Records: recs}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)))
	return out
}

func benchOpen(b *testing.B) *Log {
	l, err := Open(b.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

func benchAppend(b *testing.B, l *Log, buf []byte) int64 {
	batch := record.Batch(buf)
	batch.SetBaseOffset(l.EndOffset())
	end, err := l.Append(batch)
	if err != nil {
		b.Fatal(err)
	}
	return end
}

// BenchmarkAppend: write to the page cache, no fsync (acks=1 path).
func BenchmarkAppend(b *testing.B) {
	l := benchOpen(b)
	buf := benchLogBatch(16, 1024)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		benchAppend(b, l, buf)
	}
}

// BenchmarkAppendSync: append then fsync each batch (acks=all with one
// producer; no group commit to amortize).
func BenchmarkAppendSync(b *testing.B) {
	l := benchOpen(b)
	buf := benchLogBatch(16, 1024)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Sync(benchAppend(b, l, buf)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRead: fetch-path read of 1 MiB from the page cache.
func BenchmarkRead(b *testing.B) {
	l := benchOpen(b)
	buf := benchLogBatch(16, 1024)
	var end int64
	for range 256 { // ~4 MiB
		end = benchAppend(b, l, buf)
	}
	b.ReportAllocs()
	var off int64
	for b.Loop() {
		r, err := l.Read(off, end, 1<<20, true)
		if err != nil || len(r.Data) == 0 {
			b.Fatal(len(r.Data), err)
		}
		b.SetBytes(int64(len(r.Data)))
		if off = r.Next; off >= end {
			off = 0
		}
	}
}

// BenchmarkSyncSixLogs: one acks=all request's worth of work over six
// partitions (a 16 KiB batch appended to each, then each made durable),
// with the fsyncs one after another (as before partition.SyncAll) and all
// at once (as now). Sub-benchmarks of one run, so a paired A/B.
func BenchmarkSyncSixLogs(b *testing.B) {
	buf := benchLogBatch(16, 1024)
	for _, mode := range []string{"sequential", "parallel"} {
		b.Run(mode, func(b *testing.B) {
			logs := make([]*Log, 6)
			for i := range logs {
				logs[i] = benchOpen(b)
			}
			ends := make([]int64, len(logs))
			b.SetBytes(int64(len(buf) * len(logs)))
			for b.Loop() {
				for i, l := range logs {
					ends[i] = benchAppend(b, l, buf)
				}
				if mode == "sequential" {
					for i, l := range logs {
						if err := l.Sync(ends[i]); err != nil {
							b.Fatal(err)
						}
					}
					continue
				}
				done := make(chan error, len(logs))
				for i, l := range logs {
					go func() { done <- l.Sync(ends[i]) }() // safe: test
				}
				for range logs {
					if err := <-done; err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkReadSequentialSmall: a consumer reading a large segment in
// order, 16 KiB per fetch, over small batches (the index is larger than
// one whole read, so each lookup probes it entry by entry).
func BenchmarkReadSequentialSmall(b *testing.B) {
	l := benchOpen(b)
	buf := benchLogBatch(4, 500)
	for range 40000 {
		benchAppend(b, l, buf)
	}
	end := l.EndOffset()
	var off int64
	b.SetBytes(16 << 10)
	for b.Loop() {
		res, err := l.Read(off, end, 16<<10, true)
		if err != nil {
			b.Fatal(err)
		}
		ReleaseRead(res.Data)
		if off = res.Next; off >= end {
			off = 0
		}
	}
}
