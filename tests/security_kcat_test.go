package tests

import (
	"context"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/node"
)

// TestKcatDevSecure: `trib dev --secure` as a process; kcat (librdkafka)
// connects over SASL_SSL with SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN using
// the generated CA and super user, produces and consumes; the written
// client.properties works for trib (--command-config); a wrong password
// is refused.
func TestKcatDevSecure(t *testing.T) {
	kcat := requireTool(t, "kcat", "apt-get install kcat")
	dir := t.TempDir()
	p := startTribProcess(t, dir, "--secure")
	secure := filepath.Join(dir, "secure")
	pw, err := os.ReadFile(filepath.Join(secure, "admin.password"))
	if err != nil {
		t.Fatal(err)
	}
	props := filepath.Join(secure, "client.properties")
	if out := mustTrib(t, p.Addr, "", "topic", "create", "secure-events", "--partitions", "3", "--command-config", props); out != "Created topic secure-events.\n" {
		t.Fatalf("topic create: %q", out)
	}
	kc := func(mech, password, stdin string, args ...string) (string, string, error) {
		base := []string{"-b", p.Addr, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=" + mech,
			"-X", "sasl.username=admin", "-X", "sasl.password=" + password, "-X", "ssl.ca.location=" + filepath.Join(secure, "ca.pem")}
		return runCmd(t, time.Minute, stdin, nil, kcat, append(base, args...)...)
	}
	var lines strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&lines, "line-%d\n", i)
	}
	if _, errOut, err := kc("SCRAM-SHA-512", string(pw), lines.String(), "-P", "-t", "secure-events"); err != nil {
		t.Fatalf("kcat -P over SASL_SSL/SCRAM-SHA-512: %v\n%s", err, tail(errOut))
	}
	for _, mech := range []string{"SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"} {
		out, errOut, err := kc(mech, string(pw), "", "-C", "-t", "secure-events", "-o", "beginning", "-e", "-q")
		if err != nil || strings.Count(out, "\n") != 1000 {
			t.Fatalf("kcat -C with %s: %v, %d lines\n%s", mech, err, strings.Count(out, "\n"), tail(errOut))
		}
	}
	if out, errOut, err := kc("SCRAM-SHA-512", "not-the-password", "", "-L", "-m", "5"); err == nil {
		t.Fatalf("kcat with a wrong password listed metadata:\n%s%s", out, errOut)
	}
}

// TestKcatMTLS: kcat over SSL with a client certificate (mTLS required);
// the principal comes from the certificate through
// ssl.principal.mapping.rules: the mapped name is the super user, another
// certificate sees no topics (the authorizer hides them), no certificate
// is refused.
func TestKcatMTLS(t *testing.T) {
	kcat := requireTool(t, "kcat", "apt-get install kcat")
	pk := newPKI(t)
	n, err := node.Start(context.Background(), node.Config{
		NodeID: 1, DataDir: t.TempDir(),
		Settings: map[string]string{
			"ssl.keystore.location":       pk.keystore("broker", pkix.Name{CommonName: "broker-1"}),
			"ssl.truststore.location":     pk.Truststore,
			"ssl.client.auth":             "required",
			"ssl.principal.mapping.rules": "RULE:^CN=([A-Za-z0-9-]+),OU=ops.*$/$1/L,DEFAULT",
			"authorizer.class.name":       config.StandardAuthorizer,
			"super.users":                 "User:kcat-admin;User:CN=broker-1",
		},
		Listeners:           []config.BrokerListener{{Name: "SSL", Protocol: "SSL", Listen: "127.0.0.1:0"}},
		InterBrokerListener: "SSL",
		Logger:              slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	admin := pk.keystore("kcat-admin", pkix.Name{CommonName: "KCAT-ADMIN", OrganizationalUnit: []string{"ops"}})
	stranger := pk.keystore("stranger", pkix.Name{CommonName: "stranger", OrganizationalUnit: []string{"guests"}})
	kc := func(keystore, stdin string, args ...string) (string, string, error) {
		base := []string{"-b", n.Addr(), "-X", "security.protocol=SSL", "-X", "ssl.ca.location=" + pk.Truststore}
		if keystore != "" {
			base = append(base, "-X", "ssl.certificate.location="+keystore, "-X", "ssl.key.location="+keystore)
		}
		return runCmd(t, time.Minute, stdin, nil, kcat, append(base, args...)...)
	}
	if _, errOut, err := kc(admin, "a\nb\nc\n", "-P", "-t", "mtls-events"); err != nil {
		t.Fatalf("kcat -P over mTLS as the super user: %v\n%s", err, tail(errOut))
	}
	out, errOut, err := kc(admin, "", "-C", "-t", "mtls-events", "-o", "beginning", "-e", "-q")
	if err != nil || out != "a\nb\nc\n" {
		t.Fatalf("kcat -C over mTLS: %v %q\n%s", err, out, tail(errOut))
	}
	out, _, err = kc(stranger, "", "-L", "-m", "10")
	if err != nil || strings.Contains(out, "mtls-events") {
		t.Fatalf("a certificate without ACLs sees the topic: %v\n%s", err, out)
	}
	if out, _, err := kc("", "", "-L", "-m", "5"); err == nil {
		t.Fatalf("kcat without a client certificate listed metadata:\n%s", out)
	}
}

// TestKafkajsSecure: kafkajs with SASL SCRAM-SHA-512 (and SCRAM-SHA-256)
// over SSL against `trib dev --secure`: the seed's producer and consumer
// examples.
func TestKafkajsSecure(t *testing.T) {
	kafkajsDir(t)
	dir := t.TempDir()
	// No initial rebalance delay: the consumer's group forms at once.
	p := startTribProcess(t, dir, "--secure", "--set", "group.initial.rebalance.delay.ms=0")
	secure := filepath.Join(dir, "secure")
	pw, err := os.ReadFile(filepath.Join(secure, "admin.password"))
	if err != nil {
		t.Fatal(err)
	}
	for _, mech := range []string{"scram-sha-512", "scram-sha-256"} {
		env := []string{"SSL_CA=" + filepath.Join(secure, "ca.pem"), "SASL_MECHANISM=" + mech, "SASL_USERNAME=admin", "SASL_PASSWORD=" + string(pw),
			"TOPIC=kafkajs-secure-" + mech, "GROUP=kafkajs-secure-" + mech}
		mustTrib(t, p.Addr, "", "topic", "create", "kafkajs-secure-"+mech, "--partitions", "1", "--command-config", filepath.Join(secure, "client.properties"))
		runKafkajs(t, p.Addr, "producer.js", 2*time.Minute, append(env, "MESSAGE=over "+mech)...)
		res := runKafkajs(t, p.Addr, "consumer.js", 2*time.Minute, append(env, "EXPECT=1")...)
		if !strings.Contains(string(res[0]), `"value":"over `+mech+`"`) {
			t.Fatalf("%s: consumed %s", mech, res[0])
		}
	}
}
