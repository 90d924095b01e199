package connect

// Internal request signing (KIP-507, the "sessioned" sub-protocol).
//
// When the group runs "sessioned", the leader keeps a session key in the
// config topic (session-key {"key":base64,"algorithm":…,
// "creation-timestamp":ms}) and writes a new one when it is older than
// inter.worker.key.ttl.ms. A worker posting task configs to the leader's
// internal POST /connectors/{c}/tasks signs the body with the key:
// X-Connect-Authorization is the base64 HMAC of the request body,
// X-Connect-Request-Signature-Algorithm its Java Mac name. The receiving
// worker checks the signature with its current key, as Connect does: no
// signature is a 400, an algorithm outside
// inter.worker.verification.algorithms a 400, a wrong signature a 403.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"maps"
	"slices"
	"strings"
	"time"
)

// Headers of a signed internal request (Connect's InternalRequestSignature).
const (
	SignatureHeader          = "X-Connect-Authorization"
	SignatureAlgorithmHeader = "X-Connect-Request-Signature-Algorithm"
	// DefaultMACAlgorithm is the default of inter.worker.key.generation.algorithm,
	// inter.worker.signature.algorithm and inter.worker.verification.algorithms.
	DefaultMACAlgorithm = "HmacSHA256"
)

// macAlgorithms are the Java Mac algorithm names this worker implements.
var macAlgorithms = map[string]func() hash.Hash{
	"HmacSHA1":   sha1.New,
	"HmacSHA224": sha256.New224,
	"HmacSHA256": sha256.New,
	"HmacSHA384": sha512.New384,
	"HmacSHA512": sha512.New,
}

// macKeySize is the size of a generated key: the digest's output size (the
// key is random and travels in the session-key record, so any size works
// for every reader).
func macKeySize(algorithm string) int {
	if h, ok := macAlgorithms[algorithm]; ok {
		return h().Size()
	}
	return 32
}

// checkMACAlgorithm refuses a Mac name this worker cannot compute.
func checkMACAlgorithm(name string) error {
	if _, ok := macAlgorithms[name]; !ok {
		return fmt.Errorf("unsupported MAC algorithm %q (supported: %s)", name, strings.Join(slices.Sorted(maps.Keys(macAlgorithms)), ", "))
	}
	return nil
}

// SessionKey is the key workers sign internal requests with, distributed
// by the leader as the config topic's session-key record.
type SessionKey struct {
	Key       []byte // raw key bytes
	Algorithm string // Java's key algorithm name, e.g. HmacSHA256
	Created   int64  // creation time, ms since the epoch
}

// sessionKeyValue is the session-key record's JSON (Connect's shape).
type sessionKeyValue struct {
	Key       []byte `json:"key"` // base64, as encoding/json writes []byte
	Algorithm string `json:"algorithm"`
	Created   int64  `json:"creation-timestamp"`
}

func encodeSessionKey(k SessionKey) []byte {
	b, _ := json.Marshal(sessionKeyValue{Key: k.Key, Algorithm: k.Algorithm, Created: k.Created})
	return b
}

func decodeSessionKey(b []byte) (SessionKey, error) {
	var v sessionKeyValue
	if b == nil {
		return SessionKey{}, errors.New("session key tombstone")
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return SessionKey{}, err
	}
	if len(v.Key) == 0 || v.Algorithm == "" {
		return SessionKey{}, errors.New("session key without key or algorithm")
	}
	return SessionKey{Key: v.Key, Algorithm: v.Algorithm, Created: v.Created}, nil
}

// newSessionKey generates a random key for algorithm.
func newSessionKey(algorithm string, nowMs int64) (SessionKey, error) {
	k := make([]byte, macKeySize(algorithm))
	if _, err := rand.Read(k); err != nil {
		return SessionKey{}, err
	}
	return SessionKey{Key: k, Algorithm: algorithm, Created: nowMs}, nil
}

// RequestSignature is the signature an internal request carries.
type RequestSignature struct {
	Algorithm string
	Signature []byte
}

// ParseRequestSignature reads the two signature headers' values (nil:
// the header is absent). Without either header the request is unsigned
// (nil, nil). An algorithm this worker cannot compute or a signature that
// is not base64 is a bad request, as in Connect.
func ParseRequestSignature(algorithm, signature *string) (*RequestSignature, error) {
	if algorithm == nil || signature == nil {
		return nil, nil
	}
	if err := checkMACAlgorithm(*algorithm); err != nil {
		return nil, badRequest("%s", err.Error())
	}
	// Java's basic decoder: the standard alphabet, padding optional.
	sig, err := base64.RawStdEncoding.DecodeString(strings.TrimSuffix(strings.TrimSuffix(*signature, "="), "="))
	if err != nil {
		return nil, badRequest("Illegal base64 signature: %v", err)
	}
	return &RequestSignature{Algorithm: *algorithm, Signature: sig}, nil
}

// signBody computes the signature of body with key.
func signBody(algorithm string, key, body []byte) ([]byte, error) {
	h, ok := macAlgorithms[algorithm]
	if !ok {
		return nil, checkMACAlgorithm(algorithm)
	}
	m := hmac.New(h, key)
	m.Write(body)
	return m.Sum(nil), nil
}

// signatureHeaders returns the headers signing body with key.
func signatureHeaders(algorithm string, key, body []byte) (map[string]string, error) {
	sig, err := signBody(algorithm, key, body)
	if err != nil {
		return nil, err
	}
	return map[string]string{SignatureHeader: base64.StdEncoding.EncodeToString(sig), SignatureAlgorithmHeader: algorithm}, nil
}

// Valid reports whether s signs body under key (constant time).
func (s *RequestSignature) Valid(key, body []byte) bool {
	want, err := signBody(s.Algorithm, key, body)
	return err == nil && hmac.Equal(want, s.Signature)
}

// errNoSessionKey: the group runs "sessioned" but this worker has not read
// a session key yet (the leader writes one right after the rebalance).
var errNoSessionKey = fmt.Errorf("%w (no session key has been distributed yet)", ErrRebalancing)

// sessionState is what signing needs: whether the group runs "sessioned"
// and the current key.
func (h *Herder) sessionState() (bool, *SessionKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.protocol == protocolSessioned, h.config.sessionKey
}

func orDefault(s string) string {
	if s == "" {
		return DefaultMACAlgorithm
	}
	return s
}

// signInternal returns the signature headers of an internal request's
// body (none unless the group runs "sessioned").
func (h *Herder) signInternal(body []byte) (map[string]string, error) {
	sessioned, key := h.sessionState()
	if !sessioned {
		return nil, nil
	}
	if key == nil {
		return nil, errNoSessionKey
	}
	return signatureHeaders(orDefault(h.cfg.SignatureAlgorithm), key.Key, body)
}

// verifyInternal checks an internal request's signature against the
// current session key when the group runs "sessioned".
func (h *Herder) verifyInternal(body []byte, sig *RequestSignature) error {
	sessioned, key := h.sessionState()
	if !sessioned {
		return nil
	}
	if sig == nil {
		return badRequest("Internal request missing required signature")
	}
	allowed := h.cfg.VerificationAlgorithms
	if len(allowed) == 0 {
		allowed = []string{DefaultMACAlgorithm}
	}
	if !slices.Contains(allowed, sig.Algorithm) {
		return badRequest("The request is signed with %s, which this worker does not accept (inter.worker.verification.algorithms = %s); every worker must accept the signature algorithm the others use.",
			sig.Algorithm, strings.Join(allowed, ","))
	}
	if key == nil {
		return errNoSessionKey
	}
	if !sig.Valid(key.Key, body) {
		return ErrInvalidSignature
	}
	return nil
}

// maybeRotateSessionKey writes a new session key when the group runs
// "sessioned" and the current key is missing or older than
// inter.worker.key.ttl.ms. Leader only, on the herder goroutine.
func (h *Herder) maybeRotateSessionKey(ctx context.Context) {
	sessioned, key := h.sessionState()
	if !sessioned {
		return
	}
	ttl := h.cfg.KeyTTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	now := time.Now().UnixMilli()
	alg := orDefault(h.cfg.KeyAlgorithm)
	if key != nil && key.Algorithm == alg && now < key.Created+ttl.Milliseconds() {
		return
	}
	k, err := newSessionKey(alg, now)
	if err == nil {
		h.writeMu.Lock()
		err = h.configLog.Send(ctx, []byte(sessionKeyKey), encodeSessionKey(k))
		h.writeMu.Unlock()
	}
	if err == nil {
		err = h.configLog.ReadToEnd(ctx)
	}
	if err != nil {
		h.log.Warn("writing a new session key; retrying", "err", err)
		return
	}
	h.log.Info("distributed a new session key", "algorithm", alg, "ttl", ttl)
}
