package tests

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/node"
	"github.com/tributary/tributary/internal/security"
)

// pki is a test CA with its truststore file and keystores it issued.
type pki struct {
	t   testing.TB
	dir string
	ca  *security.CA
	// Truststore is the CA certificate's PEM file.
	Truststore string
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	dir := t.TempDir()
	ca, err := security.NewCA("tributary-test-ca", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{t: t, dir: dir, ca: ca, Truststore: filepath.Join(dir, "ca.pem")}
	if err := os.WriteFile(p.Truststore, ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// keystore issues a certificate for subject (valid for localhost and
// 127.0.0.1) and returns the PEM keystore's path.
func (p *pki) keystore(name string, subject pkix.Name) string {
	p.t.Helper()
	ks, err := p.ca.Issue(subject, []string{"localhost", "127.0.0.1"}, 24*time.Hour)
	if err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(p.dir, name+".pem")
	if err := security.WriteKeystore(path, ks); err != nil {
		p.t.Fatal(err)
	}
	return path
}

// clientTLS is a client's TLS config trusting the CA, with the keystore
// as client certificate when it is not empty.
func (p *pki) clientTLS(keystore string) *tls.Config {
	p.t.Helper()
	cfg, err := security.ClientTLS(security.TLSOptions{KeystoreLocation: keystore, TruststoreLocation: p.Truststore, VerifyHostname: true})
	if err != nil {
		p.t.Fatal(err)
	}
	return cfg
}

// startSecureNode starts a node with a PLAINTEXT and an SSL listener
// (mTLS required on SSL), PLAINTEXT being the inter-broker listener.
func startSecureNode(t *testing.T, p *pki, extra map[string]string) *node.Node {
	t.Helper()
	settings := map[string]string{
		"ssl.keystore.location":                         p.keystore("broker", pkix.Name{CommonName: "broker-1", Organization: []string{"Tributary"}}),
		"ssl.truststore.location":                       p.Truststore,
		"listener.name.ssl.ssl.client.auth":             "required",
		"listener.name.ssl.ssl.principal.mapping.rules": "RULE:^CN=([^,]*),.*$/$1/L,DEFAULT",
	}
	for k, v := range extra {
		settings[k] = v
	}
	n, err := node.Start(context.Background(), node.Config{
		NodeID: 1, DataDir: t.TempDir(), Settings: settings,
		Listeners: []config.BrokerListener{
			{Name: "PLAINTEXT", Protocol: "PLAINTEXT", Listen: "127.0.0.1:0"},
			{Name: "SSL", Protocol: "SSL", Listen: "127.0.0.1:0"},
		},
		InterBrokerListener: "PLAINTEXT",
		Logger:              slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// TestTLSListenerMTLS: a broker with PLAINTEXT and SSL listeners; franz-go
// over mTLS produces and consumes on the SSL listener, Metadata on each
// listener advertises that listener's address, and a client without a
// certificate, with a foreign CA's certificate, or speaking plaintext to
// the TLS port gets a closed connection.
func TestTLSListenerMTLS(t *testing.T) {
	p := newPKI(t)
	n := startSecureNode(t, p, nil)
	sslAddr, plainAddr := n.ListenerAddr("SSL"), n.ListenerAddr("PLAINTEXT")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	clientKS := p.keystore("client", pkix.Name{CommonName: "Alice", OrganizationalUnit: []string{"eng"}})
	cl := newClient(t, sslAddr, kgo.DialTLSConfig(p.clientTLS(clientKS)), kgo.DefaultProduceTopic("tls-topic"),
		kgo.AllowAutoTopicCreation())
	const total = 500
	for i := 0; i < total; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce over mTLS: %v", err)
		}
	}
	cons := newClient(t, sslAddr, kgo.DialTLSConfig(p.clientTLS(clientKS)), kgo.ConsumeTopics("tls-topic"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for got := 0; got < total; {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d over mTLS", got, total)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) != strconv.Itoa(got) {
				t.Fatalf("record %d is %q", got, r.Value)
			}
			got++
		})
	}

	// Each listener advertises its own address.
	for _, c := range []struct {
		addr string
		opts []kgo.Opt
	}{{sslAddr, []kgo.Opt{kgo.DialTLSConfig(p.clientTLS(clientKS))}}, {plainAddr, nil}} {
		m, err := kadm.NewClient(newClient(t, c.addr, c.opts...)).BrokerMetadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Brokers) != 1 || net.JoinHostPort(m.Brokers[0].Host, strconv.Itoa(int(m.Brokers[0].Port))) != c.addr {
			t.Fatalf("metadata on %s advertises %+v", c.addr, m.Brokers)
		}
	}

	// Refused: no client certificate, a foreign CA's certificate.
	other := newPKI(t)
	foreign := p.clientTLS(other.keystore("mallory", pkix.Name{CommonName: "mallory"}))
	for name, cfg := range map[string]*tls.Config{"no certificate": p.clientTLS(""), "foreign CA": foreign} {
		c := newClient(t, sslAddr, kgo.DialTLSConfig(cfg), kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := kadm.NewClient(c).BrokerMetadata(rctx)
		rcancel()
		if err == nil {
			t.Errorf("%s: metadata over mTLS succeeded", name)
		}
	}

	// A plaintext Kafka request on the TLS port: no Kafka response, the
	// connection is closed.
	conn, err := net.DialTimeout("tcp", sslAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := kmsg.NewApiVersionsRequest()
	frame := (&kmsg.RequestFormatter{}).AppendRequest(nil, &req, 1)
	conn.Write(frame)
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err == nil && binary.BigEndian.Uint32(size[:]) < 1<<20 {
		// A TLS alert record may come back; it is not a Kafka response.
		if size[0] != 0x15 {
			t.Fatalf("plaintext request on the TLS port got a response of %d bytes", binary.BigEndian.Uint32(size[:]))
		}
	}

	// TLS to the plaintext port: the handshake fails.
	tc := newClient(t, plainAddr, kgo.DialTLSConfig(p.clientTLS(clientKS)), kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	if _, err := kadm.NewClient(tc).BrokerMetadata(rctx); err == nil {
		t.Error("TLS client on the plaintext port succeeded")
	}
}

// TestTLSCertificateReload: replacing the keystore file changes the
// certificate new connections see, without a restart.
func TestTLSCertificateReload(t *testing.T) {
	p := newPKI(t)
	n := startSecureNode(t, p, map[string]string{"listener.name.ssl.ssl.client.auth": "none"})
	addr := n.ListenerAddr("SSL")
	serverCN := func() string {
		c, err := tls.Dial("tcp", addr, security.WithServerName(p.clientTLS(""), addr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := serverCN(); cn != "broker-1" {
		t.Fatalf("server certificate %q", cn)
	}
	ks := filepath.Join(p.dir, "broker.pem")
	next := p.keystore("broker-next", pkix.Name{CommonName: "broker-1-renewed"})
	data, _ := os.ReadFile(next)
	if err := security.WriteKeystore(ks, data); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for serverCN() != "broker-1-renewed" {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was never served")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterReplicatesOverSSL: three brokers whose inter-broker listener
// is SSL with client certificates required (and SASL_SSL with PLAIN); followers replicate over it
// (acks=all with min.insync.replicas=3 needs every follower), and clients
// use a PLAINTEXT listener. Over SASL_SSL the leader of a partition is then
// killed (in-process, no controlled shutdown) and no acknowledged record
// is lost.
func TestClusterReplicatesOverSSL(t *testing.T) {
	for _, c := range []struct{ proto, mech string }{{"SSL", ""}, {"SASL_SSL", "PLAIN"}, {"SASL_SSL", "SCRAM-SHA-512"}} {
		t.Run(strings.TrimSuffix(c.proto+"/"+c.mech, "/"), func(t *testing.T) { testClusterReplicatesOver(t, c.proto, c.mech) })
	}
}

func testClusterReplicatesOver(t *testing.T, proto, mech string) {
	p := newPKI(t)
	const n = 3
	voters := map[int32]string{}
	plain := make([]string, n)
	internal := make([]string, n)
	for i := 0; i < n; i++ {
		voters[int32(i+1)] = freePort(t)
		plain[i], internal[i] = freePort(t), freePort(t)
	}
	nodes := make([]*node.Node, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		settings := map[string]string{
			"ssl.keystore.location":   p.keystore(fmt.Sprintf("broker-%d", i+1), pkix.Name{CommonName: fmt.Sprintf("broker-%d", i+1)}),
			"ssl.truststore.location": p.Truststore,
			"ssl.client.auth":         "required",
		}
		switch mech {
		case "PLAIN":
			// Inter-broker SASL PLAIN: the broker's own user and the
			// users PLAIN accepts, from the listener's JAAS config.
			settings["sasl.enabled.mechanisms"] = "PLAIN"
			settings["sasl.mechanism.inter.broker.protocol"] = "PLAIN"
			settings["listener.name.internal.plain.sasl.jaas.config"] = `org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="broker-secret" user_broker="broker-secret";`
		case "SCRAM-SHA-512":
			// SCRAM: the broker's user and password from the JAAS
			// config; its credential is in the metadata (below).
			settings["sasl.enabled.mechanisms"] = "SCRAM-SHA-512"
			settings["sasl.mechanism.inter.broker.protocol"] = "SCRAM-SHA-512"
			settings["listener.name.internal.scram-sha-512.sasl.jaas.config"] = `org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="broker-secret";`
		}
		for k, v := range clusterSettings {
			settings[k] = v
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			nd, err := node.Start(context.Background(), node.Config{NodeID: int32(i + 1), DataDir: t.TempDir(), Controllers: voters,
				Settings: settings, InterBrokerListener: "INTERNAL",
				Listeners: []config.BrokerListener{
					{Name: "PLAINTEXT", Protocol: "PLAINTEXT", Listen: plain[i]},
					{Name: "INTERNAL", Protocol: proto, Listen: internal[i]},
				},
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Errorf("start node %d: %v", i+1, err)
				return
			}
			nodes[i] = nd
		}(i)
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, nd := range nodes {
			if nd != nil {
				nd.Close()
			}
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if mech == "SCRAM-SHA-512" {
		// The brokers' SCRAM credential, as a bootstrap would store it:
		// until then followers cannot authenticate to their leaders.
		if err := nodes[0].EnsureScramUser(ctx, "broker", "broker-secret", 4096); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(newClient(t, plain[0], kgo.SeedBrokers(plain...), freshMetadata))
	// Metadata on the PLAINTEXT listener lists every broker's PLAINTEXT address.
	m, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range m.Brokers {
		if got := net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))); got != plain[b.NodeID-1] {
			t.Fatalf("broker %d advertised as %s on PLAINTEXT, want %s", b.NodeID, got, plain[b.NodeID-1])
		}
	}
	if _, err := adm.CreateTopic(ctx, 2, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("3")}, "over-ssl"); err != nil {
		t.Fatal(err)
	}
	prod := newClient(t, plain[0], kgo.SeedBrokers(plain...), kgo.DefaultProduceTopic("over-ssl"),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RetryTimeout(60*time.Second))
	for i := 0; i < 200; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d with acks=all, min.insync.replicas=3: %v", i, err)
		}
	}
	td, err := adm.ListTopics(ctx, "over-ssl")
	if err != nil {
		t.Fatal(err)
	}
	for _, pd := range td["over-ssl"].Partitions {
		if len(pd.ISR) != 3 {
			t.Fatalf("partition %d ISR %v", pd.Partition, pd.ISR)
		}
	}
	if proto != "SASL_SSL" {
		return
	}
	// Kill the leader of partition 0 (no controlled shutdown); with
	// min.insync.replicas=2 writes go on over the secured replication, and
	// every acknowledged record is read back.
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "min.insync.replicas", Value: kadm.StringPtr("2")}}, "over-ssl"); err != nil {
		t.Fatal(err)
	}
	victim := td["over-ssl"].Partitions[0].Leader
	nodes[victim-1].Kill()
	nodes[victim-1] = nil
	var live []string
	for i, a := range plain {
		if int32(i+1) != victim {
			live = append(live, a)
		}
	}
	prod2 := newClient(t, live[0], kgo.SeedBrokers(live...), kgo.DefaultProduceTopic("over-ssl"),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RetryTimeout(90*time.Second))
	for i := 200; i < 400; i++ {
		if err := prod2.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d after killing broker %d: %v", i, victim, err)
		}
	}
	cons := newClient(t, live[0], kgo.SeedBrokers(live...), kgo.ConsumeTopics("over-ssl"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	for len(seen) < 400 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read back %d of 400 acknowledged records", len(seen))
		}
		fs.EachRecord(func(r *kgo.Record) {
			if seen[string(r.Value)] {
				t.Fatalf("record %s read twice", r.Value)
			}
			seen[string(r.Value)] = true
		})
	}
}
