package cloud

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
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

// mtlsPlanner plans brokers with an mTLS address, or without one (a
// broker planned before the mTLS listener was offered).
// (It runs nothing, as planOnly.)
type mtlsPlanner struct {
	planOnly
	mtls bool
}

func (p mtlsPlanner) Plan(ctx context.Context, c Cluster, ids []int32, taken []Node) ([]Node, error) {
	nodes, _ := p.planOnly.Plan(ctx, c, ids, taken)
	for i := range nodes {
		if p.mtls {
			nodes[i].MTLS = fmt.Sprintf("127.0.0.1:%d", 21000+nodes[i].NodeID)
		}
	}
	return nodes, nil
}

// TestResizeKeepsMTLSUniform: a scale out plans the new brokers' mTLS
// listener only when every broker has one, so a cluster made before the
// listener was offered gets none on some brokers only.
func TestResizeKeepsMTLSUniform(t *testing.T) {
	ctx := context.Background()
	st, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "cloud.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, legacy := range []bool{false, true} {
		svc := New(Config{Store: st, Provisioner: mtlsPlanner{mtls: !legacy}, Logger: quiet})
		c, err := svc.CreateCluster(ctx, CreateRequest{Name: fmt.Sprintf("c-%v", legacy), Engine: Engine, Size: "local", NumNodes: 1})
		if err != nil {
			t.Fatal(err)
		}
		ops, err := st.Operations(ctx, c.ID)
		if err != nil || len(ops) != 1 {
			t.Fatalf("operations: %v %v", ops, err)
		}
		ops[0].State = OpDone
		if err := st.FinishOperation(ctx, ops[0], StatusOnline, 0); err != nil {
			t.Fatal(err)
		}
		// Whatever the provisioner plans now, new brokers follow the
		// cluster's first ones.
		svc = New(Config{Store: st, Provisioner: mtlsPlanner{mtls: true}, Logger: quiet})
		if _, err := svc.ResizeCluster(ctx, c.ID, ResizeRequest{NumNodes: 2}); err != nil {
			t.Fatal(err)
		}
		nodes, err := st.Nodes(ctx, c.ID)
		if err != nil || len(nodes) != 2 {
			t.Fatalf("nodes: %v %v", nodes, err)
		}
		if got := nodes[1].MTLS != ""; got == legacy {
			t.Errorf("legacy=%v: the new broker's mTLS address %q", legacy, nodes[1].MTLS)
		}
	}
}
