package storage

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// ReadZeroCopy leaves in the file only the batches this process appended
// to the active segment (their CRCs were checked then); reads of sealed
// segments, and of what the active one held before a restart, check every
// batch, so damage there is caught. The slice's bytes are the ones Read
// returns.
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
	// A sealed segment: every read checks it.
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
	raw, err := os.ReadFile(mid.Path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(mid.Path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{raw[70] ^ 0x20}, 70) // inside the first batch, past its CRC
	f.Close()
	if _, err := l.ReadZeroCopy(mid.BaseOffset, l.EndOffset(), 1<<20, true); !errors.Is(err, ErrLogOffline) {
		t.Fatalf("read of a damaged sealed segment: %v", err)
	}
}
