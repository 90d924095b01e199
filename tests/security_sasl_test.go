package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	xscram "github.com/xdg-go/scram"

	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/node"
)

// syncBuffer is a log sink tests read while the broker writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// saslNode is a broker with a PLAINTEXT listener (inter-broker, used to
// create users), SASL_PLAINTEXT and SASL_SSL listeners offering PLAIN and
// SCRAM-SHA-256/512, and its log.
type saslNode struct {
	*node.Node
	pki  *pki
	logs *syncBuffer
}

func startSASLNode(t *testing.T, extra map[string]string) *saslNode {
	t.Helper()
	p := newPKI(t)
	logs := &syncBuffer{}
	settings := map[string]string{
		"ssl.keystore.location":   p.keystore("broker", pkix.Name{CommonName: "broker-1"}),
		"ssl.truststore.location": p.Truststore,
		"sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
		// Short, so wrong-password tests stay quick; the default is 100.
		"connection.failed.authentication.delay.ms": "20",
	}
	for k, v := range extra {
		settings[k] = v
	}
	n, err := node.Start(context.Background(), node.Config{
		NodeID: 1, DataDir: t.TempDir(), Settings: settings,
		Listeners: []config.BrokerListener{
			{Name: "PLAINTEXT", Protocol: "PLAINTEXT", Listen: "127.0.0.1:0"},
			{Name: "SASL_PLAINTEXT", Protocol: "SASL_PLAINTEXT", Listen: "127.0.0.1:0"},
			{Name: "SASL_SSL", Protocol: "SASL_SSL", Listen: "127.0.0.1:0"},
		},
		InterBrokerListener: "PLAINTEXT",
		Logger:              slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return &saslNode{Node: n, pki: p, logs: logs}
}

// createUser stores SCRAM-SHA-256 and -512 credentials for user.
func createUser(t *testing.T, addr, user, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := newAdmin(t, addr).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: user, Mechanism: kadm.ScramSha256, Iterations: 4096, Password: password},
		{User: user, Mechanism: kadm.ScramSha512, Iterations: 8192, Password: password},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Error(); err != nil {
		t.Fatal(err)
	}
}

func mechanisms(user, pass string) map[string]sasl.Mechanism {
	return map[string]sasl.Mechanism{
		"PLAIN":         plain.Auth{User: user, Pass: pass}.AsMechanism(),
		"SCRAM-SHA-256": scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(),
		"SCRAM-SHA-512": scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(),
	}
}

// TestSASLFranzGo: franz-go authenticates with PLAIN, SCRAM-SHA-256 and
// SCRAM-SHA-512 on SASL_PLAINTEXT and SASL_SSL, produces and consumes;
// wrong passwords and unknown users get SASL_AUTHENTICATION_FAILED; the
// passwords never appear in the broker's log.
func TestSASLFranzGo(t *testing.T) {
	n := startSASLNode(t, nil)
	const pw = "alice-Pa55word-xyz"
	createUser(t, n.ListenerAddr("PLAINTEXT"), "alice", pw)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, listener := range []string{"SASL_PLAINTEXT", "SASL_SSL"} {
		for name, mech := range mechanisms("alice", pw) {
			t.Run(listener+"/"+name, func(t *testing.T) {
				opts := []kgo.Opt{kgo.SASL(mech)}
				if listener == "SASL_SSL" {
					opts = append(opts, kgo.DialTLSConfig(n.pki.clientTLS("")))
				}
				topic := strings.ToLower(listener + "-" + name)
				cl := newClient(t, n.ListenerAddr(listener), append(opts, kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())...)
				for i := 0; i < 50; i++ {
					if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
						t.Fatalf("produce: %v", err)
					}
				}
				cons := newClient(t, n.ListenerAddr(listener), append(opts, kgo.ConsumeTopics(topic),
					kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
				for got := 0; got < 50; {
					fs := cons.PollFetches(ctx)
					if ctx.Err() != nil {
						t.Fatalf("consumed %d of 50", got)
					}
					got += fs.NumRecords()
				}
				// Metadata on a SASL listener advertises that listener.
				m, err := kadm.NewClient(cl).BrokerMetadata(ctx)
				if err != nil || net.JoinHostPort(m.Brokers[0].Host, strconv.Itoa(int(m.Brokers[0].Port))) != n.ListenerAddr(listener) {
					t.Fatalf("metadata %+v %v", m.Brokers, err)
				}
			})
		}
	}
	for name, mech := range mechanisms("alice", "wrong-password") {
		err := saslFailure(t, n.ListenerAddr("SASL_PLAINTEXT"), mech)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("%s with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", name, err)
		}
	}
	for name, mech := range mechanisms("nobody", pw) {
		if err := saslFailure(t, n.ListenerAddr("SASL_PLAINTEXT"), mech); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("%s for an unknown user: %v, want SASL_AUTHENTICATION_FAILED", name, err)
		}
	}
	// No SASL at all on a SASL listener: the connection is closed.
	if err := saslFailure(t, n.ListenerAddr("SASL_PLAINTEXT")); err == nil {
		t.Error("a client without SASL was served on a SASL listener")
	}
	logs := n.logs.String()
	if strings.Contains(logs, pw) || strings.Contains(logs, "wrong-password") {
		t.Fatalf("the broker log shows a password:\n%s", logs)
	}
	if !strings.Contains(logs, "failed authentication") {
		t.Errorf("no failed authentication was logged:\n%s", logs)
	}
}

// saslFailure issues one request with mech (none if nil) and returns the
// error.
func saslFailure(t *testing.T, addr string, mech ...sasl.Mechanism) error {
	opts := []kgo.Opt{kgo.RequestRetries(0), kgo.RetryTimeout(time.Second)}
	if len(mech) > 0 {
		opts = append(opts, kgo.SASL(mech[0]))
	}
	cl := newClient(t, addr, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	return err
}

// TestSASLPlainJAAS: with listener.name.<l>.plain.sasl.jaas.config, PLAIN
// checks Kafka's PlainLoginModule user_<name> options.
func TestSASLPlainJAAS(t *testing.T) {
	n := startSASLNode(t, map[string]string{
		"listener.name.sasl_plaintext.plain.sasl.jaas.config": `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_bob="bob-secret";`,
	})
	addr := n.ListenerAddr("SASL_PLAINTEXT")
	cl := newClient(t, addr, kgo.SASL(plain.Auth{User: "bob", Pass: "bob-secret"}.AsMechanism()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).BrokerMetadata(ctx); err != nil {
		t.Fatal(err)
	}
	if err := saslFailure(t, addr, plain.Auth{User: "bob", Pass: "admin-secret"}.AsMechanism()); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("bob with admin's password: %v", err)
	}
	if strings.Contains(n.logs.String(), "bob-secret") || strings.Contains(n.logs.String(), "admin-secret") {
		t.Fatal("the log shows a JAAS password")
	}
}

// TestSASLSarama: sarama with SCRAM-SHA-512, SCRAM-SHA-256 (handshake v1)
// and PLAIN (handshake v0 with raw tokens, sarama's default for PLAIN).
func TestSASLSarama(t *testing.T) {
	n := startSASLNode(t, nil)
	createUser(t, n.ListenerAddr("PLAINTEXT"), "carol", "carol-pw-1")
	for _, c := range []struct {
		mech      sarama.SASLMechanism
		handshake int16
		hash      func() hash.Hash
	}{
		{sarama.SASLTypeSCRAMSHA512, sarama.SASLHandshakeV1, sha512.New},
		{sarama.SASLTypeSCRAMSHA256, sarama.SASLHandshakeV1, sha256.New},
		{sarama.SASLTypePlaintext, sarama.SASLHandshakeV0, nil},
		{sarama.SASLTypePlaintext, sarama.SASLHandshakeV1, nil},
	} {
		t.Run(fmt.Sprintf("%s-v%d", c.mech, c.handshake), func(t *testing.T) {
			cfg := sarama.NewConfig()
			cfg.Version = sarama.V2_8_0_0
			cfg.Net.SASL.Enable = true
			cfg.Net.SASL.Mechanism = c.mech
			cfg.Net.SASL.Version = c.handshake
			cfg.ApiVersionsRequest = c.handshake != sarama.SASLHandshakeV0 // sarama requires it for v0
			cfg.Net.SASL.User, cfg.Net.SASL.Password = "carol", "carol-pw-1"
			if c.hash != nil {
				h := c.hash
				cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{hash: h} }
			}
			cfg.Producer.Return.Successes = true
			addrs := []string{n.ListenerAddr("SASL_PLAINTEXT")}
			prod, err := sarama.NewSyncProducer(addrs, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer prod.Close()
			topic := "sarama-sasl-" + strings.ToLower(string(c.mech)) + strconv.Itoa(int(c.handshake))
			for i := 0; i < 20; i++ {
				if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(strconv.Itoa(i))}); err != nil {
					t.Fatalf("send: %v", err)
				}
			}
			cons, err := sarama.NewConsumer(addrs, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer cons.Close()
			pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			for i := 0; i < 20; i++ {
				select {
				case m := <-pc.Messages():
					if string(m.Value) != strconv.Itoa(i) {
						t.Fatalf("message %d: %q", i, m.Value)
					}
				case <-time.After(30 * time.Second):
					t.Fatalf("consumed %d of 20", i)
				}
			}
			cfg.Net.SASL.Password = "nope"
			if _, err := sarama.NewSyncProducer(addrs, cfg); err == nil {
				t.Fatal("sarama with a wrong password connected")
			}
		})
	}
}

// saramaSCRAM adapts xdg-go/scram to sarama's SCRAMClient.
type saramaSCRAM struct {
	hash func() hash.Hash
	conv *xscram.ClientConversation
}

func (s *saramaSCRAM) Begin(user, pass, authz string) error {
	cl, err := xscram.HashGeneratorFcn(s.hash).NewClient(user, pass, authz)
	if err != nil {
		return err
	}
	s.conv = cl.NewConversation()
	return nil
}

func (s *saramaSCRAM) Step(challenge string) (string, error) { return s.conv.Step(challenge) }
func (s *saramaSCRAM) Done() bool                            { return s.conv.Done() }

// TestSASLBadInput: requests before authentication, garbage tokens,
// SaslAuthenticate before the handshake, an unknown mechanism and huge
// frames end the connection; the broker keeps serving.
func TestSASLBadInput(t *testing.T) {
	n := startSASLNode(t, nil)
	addr := n.ListenerAddr("SASL_PLAINTEXT")
	createUser(t, n.ListenerAddr("PLAINTEXT"), "dave", "dave-pw")
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		t.Cleanup(func() { c.Close() })
		return c
	}
	send := func(c net.Conn, req kmsg.Request, version int16) {
		req.SetVersion(version)
		c.Write((&kmsg.RequestFormatter{}).AppendRequest(nil, req, 7))
	}
	readFrame := func(c net.Conn) ([]byte, error) {
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return nil, err
		}
		b := make([]byte, binary.BigEndian.Uint32(size[:]))
		_, err := io.ReadFull(c, b)
		return b, err
	}
	closed := func(c net.Conn) bool {
		for {
			if _, err := readFrame(c); err != nil {
				return !errors.Is(err, errTimeout(err))
			}
		}
	}
	// ApiVersions works before authentication; Metadata closes.
	c := dial()
	av := kmsg.NewApiVersionsRequest()
	send(c, &av, 3)
	if _, err := readFrame(c); err != nil {
		t.Fatalf("ApiVersions before authentication: %v", err)
	}
	md := kmsg.NewMetadataRequest()
	send(c, &md, 9)
	if !closed(c) {
		t.Fatal("Metadata before authentication was answered")
	}
	// SaslAuthenticate before SaslHandshake: ILLEGAL_SASL_STATE, closed.
	c = dial()
	auth := kmsg.NewSASLAuthenticateRequest()
	auth.SASLAuthBytes = []byte("\x00dave\x00dave-pw")
	send(c, &auth, 1)
	b, err := readFrame(c)
	if err != nil {
		t.Fatal(err)
	}
	ar := kmsg.NewSASLAuthenticateResponse()
	ar.SetVersion(1)
	if err := ar.ReadFrom(b[4:]); err != nil || ar.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("SaslAuthenticate first: %+v %v", ar, err)
	}
	// An unknown mechanism: UNSUPPORTED_SASL_MECHANISM with the list.
	c = dial()
	hs := kmsg.NewSASLHandshakeRequest()
	hs.Mechanism = "GSSAPI"
	send(c, &hs, 1)
	if b, err = readFrame(c); err != nil {
		t.Fatal(err)
	}
	hr := kmsg.NewSASLHandshakeResponse()
	hr.SetVersion(1)
	if err := hr.ReadFrom(b[4:]); err != nil || hr.ErrorCode != kerr.UnsupportedSaslMechanism.Code || len(hr.SupportedMechanisms) != 3 {
		t.Fatalf("GSSAPI handshake: %+v %v", hr, err)
	}
	if !closed(c) {
		t.Fatal("connection open after an unsupported mechanism")
	}
	// Garbage SCRAM tokens: SASL_AUTHENTICATION_FAILED, closed.
	for _, tok := range [][]byte{nil, []byte("garbage"), bytes.Repeat([]byte{0xff}, 1000), []byte("n,,r=abc"), []byte("n,,n=dave")} {
		c = dial()
		hs.Mechanism = "SCRAM-SHA-256"
		send(c, &hs, 1)
		if _, err := readFrame(c); err != nil {
			t.Fatal(err)
		}
		auth.SASLAuthBytes = tok
		send(c, &auth, 1)
		if b, err = readFrame(c); err != nil {
			t.Fatal(err)
		}
		if err := ar.ReadFrom(b[4:]); err != nil || ar.ErrorCode != kerr.SaslAuthenticationFailed.Code {
			t.Fatalf("token %q: %+v %v", tok, ar, err)
		}
		if !closed(c) {
			t.Fatalf("connection open after token %q", tok)
		}
	}
	// A v0 handshake, then raw PLAIN tokens: right password works (an
	// empty token back, then Kafka requests), a wrong one closes.
	c = dial()
	hs.Mechanism = "PLAIN"
	send(c, &hs, 0)
	if _, err := readFrame(c); err != nil {
		t.Fatal(err)
	}
	tok := []byte("\x00dave\x00dave-pw")
	c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(tok))), tok...))
	if b, err = readFrame(c); err != nil || len(b) != 0 {
		t.Fatalf("raw PLAIN answer %q %v", b, err)
	}
	send(c, &md, 9)
	if _, err := readFrame(c); err != nil {
		t.Fatalf("Metadata after a v0 PLAIN exchange: %v", err)
	}
	c = dial()
	send(c, &hs, 0)
	readFrame(c)
	tok = []byte("\x00dave\x00wrong")
	c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(tok))), tok...))
	if !closed(c) {
		t.Fatal("a wrong raw PLAIN token was answered")
	}
	// A huge frame before authentication is refused without reading it.
	c = dial()
	c.Write(binary.BigEndian.AppendUint32(nil, 50<<20))
	if !closed(c) {
		t.Fatal("a 50 MiB frame before authentication was accepted")
	}
	// Many wrong passwords in a row: each refused, the broker unharmed.
	for i := 0; i < 30; i++ {
		if err := saslFailure(t, addr, scram.Auth{User: "dave", Pass: fmt.Sprint("guess", i)}.AsSha512Mechanism()); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	ok := newClient(t, addr, kgo.SASL(scram.Auth{User: "dave", Pass: "dave-pw"}.AsSha512Mechanism()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(ok).BrokerMetadata(ctx); err != nil {
		t.Fatalf("after the failures: %v", err)
	}
}

func errTimeout(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	return errors.New("not a timeout")
}

// TestScramCredentialsAdmin: DescribeUserScramCredentials and
// AlterUserScramCredentials with Kafka's per-user errors.
func TestScramCredentialsAdmin(t *testing.T) {
	n := startSASLNode(t, nil)
	adm := newAdmin(t, n.ListenerAddr("PLAINTEXT"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	createUser(t, n.ListenerAddr("PLAINTEXT"), "erin", "erin-pw")
	d, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e := d["erin"]; e.Err != nil || len(e.CredInfos) != 2 || e.CredInfos[0].Iterations != 4096 || e.CredInfos[1].Iterations != 8192 {
		t.Fatalf("describe erin: %+v", e)
	}
	if d, _ := adm.DescribeUserSCRAMs(ctx, "nobody"); !errors.Is(d["nobody"].Err, kerr.ResourceNotFound) {
		t.Fatalf("describe nobody: %+v", d["nobody"])
	}
	res, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "ghost", Mechanism: kadm.ScramSha256}},
		[]kadm.UpsertSCRAM{
			{User: "twice", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "x"},
			{User: "twice", Mechanism: kadm.ScramSha256, Iterations: 8192, Password: "y"},
			{User: "fine", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "x"},
		})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]error{"ghost": kerr.ResourceNotFound, "twice": kerr.DuplicateResource, "fine": nil}
	for u, w := range want {
		if got := res[u].Err; !errors.Is(got, w) && !(w == nil && got == nil) {
			t.Errorf("alter %s: %v, want %v", u, got, w)
		}
	}
	// Iterations out of range and an unknown mechanism, as raw requests
	// (kadm checks iterations itself).
	raw := kmsg.NewAlterUserSCRAMCredentialsRequest()
	for _, c := range []struct {
		user       string
		mech       int8
		iterations int32
	}{{"weak", 1, 1000}, {"huge", 2, 100000}, {"oddmech", 9, 4096}} {
		u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		u.Name, u.Mechanism, u.Iterations, u.Salt, u.SaltedPassword = c.user, c.mech, c.iterations, []byte("salt"), bytes.Repeat([]byte{1}, 32)
		raw.Upsertions = append(raw.Upsertions, u)
	}
	rresp, err := raw.RequestWith(ctx, newClient(t, n.ListenerAddr("PLAINTEXT")))
	if err != nil {
		t.Fatal(err)
	}
	wantCodes := map[string]int16{"weak": kerr.UnacceptableCredential.Code, "huge": kerr.UnacceptableCredential.Code, "oddmech": kerr.UnsupportedSaslMechanism.Code}
	for _, r := range rresp.Results {
		if r.ErrorCode != wantCodes[r.User] {
			t.Errorf("raw upsert %s: code %d, want %d", r.User, r.ErrorCode, wantCodes[r.User])
		}
	}
	if d, _ := adm.DescribeUserSCRAMs(ctx, "weak"); !errors.Is(d["weak"].Err, kerr.ResourceNotFound) {
		t.Fatalf("a refused credential was stored: %+v", d)
	}
	// Delete: erin's SCRAM-SHA-256 goes, SCRAM-SHA-512 stays.
	res, err = adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "erin", Mechanism: kadm.ScramSha256}}, nil)
	if err != nil || res["erin"].Err != nil {
		t.Fatalf("delete: %v %+v", err, res)
	}
	d, _ = adm.DescribeUserSCRAMs(ctx, "erin", "fine")
	if len(d["erin"].CredInfos) != 1 || d["erin"].CredInfos[0].Mechanism != kadm.ScramSha512 || d["fine"].Err != nil {
		t.Fatalf("after delete: %+v", d)
	}
	if err := saslFailure(t, n.ListenerAddr("SASL_PLAINTEXT"), scram.Auth{User: "erin", Pass: "erin-pw"}.AsSha256Mechanism()); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("deleted SCRAM-SHA-256 still authenticates: %v", err)
	}
}
