package connect

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRequestSignature: HMAC-SHA256 against RFC 4231's test case 2, the
// headers' shapes, and Connect's answers to bad signatures.
func TestRequestSignature(t *testing.T) {
	key, body := []byte("Jefe"), []byte("what do ya want for nothing?")
	h, err := signatureHeaders("HmacSHA256", key, body)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := base64.StdEncoding.DecodeString(h[SignatureHeader])
	if got := hex.EncodeToString(sig); got != "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" || h[SignatureAlgorithmHeader] != "HmacSHA256" {
		t.Fatalf("signature %s (%s)", got, h[SignatureAlgorithmHeader])
	}
	s, err := ParseRequestSignature(strp(h[SignatureAlgorithmHeader]), strp(h[SignatureHeader]))
	if err != nil || !s.Valid(key, body) {
		t.Fatalf("parsed %+v %v", s, err)
	}
	// Java's decoder accepts a signature without padding.
	if s, err := ParseRequestSignature(strp("HmacSHA256"), strp(strings.TrimRight(h[SignatureHeader], "="))); err != nil || !s.Valid(key, body) {
		t.Fatalf("unpadded: %+v %v", s, err)
	}
	if s.Valid([]byte("other"), body) || s.Valid(key, append(body, '!')) {
		t.Fatal("a signature verified under another key or body")
	}
	// Unsigned: either header missing.
	for _, c := range [][2]*string{{nil, nil}, {strp("HmacSHA256"), nil}, {nil, strp("AAAA")}} {
		if s, err := ParseRequestSignature(c[0], c[1]); s != nil || err != nil {
			t.Fatalf("unsigned request parsed as %+v %v", s, err)
		}
	}
	var bad *BadRequestError
	for _, c := range [][2]string{{"HmacMD5", "AAAA"}, {"HmacSHA256", "not base64!"}} {
		if _, err := ParseRequestSignature(strp(c[0]), strp(c[1])); !errors.As(err, &bad) {
			t.Errorf("%v: got %v, want a bad request", c, err)
		}
	}
	if errorStatus(ErrInvalidSignature) != http.StatusForbidden {
		t.Error("an invalid signature is not a 403")
	}
}

// TestSessionKeyRecord: the config topic's session-key value in Connect's
// JSON shape.
func TestSessionKeyRecord(t *testing.T) {
	k := SessionKey{Key: []byte{1, 2, 3}, Algorithm: "HmacSHA256", Created: 1700000000000}
	if got := string(encodeSessionKey(k)); got != `{"key":"AQID","algorithm":"HmacSHA256","creation-timestamp":1700000000000}` {
		t.Fatal(got)
	}
	s := newConfigState()
	s.apply(0, []byte("session-key"), encodeSessionKey(k))
	if s.sessionKey == nil || string(s.sessionKey.Key) != "\x01\x02\x03" || s.sessionKey.Created != k.Created {
		t.Fatalf("applied %+v", s.sessionKey)
	}
	for _, bad := range []string{`{`, `{"key":"","algorithm":"HmacSHA256"}`, `{"key":"AQID"}`, `{"key":"%%%","algorithm":"HmacSHA256"}`} {
		s.apply(1, []byte("session-key"), []byte(bad))
	}
	s.apply(2, []byte("session-key"), nil)
	if s.sessionKey == nil || s.sessionKey.Created != k.Created {
		t.Fatal("a malformed session-key record replaced the key")
	}
	g, err := newSessionKey("HmacSHA256", 5)
	if err != nil || len(g.Key) != 32 || g.Algorithm != "HmacSHA256" || g.Created != 5 {
		t.Fatalf("generated %+v %v", g, err)
	}
}

// FuzzRequestSignature: any header values parse to a signature or an
// error, never a panic, and a parsed signature verifies only the body it
// was computed over.
func FuzzRequestSignature(f *testing.F) {
	f.Add("HmacSHA256", "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=", []byte("body"))
	f.Add("HmacSHA512", "", []byte{})
	f.Add("", "====", []byte("x"))
	f.Fuzz(func(t *testing.T, alg, sig string, body []byte) {
		s, err := ParseRequestSignature(&alg, &sig)
		if err != nil {
			var bad *BadRequestError
			if !errors.As(err, &bad) {
				t.Fatalf("error %v is not a bad request", err)
			}
			return
		}
		key := []byte("k")
		if s.Valid(key, body) {
			want, _ := signBody(alg, key, body)
			if !strings.EqualFold(hex.EncodeToString(want), hex.EncodeToString(s.Signature)) {
				t.Fatal("a signature verified that differs from the body's")
			}
		}
		h, err := signatureHeaders(alg, key, body)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseRequestSignature(strp(h[SignatureAlgorithmHeader]), strp(h[SignatureHeader]))
		if err != nil || !again.Valid(key, body) {
			t.Fatalf("own signature of %q under %s does not verify: %v", body, alg, err)
		}
	})
}

// TestSigningSettings: connect.protocol and the inter.worker.* keys.
func TestSigningSettings(t *testing.T) {
	s, err := ParseSettings(nil)
	if err != nil || s.ConnectProtocol != "sessioned" || s.KeyTTL != time.Hour || s.SignatureAlgorithm != "HmacSHA256" ||
		s.KeyAlgorithm != "HmacSHA256" || len(s.VerificationAlgorithms) != 1 {
		t.Fatalf("defaults %+v %v", s, err)
	}
	s, err = ParseSettings(map[string]string{"inter.worker.signature.algorithm": "HmacSHA512", "inter.worker.verification.algorithms": "HmacSHA256, HmacSHA512"})
	if err != nil || s.SignatureAlgorithm != "HmacSHA512" || len(s.VerificationAlgorithms) != 2 {
		t.Fatalf("%+v %v", s, err)
	}
	for _, bad := range []map[string]string{
		{"connect.protocol": "fancy"},
		{"inter.worker.key.ttl.ms": "0"},
		{"inter.worker.key.generation.algorithm": "HmacMD5"},
		{"inter.worker.signature.algorithm": "HmacSHA512"}, // not among the verification algorithms
	} {
		if _, err := ParseSettings(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
