package storage

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// testKeys is the keyring the test env's managers use (nil: plaintext).
// TestMain runs the package's tests twice, the second time with
// encryption at rest on, so every log, recovery, truncation, cleaner,
// retention and fault test also covers encrypted segments.
var testKeys *Keyring

func TestMain(m *testing.M) {
	code := m.Run()
	if code != 0 || flag.Lookup("test.bench").Value.String() != "" {
		os.Exit(code) // benchmarks choose plaintext or encryption themselves
	}
	kek, err := NewKEK(bytes.Repeat([]byte{0x5a}, KEKSize))
	if err != nil {
		panic(err)
	}
	testKeys = NewKeyring(kek)
	fmt.Println("storage: running the tests again with encryption at rest on")
	os.Exit(m.Run())
}

// plainFile reads a segment file's plaintext (decrypted in encrypted
// runs).
func plainFile(t testing.TB, path string) []byte {
	t.Helper()
	name := filepath.Base(path)
	base, err := strconv.ParseInt(strings.SplitN(name, ".", 2)[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := segmentDataKey(path, base, testKeys)
	if err != nil {
		t.Fatal(err)
	}
	kind := kindLog
	switch filepath.Ext(name) {
	case ".index":
		kind = kindIndex
	case ".timeindex":
		kind = kindTimeIndex
	}
	b, err := readSegFile(path, dk, kind)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
