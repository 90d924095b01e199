package security

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strings"

	"github.com/xdg-go/scram"
)

// SASL mechanism names, as in SaslHandshake.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// Mechanisms are the SASL mechanisms Tributary serves.
var Mechanisms = []string{MechanismPlain, MechanismScramSHA256, MechanismScramSHA512}

// Errors of a SASL exchange. The server answers them with Kafka's codes
// (internal/broker/errors.go) and closes the connection.
var (
	// ErrAuthenticationFailed: wrong password, unknown user, a bad proof
	// or a malformed message. Its text never says which, so a client
	// cannot tell a wrong password from an unknown user.
	ErrAuthenticationFailed = errors.New("authentication failed: invalid credentials")
	// ErrUnsupportedMechanism: a mechanism the listener does not enable.
	ErrUnsupportedMechanism = errors.New("unsupported SASL mechanism")
	// ErrIllegalSASLState: a message out of order (a token after the
	// exchange ended).
	ErrIllegalSASLState = errors.New("unexpected SASL message")
)

// ScramCredential is what the metadata quorum stores for one user and
// SCRAM mechanism (RFC 5802): the salt, the iteration count and the keys
// derived from the salted password. The password and the salted password
// are never stored.
type ScramCredential struct {
	Salt       []byte `json:"salt"`
	Iterations int32  `json:"iterations"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

// ScramHash is the hash of a SCRAM mechanism, nil for another name.
func ScramHash(mechanism string) func() hash.Hash {
	switch mechanism {
	case MechanismScramSHA256:
		return sha256.New
	case MechanismScramSHA512:
		return sha512.New
	}
	return nil
}

// ScramFromSalted derives a stored credential from a salted password (what
// AlterUserScramCredentials carries): StoredKey = H(HMAC(salted, "Client
// Key")), ServerKey = HMAC(salted, "Server Key").
func ScramFromSalted(mechanism string, salt, salted []byte, iterations int32) (ScramCredential, error) {
	h := ScramHash(mechanism)
	if h == nil {
		return ScramCredential{}, fmt.Errorf("%w: %q", ErrUnsupportedMechanism, mechanism)
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	d := h()
	d.Write(clientKey)
	return ScramCredential{Salt: slices.Clone(salt), Iterations: iterations, StoredKey: d.Sum(nil), ServerKey: mac(salted, "Server Key")}, nil
}

// SaltPassword is SCRAM's Hi(password, salt, iterations): PBKDF2 with the
// mechanism's HMAC.
func SaltPassword(mechanism, password string, salt []byte, iterations int32) ([]byte, error) {
	h := ScramHash(mechanism)
	if h == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedMechanism, mechanism)
	}
	return pbkdf2.Key(h, password, salt, int(iterations), h().Size())
}

// Credentials look up what a SASL exchange checks a user against. Called
// on connection goroutines; implementations must be safe for concurrent
// use.
type Credentials interface {
	// Scram returns the user's credential for a SCRAM mechanism.
	Scram(user, mechanism string) (ScramCredential, bool)
}

// Authenticator is a SASL listener's server side: its enabled mechanisms,
// the SCRAM credential store and the PLAIN users of its JAAS config.
type Authenticator struct {
	// Enabled are the mechanisms offered (sasl.enabled.mechanisms).
	Enabled []string
	// Creds are the SCRAM credentials (the metadata quorum's).
	Creds Credentials
	// PlainUsers are PlainLoginModule's user_<name>="password" options;
	// when empty, PLAIN checks the password against the user's SCRAM
	// credentials.
	PlainUsers map[string]string
}

// Session is one SASL exchange on one connection; not safe for concurrent
// use (the connection's reader goroutine drives it).
type Session interface {
	// Step consumes the client's next token and returns the server's
	// answer; done is true when the exchange succeeded. An error ends it:
	// the connection is closed after the answer, if any, is sent.
	Step(in []byte) (out []byte, done bool, err error)
	// Principal is the authenticated user, once done.
	Principal() string
}

// Start begins an exchange for mechanism.
func (a *Authenticator) Start(mechanism string) (Session, error) {
	if !slices.Contains(a.Enabled, mechanism) {
		return nil, fmt.Errorf("%w %q: the listener offers %s", ErrUnsupportedMechanism, mechanism, strings.Join(a.Enabled, ", "))
	}
	switch mechanism {
	case MechanismPlain:
		return &plainSession{a: a}, nil
	case MechanismScramSHA256, MechanismScramSHA512:
		hf := scram.SHA256
		if mechanism == MechanismScramSHA512 {
			hf = scram.SHA512
		}
		srv, err := hf.NewServer(func(user string) (scram.StoredCredentials, error) {
			if a.Creds == nil {
				return scram.StoredCredentials{}, ErrAuthenticationFailed
			}
			c, ok := a.Creds.Scram(user, mechanism)
			if !ok {
				return scram.StoredCredentials{}, ErrAuthenticationFailed
			}
			return scram.StoredCredentials{KeyFactors: scram.KeyFactors{Salt: string(c.Salt), Iters: int(c.Iterations)},
				StoredKey: c.StoredKey, ServerKey: c.ServerKey}, nil
		})
		if err != nil {
			return nil, err
		}
		// Alphanumeric server nonces, as Kafka's: librdkafka garbles the
		// default base64 ones ('+' and '/') and then fails the nonce check.
		srv = srv.WithNonceGenerator(scramNonce)
		return &scramSession{conv: srv.NewConversation(), hash: ScramHash(mechanism), lookup: func(user string) (ScramCredential, bool) {
			if a.Creds == nil {
				return ScramCredential{}, false
			}
			return a.Creds.Scram(user, mechanism)
		}}, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnsupportedMechanism, mechanism)
}

// ParsePlain splits a PLAIN message (RFC 4616): authzid NUL authcid NUL
// passwd. Kafka accepts an authzid only when it is empty or the authcid.
func ParsePlain(msg []byte) (user, password string, err error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", "", fmt.Errorf("%w: a PLAIN message is authzid NUL user NUL password", ErrAuthenticationFailed)
	}
	authz, u, p := string(parts[0]), string(parts[1]), string(parts[2])
	if u == "" || p == "" {
		return "", "", fmt.Errorf("%w: empty user or password", ErrAuthenticationFailed)
	}
	if authz != "" && authz != u {
		return "", "", fmt.Errorf("%w: authorization id differs from the user", ErrAuthenticationFailed)
	}
	return u, p, nil
}

type plainSession struct {
	a    *Authenticator
	user string
	done bool
}

func (s *plainSession) Step(in []byte) ([]byte, bool, error) {
	if s.done {
		return nil, false, ErrIllegalSASLState
	}
	s.done = true
	user, pw, err := ParsePlain(in)
	if err != nil {
		return nil, false, err
	}
	if !s.a.checkPlain(user, pw) {
		return nil, false, ErrAuthenticationFailed
	}
	s.user = user
	return nil, true, nil
}

func (s *plainSession) Principal() string { return s.user }

// checkPlain checks a PLAIN password against the JAAS users when there
// are any, else against the user's SCRAM credentials (either mechanism).
func (a *Authenticator) checkPlain(user, pw string) bool {
	if len(a.PlainUsers) > 0 {
		want, ok := a.PlainUsers[user]
		// Compare even for an unknown user, so timing does not tell.
		return subtle.ConstantTimeCompare([]byte(want), []byte(pw)) == 1 && ok
	}
	if a.Creds == nil {
		return false
	}
	for _, mech := range []string{MechanismScramSHA512, MechanismScramSHA256} {
		c, ok := a.Creds.Scram(user, mech)
		if !ok {
			continue
		}
		salted, err := SaltPassword(mech, pw, c.Salt, c.Iterations)
		if err != nil {
			return false
		}
		got, err := ScramFromSalted(mech, c.Salt, salted, c.Iterations)
		return err == nil && hmac.Equal(got.StoredKey, c.StoredKey)
	}
	return false
}

// scramSession runs SCRAM's server side: xdg-go/scram parses the
// client-first-message, looks the user up and answers with the salt,
// iterations and nonce; the client-final-message is checked here, because
// Kafka accepts a client nonce that only ends with the server's nonce
// (librdkafka sends the client nonce twice) where xdg-go requires them
// equal. The proof check is RFC 5802's.
type scramSession struct {
	conv   *scram.ServerConversation
	hash   func() hash.Hash
	lookup func(user string) (ScramCredential, bool)

	step     int
	gs2, c1b string // gs2 header and client-first-message-bare
	s1       string // server-first-message
	nonce    string // the full nonce sent in s1
	cred     ScramCredential
	user     string
	done     bool
}

func (s *scramSession) Step(in []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		s.step = 1
		out, err := s.conv.Step(string(in))
		if err != nil {
			return nil, false, fmt.Errorf("%w: SCRAM client-first-message refused", ErrAuthenticationFailed)
		}
		// gs2-header is "n,," / "y,," / "n,a=...,": up to the second comma.
		msg := string(in)
		i := strings.IndexByte(msg, ',')
		j := -1
		if i >= 0 {
			j = strings.IndexByte(msg[i+1:], ',')
		}
		if j < 0 {
			return nil, false, fmt.Errorf("%w: malformed SCRAM client-first-message", ErrAuthenticationFailed)
		}
		s.gs2, s.c1b, s.s1 = msg[:i+j+2], msg[i+j+2:], out
		s.nonce = scramAttr(out, 'r')
		s.user = s.conv.Username()
		c, ok := s.lookup(s.user)
		if !ok || s.nonce == "" {
			return nil, false, ErrAuthenticationFailed
		}
		s.cred = c
		return []byte(out), false, nil
	case 1:
		s.step = 2
		if err := s.verifyFinal(string(in)); err != nil {
			return nil, false, err
		}
		s.done = true
		return []byte("v=" + base64.StdEncoding.EncodeToString(s.serverSignature(string(in)))), true, nil
	}
	return nil, false, ErrIllegalSASLState
}

// scramAttr returns attribute a's value in a SCRAM message, "" if absent.
func scramAttr(msg string, a byte) string {
	for _, f := range strings.Split(msg, ",") {
		if len(f) >= 2 && f[0] == a && f[1] == '=' {
			return f[2:]
		}
	}
	return ""
}

// authMessage is client-first-message-bare "," server-first-message ","
// client-final-message-without-proof.
func (s *scramSession) authMessage(final string) string {
	wop := final
	if i := strings.LastIndex(final, ",p="); i >= 0 {
		wop = final[:i]
	}
	return s.c1b + "," + s.s1 + "," + wop
}

func (s *scramSession) verifyFinal(final string) error {
	fail := fmt.Errorf("%w: SCRAM client-final-message refused", ErrAuthenticationFailed)
	if !strings.HasPrefix(final, "c=") || strings.LastIndex(final, ",p=") < 0 {
		return fail
	}
	cbind, err := base64.StdEncoding.DecodeString(scramAttr(final, 'c'))
	if err != nil || string(cbind) != s.gs2 {
		return fail
	}
	if r := scramAttr(final, 'r'); !strings.HasSuffix(r, s.nonce) {
		return fail
	}
	proof, err := base64.StdEncoding.DecodeString(final[strings.LastIndex(final, ",p=")+3:])
	if err != nil || len(proof) != s.hash().Size() {
		return fail
	}
	m := hmac.New(s.hash, s.cred.StoredKey)
	m.Write([]byte(s.authMessage(final)))
	sig := m.Sum(nil)
	clientKey := make([]byte, len(proof))
	for i := range proof {
		clientKey[i] = proof[i] ^ sig[i]
	}
	d := s.hash()
	d.Write(clientKey)
	if !hmac.Equal(d.Sum(nil), s.cred.StoredKey) {
		return ErrAuthenticationFailed
	}
	return nil
}

func (s *scramSession) serverSignature(final string) []byte {
	m := hmac.New(s.hash, s.cred.ServerKey)
	m.Write([]byte(s.authMessage(final)))
	return m.Sum(nil)
}

func (s *scramSession) Principal() string { return s.user }

// JAAS is one parsed sasl.jaas.config entry: the login module, its flag
// and its options (username, password, user_<name> for PlainLoginModule).
type JAAS struct {
	Module  string
	Flag    string
	Options map[string]string
}

// ParseJAAS parses Kafka's sasl.jaas.config value: `Module flag
// key="value" ...;` (values quoted with \" escapes, or bare words).
func ParseJAAS(s string) (JAAS, error) {
	var j JAAS
	s = strings.TrimSpace(s)
	if !strings.HasSuffix(s, ";") {
		return j, errors.New("sasl.jaas.config must end with ';'")
	}
	s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
	word := func() string {
		s = strings.TrimLeft(s, " \t\r\n")
		i := strings.IndexAny(s, " \t\r\n")
		if i < 0 {
			i = len(s)
		}
		w := s[:i]
		s = s[i:]
		return w
	}
	j.Module, j.Flag = word(), word()
	if j.Module == "" || j.Flag == "" {
		return j, errors.New("sasl.jaas.config: expected `LoginModule flag key=\"value\" ...;`")
	}
	switch j.Flag {
	case "required", "requisite", "sufficient", "optional":
	default:
		return j, fmt.Errorf("sasl.jaas.config: flag %q is not required, requisite, sufficient or optional", j.Flag)
	}
	j.Options = map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			return j, nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return j, errors.New("sasl.jaas.config: expected key=value")
		}
		key := strings.TrimSpace(s[:eq])
		if strings.ContainsAny(key, " \t\"") {
			return j, fmt.Errorf("sasl.jaas.config: bad option name %q", key)
		}
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return j, errors.New("sasl.jaas.config: unterminated quoted value")
			}
			val, s = b.String(), s[i+1:]
		} else {
			i := strings.IndexAny(s, " \t\r\n")
			if i < 0 {
				i = len(s)
			}
			val, s = s[:i], s[i:]
		}
		j.Options[key] = val
	}
}

// PlainUsers are PlainLoginModule's user_<name>="password" options.
func (j JAAS) PlainUsers() map[string]string {
	out := map[string]string{}
	for k, v := range j.Options {
		if name, ok := strings.CutPrefix(k, "user_"); ok && name != "" {
			out[name] = v
		}
	}
	return out
}

// scramNonce is a server nonce of 32 lower-case hex digits.
func scramNonce() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}
