package security

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

type memCreds map[string]map[string]ScramCredential

func (m memCreds) Scram(user, mech string) (ScramCredential, bool) {
	c, ok := m[user][mech]
	return c, ok
}

func newCreds(t *testing.T, user, password string, iterations int32) memCreds {
	t.Helper()
	m := memCreds{user: {}}
	for _, mech := range []string{MechanismScramSHA256, MechanismScramSHA512} {
		salt := []byte("0123456789abcdef")
		salted, err := SaltPassword(mech, password, salt, iterations)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ScramFromSalted(mech, salt, salted, iterations)
		if err != nil {
			t.Fatal(err)
		}
		m[user][mech] = c
	}
	return m
}

// scramExchange runs a client (xdg-go/scram) against a server session.
func scramExchange(t *testing.T, a *Authenticator, mech, user, password string) (string, error) {
	t.Helper()
	hf := scram.SHA256
	if mech == MechanismScramSHA512 {
		hf = scram.SHA512
	}
	cl, err := hf.NewClient(user, password, "")
	if err != nil {
		t.Fatal(err)
	}
	conv := cl.NewConversation()
	s, err := a.Start(mech)
	if err != nil {
		return "", err
	}
	msg, err := conv.Step("")
	if err != nil {
		t.Fatal(err)
	}
	for {
		out, done, err := s.Step([]byte(msg))
		if err != nil {
			return "", err
		}
		if msg, err = conv.Step(string(out)); err != nil {
			return "", err // the client refuses the server's signature
		}
		if done {
			if !conv.Valid() {
				t.Fatal("client did not verify the server")
			}
			return s.Principal(), nil
		}
	}
}

func TestScramExchange(t *testing.T) {
	a := &Authenticator{Enabled: Mechanisms, Creds: newCreds(t, "alice", "s3cret", 4096)}
	for _, mech := range []string{MechanismScramSHA256, MechanismScramSHA512} {
		if p, err := scramExchange(t, a, mech, "alice", "s3cret"); err != nil || p != "alice" {
			t.Fatalf("%s: %q %v", mech, p, err)
		}
		if _, err := scramExchange(t, a, mech, "alice", "wrong"); !errors.Is(err, ErrAuthenticationFailed) {
			t.Fatalf("%s wrong password: %v", mech, err)
		}
		if _, err := scramExchange(t, a, mech, "bob", "s3cret"); !errors.Is(err, ErrAuthenticationFailed) {
			t.Fatalf("%s unknown user: %v", mech, err)
		}
	}
	only := &Authenticator{Enabled: []string{MechanismScramSHA512}, Creds: a.Creds}
	if _, err := only.Start(MechanismPlain); !errors.Is(err, ErrUnsupportedMechanism) {
		t.Fatalf("PLAIN not enabled: %v", err)
	}
	if _, err := only.Start("GSSAPI"); !errors.Is(err, ErrUnsupportedMechanism) {
		t.Fatalf("GSSAPI: %v", err)
	}
	// Garbage in either step fails, never panics.
	for _, in := range [][]byte{nil, []byte("n,,"), []byte("n,,n=alice"), []byte("p=x,,n=alice,r=abc"), []byte("\x00\xff")} {
		s, _ := a.Start(MechanismScramSHA256)
		if _, _, err := s.Step(in); err == nil {
			t.Errorf("first message %q accepted", in)
		}
	}
	s, _ := a.Start(MechanismScramSHA256)
	if _, _, err := s.Step([]byte("n,,n=alice,r=clientnonce")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Step([]byte("c=biws,r=othernonce,p=AAAA")); !errors.Is(err, ErrAuthenticationFailed) {
		t.Fatalf("final message with a foreign nonce: %v", err)
	}
}

func TestPlain(t *testing.T) {
	creds := newCreds(t, "alice", "s3cret", 4096)
	a := &Authenticator{Enabled: Mechanisms, Creds: creds}
	j := &Authenticator{Enabled: Mechanisms, PlainUsers: map[string]string{"admin": "admin-secret"}}
	for _, c := range []struct {
		a    *Authenticator
		msg  string
		want string // principal, or "" for a failure
	}{
		{a, "\x00alice\x00s3cret", "alice"},
		{a, "alice\x00alice\x00s3cret", "alice"},
		{a, "bob\x00alice\x00s3cret", ""},
		{a, "\x00alice\x00wrong", ""},
		{a, "\x00nobody\x00s3cret", ""},
		{a, "\x00alice", ""},
		{a, "\x00alice\x00s3cret\x00", ""},
		{a, "", ""},
		{j, "\x00admin\x00admin-secret", "admin"},
		{j, "\x00admin\x00admin", ""},
		{j, "\x00alice\x00s3cret", ""}, // JAAS users replace the SCRAM store
	} {
		s, err := c.a.Start(MechanismPlain)
		if err != nil {
			t.Fatal(err)
		}
		_, done, err := s.Step([]byte(c.msg))
		if c.want == "" {
			if err == nil || done || !errors.Is(err, ErrAuthenticationFailed) {
				t.Errorf("%q: accepted (%v %v)", c.msg, done, err)
			}
			continue
		}
		if err != nil || !done || s.Principal() != c.want {
			t.Errorf("%q: %v %v %q", c.msg, done, err, s.Principal())
		}
		if _, _, err := s.Step([]byte(c.msg)); !errors.Is(err, ErrIllegalSASLState) {
			t.Errorf("a second PLAIN token: %v", err)
		}
	}
}

func TestParseJAAS(t *testing.T) {
	j, err := ParseJAAS(`org.apache.kafka.common.security.plain.PlainLoginModule required
		username="admin" password="admin-secret" user_admin="admin-secret" user_alice="al\"ice";`)
	if err != nil {
		t.Fatal(err)
	}
	if j.Module != "org.apache.kafka.common.security.plain.PlainLoginModule" || j.Options["username"] != "admin" ||
		j.Options["password"] != "admin-secret" || j.PlainUsers()["alice"] != `al"ice` || len(j.PlainUsers()) != 2 {
		t.Fatalf("%+v", j)
	}
	for _, bad := range []string{"", "Module required", `Module maybe a="b";`, `Module required a="b;`, `Module required ="b";`, `Module;`} {
		if _, err := ParseJAAS(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParsePlain(f *testing.F) {
	f.Add([]byte("\x00alice\x00s3cret"))
	f.Add([]byte("a\x00b\x00c"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		u, p, err := ParsePlain(msg)
		if err == nil && (u == "" || p == "") {
			t.Fatalf("accepted an empty user or password: %q", msg)
		}
	})
}

func FuzzParseJAAS(f *testing.F) {
	f.Add(`org.apache.kafka.common.security.scram.ScramLoginModule required username="a" password="b";`)
	f.Add(`M required a=b c="d\"e";`)
	f.Fuzz(func(t *testing.T, s string) { ParseJAAS(s) })
}

// FuzzScramServer feeds arbitrary client messages to a SCRAM server
// session: it must fail or succeed, never panic, and never succeed
// without the password.
func FuzzScramServer(f *testing.F) {
	f.Add([]byte("n,,n=alice,r=abc"), []byte("c=biws,r=abc,p=AAAA"))
	f.Add([]byte("y,a=alice,n=alice,r=x"), []byte("c=eSxhPWFsaWNlLA==,r=x,p="))
	creds := memCreds{}
	salt := []byte("saltsaltsaltsalt")
	salted, _ := SaltPassword(MechanismScramSHA256, "pw", salt, 4096)
	c, _ := ScramFromSalted(MechanismScramSHA256, salt, salted, 4096)
	creds["alice"] = map[string]ScramCredential{MechanismScramSHA256: c}
	a := &Authenticator{Enabled: Mechanisms, Creds: creds}
	f.Fuzz(func(t *testing.T, first, final []byte) {
		s, err := a.Start(MechanismScramSHA256)
		if err != nil {
			t.Fatal(err)
		}
		if _, done, err := s.Step(first); err != nil || done {
			return
		}
		if _, done, err := s.Step(final); err == nil && done {
			t.Fatalf("authenticated without the password: %q %q", first, final)
		}
	})
}

// TestScramDoubledClientNonce: librdkafka's client-final-message carries
// the client nonce followed by the whole server nonce (which starts with
// the client nonce again); Kafka accepts a nonce that ends with the
// server's, and so does Tributary. The proof is computed here as
// librdkafka does.
func TestScramDoubledClientNonce(t *testing.T) {
	a := &Authenticator{Enabled: Mechanisms, Creds: newCreds(t, "alice", "s3cret", 4096)}
	for _, mech := range []string{MechanismScramSHA256, MechanismScramSHA512} {
		s, _ := a.Start(mech)
		c1b := "n=alice,r=Cli^ent]nonce"
		s1, _, err := s.Step([]byte("n,," + c1b))
		if err != nil {
			t.Fatal(err)
		}
		snonce := scramAttr(string(s1), 'r')
		wop := "c=biws,r=Cli^ent]nonce" + snonce
		cred, _ := a.Creds.Scram("alice", mech)
		salted, _ := SaltPassword(mech, "s3cret", cred.Salt, cred.Iterations)
		h := ScramHash(mech)
		mac := func(key []byte, msg string) []byte { m := hmac.New(h, key); m.Write([]byte(msg)); return m.Sum(nil) }
		clientKey := mac(salted, "Client Key")
		sig := mac(cred.StoredKey, c1b+","+string(s1)+","+wop)
		proof := make([]byte, len(clientKey))
		for i := range proof {
			proof[i] = clientKey[i] ^ sig[i]
		}
		out, done, err := s.Step([]byte(wop + ",p=" + base64.StdEncoding.EncodeToString(proof)))
		if err != nil || !done || s.Principal() != "alice" || !strings.HasPrefix(string(out), "v=") {
			t.Fatalf("%s: %q %v %v", mech, out, done, err)
		}
		// A nonce that does not end with the server's is refused.
		s, _ = a.Start(mech)
		s1, _, _ = s.Step([]byte("n,," + c1b))
		if _, _, err := s.Step([]byte("c=biws,r=Cli^ent]nonce" + scramAttr(string(s1), 'r') + "x,p=" + base64.StdEncoding.EncodeToString(proof))); err == nil {
			t.Fatalf("%s: a wrong nonce was accepted", mech)
		}
	}
}
