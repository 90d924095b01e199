package main

import (
	"context"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/node"
	"github.com/tributary/tributary/internal/security"
)

// devSecure is what `trib dev --secure` generates into DATA/secure once
// and reuses: a CA, the broker's keystore, the super user's password and a
// client.properties for Kafka clients.
type devSecure struct {
	dir                          string
	caPath, caKey, keystore      string
	passwordPath, propertiesPath string
	password                     string
}

const devSuperUser = "admin"

// prepareDevSecure creates (or loads) the material for a broker listening
// on listen.
func prepareDevSecure(dataDir, listen string) (*devSecure, error) {
	dir, err := filepath.Abs(filepath.Join(dataDir, "secure"))
	if err != nil {
		return nil, err
	}
	s := &devSecure{dir: dir, caPath: filepath.Join(dir, "ca.pem"), caKey: filepath.Join(dir, "ca-key.pem"),
		keystore: filepath.Join(dir, "broker.pem"), passwordPath: filepath.Join(dir, "admin.password"),
		propertiesPath: filepath.Join(dir, "client.properties")}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ca, err := security.LoadCA(s.caPath, s.caKey)
	if errors.Is(err, fs.ErrNotExist) {
		if ca, err = security.NewCA("Tributary dev CA", 10*365*24*time.Hour); err == nil {
			err = ca.WriteCA(s.caPath, s.caKey)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("dev CA in %s: %w", dir, err)
	}
	// The broker certificate is issued on every start, for the current
	// listen host (it is cheap and the listener may have moved).
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, _, err := net.SplitHostPort(listen); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	if name, err := os.Hostname(); err == nil {
		hosts = append(hosts, name)
	}
	ks, err := ca.Issue(pkix.Name{CommonName: "tributary-broker", Organization: []string{"Tributary"}}, hosts, 365*24*time.Hour)
	if err == nil {
		err = security.WriteKeystore(s.keystore, ks)
	}
	if err != nil {
		return nil, fmt.Errorf("broker certificate: %w", err)
	}
	pw, err := os.ReadFile(s.passwordPath)
	if errors.Is(err, fs.ErrNotExist) {
		b := make([]byte, 18)
		rand.Read(b)
		pw = []byte(base64.RawURLEncoding.EncodeToString(b))
		err = os.WriteFile(s.passwordPath, pw, 0o600)
	}
	if err != nil {
		return nil, err
	}
	s.password = strings.TrimSpace(string(pw))
	props := "# Kafka client properties for trib dev --secure (kafka-*.sh --command-config, trib --command-config)\n" +
		"security.protocol=SASL_SSL\n" +
		"sasl.mechanism=SCRAM-SHA-512\n" +
		fmt.Sprintf("sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"%s\" password=\"%s\";\n", devSuperUser, s.password) +
		"ssl.truststore.type=PEM\n" +
		"ssl.truststore.location=" + s.caPath + "\n"
	if err := os.WriteFile(s.propertiesPath, []byte(props), 0o600); err != nil {
		return nil, err
	}
	return s, nil
}

// settings are the broker configs of the secure listener: SASL_SSL on the
// Kafka address (PLAIN and SCRAM, client certificates accepted), the
// authorizer on, admin the super user, the broker talking to itself as
// admin over PLAIN.
func (s *devSecure) settings(listen string) map[string]config.FlagValue {
	v := func(x string) config.FlagValue { return config.FlagValue{Value: x, Flag: "trib dev --secure"} }
	return map[string]config.FlagValue{
		"listeners":                            v("SASL_SSL://" + listen),
		"inter.broker.listener.name":           v("SASL_SSL"),
		"ssl.keystore.location":                v(s.keystore),
		"ssl.truststore.location":              v(s.caPath),
		"ssl.client.auth":                      v("requested"),
		"sasl.enabled.mechanisms":              v("PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"),
		"sasl.mechanism.inter.broker.protocol": v("PLAIN"),
		"listener.name.sasl_ssl.plain.sasl.jaas.config": v(fmt.Sprintf(
			`org.apache.kafka.common.security.plain.PlainLoginModule required username="%s" password="%s";`, devSuperUser, s.password)),
		"authorizer.class.name": v(config.StandardAuthorizer),
		"super.users":           v("User:" + devSuperUser),
	}
}

// start creates the super user's SCRAM credentials in the quorum.
func (s *devSecure) start(n *node.Node) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return n.EnsureScramUser(ctx, devSuperUser, s.password, 8192)
}

// banner tells how to connect.
func (s *devSecure) banner(addr string) {
	props, _ := os.ReadFile(s.propertiesPath)
	fmt.Printf("Security: SASL_SSL (SCRAM-SHA-256/512, PLAIN), ACLs on (deny by default), super user %q.\n", devSuperUser)
	fmt.Printf("Client properties (%s):\n%s\n", s.propertiesPath, props)
	fmt.Printf("Try: trib topic list --bootstrap-server %s --command-config %s\n", addr, s.propertiesPath)
	fmt.Printf("     kcat -b %s -X security.protocol=SASL_SSL -X sasl.mechanisms=SCRAM-SHA-512 -X sasl.username=%s -X sasl.password=%s -X ssl.ca.location=%s -L\n",
		addr, devSuperUser, s.password, s.caPath)
}
