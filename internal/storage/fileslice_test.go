package storage

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tributary/tributary/internal/record"
)

// ReadZeroCopy leaves in the file, unchecked, only the batches this
// process appended to the active segment (their CRCs were checked then);
// short reads of sealed segments, and of what the active one held before
// a restart, copy and check every batch, so damage there is caught (long
// ones: TestReadZeroCopyChecksThroughMapping). The slice's bytes are the
// ones Read returns.
func TestReadZeroCopyOnlyForCheckedAppends(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallSegments())
	appendN(t, l, 200, 3, e.clk.Now().UnixMilli())
	segs := l.Segments()
	if len(segs) < 3 {
		t.Fatalf("want 3+ segments, have %d", len(segs))
	}
	encrypted := testKeys != nil
	slice := func(off int64) (ReadResult, []byte) {
		t.Helper()
		res, err := l.ReadZeroCopy(off, l.EndOffset(), 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		if res.Slice == nil {
			return res, res.Data
		}
		var buf bytes.Buffer
		if n, err := res.Slice.WriteTo(&buf); err != nil || n != res.Slice.Len() {
			t.Fatalf("WriteTo: %d of %d: %v", n, res.Slice.Len(), err)
		}
		return res, buf.Bytes()
	}
	want := func(off int64) []byte {
		t.Helper()
		res, err := l.Read(off, l.EndOffset(), 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Clone(res.Data)
	}
	// The active segment: appended here, so checked.
	act := segs[len(segs)-1].BaseOffset
	res, got := slice(act)
	if res.Slice == nil != encrypted || !bytes.Equal(got, want(act)) {
		t.Fatalf("active segment: slice %v (encrypted %v), bytes equal %v", res.Slice != nil, encrypted, bytes.Equal(got, want(act)))
	}
	// A sealed segment (all of it shorter than mapCheckMin): every read
	// copies and checks it.
	for range 2 {
		res, got = slice(0)
		if res.Slice != nil || !bytes.Equal(got, want(0)) {
			t.Fatalf("read of a sealed segment: slice %v", res.Slice != nil)
		}
	}

	// After a clean restart (no recovery) the active segment's old bytes
	// are unchecked, what is appended since is.
	if err := e.m.Close(); err != nil {
		t.Fatal(err)
	}
	e.open()
	l = e.log(smallSegments())
	act, old := l.EndOffset(), l.Segments()[len(l.Segments())-1].BaseOffset
	appendN(t, l, 2, 3, e.clk.Now().UnixMilli())
	if res, got := slice(act); res.Slice == nil != encrypted || !bytes.Equal(got, want(act)) {
		t.Fatalf("appended after a restart: slice %v", res.Slice != nil)
	}
	if res, _ := slice(old); res.Slice != nil && old < act {
		t.Fatalf("active segment's bytes from before the restart served unchecked")
	}

	// Damage in a sealed segment, read before, is found by the next read,
	// which takes the log offline.
	if _, err := l.ReadZeroCopy(segs[1].BaseOffset, l.EndOffset(), 1<<20, true); err != nil {
		t.Fatal(err)
	}
	mid := segs[1]
	flipByte(t, mid.Path, 70) // inside the first batch, past its CRC
	if _, err := l.ReadZeroCopy(mid.BaseOffset, l.EndOffset(), 1<<20, true); !errors.Is(err, ErrLogOffline) {
		t.Fatalf("read of a damaged sealed segment: %v", err)
	}
}

// flipByte flips a bit of the byte at position at of the file at path,
// as a failing disk would, under the open log.
func flipByte(t *testing.T, path string, at int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x20
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

// sliceAt is a zero-copy read of l at off that must leave the bytes in
// the file (the test skips when the segments are encrypted), and the
// bytes Read returns there.
func sliceAt(t *testing.T, l *Log, off int64) (*FileSlice, []byte) {
	t.Helper()
	if testKeys != nil {
		t.Skip("encrypted segments are never zero-copy")
	}
	res, err := l.ReadZeroCopy(off, l.EndOffset(), 1<<20, true)
	if err != nil || res.Slice == nil {
		t.Fatalf("zero-copy read at %d: slice %v, %v", off, res.Slice != nil, err)
	}
	want, err := l.Read(off, l.EndOffset(), 1<<20, true)
	if err != nil || int64(len(want.Data)) != res.Slice.Len() {
		t.Fatalf("read at %d: %d bytes (slice %d), %v", off, len(want.Data), res.Slice.Len(), err)
	}
	return res.Slice, bytes.Clone(want.Data)
}

// loopback returns both ends of a TCP connection on 127.0.0.1.
func loopback(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-acc
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return s.(*net.TCPConn), c.(*net.TCPConn)
}

// sendOver writes fs to a loopback TCP connection (sendfile on Linux)
// and returns what the other end received and WriteTo's result.
func sendOver(t *testing.T, fs *FileSlice) ([]byte, int64, error) {
	t.Helper()
	src, dst := loopback(t)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(dst)
		got <- b
	}()
	n, err := fs.WriteTo(src)
	src.Close()
	return <-got, n, err
}

// A slice's send, over TCP (sendfile) and through a buffer, gives the
// bytes Read gives, also after the open-files LRU closed the segment's
// descriptor between the read and the send; the descriptor is held for
// the whole send (other opens meanwhile do not close it).
func TestFileSliceSendAndDescriptorLRU(t *testing.T) {
	dir := t.TempDir()
	m, err := OpenManager(ManagerConfig{Dir: dir, Logger: quiet, MaxOpenFiles: minOpenFiles,
		FlushCheckInterval: -1, RetentionCheckInterval: -1, CheckpointInterval: -1, CleanerInterval: -1, Keys: testKeys})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l, err := m.Open("t", 0, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 50, 20, time.Now().UnixMilli())
	fs, want := sliceAt(t, l, 7)

	got, n, err := sendOver(t, fs)
	if err != nil || n != fs.Len() || !bytes.Equal(got, want) {
		t.Fatalf("sendfile: %d of %d bytes, equal %v: %v", n, fs.Len(), bytes.Equal(got, want), err)
	}

	// Other logs' files push the segment's descriptor out of the cache.
	others := make([]*Log, 12)
	for i := range others {
		if others[i], err = m.Open("o", int32(i), DefaultOptions()); err != nil {
			t.Fatal(err)
		}
		appendN(t, others[i], 1, 1, time.Now().UnixMilli())
	}
	waitClosed := func() bool {
		m.files.mu.Lock()
		defer m.files.mu.Unlock()
		return fs.f.f == nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for !waitClosed() {
		if time.Now().After(deadline) {
			t.Fatal("the segment's descriptor stayed open")
		}
		for _, o := range others {
			if _, err := o.Read(0, o.EndOffset(), 1<<20, true); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	got, n, err = sendOver(t, fs)
	if err != nil || n != fs.Len() || !bytes.Equal(got, want) {
		t.Fatalf("sendfile after the descriptor was closed: %d of %d bytes, equal %v: %v", n, fs.Len(), bytes.Equal(got, want), err)
	}

	// Through a buffer, with every other log's files opened while the
	// send is under way: the slice's descriptor stays open throughout.
	w := &hookWriter{hook: func() {
		for _, o := range others {
			if _, err := o.Read(0, o.EndOffset(), 1<<20, true); err != nil {
				t.Error(err)
			}
		}
		if waitClosed() {
			t.Error("the descriptor was closed under a send")
		}
	}}
	if n, err := fs.WriteTo(w); err != nil || n != fs.Len() || !bytes.Equal(w.buf.Bytes(), want) {
		t.Fatalf("buffered: %d of %d bytes: %v", n, fs.Len(), err)
	}
}

type hookWriter struct {
	buf  bytes.Buffer
	hook func()
}

func (w *hookWriter) Write(p []byte) (int, error) {
	w.hook()
	return w.buf.Write(p)
}

// A slice read before its segment is cut (follower truncation) and
// written again at the same positions never sends the new bytes: the
// send stops one byte short (the connection is then closed, so the
// client sees no whole response). A slice of a segment deleted since
// sends its old bytes while a descriptor is open, else fails; never
// other bytes.
func TestFileSliceCutOrRemovedUnderPendingSend(t *testing.T) {
	e := newEnv(t)
	l := e.log(DefaultOptions())
	appendN(t, l, 30, 10, e.clk.Now().UnixMilli())
	fs, want := sliceAt(t, l, 100)
	if err := l.TruncateTo(150); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 30, 10, e.clk.Now().UnixMilli()+5000) // other bytes at the cut positions
	for _, tcp := range []bool{true, false} {
		var got []byte
		var n int64
		var err error
		if tcp {
			got, n, err = sendOver(t, fs)
		} else {
			var buf bytes.Buffer
			n, err = fs.WriteTo(&buf)
			got = buf.Bytes()
		}
		if !errors.Is(err, errSliceCut) || n >= fs.Len() || int64(len(got)) >= fs.Len() {
			t.Fatalf("tcp %v: a slice of a cut file sent %d of %d bytes (received %d): %v", tcp, n, fs.Len(), len(got), err)
		}
		// What was sent may hold the new bytes: it is never whole.
	}
	_ = want

	// A slice of a segment that is then removed whole (a truncation
	// below its base).
	o := smallSegments()
	l2, err := e.m.Open("t", 1, o)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l2, 100, 3, e.clk.Now().UnixMilli())
	segs := l2.Segments()
	act := segs[len(segs)-1].BaseOffset
	fs2, want2 := sliceAt(t, l2, act)
	if err := l2.TruncateTo(segs[len(segs)-2].BaseOffset + 1); err != nil {
		t.Fatal(err)
	}
	appendN(t, l2, 100, 3, e.clk.Now().UnixMilli()+5000)
	got, n, err := sendOver(t, fs2)
	if err == nil && (n != fs2.Len() || !bytes.Equal(got, want2)) {
		t.Fatalf("a slice of a removed segment sent other bytes")
	}
	if err != nil && int64(len(got)) >= fs2.Len() {
		t.Fatalf("a failed send of %d bytes delivered %d", fs2.Len(), len(got))
	}
}

// A read of mapCheckMin bytes or more from a sealed segment, or from what
// the active segment held before a restart, is left in the file too, but
// only after each of its batches was checked through a mapping of the
// file: damage there, also after an earlier good read, takes the log
// offline and is never sent.
func TestReadZeroCopyChecksThroughMapping(t *testing.T) {
	if testKeys != nil || !canMapCheck {
		t.Skip("encrypted segments are never zero-copy")
	}
	e := newEnv(t)
	o := DefaultOptions()
	o.SegmentBytes = 3 * mapCheckMin
	l := e.log(o)
	for len(l.Segments()) < 4 {
		appendN(t, l, 10, 50, e.clk.Now().UnixMilli())
	}
	segs := l.Segments()
	for _, s := range segs[:len(segs)-1] {
		fs, want := sliceAt(t, l, s.BaseOffset)
		if fs.Len() < mapCheckMin {
			t.Fatalf("segment %d: a slice of %d bytes", s.BaseOffset, fs.Len())
		}
		got, n, err := sendOver(t, fs)
		if err != nil || n != fs.Len() || !bytes.Equal(got, want) {
			t.Fatalf("segment %d: sent %d of %d bytes, equal %v: %v", s.BaseOffset, n, fs.Len(), bytes.Equal(got, want), err)
		}
	}
	// A short read of the same segment still copies.
	if res, err := l.ReadZeroCopy(segs[1].BaseOffset, l.EndOffset(), 4096, true); err != nil || res.Slice != nil {
		t.Fatalf("short read: slice %v, %v", res.Slice != nil, err)
	}

	// After a restart, what the active segment held is checked the same
	// way.
	if err := e.m.Close(); err != nil {
		t.Fatal(err)
	}
	e.open()
	l = e.log(o)
	act := l.Segments()[len(l.Segments())-1]
	if l.EndOffset()-act.BaseOffset > 0 {
		if res, err := l.ReadZeroCopy(act.BaseOffset, l.EndOffset(), 1<<20, true); err != nil || (res.Slice == nil) != (act.Size < mapCheckMin) {
			t.Fatalf("active segment's bytes from before the restart (%d): slice %v, %v", act.Size, res.Slice != nil, err)
		}
	}

	// A flipped byte in the middle of a sealed segment, read well just
	// before: the next read finds it.
	mid := segs[1]
	if _, err := l.ReadZeroCopy(mid.BaseOffset, l.EndOffset(), 1<<20, true); err != nil {
		t.Fatal(err)
	}
	at := int(mid.Size / 2)
	flipByte(t, mid.Path, int64(at))
	// The read copies the good batches before the damage (the copying
	// read's rule), and the next read reports it.
	res, err := l.ReadZeroCopy(mid.BaseOffset, l.EndOffset(), 1<<20, true)
	if err != nil || res.Slice != nil || res.Data == nil || len(res.Data) > at {
		t.Fatalf("read of a damaged sealed segment: slice %v, %d bytes, %v", res.Slice != nil, len(res.Data), err)
	}
	if res, err := l.ReadZeroCopy(res.Next, l.EndOffset(), 1<<20, true); !errors.Is(err, ErrLogOffline) {
		t.Fatalf("read at the damage: slice %v, %v", res.Slice != nil, err)
	}
}

// A file cut under a mapped read (a truncation racing the read) faults in
// the read, which returns an error instead of crashing.
func TestReadMappedCutFile(t *testing.T) {
	if !canMapCheck {
		t.Skip("no mapped reads here")
	}
	path := filepath.Join(t.TempDir(), "seg")
	b := mkBatch(t, 0, 2000, 0, 0)
	if len(b) < 4*os.Getpagesize() {
		t.Fatalf("batch of %d bytes, want 4 pages", len(b))
	}
	if err := os.WriteFile(path, append(b, b...), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	check := func(m []byte) error {
		if !record.Batch(m).CheckCRC() {
			return record.ErrCorrupt
		}
		return nil
	}
	for _, pos := range []int64{0, int64(len(b))} {
		if err := readMapped(f, pos, int64(len(b)), check); err != nil {
			t.Fatalf("read at %d: %v", pos, err)
		}
	}
	if err := os.Truncate(path, int64(os.Getpagesize())); err != nil {
		t.Fatal(err)
	}
	for _, pos := range []int64{0, int64(len(b))} {
		if err := readMapped(f, pos, int64(len(b)), check); err == nil {
			t.Fatalf("a read at %d of a cut file passed", pos)
		}
	}
	// Only a fault is turned into an error; another panic goes on.
	func() {
		defer func() {
			if r := recover(); r != "not a fault" {
				t.Fatalf("recovered %v", r)
			}
		}()
		readMapped(f, 0, 100, func([]byte) error { panic("not a fault") })
	}()
}
