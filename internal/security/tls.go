// Package security holds Tributary's authentication and authorization
// rules, free of I/O beyond reading the PEM files it is pointed at: TLS
// configs built from Kafka's ssl.* settings (with certificate reload), the
// SSL principal mapping rules, and the SASL mechanisms (PLAIN,
// SCRAM-SHA-256/512). The server drives them per connection; the broker
// supplies the credentials.
package security

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/youmark/pkcs8"
)

// TLSOptions are one listener's (or one client's) TLS settings, Kafka's
// ssl.* keys with the PEM store type.
type TLSOptions struct {
	// KeystoreLocation is a PEM file with the private key and the
	// certificate chain (ssl.keystore.location, ssl.keystore.type=PEM).
	KeystoreLocation string
	// KeyPassword decrypts an encrypted private key (ssl.key.password):
	// PKCS#8 "ENCRYPTED PRIVATE KEY" or a legacy Proc-Type encrypted block.
	KeyPassword string
	// TruststoreLocation is a PEM file of CA certificates
	// (ssl.truststore.location): client certificates are verified against
	// it on a server, the server's on a client. Empty on a client means
	// the system roots.
	TruststoreLocation string
	// ClientAuth is ssl.client.auth: required, requested or none.
	ClientAuth string
	// EnabledProtocols is ssl.enabled.protocols (TLSv1.2, TLSv1.3);
	// empty means both.
	EnabledProtocols []string
	// VerifyHostname is ssl.endpoint.identification.algorithm=https on a
	// client (the default); off, the chain is still verified.
	VerifyHostname bool
}

// ErrTLSConfig marks an unusable TLS setting (a missing or unreadable
// file, a key that does not match its certificate, an unknown protocol).
var ErrTLSConfig = errors.New("invalid TLS configuration")

func tlsErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrTLSConfig, fmt.Sprintf(format, args...))
}

func (o TLSOptions) versions() (lo, hi uint16, err error) {
	protos := o.EnabledProtocols
	if len(protos) == 0 {
		protos = []string{"TLSv1.2", "TLSv1.3"}
	}
	for _, p := range protos {
		var v uint16
		switch strings.TrimSpace(p) {
		case "TLSv1.2":
			v = tls.VersionTLS12
		case "TLSv1.3":
			v = tls.VersionTLS13
		default:
			return 0, 0, tlsErr("ssl.enabled.protocols: %q is not offered (TLSv1.2, TLSv1.3)", p)
		}
		if lo == 0 || v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return lo, hi, nil
}

// loadKeystore reads the private key and certificate chain from a PEM file.
func loadKeystore(path, password string) (tls.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return tls.Certificate{}, tlsErr("ssl.keystore.location: %v", err)
	}
	var cert tls.Certificate
	var keyDER []byte
	var keyEncrypted bool
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE":
			cert.Certificate = append(cert.Certificate, b.Bytes)
		case b.Type == "ENCRYPTED PRIVATE KEY":
			keyDER, keyEncrypted = b.Bytes, true
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			//lint:ignore SA1019 legacy OpenSSL encryption is what some tools still write
			if x509.IsEncryptedPEMBlock(b) { //nolint:staticcheck
				if password == "" {
					return cert, tlsErr("ssl.keystore.location: the private key is encrypted and ssl.key.password is not set")
				}
				der, err := x509.DecryptPEMBlock(b, []byte(password)) //nolint:staticcheck
				if err != nil {
					return cert, tlsErr("ssl.keystore.location: cannot decrypt the private key with ssl.key.password")
				}
				keyDER = der
			} else {
				keyDER = b.Bytes
			}
		}
	}
	if len(cert.Certificate) == 0 {
		return cert, tlsErr("ssl.keystore.location %s holds no CERTIFICATE block", path)
	}
	if keyDER == nil {
		return cert, tlsErr("ssl.keystore.location %s holds no PRIVATE KEY block", path)
	}
	var key crypto.PrivateKey
	if keyEncrypted {
		if password == "" {
			return cert, tlsErr("ssl.keystore.location: the private key is encrypted and ssl.key.password is not set")
		}
		k, err := pkcs8.ParsePKCS8PrivateKey(keyDER, []byte(password))
		if err != nil {
			return cert, tlsErr("ssl.keystore.location: cannot decrypt the private key with ssl.key.password")
		}
		key = k
	} else if key, err = parseKey(keyDER); err != nil {
		return cert, tlsErr("ssl.keystore.location %s: %v", path, err)
	}
	cert.PrivateKey = key
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return cert, tlsErr("ssl.keystore.location %s: %v", path, err)
	}
	cert.Leaf = leaf
	// Check the key matches the leaf certificate.
	pub, ok := key.(interface{ Public() crypto.PublicKey })
	if !ok {
		return cert, tlsErr("ssl.keystore.location %s: unsupported private key type", path)
	}
	if eq, ok := pub.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(leaf.PublicKey) {
		return cert, tlsErr("ssl.keystore.location %s: the private key does not match the first certificate", path)
	}
	return cert, nil
}

func parseKey(der []byte) (crypto.PrivateKey, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("the private key is not PKCS#8, PKCS#1 or SEC 1")
}

// loadTruststore reads CA certificates from a PEM file.
func loadTruststore(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, tlsErr("ssl.truststore.location: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, tlsErr("ssl.truststore.location %s holds no CERTIFICATE block", path)
	}
	return pool, nil
}

// ServerTLS is a listener's TLS configuration. The keystore and truststore
// files are checked for changes at most once per reloadInterval, on a
// handshake: a changed file is loaded for new connections (a failed load
// keeps the previous certificates and is logged). Safe for concurrent
// handshakes.
type ServerTLS struct {
	opts TLSOptions
	log  *slog.Logger
	now  func() time.Time

	mu        sync.Mutex // guards cur, stamps and checked
	cur       *tls.Config
	stamps    string
	checked   time.Time
	reloadErr string
}

// reloadInterval bounds how often the files are stat'ed.
const reloadInterval = time.Second

// NewServerTLS loads the listener's certificates; the keystore is required.
func NewServerTLS(opts TLSOptions, log *slog.Logger, now func() time.Time) (*ServerTLS, error) {
	if opts.KeystoreLocation == "" {
		return nil, tlsErr("ssl.keystore.location is required on an SSL or SASL_SSL listener")
	}
	switch opts.ClientAuth {
	case "", "none", "requested", "required":
	default:
		return nil, tlsErr("ssl.client.auth=%q: use required, requested or none", opts.ClientAuth)
	}
	if (opts.ClientAuth == "required" || opts.ClientAuth == "requested") && opts.TruststoreLocation == "" {
		return nil, tlsErr("ssl.client.auth=%s needs ssl.truststore.location to verify client certificates", opts.ClientAuth)
	}
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	s := &ServerTLS{opts: opts, log: log, now: now}
	cfg, err := s.build()
	if err != nil {
		return nil, err
	}
	s.cur, s.stamps, s.checked = cfg, s.fileStamps(), now()
	return s, nil
}

func (s *ServerTLS) build() (*tls.Config, error) {
	lo, hi, err := s.opts.versions()
	if err != nil {
		return nil, err
	}
	cert, err := loadKeystore(s.opts.KeystoreLocation, s.opts.KeyPassword)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: lo, MaxVersion: hi}
	if s.opts.TruststoreLocation != "" {
		if cfg.ClientCAs, err = loadTruststore(s.opts.TruststoreLocation); err != nil {
			return nil, err
		}
	}
	switch s.opts.ClientAuth {
	case "required":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	case "requested":
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	default:
		cfg.ClientAuth = tls.NoClientCert
	}
	return cfg, nil
}

// fileStamps identifies the files' current contents by size and mtime.
func (s *ServerTLS) fileStamps() string {
	var b strings.Builder
	for _, p := range []string{s.opts.KeystoreLocation, s.opts.TruststoreLocation} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", p, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}

// Config returns the tls.Config a listener wraps its connections with.
func (s *ServerTLS) Config() *tls.Config {
	return &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return s.current(), nil }}
}

// current returns the config to handshake with, reloading changed files.
func (s *ServerTLS) current() *tls.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if now.Sub(s.checked) < reloadInterval {
		return s.cur
	}
	s.checked = now
	st := s.fileStamps()
	if st == s.stamps {
		return s.cur
	}
	cfg, err := s.build()
	if err != nil {
		// Files are often replaced one at a time: keep serving the old
		// certificates, try again on a later handshake, log each new
		// failure once.
		if msg := err.Error(); msg != s.reloadErr {
			s.reloadErr = msg
			s.log.Warn("TLS certificate reload failed; keeping the previous certificates", "err", err)
		}
		return s.cur
	}
	s.cur, s.stamps, s.reloadErr = cfg, st, ""
	s.log.Info("TLS certificates reloaded", "keystore", s.opts.KeystoreLocation, "truststore", s.opts.TruststoreLocation,
		"not_after", cfg.Certificates[0].Leaf.NotAfter)
	return s.cur
}

// ClientTLS builds a client's TLS config for dialing serverName (a host or
// host:port; the host part is verified when VerifyHostname is set). The
// keystore is optional (a client certificate for mTLS).
func ClientTLS(opts TLSOptions) (*tls.Config, error) {
	lo, hi, err := opts.versions()
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: lo, MaxVersion: hi}
	if opts.KeystoreLocation != "" {
		cert, err := loadKeystore(opts.KeystoreLocation, opts.KeyPassword)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if opts.TruststoreLocation != "" {
		if cfg.RootCAs, err = loadTruststore(opts.TruststoreLocation); err != nil {
			return nil, err
		}
	}
	if !opts.VerifyHostname {
		// Verify the chain but not the name (Kafka's
		// ssl.endpoint.identification.algorithm set empty).
		roots := cfg.RootCAs
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
	}
	return cfg, nil
}

// WithServerName returns cfg for dialing addr (host:port): the name that
// is verified and sent as SNI.
func WithServerName(cfg *tls.Config, addr string) *tls.Config {
	c := cfg.Clone()
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	c.ServerName = host
	return c
}
