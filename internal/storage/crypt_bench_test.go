package storage

import (
	"io"
	"log/slog"
	"testing"
)

// BenchmarkEncryption: the log's append (page cache, no fsync) and fetch
// read (1 MiB) paths, plaintext and encrypted at rest, as sub-benchmarks
// of one run (a paired A/B). 16 × 1 KiB records per batch.
func BenchmarkEncryption(b *testing.B) {
	buf := benchLogBatch(16, 1024)
	for _, mode := range []string{"plain", "encrypted"} {
		open := func(b *testing.B) *Log {
			var kr *Keyring
			if mode == "encrypted" {
				kr = NewKeyring(testKEK(b, 7))
			}
			m, err := OpenManager(ManagerConfig{Dir: b.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				FlushCheckInterval: -1, RetentionCheckInterval: -1, CheckpointInterval: -1, CleanerInterval: -1, Keys: kr})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { m.Close() })
			l, err := m.Open("bench", 0, DefaultOptions())
			if err != nil {
				b.Fatal(err)
			}
			return l
		}
		b.Run("append/"+mode, func(b *testing.B) {
			l := open(b)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				benchAppend(b, l, buf)
			}
		})
		b.Run("read/"+mode, func(b *testing.B) {
			l := open(b)
			var end int64
			for range 256 { // ~4 MiB
				end = benchAppend(b, l, buf)
			}
			first, err := l.Read(0, end, 1<<20, true)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(first.Data))) // every read returns as much
			b.ReportAllocs()
			var off int64
			for b.Loop() {
				r, err := l.Read(off, end, 1<<20, true)
				if err != nil || len(r.Data) == 0 {
					b.Fatal(len(r.Data), err)
				}
				ReleaseRead(r.Data)
				if off = r.Next; off >= end {
					off = 0
				}
			}
		})
	}
}

// BenchmarkEncryptionKeystream: AES-256-CTR over 1 MiB at a file
// position (what every encrypted read and write adds).
func BenchmarkEncryptionKeystream(b *testing.B) {
	dk, err := newDataKey(make([]byte, dataKeySize), [8]byte{1})
	if err != nil {
		b.Fatal(err)
	}
	c := dk.file(kindLog)
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		c.xorAt(buf, buf, 12345)
	}
}
