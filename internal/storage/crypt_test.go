package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// once skips a test in TestMain's second (encrypted) run: the tests of
// this file choose their keys themselves.
func once(t *testing.T) {
	if testKeys != nil {
		t.Skip("runs in the first pass")
	}
}

func testKEK(t testing.TB, fill byte) *KEK {
	t.Helper()
	k, err := NewKEK(bytes.Repeat([]byte{fill}, KEKSize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// openKeys opens a manager on dir with kr (nil: encryption off).
func openKeys(t testing.TB, dir string, kr *Keyring) (*Manager, error) {
	now := func() time.Time { return time.UnixMilli(1_700_000_001_000) } // just after appendMarked's timestamps
	return OpenManager(ManagerConfig{Dir: dir, Logger: quiet, Now: now, FlushCheckInterval: -1, RetentionCheckInterval: -1,
		CheckpointInterval: -1, CleanerInterval: -1, Keys: kr})
}

const marker = "tributary-plaintext-marker"

// appendMarked appends n keyed records whose values hold marker.
func appendMarked(t testing.TB, l *Log, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("%s-%d", marker, l.EndOffset())
		if _, err := l.Append(mkKeyed(t, l.EndOffset(), []kv{{fmt.Sprintf("%s-key-%d", marker, i%7), &v}}, 1_700_000_000_000+int64(i), 0)); err != nil {
			t.Fatal(err)
		}
	}
}

// filesHolding lists the files under dir containing s.
func filesHolding(t testing.TB, dir, s string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(s)) {
				out = append(out, p)
			}
		}
		return nil
	})
	return out
}

func countMarked(t testing.TB, l *Log) int {
	t.Helper()
	n := 0
	for _, r := range readRecords(t, l) {
		if !strings.HasPrefix(r.val, marker) || !strings.HasPrefix(r.key, marker) {
			t.Fatalf("record %d: %q=%q", r.off, r.key, r.val)
		}
		n++
	}
	return n
}

// reopenCounts opens dir's log t-0 again with a new manager over kr and
// checks it reads want marked records.
func reopenCounts(t testing.TB, dir string, kr *Keyring, o Options, want int) {
	t.Helper()
	m, err := openKeys(t, dir, kr)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l, err := m.Open("t", 0, o)
	if err != nil {
		t.Fatal(err)
	}
	if n := countMarked(t, l); n != want {
		t.Fatalf("read %d records, want %d", n, want)
	}
}

// With encryption on, no record byte reaches the disk in the clear, the
// log reads back after a crash (recovery on decrypted bytes), compaction
// writes new keys, and retention deletes key files with their segments.
func TestEncryptionNoPlaintextOnDisk(t *testing.T) {
	once(t)
	dir := t.TempDir()
	kr := NewKeyring(testKEK(t, 1))
	m, err := openKeys(t, dir, kr)
	if err != nil {
		t.Fatal(err)
	}
	o := compactOptions()
	l, err := m.Open("t", 0, o)
	if err != nil {
		t.Fatal(err)
	}
	appendMarked(t, l, 300)
	if len(l.Segments()) < 3 {
		t.Fatalf("%d segments", len(l.Segments()))
	}
	if err := l.Sync(l.EndOffset()); err != nil {
		t.Fatal(err)
	}
	if got := filesHolding(t, dir, marker); len(got) > 0 {
		t.Fatalf("plaintext on disk in %v", got)
	}
	for _, s := range l.Segments() {
		if _, err := os.Stat(strings.TrimSuffix(s.Path, ".log") + ".key"); err != nil {
			t.Fatalf("segment %d has no key file: %v", s.BaseOffset, err)
		}
	}
	keyBefore, _ := os.ReadFile(filepath.Join(l.Dir(), SegmentName(0, ".key")))
	if n, err := l.Clean(m.now(), true); err != nil || n == 0 {
		t.Fatalf("clean: %d %v", n, err)
	}
	if keyAfter, _ := os.ReadFile(filepath.Join(l.Dir(), SegmentName(0, ".key"))); bytes.Equal(keyBefore, keyAfter) {
		t.Fatal("the cleaned segment kept its old data key")
	}
	cleaned := countMarked(t, l)
	// Crash (no clean shutdown): recovery reads the decrypted bytes.
	for _, l := range m.liveLogs() {
		l.mu.Lock()
		l.closed = true
		for _, s := range l.segs {
			s.close()
		}
		l.mu.Unlock()
	}
	m, err = openKeys(t, dir, kr)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	os.Remove(filepath.Join(dir, recoveryPointFile)) // recover every segment
	l, err = m.Open("t", 0, o)
	if err != nil {
		t.Fatal(err)
	}
	if n := countMarked(t, l); n != cleaned {
		t.Fatalf("read %d records after the crash, want %d", n, cleaned)
	}
	if got := filesHolding(t, dir, marker); len(got) > 0 {
		t.Fatalf("plaintext on disk in %v", got)
	}
	// Retention removes key files with their segments.
	first := l.Segments()[0]
	if _, err := l.AdvanceStart(l.Segments()[1].BaseOffset); err != nil {
		t.Fatal(err)
	}
	o.FileDeleteDelayMs = 0
	o.Delete, o.Compact = true, false
	l.SetOptions(o)
	if n, err := l.EnforceRetention(m.now()); err != nil || n == 0 {
		t.Fatalf("retention: %d %v", n, err)
	}
	if _, err := os.Stat(strings.TrimSuffix(first.Path, ".log") + ".key"); !os.IsNotExist(err) {
		t.Fatalf("retention left the key file: %v", err)
	}
}

// A wrong KEK, no KEK, a corrupt or missing key file: the broker refuses
// to start naming the segment, and no segment byte is changed.
func TestEncryptionWrongKeyRefusesToStart(t *testing.T) {
	once(t)
	dir := t.TempDir()
	m, err := openKeys(t, dir, NewKeyring(testKEK(t, 1)))
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.Open("t", 0, smallSegments())
	if err != nil {
		t.Fatal(err)
	}
	appendMarked(t, l, 50)
	m.Close()
	snapshot := func() map[string]string {
		out := map[string]string{}
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.Contains(p, "checkpoint") && !strings.HasSuffix(p, cleanShutdownFile) {
				b, _ := os.ReadFile(p)
				out[p] = string(b)
			}
			return nil
		})
		return out
	}
	before := snapshot()
	segKey := filepath.Join(dir, "t-0", SegmentName(0, ".key"))
	for _, tc := range []struct {
		name string
		kr   *Keyring
		want error
	}{
		{"wrong key", NewKeyring(testKEK(t, 2)), ErrWrongKEK},
		{"encryption off", nil, ErrNoKEK},
	} {
		_, err := openKeys(t, dir, tc.kr)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), "t-0"+string(filepath.Separator)+"0000") {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
	// A damaged key file (a flipped bit in the wrapped key) fails the
	// GCM check; a missing one beside ciphertext is not read as
	// plaintext.
	orig, _ := os.ReadFile(segKey)
	bad := append([]byte(nil), orig...)
	bad[len(bad)-1] ^= 1
	os.WriteFile(segKey, bad, 0o600)
	if _, err := openKeys(t, dir, NewKeyring(testKEK(t, 1))); !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("damaged key file: %v", err)
	}
	os.Remove(segKey)
	m, err = openKeys(t, dir, NewKeyring(testKEK(t, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Open("t", 0, smallSegments()); !errors.Is(err, ErrMissingKeyFile) {
		t.Fatalf("missing key file: %v", err)
	}
	m.Close()
	os.WriteFile(segKey, orig, 0o600)
	if after := snapshot(); len(after) != len(before) {
		t.Fatalf("files changed: %d before, %d after", len(before), len(after))
	} else {
		for p, b := range before {
			if after[p] != b {
				t.Fatalf("%s changed", p)
			}
		}
	}
	reopenCounts(t, dir, NewKeyring(testKEK(t, 1)), smallSegments(), 50)
}

// Rotation re-wraps key files without touching segment data: at start-up
// with the previous KEK configured, and offline with Rekey.
func TestEncryptionKeyRotation(t *testing.T) {
	once(t)
	dir := t.TempDir()
	a, b, c := testKEK(t, 1), testKEK(t, 2), testKEK(t, 3)
	m, err := openKeys(t, dir, NewKeyring(a))
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.Open("t", 0, smallSegments())
	if err != nil {
		t.Fatal(err)
	}
	appendMarked(t, l, 60)
	m.Close()
	logs := func() map[string]string {
		out := map[string]string{}
		paths, _ := filepath.Glob(filepath.Join(dir, "t-0", "*.log"))
		for _, p := range paths {
			b, _ := os.ReadFile(p)
			out[p] = string(b)
		}
		return out
	}
	wrappedBy := func(k *KEK) {
		t.Helper()
		paths, _ := segmentKeyFiles(dir)
		if len(paths) == 0 {
			t.Fatal("no key files")
		}
		for _, p := range paths {
			data, _ := os.ReadFile(p)
			if d, _ := describeKeyFile(data); !strings.Contains(d, k.ID()) {
				t.Fatalf("%s: %s, want key id %s", p, d, k.ID())
			}
		}
	}
	data := logs()
	wrappedBy(a)
	// Start-up with b current and a previous re-wraps everything.
	m, err = openKeys(t, dir, NewKeyring(b, a))
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	wrappedBy(b)
	if _, err := openKeys(t, dir, NewKeyring(a)); !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("old key still opens: %v", err)
	}
	// Offline: a key neither given KEK wraps changes nothing.
	if _, err := Rekey(dir, NewKeyring(c, a)); !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("rekey with the wrong previous key: %v", err)
	}
	wrappedBy(b)
	n, err := Rekey(dir, NewKeyring(c, b))
	if err != nil || n == 0 {
		t.Fatalf("rekey: %d %v", n, err)
	}
	wrappedBy(c)
	after := logs()
	for p, d := range data {
		if after[p] != d {
			t.Fatalf("%s was rewritten by rotation", p)
		}
	}
	reopenCounts(t, dir, NewKeyring(c), smallSegments(), 60)
}

// Turning encryption on keeps existing plaintext segments readable and
// sends new appends to an encrypted segment.
func TestEncryptionTurnedOnLater(t *testing.T) {
	once(t)
	dir := t.TempDir()
	m, err := openKeys(t, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.Open("t", 0, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	appendMarked(t, l, 20)
	m.Close()
	plain := filesHolding(t, dir, marker)
	if len(plain) == 0 {
		t.Fatal("plaintext run wrote no marker")
	}
	m, err = openKeys(t, dir, NewKeyring(testKEK(t, 1)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l, err = m.Open("t", 0, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if segs := l.Segments(); segs[len(segs)-1].BaseOffset != 20 || segs[len(segs)-1].Size != 0 {
		t.Fatalf("segments %+v: the plaintext active segment was not rolled", segs)
	}
	appendMarked(t, l, 20)
	if err := l.Sync(l.EndOffset()); err != nil {
		t.Fatal(err)
	}
	if got := filesHolding(t, dir, marker); len(got) != len(plain) {
		t.Fatalf("plaintext in %v, before only in %v", got, plain)
	}
	if n := countMarked(t, l); n != 40 {
		t.Fatalf("read %d records", n)
	}
}

func TestParseKEK(t *testing.T) {
	once(t)
	raw := bytes.Repeat([]byte{0xab}, KEKSize)
	for _, in := range []string{
		strings.Repeat("ab", 32) + "\n",
		"  " + strings.Repeat("AB", 32),
		"q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n",
		"q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s",
	} {
		got, err := ParseKEK([]byte(in))
		if err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("%q: %x %v", in, got, err)
		}
	}
	for _, in := range []string{"", strings.Repeat("ab", 31), strings.Repeat("zz", 32), "q6urq6s=", strings.Repeat("ab", 33)} {
		if _, err := ParseKEK([]byte(in)); !errors.Is(err, ErrBadKEK) {
			t.Fatalf("%q accepted: %v", in, err)
		}
	}
	dir := t.TempDir()
	kf := filepath.Join(dir, "kek")
	os.WriteFile(kf, []byte(strings.Repeat("ab", 32)), 0o600)
	fromFile, err := LoadKEK(kf, "")
	if err != nil {
		t.Fatal(err)
	}
	fromCmd, err := LoadKEK("", "echo "+strings.Repeat("ab", 32))
	if err != nil || fromCmd.ID() != fromFile.ID() {
		t.Fatalf("command: %v", err)
	}
	if _, err := LoadKEK("", "echo oops >&2; exit 3"); err == nil || !strings.Contains(err.Error(), "oops") {
		t.Fatalf("failing command: %v", err)
	}
	if _, err := LoadKEK(kf, "true"); !errors.Is(err, ErrBadKEK) {
		t.Fatalf("both set: %v", err)
	}
	// The key never appears in an error.
	os.WriteFile(kf, []byte(strings.Repeat("ab", 31)+"zz"), 0o600)
	if _, err := LoadKEK(kf, ""); err == nil || strings.Contains(err.Error(), "abab") {
		t.Fatalf("bad key file: %v", err)
	}
}

// FuzzParseKeyFile: any bytes as a key file parse or fail cleanly; what
// parses marshals back to the same bytes, and unwrapping a mutated file
// never succeeds with another key's data.
func FuzzParseKeyFile(f *testing.F) {
	kr := NewKeyring(testKEK(f, 1))
	p := filepath.Join(f.TempDir(), SegmentName(0, ".key"))
	if _, err := kr.createSegmentKey(p); err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(p)
	f.Add(good)
	f.Add(good[:40])
	f.Add([]byte(keyFileMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := parseKeyFile(data)
		if err != nil {
			if !errors.Is(err, ErrKeyFileCorrupt) {
				t.Fatalf("error %v is not ErrKeyFileCorrupt", err)
			}
			return
		}
		if !bytes.Equal(k.marshal(), data) {
			t.Fatal("marshal differs from the parsed bytes")
		}
		if _, err := k.unwrap(kr.current); err == nil && !bytes.Equal(data, good) {
			t.Fatal("a forged key file unwrapped")
		}
		describeKeyFile(data)
	})
}

// FuzzParseKEK: key text either decodes to exactly 32 bytes or fails with
// ErrBadKEK, never panicking.
func FuzzParseKEK(f *testing.F) {
	f.Add([]byte(strings.Repeat("0f", 32)))
	f.Add([]byte("q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n"))
	f.Add([]byte("not a key"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		raw, err := ParseKEK(data)
		if err != nil {
			if !errors.Is(err, ErrBadKEK) {
				t.Fatalf("error %v is not ErrBadKEK", err)
			}
			return
		}
		if len(raw) != KEKSize {
			t.Fatalf("%d bytes", len(raw))
		}
		if _, err := NewKEK(raw); err != nil {
			t.Fatal(err)
		}
	})
}

// After the encrypted active segment's tail is cut (follower truncation,
// recovery), appends go to a segment with a fresh key: no position of a
// data key's keystream encrypts two different bytes.
func TestEncryptionTruncationRekeys(t *testing.T) {
	once(t)
	dir := t.TempDir()
	m, err := openKeys(t, dir, NewKeyring(testKEK(t, 1)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l, err := m.Open("t", 0, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	appendMarked(t, l, 20)
	if err := l.TruncateTo(10); err != nil {
		t.Fatal(err)
	}
	cutAt := l.Segments()[0].Size
	appendMarked(t, l, 5)
	segs := l.Segments()
	if len(segs) != 2 || segs[1].BaseOffset != 10 || segs[0].Size != cutAt {
		t.Fatalf("segments after truncation and appends: %+v", segs)
	}
	if st, err := os.Stat(segs[0].Path); err != nil || st.Size() != cutAt {
		t.Fatalf("the cut segment was written to again: %v", err)
	}
	if _, err := os.Stat(filepath.Join(l.Dir(), SegmentName(10, ".key"))); err != nil {
		t.Fatal(err)
	}
	if n := countMarked(t, l); n != 15 {
		t.Fatalf("read %d records", n)
	}
	// No cut: appends stay in the active segment.
	appendMarked(t, l, 5)
	if n := len(l.Segments()); n != 2 {
		t.Fatalf("%d segments", n)
	}
}

// A key file that cannot be re-wrapped (here: its temporary file's name
// is taken by a directory) does not stop the broker: the previous KEK
// still opens it, and the failure is logged.
func TestEncryptionRewrapFailureKeepsPrevious(t *testing.T) {
	once(t)
	dir := t.TempDir()
	a, b := testKEK(t, 1), testKEK(t, 2)
	m, err := openKeys(t, dir, NewKeyring(a))
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.Open("t", 0, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	appendMarked(t, l, 10)
	m.Close()
	blocker := filepath.Join(dir, "t-0", SegmentName(0, ".key.tmp"))
	if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	reopenCounts(t, dir, NewKeyring(b, a), DefaultOptions(), 10)
	data, _ := os.ReadFile(filepath.Join(dir, "t-0", SegmentName(0, ".key")))
	if d, _ := describeKeyFile(data); !strings.Contains(d, a.ID()) {
		t.Fatalf("key file: %s", d)
	}
	if _, err := Rekey(dir, NewKeyring(b, a)); !errors.Is(err, errRewrap) {
		t.Fatalf("rekey: %v", err)
	}
}
