package tests

// Kafka's configuration files drive real `trib broker` processes (issue
// 19): Kafka 3.9's and 4.1's stock KRaft server.properties start a broker
// whose node id, listener and data dir are the file's; three properties
// files form a three-broker cluster that franz-go produces to and consumes
// from; an unknown key and an unsupported listener refuse to start.
//
// The stock files in testdata/ are used as they are except for the two
// ports (9092, 9093) and the data dir (/tmp/kraft-combined-logs), which
// the tests rewrite to free ports and a temp dir so they can run beside
// other tests and brokers on the same machine. That the unchanged files
// resolve to node 1 on :9092/:9093 with data in /tmp/kraft-combined-logs
// is checked by TestStockKafkaPropertiesLayout (internal/config) and by
// --print-config below.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerProc is a `trib broker` process.
type brokerProc struct {
	cmd     *exec.Cmd
	started map[string]string // fields of the "broker started" log line
	exited  chan struct{}
	mu      sync.Mutex
	log     strings.Builder
}

func (p *brokerProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

var logfmtField = regexp.MustCompile(`(\w+)=("[^"]*"|\S+)`)

// startBrokerProc runs `trib broker args...` and waits for its
// "broker started" line. It is stopped with SIGTERM when the test ends.
func startBrokerProc(t *testing.T, env []string, args ...string) *brokerProc {
	t.Helper()
	cmd := exec.Command(tribBinary(t), append([]string{"broker"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &brokerProc{cmd: cmd, exited: make(chan struct{})}
	startedc := make(chan map[string]string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			if strings.Contains(line, `msg="broker started"`) {
				f := map[string]string{}
				for _, m := range logfmtField.FindAllStringSubmatch(line, -1) {
					f[m[1]] = strings.Trim(m[2], `"`)
				}
				startedc <- f
			}
		}
		io.Copy(io.Discard, pr)
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); pw.Close(); close(p.exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("--- trib broker %s ---\n%s", strings.Join(args, " "), tail(p.output()))
		}
	})
	select {
	case p.started = <-startedc:
	case <-p.exited:
		t.Fatalf("trib broker %s exited before serving:\n%s", strings.Join(args, " "), tail(p.output()))
	case <-time.After(60 * time.Second):
		t.Fatalf("trib broker %s did not start within 60s:\n%s", strings.Join(args, " "), tail(p.output()))
	}
	return p
}

// port returns a free loopback port.
func port(t *testing.T) string {
	_, p, _ := net.SplitHostPort(freePort(t))
	return p
}

// rewriteStock copies a stock properties file with only its ports and
// data dir replaced.
func rewriteStock(t *testing.T, name, brokerPort, ctlPort, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(":9092", ":"+brokerPort, ":9093", ":"+ctlPort, "/tmp/kraft-combined-logs", dataDir).Replace(string(b))
	path := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// produceConsume writes n records to a new topic and reads them back.
func produceConsume(t *testing.T, seeds []string, topic string, rf int16, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClient(t, seeds[0], kgo.SeedBrokers(seeds...), freshMetadata))
	// TOPIC_ALREADY_EXISTS: the client retried a create that had
	// succeeded (its first answer was lost to a retriable error).
	if res, err := adm.CreateTopic(ctx, 3, rf, nil, topic); err != nil || res.Err != nil && !errors.Is(res.Err, kerr.TopicAlreadyExists) {
		t.Fatalf("create %s: %v %v", topic, err, res.Err)
	}
	pcl := newClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()))
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i % 7)), Value: []byte(fmt.Sprintf("v%d", i))})
	}
	if err := pcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	ccl := newClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	for len(seen) < n {
		fs := ccl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(seen), n, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
}

// describeBroker returns broker id's effective configs by name.
func describeBroker(t *testing.T, addr string, id int32, names ...string) map[string]kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName, res.ConfigNames = kmsg.ConfigResourceTypeBroker, strconv.Itoa(int(id)), names
	req.Resources = append(req.Resources, res)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, newClient(t, addr))
	if err != nil || len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe broker %d: %v %+v", id, err, resp)
	}
	out := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range resp.Resources[0].Configs {
		out[c.Name] = c
	}
	return out
}

func TestConfigStockKafkaProperties(t *testing.T) {
	for _, name := range []string{"kafka-3.9-kraft-server.properties", "kafka-4.1-server.properties"} {
		t.Run(name, func(t *testing.T) {
			// Unchanged, the file describes node 1 on :9092/:9093 with data
			// in /tmp/kraft-combined-logs (printed, not started).
			out, stderr, err := runCmd(t, 30*time.Second, "", nil, tribBinary(t), "broker", "--print-config", "--config", filepath.Join("testdata", name))
			if err != nil {
				t.Fatalf("--print-config: %v\n%s", err, stderr)
			}
			for _, want := range []string{"node.id=1 ", "log.dirs=/tmp/kraft-combined-logs ", "listeners=PLAINTEXT://:9092,CONTROLLER://:9093 ",
				"Kafka listener PLAINTEXT on :9092 advertised as localhost:9092, controller listener on :9093", "num.network.threads=3 "} {
				if !strings.Contains(out, want) {
					t.Errorf("--print-config lacks %q:\n%s", want, out)
				}
			}

			bp, cp, dir := port(t), port(t), filepath.Join(t.TempDir(), "kraft-combined-logs")
			p := startBrokerProc(t, nil, "--config", rewriteStock(t, name, bp, cp, dir))
			if p.started["node_id"] != "1" || p.started["listen"] != "[::]:"+bp || p.started["advertise"] != "localhost:"+bp ||
				p.started["controller"] != "localhost:"+cp || p.started["data_dir"] != dir {
				t.Fatalf("started as %v; want node 1, listener :%s advertised as localhost:%s, controller localhost:%s, data %s", p.started, bp, bp, cp, dir)
			}
			if _, err := os.Stat(filepath.Join(dir, "__cluster_metadata-0")); err != nil {
				t.Fatalf("no metadata log in the file's log.dirs: %v", err)
			}
			addr := "localhost:" + bp
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			md, err := kadm.NewClient(newClient(t, addr)).BrokerMetadata(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(md.Brokers) != 1 || md.Brokers[0].NodeID != 1 || md.Brokers[0].Host != "localhost" || strconv.Itoa(int(md.Brokers[0].Port)) != bp {
				t.Fatalf("metadata brokers %+v", md.Brokers)
			}
			cfg := describeBroker(t, addr, 1, "node.id", "log.dirs", "log.retention.ms", "num.partitions")
			if v := cfg["log.dirs"].Value; v == nil || *v != dir {
				t.Errorf("DescribeConfigs log.dirs %v", cfg["log.dirs"])
			}
			if v := cfg["log.retention.ms"].Value; v == nil || *v != "604800000" || cfg["log.retention.ms"].Source != kmsg.ConfigSourceStaticBrokerConfig {
				t.Errorf("DescribeConfigs log.retention.ms %+v (from log.retention.hours=168)", cfg["log.retention.ms"])
			}
			produceConsume(t, []string{addr}, "stock", 1, 100)
		})
	}
}

// Three brokers from three properties files (the 3.9 stock file with its
// own node id, ports, data dir and the shared voters) form one cluster.
func TestConfigThreeBrokersFromProperties(t *testing.T) {
	type nd struct{ id, bp, cp, dir, file string }
	var nodes []nd
	var voters []string
	for i := 1; i <= 3; i++ {
		n := nd{id: strconv.Itoa(i), bp: port(t), cp: port(t), dir: filepath.Join(t.TempDir(), "logs")}
		nodes = append(nodes, n)
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%s", i, n.cp))
	}
	stock, err := os.ReadFile(filepath.Join("testdata", "kafka-3.9-kraft-server.properties"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range nodes {
		n := &nodes[i]
		s := strings.NewReplacer(
			"node.id=1", "node.id="+n.id,
			"controller.quorum.voters=1@localhost:9093", "controller.quorum.voters="+strings.Join(voters, ","),
			"listeners=PLAINTEXT://:9092,CONTROLLER://:9093", "listeners=PLAINTEXT://127.0.0.1:"+n.bp+",CONTROLLER://127.0.0.1:"+n.cp,
			"advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093", "advertised.listeners=PLAINTEXT://127.0.0.1:"+n.bp,
			"log.dirs=/tmp/kraft-combined-logs", "log.dirs="+n.dir,
			"offsets.topic.replication.factor=1", "offsets.topic.replication.factor=3",
		).Replace(string(stock))
		s += "broker.session.timeout.ms=3000\nbroker.heartbeat.interval.ms=300\ngroup.initial.rebalance.delay.ms=0\n"
		n.file = filepath.Join(t.TempDir(), "server-"+n.id+".properties")
		if err := os.WriteFile(n.file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	procs := make([]*brokerProc, 3)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func(i int) { defer wg.Done(); procs[i] = startBrokerProc(t, nil, "--config", nodes[i].file) }(i)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var seeds []string
	for i, p := range procs {
		n := nodes[i]
		if p.started["node_id"] != n.id || p.started["listen"] != "127.0.0.1:"+n.bp || p.started["data_dir"] != n.dir {
			t.Fatalf("node %s started as %v", n.id, p.started)
		}
		seeds = append(seeds, "127.0.0.1:"+n.bp)
	}
	// Every broker, asked itself, lists all three. (Asked through one
	// kgo client, the answer may come from the client's own view of the
	// cluster, which can lag.)
	deadline := time.Now().Add(30 * time.Second)
	for {
		views := brokerViews(t, seeds)
		if strings.Count(views, "brokers [1 2 3]") == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster of 3 not formed:\n%s", views)
		}
		time.Sleep(100 * time.Millisecond)
	}
	produceConsume(t, seeds, "three", 3, 300)
}

func TestConfigRefusals(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, props string
		env, args   []string
		want        []string
	}{
		{name: "unknown key", props: "node.id=1\nlog.retention.hourz=5\n",
			want: []string{`server.properties:2: unknown broker config "log.retention.hourz": did you mean log.retention.hours?`}},
		{name: "sasl_ssl listener without a keystore", props: "listeners=SASL_SSL://127.0.0.1:0\n",
			want: []string{"listener SASL_SSL", "ssl.keystore.location is required"}},
		{name: "ssl listener without a keystore", props: "listeners=SSL://127.0.0.1:0\n",
			want: []string{"listener SSL", "ssl.keystore.location is required"}},
		{name: "sasl listener via map", props: "listeners=CLIENT://127.0.0.1:0\nlistener.security.protocol.map=CLIENT:SASL_PLAINTEXT\n",
			want: []string{"inter-broker listener CLIENT uses SASL PLAIN", "listener.name.client.plain.sasl.jaas.config"}},
		{name: "kerberos", props: "sasl.enabled.mechanisms=GSSAPI\n", want: []string{"server.properties:1:", `invalid value "GSSAPI" for sasl.enabled.mechanisms`}},
		{name: "unsupported feature key", props: "remote.log.storage.system.enable=true\n", want: []string{"server.properties:1: remote.log.storage.system.enable is not supported: tiered storage (KIP-405) is not supported"}},
		{name: "two log dirs", props: "log.dirs=" + dir + "/a," + dir + "/b\n", want: []string{"log.dirs lists 2 directories", "JBOD"}},
		{name: "unknown key from env", env: []string{"TRIB_ZOOKEEPER_CONNECT=zk:2181"}, want: []string{"TRIB_ZOOKEEPER_CONNECT: zookeeper.connect is not supported"}},
		{name: "flag", args: []string{"--set", "num.partitions=0"}, want: []string{"--set num.partitions: invalid value \"0\" for num.partitions"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"broker", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, tc.args...)
			if tc.props != "" {
				path := filepath.Join(t.TempDir(), "server.properties")
				if err := os.WriteFile(path, []byte(tc.props), 0o644); err != nil {
					t.Fatal(err)
				}
				// --listen would replace the file's listener: give the
				// file alone.
				args = append([]string{"broker", "--config", path}, tc.args...)
				if !strings.Contains(tc.props, "log.dirs") {
					args = append(args, "--data-dir", t.TempDir())
				}
			}
			_, stderr, err := runCmd(t, 30*time.Second, "", tc.env, tribBinary(t), args...)
			if err == nil {
				t.Fatalf("trib broker started; want a refusal\n%s", stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// Flags override the file, the environment overrides the file, and
// --print-config says which won.
func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join("testdata", "kafka-3.9-kraft-server.properties")
	out, stderr, err := runCmd(t, 30*time.Second, "", []string{"TRIB_NUM_PARTITIONS=4", "TRIB_LOG_RETENTION_MINUTES=30"}, tribBinary(t),
		"broker", "--print-config", "--config", file, "--node-id", "7", "--controllers", "7@127.0.0.1:19093", "--listen", "127.0.0.1:19092", "--controller-listen", "127.0.0.1:19093")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, re := range []string{
		`(?m)^node\.id=7 +# flag --node-id$`,
		`(?m)^num\.partitions=4 +# env TRIB_NUM_PARTITIONS$`,
		`(?m)^log\.retention\.ms=1800000 +# env TRIB_LOG_RETENTION_MINUTES \(log\.retention\.minutes\)$`,
		`(?m)^listeners=PLAINTEXT://127\.0\.0\.1:19092,CONTROLLER://127\.0\.0\.1:19093 +# flag --listen, --controller-listen$`,
		`(?m)^log\.dirs=/tmp/kraft-combined-logs +# file testdata/kafka-3\.9-kraft-server\.properties:\d+$`,
		`(?m)^socket\.request\.max\.bytes=104857600 +# file `,
		`(?m)^num\.io\.threads=8 +# file .*thread pool size`,
		`(?m)^auto\.create\.topics\.enable=true +# default$`,
		`# Resolved: node 7 `,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("--print-config does not match %s:\n%s", re, out)
		}
	}
}

// A broker-only node (process.roles=broker, no controller listener, the
// voters in controller.quorum.voters) joins a combined node's quorum as a
// non-voter and serves a replicated topic with it.
func TestConfigBrokerOnlyNode(t *testing.T) {
	bp1, cp1, bp2 := port(t), port(t), port(t)
	combined := rewriteStock(t, "kafka-3.9-kraft-server.properties", bp1, cp1, filepath.Join(t.TempDir(), "logs"))
	b, err := os.ReadFile(combined)
	if err != nil {
		t.Fatal(err)
	}
	fast := "broker.session.timeout.ms=3000\nbroker.heartbeat.interval.ms=300\n"
	if err := os.WriteFile(combined, append(b, fast...), 0o644); err != nil {
		t.Fatal(err)
	}
	dir2 := filepath.Join(t.TempDir(), "logs")
	brokerOnly := filepath.Join(t.TempDir(), "broker.properties")
	props := "process.roles=broker\nnode.id=2\ncontroller.quorum.voters=1@localhost:" + cp1 + "\n" +
		"listeners=PLAINTEXT://:" + bp2 + "\nadvertised.listeners=PLAINTEXT://localhost:" + bp2 + "\n" +
		"inter.broker.listener.name=PLAINTEXT\ncontroller.listener.names=CONTROLLER\n" +
		"listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\nlog.dirs=" + dir2 + "\n" + fast
	if err := os.WriteFile(brokerOnly, []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	startBrokerProc(t, nil, "--config", combined)
	p2 := startBrokerProc(t, nil, "--config", brokerOnly)
	if p2.started["node_id"] != "2" || p2.started["data_dir"] != dir2 || p2.started["advertise"] != "localhost:"+bp2 {
		t.Fatalf("broker-only node started as %v", p2.started)
	}
	seeds := []string{"localhost:" + bp1, "localhost:" + bp2}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := newClient(t, seeds[1], kgo.SeedBrokers(seeds...))
	for {
		req := kmsg.NewPtrDescribeQuorumRequest()
		rt := kmsg.NewDescribeQuorumRequestTopic()
		rt.Topic = "__cluster_metadata"
		rp := kmsg.NewDescribeQuorumRequestTopicPartition()
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err == nil && len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 {
			p := resp.Topics[0].Partitions[0]
			if len(p.CurrentVoters) == 1 && p.CurrentVoters[0].ReplicaID == 1 && len(p.Observers) == 1 && p.Observers[0].ReplicaID == 2 {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("quorum: want voter 1 and observer 2: %v %+v", err, resp)
		}
		time.Sleep(100 * time.Millisecond)
	}
	produceConsume(t, seeds, "brokeronly", 2, 100)
}

// brokerViews is each broker's own answer to Metadata and DescribeQuorum,
// one line per seed: "SEED: brokers [IDS], quorum ...".
func brokerViews(t *testing.T, seeds []string) string {
	var b strings.Builder
	for _, seed := range seeds {
		cl, err := kgo.NewClient(kgo.SeedBrokers(seed))
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		sb := cl.SeedBrokers()[0]
		var ids []int32
		if resp, err := sb.Request(ctx, kmsg.NewPtrMetadataRequest()); err == nil {
			for _, br := range resp.(*kmsg.MetadataResponse).Brokers {
				ids = append(ids, br.NodeID)
			}
		}
		req := kmsg.NewPtrDescribeQuorumRequest()
		rt := kmsg.NewDescribeQuorumRequestTopic()
		rt.Topic = "__cluster_metadata"
		rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
		req.Topics = append(req.Topics, rt)
		var quorum string
		if resp, err := sb.Request(ctx, req); err == nil && len(resp.(*kmsg.DescribeQuorumResponse).Topics) == 1 {
			p := resp.(*kmsg.DescribeQuorumResponse).Topics[0].Partitions
			if len(p) == 1 {
				quorum = fmt.Sprintf("leader %d epoch %d high watermark %d", p[0].LeaderID, p[0].LeaderEpoch, p[0].HighWatermark)
			}
		}
		fmt.Fprintf(&b, "%s: brokers %v, quorum %s\n", seed, ids, quorum)
		cancel()
		cl.Close()
	}
	return b.String()
}
