package cloud

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/tributary/tributary/internal/security"
)

// TestUserCertMapping: a user's certificate is signed by the cluster's CA
// and mapped to the user's name by the mTLS listener's rules; the
// certificate a reset replaced, a deleted user's, a broker's and any
// certificate when no user has one are refused.
func TestUserCertMapping(t *testing.T) {
	c := Cluster{ID: "c1", Name: "orders"}
	if err := newClusterSecrets(&c); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(c.CACert))
	parse := func(p string) *x509.Certificate {
		t.Helper()
		b, _ := pem.Decode([]byte(p))
		if b == nil {
			t.Fatalf("not PEM: %q", p)
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	apply := func(rules string, cert *x509.Certificate) (string, error) {
		t.Helper()
		rs, err := security.ParseMappingRules(rules)
		if err != nil {
			t.Fatalf("rules %q: %v", rules, err)
		}
		return rs.Apply(security.SubjectName(cert))
	}

	app := User{Name: "app.v2_x-1", State: UserActive}
	other := User{Name: "other", State: UserActive}
	for _, u := range []*User{&app, &other} {
		if err := issueUserCert(c, u); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := pem.Decode([]byte(app.AccessKey)); b == nil || b.Type != "PRIVATE KEY" {
		t.Fatalf("access_key is not a PEM private key: %q", app.AccessKey)
	}
	first := parse(app.AccessCert)
	if _, err := first.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("the user's certificate does not verify against the cluster CA as a client: %v", err)
	}
	rules := mtlsRules([]User{app, other})
	for _, u := range []User{app, other} {
		if got, err := apply(rules, parse(u.AccessCert)); err != nil || got != u.Name {
			t.Errorf("%s's certificate maps to %q %v", u.Name, got, err)
		}
	}

	// Reset: a new certificate; the old one maps to nothing.
	if err := issueUserCert(c, &app); err != nil {
		t.Fatal(err)
	}
	rules = mtlsRules([]User{app, other})
	if got, err := apply(rules, parse(app.AccessCert)); err != nil || got != app.Name {
		t.Errorf("the new certificate maps to %q %v", got, err)
	}
	if got, err := apply(rules, first); !errors.Is(err, security.ErrPrincipalMapping) {
		t.Errorf("the replaced certificate maps to %q %v, want refused", got, err)
	}
	// A deleted user and a broker's certificate map to nothing.
	other.State = UserDeleting
	rules = mtlsRules([]User{app, other})
	if got, err := apply(rules, parse(other.AccessCert)); !errors.Is(err, security.ErrPrincipalMapping) {
		t.Errorf("a deleted user's certificate maps to %q %v, want refused", got, err)
	}
	ks, err := brokerKeystore(c, Node{NodeID: 1, Listen: "127.0.0.1:9092"})
	if err != nil {
		t.Fatal(err)
	}
	var broker *x509.Certificate
	for rest := ks; broker == nil; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			t.Fatal("no certificate in the broker keystore")
		}
		if b.Type == "CERTIFICATE" {
			broker, _ = x509.ParseCertificate(b.Bytes)
		}
	}
	if got, err := apply(rules, broker); !errors.Is(err, security.ErrPrincipalMapping) {
		t.Errorf("a broker's certificate maps to %q %v, want refused", got, err)
	}
	// No user with a certificate: every certificate is refused (not
	// DEFAULT, which an empty value would be).
	if r := mtlsRules(nil); r != noUserRule {
		t.Errorf("rules without users: %q", r)
	}
	if got, err := apply(noUserRule, parse(app.AccessCert)); !errors.Is(err, security.ErrPrincipalMapping) {
		t.Errorf("with no users, a certificate maps to %q %v, want refused", got, err)
	}
}
