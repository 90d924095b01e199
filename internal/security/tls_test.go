package security

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func writeTestStores(t *testing.T, dir string, ca *CA, cn string) (keystore, truststore string) {
	t.Helper()
	ks, err := ca.Issue(pkix.Name{CommonName: cn}, []string{"localhost", "127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keystore, truststore = filepath.Join(dir, cn+".pem"), filepath.Join(dir, "ca.pem")
	if err := WriteKeystore(keystore, ks); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truststore, ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return keystore, truststore
}

// handshake runs a TLS handshake between srv and a client over a pipe and
// returns the server certificate's common name and the server side's
// verified client certificate names.
func handshake(t *testing.T, srv, cl *tls.Config) (serverCN string, clientCNs []string, err error) {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var wg sync.WaitGroup
	var serr error
	s := tls.Server(a, srv)
	wg.Add(1)
	go func() { defer wg.Done(); serr = s.Handshake(); a.Close() }()
	c := tls.Client(b, cl)
	err = c.Handshake()
	b.Close()
	wg.Wait()
	if err == nil {
		err = serr
	}
	if err != nil {
		return "", nil, err
	}
	serverCN = c.ConnectionState().PeerCertificates[0].Subject.CommonName
	for _, pc := range s.ConnectionState().PeerCertificates {
		clientCNs = append(clientCNs, pc.Subject.CommonName)
	}
	return serverCN, clientCNs, nil
}

func TestServerTLSClientAuthAndReload(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA("test-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ks, ts := writeTestStores(t, dir, ca, "broker-a")
	clientKS, _ := writeTestStores(t, dir, ca, "client-1")
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	st, err := NewServerTLS(TLSOptions{KeystoreLocation: ks, TruststoreLocation: ts, ClientAuth: "required"}, nil, clock)
	if err != nil {
		t.Fatal(err)
	}
	withCert, err := ClientTLS(TLSOptions{KeystoreLocation: clientKS, TruststoreLocation: ts, VerifyHostname: true})
	if err != nil {
		t.Fatal(err)
	}
	withCert = WithServerName(withCert, "localhost:9093")
	noCert, err := ClientTLS(TLSOptions{TruststoreLocation: ts})
	if err != nil {
		t.Fatal(err)
	}

	cn, clients, err := handshake(t, st.Config(), withCert)
	if err != nil || cn != "broker-a" || len(clients) == 0 || clients[0] != "client-1" {
		t.Fatalf("mTLS handshake: %v %q %v", err, cn, clients)
	}
	if _, _, err := handshake(t, st.Config(), noCert); err == nil {
		t.Fatal("ssl.client.auth=required accepted a client without a certificate")
	}
	// A certificate from another CA is refused.
	other, _ := NewCA("other-ca", time.Hour)
	foreignKS, _ := writeTestStores(t, t.TempDir(), other, "mallory")
	foreign, _ := ClientTLS(TLSOptions{KeystoreLocation: foreignKS, TruststoreLocation: ts})
	if _, _, err := handshake(t, st.Config(), foreign); err == nil {
		t.Fatal("a client certificate from a foreign CA was accepted")
	}

	// An expired client certificate is refused.
	expired, err := ca.Issue(pkix.Name{CommonName: "old-client"}, nil, -30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	expiredKS := filepath.Join(dir, "expired.pem")
	WriteKeystore(expiredKS, expired)
	old, _ := ClientTLS(TLSOptions{KeystoreLocation: expiredKS, TruststoreLocation: ts})
	if _, _, err := handshake(t, st.Config(), old); err == nil {
		t.Fatal("an expired client certificate was accepted")
	}

	// Replace the keystore: new handshakes see it once the reload interval
	// has passed; a broken file keeps the previous certificate.
	ks2, _ := writeTestStores(t, dir, ca, "broker-b")
	data, _ := os.ReadFile(ks2)
	if err := WriteKeystore(ks, data); err != nil {
		t.Fatal(err)
	}
	if cn, _, _ := handshake(t, st.Config(), withCert); cn != "broker-a" {
		t.Fatalf("reloaded before the interval: %q", cn)
	}
	now = now.Add(2 * reloadInterval)
	if cn, _, err := handshake(t, st.Config(), withCert); err != nil || cn != "broker-b" {
		t.Fatalf("after reload: %q %v", cn, err)
	}
	if err := WriteKeystore(ks, []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * reloadInterval)
	if cn, _, err := handshake(t, st.Config(), withCert); err != nil || cn != "broker-b" {
		t.Fatalf("after a broken reload: %q %v", cn, err)
	}
}

func TestServerTLSRequested(t *testing.T) {
	dir := t.TempDir()
	ca, _ := NewCA("test-ca", time.Hour)
	ks, ts := writeTestStores(t, dir, ca, "broker")
	st, err := NewServerTLS(TLSOptions{KeystoreLocation: ks, TruststoreLocation: ts, ClientAuth: "requested", EnabledProtocols: []string{"TLSv1.3"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	noCert, _ := ClientTLS(TLSOptions{TruststoreLocation: ts})
	if _, clients, err := handshake(t, st.Config(), noCert); err != nil || len(clients) != 0 {
		t.Fatalf("requested without a client certificate: %v %v", err, clients)
	}
	tls12, _ := ClientTLS(TLSOptions{TruststoreLocation: ts, EnabledProtocols: []string{"TLSv1.2"}})
	if _, _, err := handshake(t, st.Config(), tls12); err == nil {
		t.Fatal("TLSv1.2 client accepted with ssl.enabled.protocols=TLSv1.3")
	}
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	ca, _ := NewCA("test-ca", time.Hour)
	ks, ts := writeTestStores(t, dir, ca, "broker")
	ks2, _ := writeTestStores(t, dir, ca, "other")
	// A keystore whose key belongs to another certificate.
	a, _ := os.ReadFile(ks)
	b, _ := os.ReadFile(ks2)
	keyOfB := b[:strings.Index(string(b), "-----BEGIN CERTIFICATE")]
	certOfA := a[strings.Index(string(a), "-----BEGIN CERTIFICATE"):]
	mixed := filepath.Join(dir, "mixed.pem")
	os.WriteFile(mixed, append(append([]byte{}, keyOfB...), certOfA...), 0o600)
	for name, o := range map[string]TLSOptions{
		"no keystore":            {},
		"missing keystore":       {KeystoreLocation: filepath.Join(dir, "nope.pem")},
		"mismatched key":         {KeystoreLocation: mixed},
		"required without trust": {KeystoreLocation: ks, ClientAuth: "required"},
		"bad client auth":        {KeystoreLocation: ks, TruststoreLocation: ts, ClientAuth: "maybe"},
		"bad protocol":           {KeystoreLocation: ks, EnabledProtocols: []string{"TLSv1.1"}},
		"truststore not PEM":     {KeystoreLocation: ks, TruststoreLocation: mixed[:len(mixed)-4] + ".none", ClientAuth: "required"},
	} {
		if _, err := NewServerTLS(o, nil, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
