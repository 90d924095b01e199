package storage

// Encryption at rest with a key-encryption key (KEK) the operator brings
// (log.encryption.* broker configs).
//
// Every segment gets its own random 256-bit data key. The data key is
// wrapped (AES-256-GCM) by the KEK and stored beside the segment in
// <base>.key, written and fsynced before the segment's first byte. The
// segment's .log, .index and .timeindex are encrypted with the data key
// by AES-256-CTR whose counter is the file position (segfile.go): the
// cipher is length preserving, so Kafka's layout, positions, sizes,
// sparse indexes, pread at any offset, appends and truncation all work
// unchanged, and recovery validates CRCs on the decrypted bytes.
//
// Rotating the KEK re-wraps each <base>.key (85 bytes) and never touches
// segment data: the broker does it at start-up for every key file wrapped
// by a key in log.encryption.previous.key.file, and `trib log rekey` does
// it offline.
//
// What this protects: a stolen disk, snapshot or backup of the data dir
// without the KEK reveals no record (key, value, header), batch header,
// index entry or timestamp. What it does not: integrity (CTR is
// malleable; a flipped bit shows as a CRC failure, as on an unencrypted
// disk), the .txnindex and checkpoint files (producer ids and offsets
// only) and file sizes. No keystream encrypts two different bytes:
// after an encrypted segment's tail is cut, appends move to a segment
// with a fresh key (Log.rekeyActive).

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// KEKSize is the size of a key-encryption key: AES-256.
const KEKSize = 32

// Errors of encryption at rest. Each is wrapped with the file it concerns.
var (
	// ErrBadKEK reports a key file or key command whose output is not a
	// 256-bit key in hex or base64.
	ErrBadKEK = errors.New("invalid key-encryption key")
	// ErrWrongKEK reports a segment whose data key was wrapped by a KEK
	// that is not configured (or that fails to unwrap it).
	ErrWrongKEK = errors.New("segment key cannot be unwrapped with the configured key-encryption key")
	// ErrNoKEK reports an encrypted segment on a broker without
	// log.encryption.enable.
	ErrNoKEK = errors.New("segment is encrypted but log encryption is not enabled")
	// ErrKeyFileCorrupt reports a <base>.key file that does not parse.
	ErrKeyFileCorrupt = errors.New("segment key file is corrupt")
	// ErrMissingKeyFile reports a non-empty segment with no key file that
	// is not plaintext either.
	ErrMissingKeyFile = errors.New("segment has no key file and is not plaintext")
)

// KEK is a key-encryption key. Its ID is derived from the key by HMAC,
// so a key file names the KEK that wrapped it without revealing it.
type KEK struct {
	id   [8]byte
	aead cipher.AEAD
}

// NewKEK makes a KEK from 32 raw bytes.
func NewKEK(raw []byte) (*KEK, error) {
	if len(raw) != KEKSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrBadKEK, len(raw), KEKSize)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k := &KEK{aead: aead}
	m := hmac.New(sha256.New, raw)
	m.Write([]byte("tributary key-encryption key id"))
	copy(k.id[:], m.Sum(nil))
	return k, nil
}

// ID names the key (16 hex digits); it is stored in every key file the
// KEK wraps.
func (k *KEK) ID() string { return hex.EncodeToString(k.id[:]) }

// ParseKEK decodes a key-encryption key written as 64 hex digits or as
// base64 (standard or URL alphabet, padded or not) of 32 bytes.
// Surrounding whitespace (a trailing newline) is ignored.
func ParseKEK(text []byte) ([]byte, error) {
	s := strings.TrimSpace(string(text))
	if len(s) == 2*KEKSize {
		if raw, err := hex.DecodeString(s); err == nil {
			return raw, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(s); err == nil && len(raw) == KEKSize {
			return raw, nil
		}
	}
	return nil, fmt.Errorf("%w: want %d bytes as %d hex digits or base64", ErrBadKEK, KEKSize, 2*KEKSize)
}

// keyCommandTimeout bounds log.encryption.key.command.
const keyCommandTimeout = 30 * time.Second

// LoadKEK reads a KEK from a file, or from the standard output of a
// command run by /bin/sh (a KMS client), whichever is set; setting both
// or neither is an error. The key never appears in an error.
func LoadKEK(file, command string) (*KEK, error) {
	var text []byte
	switch {
	case file != "" && command != "":
		return nil, fmt.Errorf("%w: set a key file or a key command, not both", ErrBadKEK)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("reading key-encryption key: %w", err)
		}
		text = b
	case command != "":
		ctx, cancel := context.WithTimeout(context.Background(), keyCommandTimeout)
		defer cancel()
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			msg := strings.TrimSpace(stderr.String())
			if len(msg) > 200 {
				msg = msg[:200]
			}
			return nil, fmt.Errorf("key-encryption key command failed: %w (stderr: %q)", err, msg)
		}
		text = out
	default:
		return nil, fmt.Errorf("%w: no key file or key command set", ErrBadKEK)
	}
	raw, err := ParseKEK(text)
	if err != nil {
		if file != "" {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		return nil, fmt.Errorf("output of the key command: %w", err)
	}
	return NewKEK(raw)
}

// Keyring is the KEKs a broker holds: the current one wraps every new
// data key; previous ones (rotation) only unwrap, and a key file they
// wrapped is re-wrapped by the current one when its segment is opened.
// Immutable after NewKeyring; safe for concurrent use.
type Keyring struct {
	current  *KEK
	previous []*KEK
}

// NewKeyring makes a keyring.
func NewKeyring(current *KEK, previous ...*KEK) *Keyring {
	return &Keyring{current: current, previous: previous}
}

// Current is the KEK that wraps new data keys.
func (kr *Keyring) Current() *KEK { return kr.current }

func (kr *Keyring) byID(id [8]byte) *KEK {
	if kr.current.id == id {
		return kr.current
	}
	for _, k := range kr.previous {
		if k.id == id {
			return k
		}
	}
	return nil
}

// Key file (<base>.key) layout, 85 bytes:
//
//	magic "TRIBSKEY" | version 1 | KEK id (8) | CTR nonce (8) |
//	GCM nonce (12) | wrapped data key (32 + 16-byte tag)
//
// The first 25 bytes are the GCM additional data, so neither the KEK id
// nor the CTR nonce can be altered without the unwrap failing.
const (
	keyFileMagic   = "TRIBSKEY"
	keyFileVersion = 1
	keyFileHeader  = len(keyFileMagic) + 1 + 8 + 8
	keyFileSize    = keyFileHeader + 12 + dataKeySize + 16
	dataKeySize    = 32
	keyFileExt     = ".key"
)

// keyFile is a parsed <base>.key.
type keyFile struct {
	kekID   [8]byte
	nonce   [8]byte // CTR nonce of the segment's files
	gcm     [12]byte
	wrapped [dataKeySize + 16]byte
}

// parseKeyFile parses a key file's bytes (not unwrapping the data key).
func parseKeyFile(b []byte) (keyFile, error) {
	var k keyFile
	if len(b) != keyFileSize {
		return k, fmt.Errorf("%w: %d bytes, want %d", ErrKeyFileCorrupt, len(b), keyFileSize)
	}
	if string(b[:len(keyFileMagic)]) != keyFileMagic {
		return k, fmt.Errorf("%w: bad magic", ErrKeyFileCorrupt)
	}
	p := len(keyFileMagic)
	if b[p] != keyFileVersion {
		return k, fmt.Errorf("%w: unknown version %d", ErrKeyFileCorrupt, b[p])
	}
	p++
	p += copy(k.kekID[:], b[p:])
	p += copy(k.nonce[:], b[p:])
	p += copy(k.gcm[:], b[p:])
	copy(k.wrapped[:], b[p:])
	return k, nil
}

func (k *keyFile) header() []byte {
	b := make([]byte, 0, keyFileSize)
	b = append(b, keyFileMagic...)
	b = append(b, keyFileVersion)
	b = append(b, k.kekID[:]...)
	return append(b, k.nonce[:]...)
}

func (k *keyFile) marshal() []byte {
	b := k.header()
	b = append(b, k.gcm[:]...)
	return append(b, k.wrapped[:]...)
}

// wrap seals dataKey under kek into k (kek id, fresh GCM nonce).
func (k *keyFile) wrap(kek *KEK, dataKey []byte) error {
	k.kekID = kek.id
	if _, err := rand.Read(k.gcm[:]); err != nil {
		return err
	}
	sealed := kek.aead.Seal(nil, k.gcm[:], dataKey, k.header())
	copy(k.wrapped[:], sealed)
	return nil
}

// unwrap opens the data key with kek.
func (k *keyFile) unwrap(kek *KEK) ([]byte, error) {
	dk, err := kek.aead.Open(nil, k.gcm[:], k.wrapped[:], k.header())
	if err != nil {
		return nil, ErrWrongKEK
	}
	return dk, nil
}

// dataKey is an unwrapped segment data key, ready to encrypt its files.
type dataKey struct {
	block cipher.Block
	nonce [8]byte
}

func newDataKey(raw []byte, nonce [8]byte) (*dataKey, error) {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	return &dataKey{block: block, nonce: nonce}, nil
}

// File kinds: each file of a segment has its own CTR nonce (the segment
// nonce with the last byte replaced), so no two files share keystream.
const (
	kindLog byte = iota + 1
	kindIndex
	kindTimeIndex
)

// fileCipher is the keystream of one segment file.
type fileCipher struct {
	block cipher.Block
	iv    [aes.BlockSize]byte // nonce (7 bytes) | kind | block counter (8)
}

func (dk *dataKey) file(kind byte) *fileCipher {
	c := &fileCipher{block: dk.block}
	copy(c.iv[:8], dk.nonce[:])
	c.iv[7] = kind
	return c
}

// xorAt en/decrypts src, which lies at file position off, into dst.
func (c *fileCipher) xorAt(dst, src []byte, off int64) {
	if len(src) == 0 {
		return
	}
	iv := c.iv
	binary.BigEndian.PutUint64(iv[8:], uint64(off/aes.BlockSize))
	s := cipher.NewCTR(c.block, iv[:])
	if skip := off % aes.BlockSize; skip > 0 {
		var pad [aes.BlockSize]byte
		s.XORKeyStream(pad[:skip], pad[:skip])
	}
	s.XORKeyStream(dst, src)
}

// keyPath is the key file of the segment with base offset base in dir.
func keyPath(dir string, base int64) string { return filepath.Join(dir, SegmentName(base, keyFileExt)) }

// createSegmentKey makes a fresh data key for a segment, writes its key
// file at path (fsynced; the caller fsyncs the directory before data in
// the segment counts as durable) and returns it.
func (kr *Keyring) createSegmentKey(path string) (*dataKey, error) {
	raw := make([]byte, dataKeySize)
	var k keyFile
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	if _, err := rand.Read(k.nonce[:]); err != nil {
		return nil, err
	}
	if err := k.wrap(kr.current, raw); err != nil {
		return nil, err
	}
	if err := writeFileSynced(path, k.marshal(), 0o600); err != nil {
		return nil, err
	}
	return newDataKey(raw, k.nonce)
}

// readSegmentKey reads and unwraps the key file at path, read-only.
func (kr *Keyring) readSegmentKey(path string) (raw []byte, k keyFile, kek *KEK, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, k, nil, err
	}
	if k, err = parseKeyFile(b); err != nil {
		return nil, k, nil, fmt.Errorf("%s: %w", path, err)
	}
	if kek = kr.byID(k.kekID); kek == nil {
		return nil, k, nil, fmt.Errorf("%s: %w: it was wrapped by key id %s, configured key id %s",
			path, ErrWrongKEK, hex.EncodeToString(k.kekID[:]), kr.current.ID())
	}
	if raw, err = k.unwrap(kek); err != nil {
		return nil, k, nil, fmt.Errorf("%s: %w (key id %s)", path, err, kek.ID())
	}
	return raw, k, kek, nil
}

// errRewrap reports a key file that unwrapped (the data key returned
// with it is good) but could not be re-wrapped by the current KEK (a
// read-only or full disk): the segment stays readable while its KEK is
// configured as previous, so only Rekey treats it as a failure.
var errRewrap = errors.New("re-wrapping the segment key failed")

// openSegmentKey reads and unwraps the key file at path. A key file
// wrapped by a previous KEK is re-wrapped by the current one (atomically:
// a temporary file renamed over it) and rewrapped is true; if that
// fails, the data key comes with an error wrapping errRewrap.
func (kr *Keyring) openSegmentKey(path string) (dk *dataKey, rewrapped bool, err error) {
	raw, k, kek, err := kr.readSegmentKey(path)
	if err != nil {
		return nil, false, err
	}
	if dk, err = newDataKey(raw, k.nonce); err != nil {
		return nil, false, err
	}
	if kek != kr.current {
		if err := k.wrap(kr.current, raw); err != nil {
			return dk, false, fmt.Errorf("%w: %s: %v", errRewrap, path, err)
		}
		if err := replaceFileSynced(path, k.marshal()); err != nil {
			return dk, false, fmt.Errorf("%w: %s: %v", errRewrap, path, err)
		}
		rewrapped = true
	}
	return dk, rewrapped, nil
}

// writeFileSynced creates (or empties) path with data and fsyncs it.
func writeFileSynced(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Sync(), f.Close())
}

// replaceFileSynced replaces path by data atomically (temporary file,
// fsync, rename, directory fsync).
func replaceFileSynced(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := writeFileSynced(tmp, data, 0o600); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// segmentKeyFiles lists the key files under dir (.key and .key.swap).
func segmentKeyFiles(dir string) ([]string, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && isSegmentKeyFile(d.Name()) {
			paths = append(paths, p)
		}
		return nil
	})
	return paths, err
}

// isSegmentKeyFile reports whether name is <20 digits>.key or .key.swap
// (a cleaned segment's key whose swap recovery completes); other .key
// files (TLS keys in a dev data dir) are not ours.
func isSegmentKeyFile(name string) bool {
	rest, ok := strings.CutSuffix(name, ".swap")
	if !ok {
		rest = name
	}
	digits, ok := strings.CutSuffix(rest, keyFileExt)
	if !ok || len(digits) != 20 {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// checkSegmentKeys checks at start-up that every segment key file in the
// data dir can be unwrapped, so a wrong or missing KEK stops the broker
// with an error naming the segment instead of taking partitions offline
// one by one; key files wrapped by a previous KEK are re-wrapped now.
func checkSegmentKeys(dir string, kr *Keyring, logger *slog.Logger) error {
	paths, err := segmentKeyFiles(dir)
	if err != nil {
		return err
	}
	if kr == nil {
		if len(paths) > 0 {
			return fmt.Errorf("%s: %w (log.encryption.enable=false); set log.encryption.enable and its key", strings.TrimSuffix(paths[0], keyFileExt)+".log", ErrNoKEK)
		}
		return nil
	}
	n := 0
	for _, p := range paths {
		_, re, err := kr.openSegmentKey(p)
		if errors.Is(err, errRewrap) {
			logger.Warn("segment key still wrapped by the previous key-encryption key; keep it configured", "err", err)
			continue
		}
		if err != nil {
			return fmt.Errorf("encryption at rest: %w", err)
		}
		if re {
			n++
		}
	}
	logger.Info("encryption at rest is on", "key_id", kr.current.ID(), "segment_keys", len(paths), "rewrapped", n)
	return nil
}

// Rekey re-wraps every segment key file under dir (a data dir, or one
// partition's dir) with kr's current KEK, without touching segment data.
// Key files already wrapped by the current KEK are left alone; one
// wrapped by a KEK kr does not hold fails the whole run before anything
// changes. It returns how many files it re-wrapped. The broker must not
// be running on dir.
func Rekey(dir string, kr *Keyring) (int, error) {
	paths, err := segmentKeyFiles(dir)
	if err != nil {
		return 0, err
	}
	// Check every file first, so a missing old key changes nothing.
	for _, p := range paths {
		if _, _, _, err := kr.readSegmentKey(p); err != nil {
			return 0, err
		}
	}
	n := 0
	for _, p := range paths {
		_, re, err := kr.openSegmentKey(p)
		if err != nil {
			return n, err
		}
		if re {
			n++
		}
	}
	return n, nil
}

// segmentDataKey returns the data key of the segment file at path (any
// of its files) for reading without a Log (the dump tool): nil if the
// segment has no key file (plaintext), an error if it has one and kr is
// nil or cannot unwrap it. Key files are not re-wrapped.
func segmentDataKey(path string, base int64, kr *Keyring) (*dataKey, error) {
	kp := keyPath(filepath.Dir(path), base)
	if _, err := os.Stat(kp); os.IsNotExist(err) {
		return nil, nil
	}
	if kr == nil {
		return nil, fmt.Errorf("%s: %w: give the key-encryption key (--encryption-key-file or --encryption-key-command)", path, ErrNoKEK)
	}
	raw, k, _, err := kr.readSegmentKey(kp)
	if err != nil {
		return nil, err
	}
	return newDataKey(raw, k.nonce)
}

// describeKeyFile describes a key file without unwrapping it.
func describeKeyFile(data []byte) (string, error) {
	k, err := parseKeyFile(data)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("version: %d kekId: %s cipher: AES-256-CTR data key wrapped by AES-256-GCM", keyFileVersion, hex.EncodeToString(k.kekID[:])), nil
}

// KeySource names where a KEK comes from: a file or a command (one of
// them); both empty means none.
type KeySource struct{ File, Command string }

func (s KeySource) set() bool { return s.File != "" || s.Command != "" }

// LoadKeyring loads the current KEK and, if set, the previous one
// (rotation: segment keys it wrapped are re-wrapped by the current one).
func LoadKeyring(current, previous KeySource) (*Keyring, error) {
	cur, err := LoadKEK(current.File, current.Command)
	if err != nil {
		return nil, err
	}
	kr := NewKeyring(cur)
	if previous.set() {
		prev, err := LoadKEK(previous.File, previous.Command)
		if err != nil {
			return nil, fmt.Errorf("previous key: %w", err)
		}
		if prev.id != cur.id {
			kr.previous = append(kr.previous, prev)
		}
	}
	return kr, nil
}
