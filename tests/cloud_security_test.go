package tests

// The managed service's security (issue 13): a cluster comes up with a
// SASL_SSL listener, its own CA and the primary user doadmin; users and
// their DigitalOcean ACLs become SCRAM credentials and Kafka ACLs on the
// cluster; trusted sources limit where users may connect from. All driven
// with godo; the cluster is used with franz-go over SASL_SSL with the
// details the API returns.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/godo"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// cloudClientOpts are franz-go options for a cluster of the control
// plane: TLS trusting the CA from GET /ca and SCRAM-SHA-512 as user.
func cloudClientOpts(t *testing.T, cl *godo.Client, id, user, password string) []kgo.Opt {
	t.Helper()
	ca, _, err := cl.Databases.GetCA(context.Background(), id)
	if err != nil {
		t.Fatalf("get CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca.Certificate) {
		t.Fatalf("the CA from GET /ca is not PEM: %q", ca.Certificate)
	}
	return []kgo.Opt{kgo.DialTLSConfig(&tls.Config{RootCAs: pool}),
		kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha512Mechanism())}
}

// certTLS is a TLS client config for a cluster's mTLS port: it trusts
// the CA from GET /ca and presents a user's access_cert and access_key
// (none when cert is "").
func certTLS(t *testing.T, cl *godo.Client, id, cert, key string) *tls.Config {
	t.Helper()
	ca, _, err := cl.Databases.GetCA(context.Background(), id)
	if err != nil {
		t.Fatalf("get CA: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.Certificate)
	cfg := &tls.Config{RootCAs: pool}
	if cert != "" {
		kp, err := tls.X509KeyPair([]byte(cert), []byte(key))
		if err != nil {
			t.Fatalf("access_cert and access_key: %v", err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return cfg
}

// certClientOpts are franz-go options for a cluster's mTLS port as the
// user whose access_cert and access_key are given.
func certClientOpts(t *testing.T, cl *godo.Client, id, cert, key string) []kgo.Opt {
	t.Helper()
	return []kgo.Opt{kgo.DialTLSConfig(certTLS(t, cl, id, cert, key))}
}

// certRefused checks that the broker at addr closes a TLS connection made
// with cfg right after the handshake (the client's certificate is
// missing or maps to no principal) instead of serving a request: an
// ApiVersions request gets no answer. (With TLS 1.3 the client's
// handshake completes before the server has checked its certificate.)
func certRefused(addr string, cfg *tls.Config) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil // refused in the handshake
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	// ApiVersions v0, correlation id 1, client id "t": a served
	// connection answers it.
	if _, err := c.Write([]byte{0, 0, 0, 11, 0, 18, 0, 0, 0, 0, 0, 1, 0, 1, 't'}); err != nil {
		return nil
	}
	var b [4]byte
	if _, err := io.ReadFull(c, b[:]); err == nil {
		return fmt.Errorf("%s answered a request", addr)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return fmt.Errorf("%s neither answered nor closed: %v", addr, err)
	}
	return nil
}

// fromAddr makes a client dial from local address ip over TLS trusting
// the CA (kgo takes either a dialer or a TLS config, so the dialer does
// the handshake).
func fromAddr(t *testing.T, cl *godo.Client, id, user, password, ip string) []kgo.Opt {
	t.Helper()
	ca, _, err := cl.Databases.GetCA(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.Certificate)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		host, _, _ := net.SplitHostPort(addr)
		tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: host})
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		return tc, nil
	}
	return []kgo.Opt{kgo.Dialer(dial), kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha512Mechanism())}
}

// refusedAtConnect checks that a TCP connection from ip to the first of
// the bootstrap address is closed by the broker before any byte: the read sees EOF
// or a reset, not a TLS answer, and no handshake completes.
func refusedAtConnect(bootstrap, ip string) error {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", bootstrap)
	if err != nil {
		return nil // refused outright
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	// A TLS ClientHello would be answered; the broker must instead close.
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err == nil {
		return fmt.Errorf("from %s: TLS handshake completed, want the connection closed at accept", ip)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return fmt.Errorf("from %s: connection neither answered nor closed: %v", ip, err)
	}
	return nil
}

// authzFailed reports whether err is a Kafka authorization failure (an
// idempotent producer without WRITE on any topic is refused at
// InitProducerId with CLUSTER_AUTHORIZATION_FAILED, before the topic).
func authzFailed(err error) bool {
	return errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.ClusterAuthorizationFailed)
}

// produceOne produces one record synchronously and returns the error.
func produceOne(opts []kgo.Opt, bootstrap, topic string) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(bootstrap), kgo.RecordRetries(1), kgo.RetryTimeout(5 * time.Second),
		kgo.RequestRetries(1)}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
}

// loginOnce sends one Metadata request with opts, without retries, and
// returns its error: a refused client's SASL_AUTHENTICATION_FAILED or
// closed connection comes back at once, where produceOne would retry for
// its 5 s.
func loginOnce(opts []kgo.Opt, bootstrap string) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(bootstrap), kgo.RequestRetries(0), kgo.RetryTimeout(time.Second)}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = kadm.NewClient(cl).BrokerMetadata(ctx)
	return err
}

// consumeOne reads one record of topic as group and returns it.
func consumeOne(opts []kgo.Opt, bootstrap, topic, group string) (string, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(bootstrap), kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		return "", err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return "", err
		}
		if it := fs.RecordIter(); !it.Done() {
			return string(it.Next().Value), nil
		}
	}
}

// eventually retries f until it returns nil (credentials and ACLs reach
// every broker through the metadata log a moment after the API answers).
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func TestCloudSecurity(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and a broker process")
	}
	cloudSecurity(t, "sqlite")
}

// TestCloudSecurityPostgres is TestCloudSecurity with the store in
// PostgreSQL (TRIB_TEST_POSTGRES, as TestCloudLifecyclePostgres).
func TestCloudSecurityPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and a broker process")
	}
	cloudSecurity(t, postgresStore(t, "trib_cloud_security"))
}

func cloudSecurity(t *testing.T, store string) {
	dir := t.TempDir()
	t.Cleanup(func() { killBrokers(dir) })
	cp := startCloud(t, dir, store)
	cl := godoClient(t, cp.URL, adminToken(t, dir))
	ctx := context.Background()

	db, _, err := cl.Databases.Create(ctx, &godo.DatabaseCreateRequest{Name: "secure", EngineSlug: "kafka", SizeSlug: "local", NumNodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	db = waitStatus(t, cl, db.ID, "online", 90*time.Second)
	conn := db.Connection
	if conn == nil || !conn.SSL || conn.User != "doadmin" || conn.Password == "" || conn.Port == 0 {
		t.Fatalf("connection: %+v", conn)
	}
	if len(db.Users) != 1 || db.Users[0].Name != "doadmin" || db.Users[0].Role != "primary" {
		t.Errorf("users of the new cluster: %+v", db.Users)
	}
	bootstrap := fmt.Sprintf("%s:%d", conn.Host, conn.Port)
	admin := cloudClientOpts(t, cl, db.ID, conn.User, conn.Password)

	// Without TLS or without credentials the listener refuses.
	if err := loginOnce(nil, bootstrap); err == nil {
		t.Error("a PLAINTEXT client was answered by the SASL_SSL listener")
	}
	if err := loginOnce(cloudClientOpts(t, cl, db.ID, "doadmin", "wrong"), bootstrap); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Errorf("a wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}

	// doadmin may do everything; topics through the API.
	one := uint32(1)
	if _, _, err := cl.Databases.CreateTopic(ctx, db.ID, &godo.DatabaseCreateTopicRequest{Name: "orders", PartitionCount: &one, ReplicationFactor: &one}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "doadmin produces", func() error { return produceOne(admin, bootstrap, "orders") })

	// Users with DigitalOcean's ACLs.
	reader, _, err := cl.Databases.CreateUser(ctx, db.ID, &godo.DatabaseCreateUserRequest{Name: "reader",
		Settings: &godo.DatabaseUserSettings{ACL: []*godo.KafkaACL{{Topic: "orders", Permission: "consume"}}}})
	if err != nil || reader.Password == "" || reader.Role != "normal" || reader.Settings == nil || len(reader.Settings.ACL) != 1 || reader.Settings.ACL[0].ID == "" {
		t.Fatalf("create user: %+v %v", reader, err)
	}
	writer, _, err := cl.Databases.CreateUser(ctx, db.ID, &godo.DatabaseCreateUserRequest{Name: "writer",
		Settings: &godo.DatabaseUserSettings{ACL: []*godo.KafkaACL{{Topic: "ord*", Permission: "produce"}}}})
	if err != nil {
		t.Fatal(err)
	}
	readerOpts := cloudClientOpts(t, cl, db.ID, "reader", reader.Password)
	writerOpts := cloudClientOpts(t, cl, db.ID, "writer", writer.Password)
	eventually(t, "writer produces to orders (prefix ord*)", func() error { return produceOne(writerOpts, bootstrap, "orders") })
	eventually(t, "reader consumes orders", func() error {
		_, err := consumeOne(readerOpts, bootstrap, "orders", "reader-group")
		return err
	})
	if err := produceOne(readerOpts, bootstrap, "orders"); !authzFailed(err) {
		t.Errorf("consume-only user produced: %v, want an authorization failure", err)
	}
	if _, err := consumeOne(writerOpts, bootstrap, "orders", "writer-group"); err == nil {
		t.Error("produce-only user consumed")
	}
	users, _, err := cl.Databases.ListUsers(ctx, db.ID, nil)
	var names []string
	for _, u := range users {
		names = append(names, u.Name)
	}
	slices.Sort(names)
	if err != nil || !slices.Equal(names, []string{"doadmin", "reader", "writer"}) {
		t.Errorf("list users: %v %v", names, err)
	}

	// Update ACLs: the reader may now produce too.
	if _, _, err := cl.Databases.UpdateUser(ctx, db.ID, "reader", &godo.DatabaseUpdateUserRequest{
		Settings: &godo.DatabaseUserSettings{ACL: []*godo.KafkaACL{{Topic: "orders", Permission: "produceconsume"}}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "reader produces after its ACL update", func() error { return produceOne(readerOpts, bootstrap, "orders") })

	// reset_auth: the old password stops working, the new one works.
	reset, _, err := cl.Databases.ResetUserAuth(ctx, db.ID, "reader", &godo.DatabaseResetUserAuthRequest{})
	if err != nil || reset.Password == "" || reset.Password == reader.Password {
		t.Fatalf("reset_auth: %+v %v", reset, err)
	}
	eventually(t, "the new password works", func() error {
		return produceOne(cloudClientOpts(t, cl, db.ID, "reader", reset.Password), bootstrap, "orders")
	})
	if err := loginOnce(readerOpts, bootstrap); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Errorf("the old password after reset_auth: %v, want SASL_AUTHENTICATION_FAILED", err)
	}

	// mTLS: every user has a client certificate from the cluster's CA;
	// on the mTLS port it authenticates as User:<name>, so the user's
	// ACLs apply (reader: produceconsume on orders, nothing on secret).
	// reset_auth replaced reader's certificate: the first one is refused.
	mtlsPort := conn.ApplicationPorts["kafka_mtls"]
	if mtlsPort == 0 || reader.AccessCert == "" || reader.AccessKey == "" || reset.AccessCert == "" || reset.AccessCert == reader.AccessCert {
		t.Fatalf("mTLS: port %d, reader's certificate %q, after reset_auth %q", mtlsPort, reader.AccessCert, reset.AccessCert)
	}
	mtls := fmt.Sprintf("%s:%d", conn.Host, mtlsPort)
	if _, _, err := cl.Databases.CreateTopic(ctx, db.ID, &godo.DatabaseCreateTopicRequest{Name: "secret", PartitionCount: &one, ReplicationFactor: &one}); err != nil {
		t.Fatal(err)
	}
	newCert := certClientOpts(t, cl, db.ID, reset.AccessCert, reset.AccessKey)
	eventually(t, "reader produces over mTLS with its new certificate", func() error { return produceOne(newCert, mtls, "orders") })
	if err := produceOne(newCert, mtls, "secret"); !authzFailed(err) {
		t.Errorf("reader over mTLS produced to secret (no ACL): %v, want an authorization failure", err)
	}
	if err := certRefused(mtls, certTLS(t, cl, db.ID, reset.AccessCert, reset.AccessKey)); err == nil {
		t.Error("the check of a refused certificate refused reader's current one")
	}
	if err := certRefused(mtls, certTLS(t, cl, db.ID, reader.AccessCert, reader.AccessKey)); err != nil {
		t.Errorf("reader's certificate replaced by reset_auth: %v", err)
	}
	if err := certRefused(mtls, certTLS(t, cl, db.ID, "", "")); err != nil {
		t.Errorf("a client without a certificate on the mTLS port: %v", err)
	}
	if kcat, err := exec.LookPath("kcat"); err == nil {
		files := t.TempDir()
		caPEM, _, err := cl.Databases.GetCA(ctx, db.ID)
		if err != nil {
			t.Fatal(err)
		}
		for name, body := range map[string]string{"ca.pem": string(caPEM.Certificate), "reader.pem": reset.AccessCert, "reader.key": reset.AccessKey} {
			if err := os.WriteFile(filepath.Join(files, name), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		kc := func(topic string) (string, error) {
			_, errOut, err := runCmd(t, time.Minute, "one\n", nil, kcat, "-b", mtls, "-X", "security.protocol=SSL",
				"-X", "ssl.ca.location="+filepath.Join(files, "ca.pem"), "-X", "ssl.certificate.location="+filepath.Join(files, "reader.pem"),
				"-X", "ssl.key.location="+filepath.Join(files, "reader.key"), "-P", "-t", topic)
			return errOut, err
		}
		if errOut, err := kc("orders"); err != nil {
			t.Errorf("kcat -P over mTLS as reader to orders: %v\n%s", err, tail(errOut))
		}
		if errOut, err := kc("secret"); err == nil || !strings.Contains(errOut, "authoriz") {
			t.Errorf("kcat -P over mTLS as reader to secret: %v, want an authorization failure\n%s", err, tail(errOut))
		}
	} else if strictTools() {
		t.Fatal("kcat not installed (.ci/run installs it)")
	}

	// Bad input and the primary user.
	for _, c := range []struct {
		req  godo.DatabaseCreateUserRequest
		want int
	}{
		{godo.DatabaseCreateUserRequest{Name: "writer"}, 409},
		{godo.DatabaseCreateUserRequest{Name: "bad name"}, 422},
		{godo.DatabaseCreateUserRequest{Name: "_trib"}, 422},
		{godo.DatabaseCreateUserRequest{Name: "x", Settings: &godo.DatabaseUserSettings{ACL: []*godo.KafkaACL{{Topic: "t", Permission: "read"}}}}, 422},
	} {
		if _, _, err := cl.Databases.CreateUser(ctx, db.ID, &c.req); apiStatus(err) != c.want {
			t.Errorf("create user %+v: %v, want %d", c.req, err, c.want)
		}
	}
	if _, err := cl.Databases.DeleteUser(ctx, db.ID, "doadmin"); apiStatus(err) != 422 {
		t.Errorf("delete doadmin: %v, want 422", err)
	}
	if _, _, err := cl.Databases.GetUser(ctx, db.ID, "nobody"); apiStatus(err) != 404 {
		t.Errorf("get a missing user: %v, want 404", err)
	}

	// Delete: the writer's credentials go.
	if _, err := cl.Databases.DeleteUser(ctx, db.ID, "writer"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cl.Databases.GetUser(ctx, db.ID, "writer"); apiStatus(err) != 404 {
		t.Errorf("get a deleted user: %v, want 404", err)
	}
	eventually(t, "the deleted user is refused", func() error {
		if err := loginOnce(writerOpts, bootstrap); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			return fmt.Errorf("the deleted user's login: %v, want SASL_AUTHENTICATION_FAILED", err)
		}
		return certRefused(mtls, certTLS(t, cl, db.ID, writer.AccessCert, writer.AccessKey))
	})

	// Trusted sources: with 127.0.0.1/32 trusted, a connection from
	// 127.0.0.2 is closed by the broker at accept (no TLS handshake, no
	// login), counted in its metrics; without rules it is served again.
	if _, err := cl.Databases.UpdateFirewallRules(ctx, db.ID, &godo.DatabaseUpdateFirewallRulesRequest{
		Rules: []*godo.DatabaseFirewallRule{{Type: "ip_addr", Value: "example.com"}}}); apiStatus(err) != 422 {
		t.Errorf("a host name as trusted source: %v, want 422", err)
	}
	if _, err := cl.Databases.UpdateFirewallRules(ctx, db.ID, &godo.DatabaseUpdateFirewallRulesRequest{
		Rules: []*godo.DatabaseFirewallRule{{Type: "ip_addr", Value: "127.0.0.1/32"}, {Type: "ip_addr", Value: "10.0.0.0/8"}}}); err != nil {
		t.Fatal(err)
	}
	rules, _, err := cl.Databases.GetFirewallRules(ctx, db.ID)
	if err != nil || len(rules) != 2 || rules[0].Value != "127.0.0.1/32" || rules[1].Value != "10.0.0.0/8" || rules[0].UUID == "" || rules[0].ClusterUUID != db.ID {
		t.Fatalf("firewall rules: %+v %v", rules, err)
	}
	eventually(t, "a connection from 127.0.0.2 closed at accept", func() error {
		return refusedAtConnect(bootstrap, "127.0.0.2")
	})
	if err := loginOnce(fromAddr(t, cl, db.ID, conn.User, conn.Password, "127.0.0.2"), bootstrap); err == nil {
		t.Error("doadmin from the untrusted 127.0.0.2 was answered")
	}
	if err := produceOne(fromAddr(t, cl, db.ID, conn.User, conn.Password, "127.0.0.1"), bootstrap, "orders"); err != nil {
		t.Errorf("doadmin from the trusted 127.0.0.1: %v", err)
	}
	if _, err := cl.Databases.UpdateFirewallRules(ctx, db.ID, &godo.DatabaseUpdateFirewallRulesRequest{Rules: []*godo.DatabaseFirewallRule{}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "doadmin from 127.0.0.2 without rules", func() error {
		return produceOne(fromAddr(t, cl, db.ID, conn.User, conn.Password, "127.0.0.2"), bootstrap, "orders")
	})

	// Metrics endpoints: one per broker, Prometheus text behind the
	// installation's basic-auth credentials, which can be replaced.
	if len(db.MetricsEndpoints) != 1 || db.MetricsEndpoints[0].Port == 0 {
		t.Fatalf("metrics endpoints: %+v", db.MetricsEndpoints)
	}
	metricsURL := fmt.Sprintf("http://%s:%d/metrics", db.MetricsEndpoints[0].Host, db.MetricsEndpoints[0].Port)
	scrape := func(user, pw string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, metricsURL, nil)
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	creds, _, err := cl.Databases.GetMetricsCredentials(ctx)
	if err != nil || creds.BasicAuthUsername == "" || creds.BasicAuthPassword == "" {
		t.Fatalf("metrics credentials: %+v %v", creds, err)
	}
	eventually(t, "a scrape of the metrics endpoint", func() error {
		// The connections refused by the trusted sources above are counted.
		if status, body := scrape(creds.BasicAuthUsername, creds.BasicAuthPassword); status != 200 || !strings.Contains(body, "kafka_server_replicamanager_underreplicatedpartitions") ||
			!strings.Contains(body, `tributary_server_connections_refused_total{listener="SASL_SSL"}`) {
			return fmt.Errorf("scrape: %d %.200s", status, body)
		}
		return nil
	})
	if status, _ := scrape("", ""); status != 401 {
		t.Errorf("scrape without credentials: %d, want 401", status)
	}
	if _, err := cl.Databases.UpdateMetricsCredentials(ctx, &godo.DatabaseUpdateMetricsCredentialsRequest{
		Credentials: &godo.DatabaseMetricsCredentials{BasicAuthUsername: "scraper", BasicAuthPassword: "a-new-password"}}); err != nil {
		t.Fatal(err)
	}
	if status, _ := scrape(creds.BasicAuthUsername, creds.BasicAuthPassword); status != 401 {
		t.Errorf("scrape with replaced credentials: %d, want 401", status)
	}
	if status, _ := scrape("scraper", "a-new-password"); status != 200 {
		t.Errorf("scrape with the new credentials: %d, want 200", status)
	}
	if _, err := cl.Databases.UpdateMetricsCredentials(ctx, &godo.DatabaseUpdateMetricsCredentialsRequest{
		Credentials: &godo.DatabaseMetricsCredentials{BasicAuthUsername: "scraper", BasicAuthPassword: "short"}}); apiStatus(err) != 422 {
		t.Errorf("a 5-character metrics password: %v, want 422", err)
	}

	// The users and ACLs survive a control plane restart (kill -9) and
	// a change made meanwhile is applied by the restarted one.
	cp.kill9()
	cp = startCloud(t, dir, store)
	cl = godoClient(t, cp.URL, adminToken(t, dir))
	if _, err := cl.Databases.DeleteUser(ctx, db.ID, "reader"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "reader refused after its deletion by the restarted control plane", func() error {
		if err := loginOnce(cloudClientOpts(t, cl, db.ID, "reader", reset.Password), bootstrap); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			return fmt.Errorf("the deleted reader's login: %v, want SASL_AUTHENTICATION_FAILED", err)
		}
		return nil
	})
	if err := produceOne(admin, bootstrap, "orders"); err != nil {
		t.Errorf("doadmin after the control plane restart: %v", err)
	}
	eventually(t, "the metrics endpoint served again by the restarted control plane", func() error {
		if status, body := scrape("scraper", "a-new-password"); status != 200 {
			return fmt.Errorf("scrape: %d %.200s", status, body)
		}
		return nil
	})
}
