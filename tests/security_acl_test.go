package tests

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/node"
)

// startACLNode starts a broker with the authorizer on, one SASL_PLAINTEXT
// listener (also inter-broker), admin a super user authenticating with
// PLAIN against the listener's JAAS users, everyone else with SCRAM.
func startACLNode(t *testing.T, logs io.Writer) (addr string, admin *kadm.Client) {
	t.Helper()
	n, err := node.Start(context.Background(), node.Config{
		NodeID: 1, DataDir: t.TempDir(),
		Settings: map[string]string{
			"authorizer.class.name":                               config.StandardAuthorizer,
			"super.users":                                         "User:admin",
			"sasl.enabled.mechanisms":                             "PLAIN,SCRAM-SHA-512",
			"sasl.mechanism.inter.broker.protocol":                "PLAIN",
			"listener.name.sasl_plaintext.plain.sasl.jaas.config": `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-pw" user_admin="admin-pw";`,
			"connection.failed.authentication.delay.ms":           "0",
		},
		Listeners:           []config.BrokerListener{{Name: "SASL_PLAINTEXT", Protocol: "SASL_PLAINTEXT", Listen: "127.0.0.1:0"}},
		InterBrokerListener: "SASL_PLAINTEXT",
		Logger:              slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	addr = n.Addr()
	admin = kadm.NewClient(newClient(t, addr, kgo.SASL(plain.Auth{User: "admin", Pass: "admin-pw"}.AsMechanism())))
	return addr, admin
}

func scramClient(t *testing.T, addr, user string, opts ...kgo.Opt) *kgo.Client {
	return newClient(t, addr, append([]kgo.Opt{kgo.SASL(scram.Auth{User: user, Pass: user + "-pw"}.AsSha512Mechanism()),
		kgo.RetryTimeout(5 * time.Second)}, opts...)...)
}

func addACL(t *testing.T, admin *kadm.Client, b *kadm.ACLBuilder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := admin.CreateACLs(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create ACL: %v", r.Err)
		}
	}
}

// TestAuthorizer: deny by default; produce, consume in a group and topic
// creation are refused with Kafka's codes and succeed once the ACL is
// added; Metadata hides topics; DENY wins; ACLs are listed with MATCH
// filters and deleted; each denial is logged once.
func TestAuthorizer(t *testing.T) {
	logs := &syncBuffer{}
	addr, admin := startACLNode(t, logs)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for _, u := range []string{"alice", "bob"} {
		res, err := admin.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: u, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: u + "-pw"}})
		if err != nil || res.Error() != nil {
			t.Fatalf("create %s: %v %v", u, err, res.Error())
		}
	}
	if _, err := admin.CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateTopic(ctx, 1, 1, nil, "secret"); err != nil {
		t.Fatal(err)
	}

	// Produce: TOPIC_AUTHORIZATION_FAILED, then allowed by a WRITE ACL
	// (which also lets the idempotent producer get its id).
	alice := scramClient(t, addr, "alice", kgo.DefaultProduceTopic("orders"))
	if err := alice.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) && !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("unauthorized produce: %v", err)
	}
	addACL(t, admin, kadm.NewACLs().Allow("User:alice").Topics("orders").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral))
	alice2 := scramClient(t, addr, "alice", kgo.DefaultProduceTopic("orders"))
	for i := 0; i < 10; i++ {
		if err := alice2.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("authorized produce: %v", err)
		}
	}

	// Consume in a group: GROUP_AUTHORIZATION_FAILED, then the topic,
	// then allowed.
	consume := func() error {
		cl := scramClient(t, addr, "bob", kgo.ConsumeTopics("orders"), kgo.ConsumerGroup("bob-group"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		defer cl.Close()
		pctx, pcancel := context.WithTimeout(ctx, 15*time.Second)
		defer pcancel()
		got := 0
		for got < 10 {
			fs := cl.PollFetches(pctx)
			for _, e := range fs.Errors() {
				if !errors.Is(e.Err, context.DeadlineExceeded) {
					return e.Err
				}
			}
			if pctx.Err() != nil {
				return pctx.Err()
			}
			got += fs.NumRecords()
		}
		return nil
	}
	if err := consume(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("consume without ACLs: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	addACL(t, admin, kadm.NewACLs().Allow("User:bob").Topics("ord").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternPrefixed))
	if err := consume(); !errors.Is(err, kerr.GroupAuthorizationFailed) {
		t.Fatalf("consume without the group ACL: %v, want GROUP_AUTHORIZATION_FAILED", err)
	}
	addACL(t, admin, kadm.NewACLs().Allow("User:bob").Groups("bob-group").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	if err := consume(); err != nil {
		t.Fatalf("consume with ACLs: %v", err)
	}

	// Metadata: bob sees orders, not secret; asking for secret is refused.
	bob := kadm.NewClient(scramClient(t, addr, "bob"))
	tds, err := bob.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if names := tds.Names(); !slices.Equal(names, []string{"orders"}) {
		t.Fatalf("bob lists %v", names)
	}
	if tds, err := bob.ListTopics(ctx, "secret"); err == nil && !errors.Is(tds["secret"].Err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("bob describes secret: %+v", tds["secret"])
	}

	// Topic creation: refused, then allowed on a prefix.
	aliceAdm := kadm.NewClient(scramClient(t, addr, "alice"))
	if r, _ := aliceAdm.CreateTopic(ctx, 1, 1, nil, "alice-1"); !errors.Is(r.Err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("create without ACL: %v", r.Err)
	}
	addACL(t, admin, kadm.NewACLs().Allow("User:alice").Topics("alice-").Operations(kadm.OpCreate).ResourcePatternType(kadm.ACLPatternPrefixed))
	if r, err := aliceAdm.CreateTopic(ctx, 1, 1, nil, "alice-1"); err != nil || r.Err != nil {
		t.Fatalf("create with ACL: %v %v", err, r.Err)
	}
	if r, _ := aliceAdm.CreateTopic(ctx, 1, 1, nil, "other"); !errors.Is(r.Err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("create outside the prefix: %v", r.Err)
	}
	// Cluster-level admin: refused for alice.
	if _, err := aliceAdm.DescribeUserSCRAMs(ctx); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice describes SCRAM users: %v", err)
	}
	if res, err := aliceAdm.DescribeACLs(ctx, kadm.NewACLs().Topics("orders").ResourcePatternType(kadm.ACLPatternMatch).Operations(kadm.OpAny).Allow().AllowHosts().Deny().DenyHosts()); err != nil || len(res) == 0 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice describes ACLs: %v %+v", err, res)
	}

	// DENY wins over the prefixed ALLOW.
	addACL(t, admin, kadm.NewACLs().Deny("User:bob").Topics("orders").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	if err := consume(); err == nil {
		t.Fatal("consumed despite a DENY")
	}

	// MATCH filter: the ACLs that apply to topic orders.
	dreq := kmsg.NewDescribeACLsRequest()
	dreq.ResourceType, dreq.ResourceName, dreq.ResourcePatternType = kmsg.ACLResourceTypeTopic, kmsg.StringPtr("orders"), kmsg.ACLResourcePatternTypeMatch
	dreq.Operation, dreq.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	dresp, err := dreq.RequestWith(ctx, newClient(t, addr, kgo.SASL(plain.Auth{User: "admin", Pass: "admin-pw"}.AsMechanism())))
	if err != nil || dresp.ErrorCode != 0 {
		t.Fatalf("describe ACLs: %v %+v", err, dresp)
	}
	n := 0
	for _, res := range dresp.Resources {
		n += len(res.ACLs)
	}
	if n != 3 { // alice WRITE orders, bob READ ord*, bob DENY READ orders
		t.Fatalf("MATCH orders found %d ACLs: %+v", n, dresp.Resources)
	}
	deleted, err := admin.DeleteACLs(ctx, kadm.NewACLs().Deny("User:bob").DenyHosts("*").Topics("orders").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	if err != nil || len(deleted) != 1 || len(deleted[0].Deleted) != 1 {
		t.Fatalf("delete: %v %+v", err, deleted)
	}
	if err := consume(); err != nil {
		t.Fatalf("consume after deleting the DENY: %v", err)
	}
	if !strings.Contains(logs.String(), "authorization denied") || !strings.Contains(logs.String(), "principal=User:bob") {
		t.Fatalf("no audit line:\n%s", logs.String())
	}
	if c := strings.Count(logs.String(), `msg="authorization denied" principal=User:alice host=127.0.0.1 operation=CREATE resource_type=TOPIC resource=other `); c != 1 {
		t.Fatalf("alice's refused create logged %d times:\n%s", c, logs.String())
	}
}

// TestToolsSecure: trib user and trib acl with Kafka's flags, and every
// client command's --command-config (a Kafka client properties file).
func TestToolsSecure(t *testing.T) {
	logs := &syncBuffer{}
	addr, _ := startACLNode(t, logs)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	admin := write("admin.properties", "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"+
		`sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-pw";`+"\n")
	carol := write("carol.properties", "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"+
		`sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="carol" password="carol-secret-9";`+"\n")
	as := func(cfg string, stdin string, args ...string) (string, string, error) {
		return trib(t, addr, stdin, append(args, "--command-config", cfg)...)
	}
	must := func(cfg, stdin string, args ...string) string {
		t.Helper()
		out, errOut, err := as(cfg, stdin, args...)
		if err != nil {
			t.Fatalf("trib %v: %v\n%s%s", args, err, out, errOut)
		}
		return out
	}
	if out := must(admin, "carol-secret-9\n", "user", "create", "carol", "--password-stdin"); !strings.Contains(out, "Created user carol") {
		t.Fatalf("user create: %q", out)
	}
	if out := must(admin, "", "user", "list"); !strings.Contains(out, "carol  SCRAM-SHA-256") || !strings.Contains(out, "carol  SCRAM-SHA-512  8192") {
		t.Fatalf("user list:\n%s", out)
	}
	// Without ACLs carol cannot create a topic.
	if _, errOut, err := as(carol, "", "topic", "create", "carol-events", "--partitions", "1"); err == nil || !strings.Contains(errOut, "TOPIC_AUTHORIZATION_FAILED") {
		t.Fatalf("create without ACLs: %v %s", err, errOut)
	}
	out := must(admin, "", "acl", "create", "--allow-principal", "User:carol", "--producer", "--topic", "carol-", "--resource-pattern-type", "prefixed")
	if strings.Count(out, "Created ACL") != 3 {
		t.Fatalf("acl create --producer:\n%s", out)
	}
	must(admin, "", "acl", "create", "--allow-principal", "User:carol", "--consumer", "--topic", "carol-", "--group", "carol-g", "--resource-pattern-type", "prefixed")
	must(carol, "", "topic", "create", "carol-events", "--partitions", "1")
	must(carol, "a\nb\nc\n", "produce", "carol-events")
	if out := must(carol, "", "consume", "carol-events", "-n", "3", "-g", "carol-g", "--offset", "beginning"); out != "a\nb\nc\n" {
		t.Fatalf("consume: %q", out)
	}
	out = must(admin, "", "acl", "list", "--topic", "carol-events", "--resource-pattern-type", "match")
	if strings.Count(out, "User:carol") != 4 { // WRITE, DESCRIBE, CREATE, READ on carol-*
		t.Fatalf("acl list match:\n%s", out)
	}
	// carol may not manage ACLs or users.
	if _, errOut, err := as(carol, "", "acl", "list"); err == nil || !strings.Contains(errOut, "CLUSTER_AUTHORIZATION_FAILED") {
		t.Fatalf("carol lists ACLs: %v %s", err, errOut)
	}
	out = must(admin, "", "acl", "delete", "--topic", "carol-", "--resource-pattern-type", "prefixed", "--principal", "User:carol")
	if !strings.Contains(out, "Deleted 4 ACLs") {
		t.Fatalf("acl delete:\n%s", out)
	}
	if _, errOut, err := as(carol, "d\n", "produce", "carol-events"); err == nil {
		t.Fatalf("produce after the ACLs were deleted succeeded: %s", errOut)
	}
	must(admin, "", "user", "delete", "carol")
	if _, _, err := as(carol, "", "topic", "list"); err == nil {
		t.Fatal("a deleted user authenticated")
	}
	if strings.Contains(logs.String(), "carol-secret-9") {
		t.Fatal("the broker log shows carol's password")
	}
	// A bad properties file is refused with the key.
	bad := write("bad.properties", "security.protocol=SASL_SSL\nssl.keystore.type=JKS\n")
	if _, errOut, err := as(bad, "", "topic", "list"); err == nil || !strings.Contains(errOut, "ssl.keystore.type=JKS") {
		t.Fatalf("JKS accepted: %v %s", err, errOut)
	}
}
