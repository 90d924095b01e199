package tests

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/tributary/tributary/internal/checker"
	"github.com/tributary/tributary/internal/config"
)

// TestClusterSecureKill9: three `trib broker` processes serving clients
// and replicating over SASL_SSL, with the metadata quorum's transport on
// mutual TLS (CONTROLLER:SSL) and the authorizer on. Under an idempotent
// acks=all load, a partition leader and then the active controller are
// killed with SIGKILL and restarted; every acknowledged record is read
// back exactly once and in order. The controller listener refuses
// plaintext and TLS without a client certificate.
func TestClusterSecureKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three broker processes")
	}
	p := newPKI(t)
	ks := p.keystore("broker", pkix.Name{CommonName: "broker", Organization: []string{"Tributary"}})
	jaas := `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-pw" user_admin="admin-pw";`
	settings := append(append([]string{}, procSettings...),
		"listeners=SASL_SSL://127.0.0.1:9092",
		"listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL",
		"inter.broker.listener.name=SASL_SSL",
		"ssl.keystore.location="+ks,
		"ssl.truststore.location="+p.Truststore,
		"sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512",
		"sasl.mechanism.inter.broker.protocol=PLAIN",
		"listener.name.sasl_ssl.plain.sasl.jaas.config="+jaas,
		"authorizer.class.name="+config.StandardAuthorizer,
		"super.users=User:admin",
	)
	c := startProcClusterWith(t, 3, procOptions{settings: settings})
	c.clientOpts = []kgo.Opt{kgo.DialTLSConfig(p.clientTLS("")), kgo.SASL(plain.Auth{User: "admin", Pass: "admin-pw"}.AsMechanism())}

	// The quorum's listener speaks only mutual TLS.
	ctl := c.node(1).ctl
	if conn, err := net.DialTimeout("tcp", ctl, 5*time.Second); err == nil {
		// Raft's stream marker and the start of an AppendEntries RPC:
		// enough bytes for the TLS server to see a record that is not a
		// handshake and close at once (one byte held the connection
		// until its 10 s handshake timeout).
		conn.Write([]byte{'R', 0, 0x80, 0x80, 0x80, 0x80})
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Read(make([]byte, 1)); err == nil {
			t.Error("the controller listener answered a plaintext connection")
		}
		conn.Close()
	}
	if conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ctl, p.clientTLS("")); err == nil {
		// TLS 1.3 reports a refused client certificate on the first read.
		conn.Write([]byte{'R'})
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Errorf("the controller listener accepted TLS without a client certificate: %v", err)
		}
		conn.Close()
	}

	admCl := c.client(kgo.MetadataMinAge(10 * time.Millisecond))
	adm := kadm.NewClient(admCl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const topic, parts = "secure", 3
	if _, err := adm.CreateTopic(ctx, parts, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic); err != nil {
		t.Fatal(err)
	}
	c.waitFor(20*time.Second, "full ISRs", func() bool { return fullISR(describeTopic(adm, topic), parts) })
	h := checker.New()
	l := startLoadWith(c, h, topic, "p1", 2000)
	c.waitAcks(h, 1000, 30*time.Second, "before any fault")

	victim := describeTopic(adm, topic).Partitions[0].Leader
	t.Logf("kill -9 broker %d (leader of partition 0)", victim)
	c.kill9(victim)
	c.waitFor(20*time.Second, "a new leader for partition 0", func() bool {
		p := describeTopic(adm, topic).Partitions[0]
		return p.Leader >= 0 && p.Leader != victim && !slices.Contains(p.ISR, victim)
	})
	c.waitAcks(h, 1000, 30*time.Second, "after the leader was killed")
	c.restart(victim)
	c.waitFor(30*time.Second, "the restarted broker back in every ISR", func() bool { return fullISR(describeTopic(adm, topic), parts) })

	// The active controller: Raft fails over over TLS.
	ctlID, _, err := describeCluster(admCl)
	if err != nil || ctlID < 1 {
		t.Fatalf("describe cluster: controller %d, %v", ctlID, err)
	}
	t.Logf("kill -9 broker %d (the active controller)", ctlID)
	c.kill9(ctlID)
	c.waitFor(20*time.Second, "a new controller", func() bool {
		id, _, err := describeCluster(admCl)
		return err == nil && id > 0 && id != ctlID
	})
	c.waitAcks(h, 1000, 30*time.Second, "after the controller was killed")
	c.restart(ctlID)
	c.waitFor(30*time.Second, "full ISRs after the controller restart", func() bool { return fullISR(describeTopic(adm, topic), parts) })
	c.waitAcks(h, 300, 30*time.Second, "after the restarts")

	l.stop(t, 30*time.Second)
	c.readBack(h, topic, 30*time.Second)
	r := h.Check()
	t.Logf("history: %v", r)
	if !r.OK() {
		t.Fatalf("history check failed: %v", r)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
