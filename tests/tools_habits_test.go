package tests

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// tribAt runs trib with a dead TRIB_BROKERS, so only the flags given name
// the broker (the kafka-*.sh flag names are what is tested).
func tribAt(t testing.TB, stdin string, args ...string) (string, string, error) {
	t.Helper()
	return runCmd(t, 60*time.Second, stdin, []string{"TRIB_BROKERS=127.0.0.1:1"}, tribBinary(t), args...)
}

func mustTribAt(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := tribAt(t, stdin, args...)
	if err != nil {
		t.Fatalf("trib %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, tail(out), tail(errOut))
	}
	return out
}

// The seeds' kafka-topics.sh / kafka-console-*.sh / kafka-consumer-groups.sh
// habits: --bootstrap-server / --broker-list, --topic, --group,
// --if-not-exists, --if-exists, adding partitions, --max-messages.
func TestToolsKafkaHabits(t *testing.T) {
	n := startNode(t, "", map[string]string{"group.initial.rebalance.delay.ms": "0"})
	addr := n.Addr()
	adm := newAdmin(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	create := []string{"topic", "create", "--if-not-exists", "--replication-factor", "1", "--partitions", "1", "--topic", "test", "--bootstrap-server", addr}
	if out := mustTribAt(t, "", create...); out != "Created topic test.\n" {
		t.Fatalf("create: %q", out)
	}
	if out := mustTribAt(t, "", create...); out != "" {
		t.Fatalf("create --if-not-exists of an existing topic printed %q", out)
	}
	if _, errOut, err := tribAt(t, "", "topic", "create", "--topic", "test", "--bootstrap-server", addr); err == nil || !strings.Contains(errOut, "TOPIC_ALREADY_EXISTS") {
		t.Fatalf("create without --if-not-exists: %v %q", err, errOut)
	}

	// kafka-topics.sh --alter --topic test --partitions 3
	if out := mustTribAt(t, "", "topic", "alter", "--topic", "test", "--partitions", "3", "--bootstrap-server", addr); !strings.Contains(out, "3 partitions") {
		t.Fatalf("alter: %q", out)
	}
	tds, err := adm.ListTopics(ctx, "test")
	if err != nil || len(tds["test"].Partitions) != 3 {
		t.Fatalf("after alter --partitions 3: %+v %v", tds["test"], err)
	}
	if _, errOut, err := tribAt(t, "", "topic", "alter", "test", "--partitions", "2", "-b", addr); err == nil || !strings.Contains(errOut, "INVALID_PARTITIONS") {
		t.Fatalf("alter to fewer partitions: %v %q", err, errOut)
	}
	if _, errOut, err := tribAt(t, "", "topic", "alter", "nosuch", "--partitions", "2", "-b", addr); err == nil || !strings.Contains(errOut, "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("alter a missing topic: %v %q", err, errOut)
	}

	// kafka-topics.sh --describe --topic test
	if out := mustTribAt(t, "", "topic", "describe", "--topic", "test", "--bootstrap-server", addr); !strings.Contains(out, "test") {
		t.Fatalf("describe --topic: %q", out)
	}

	// kafka-console-producer.sh --broker-list kafka:9092 --topic test
	mustTribAt(t, "a\nb\nc\n", "produce", "--broker-list", addr, "--topic", "test", "-p", "0")
	// kafka-console-consumer.sh --bootstrap-server kafka:9092 --topic test --from-beginning --max-messages 2
	if out := mustTribAt(t, "", "consume", "--bootstrap-server", addr, "--topic", "test", "--from-beginning", "--max-messages", "2", "-q"); out != "a\nb\n" {
		t.Fatalf("consume --max-messages 2: %q", out)
	}

	// kafka-consumer-groups.sh --describe --group g
	mustTribAt(t, "", "consume", "test", "-b", addr, "--group", "g", "--from-beginning", "-n", "3", "-q")
	if out := mustTribAt(t, "", "group", "describe", "--group", "g", "--bootstrap-server", addr); !strings.Contains(out, "test") {
		t.Fatalf("group describe --group: %q", out)
	}
	if out := mustTribAt(t, "", "group", "list", "--bootstrap-server", addr); !strings.Contains(out, "g") {
		t.Fatalf("group list: %q", out)
	}

	// kafka-topics.sh --delete --if-exists
	if out := mustTribAt(t, "", "topic", "delete", "--topic", "nosuch", "--if-exists", "--bootstrap-server", addr); out != "" {
		t.Fatalf("delete --if-exists of a missing topic printed %q", out)
	}
	if _, errOut, err := tribAt(t, "", "topic", "delete", "nosuch", "-b", addr); err == nil || !strings.Contains(errOut, "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("delete a missing topic: %v %q", err, errOut)
	}
	if out := mustTribAt(t, "", "topic", "delete", "--topic", "test", "--if-exists", "--bootstrap-server", addr); out != "Deleted topic test.\n" {
		t.Fatalf("delete --if-exists: %q", out)
	}
}

// trib consume past the end of the log is an error unless --reset says
// where to start instead.
func TestToolsConsumeOutOfRange(t *testing.T) {
	n := startNode(t, "", nil)
	addr := n.Addr()
	mustTrib(t, addr, "", "topic", "create", "short", "-p", "1")
	mustTrib(t, addr, "r0\nr1\nr2\n", "produce", "short")

	_, errOut, err := trib(t, addr, "", "consume", "short", "--offset", "1000", "-e")
	if err == nil || !strings.Contains(errOut, "out of range") || !strings.Contains(errOut, "--reset") {
		t.Fatalf("--offset 1000 past the end: err=%v stderr=%q", err, errOut)
	}
	if out := mustTrib(t, addr, "", "consume", "short", "--offset", "1000", "--reset", "earliest", "-e", "-q"); out != "r0\nr1\nr2\n" {
		t.Fatalf("--reset earliest: %q", out)
	}
	if out := mustTrib(t, addr, "", "consume", "short", "--offset", "1000", "--reset", "latest", "-e", "-q"); out != "" {
		t.Fatalf("--reset latest: %q", out)
	}
	// The log end itself is in range (the next record's offset).
	if out := mustTrib(t, addr, "", "consume", "short", "--offset", "3", "-e", "-q"); out != "" {
		t.Fatalf("--offset at the log end: %q", out)
	}
	if _, errOut, err := trib(t, addr, "", "consume", "short", "--offset", "1", "--reset", "middle", "-e"); err == nil || !strings.Contains(errOut, "--reset") {
		t.Fatalf("bad --reset: err=%v stderr=%q", err, errOut)
	}
}

// A mistyped subcommand fails with a suggestion; a command group without
// one prints its help.
func TestToolsUnknownSubcommand(t *testing.T) {
	for _, c := range []struct {
		args    []string
		suggest string
	}{
		{[]string{"topic", "lst"}, "list"},
		{[]string{"tpic", "list"}, "topic"},
		{[]string{"group", "describ", "g"}, "describe"},
		{[]string{"cluster", "inf"}, "info"},
	} {
		_, errOut, err := tribAt(t, "", c.args...)
		if err == nil || !strings.Contains(errOut, "unknown command") || !strings.Contains(errOut, "Did you mean this?\n\t"+c.suggest) {
			t.Errorf("trib %s: err=%v stderr=%q", strings.Join(c.args, " "), err, errOut)
		}
	}
	if out := mustTribAt(t, "", "topic"); !strings.Contains(out, "Available Commands") {
		t.Errorf("trib topic: %q", out)
	}
}

// trib produce asks the broker to create a missing topic (as kcat does);
// with auto.create.topics.enable=false it fails promptly instead.
func TestToolsProduceAutoCreate(t *testing.T) {
	n := startNode(t, "", nil)
	addr := n.Addr()
	mustTrib(t, addr, "x\ny\n", "produce", "fresh")
	if out := mustTrib(t, addr, "", "consume", "fresh", "--from-beginning", "-e", "-q"); out != "x\ny\n" {
		t.Fatalf("auto-created topic holds %q", out)
	}

	off := startNode(t, "", map[string]string{"auto.create.topics.enable": "false"})
	start := time.Now()
	_, errOut, err := trib(t, off.Addr(), "x\n", "produce", "fresh")
	if err == nil || !strings.Contains(errOut, "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("produce with auto-creation off: err=%v stderr=%q", err, errOut)
	}
	if d := time.Since(start); d > 45*time.Second {
		t.Fatalf("produce with auto-creation off took %v", d)
	}
}

// trib consume __consumer_offsets --formatter prints Kafka's formatter
// output: one JSON object per offset commit / group metadata record.
func TestToolsConsumerOffsetsFormatter(t *testing.T) {
	n := startNode(t, "", map[string]string{"group.initial.rebalance.delay.ms": "0"})
	addr := n.Addr()
	mustTrib(t, addr, "", "topic", "create", "fmt", "-p", "1")
	mustTrib(t, addr, "m0\nm1\nm2\n", "produce", "fmt")
	mustTrib(t, addr, "", "consume", "fmt", "-g", "fmt-group", "--from-beginning", "-n", "3", "-q")

	type versioned struct {
		Version int16           `json:"version"`
		Data    json.RawMessage `json:"data"`
	}
	type line struct {
		Key   *versioned `json:"key"`
		Value *versioned `json:"value"`
	}
	parse := func(out string) []line {
		var ls []line
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if l == "" {
				continue
			}
			var x line
			if err := json.Unmarshal([]byte(l), &x); err != nil || x.Key == nil {
				t.Fatalf("formatter line %q: %v", l, err)
			}
			ls = append(ls, x)
		}
		return ls
	}

	// The seed's command, with Kafka's class name.
	out := mustTrib(t, addr, "", "consume", "--topic", "__consumer_offsets", "--formatter", `kafka.coordinator.group.GroupMetadataManager$OffsetsMessageFormatter`, "--from-beginning", "-e", "-q")
	found := false
	for _, l := range parse(out) {
		var k struct {
			Group     string `json:"group"`
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
		}
		var v struct {
			Offset          *int64 `json:"offset"`
			LeaderEpoch     *int32 `json:"leaderEpoch"`
			Metadata        *string
			CommitTimestamp int64 `json:"commitTimestamp"`
		}
		if l.Key.Version > 1 {
			t.Fatalf("offsets formatter printed a non-offset record: %s", out)
		}
		if err := json.Unmarshal(l.Key.Data, &k); err != nil {
			t.Fatalf("key %s: %v", l.Key.Data, err)
		}
		if l.Value == nil || json.Unmarshal(l.Value.Data, &v) != nil || v.Offset == nil || v.LeaderEpoch == nil || v.CommitTimestamp <= 0 {
			t.Fatalf("value of %s: %s", l.Key.Data, out)
		}
		if k.Group == "fmt-group" && k.Topic == "fmt" && k.Partition == 0 && *v.Offset == 3 {
			found = true
		}
	}
	if !found {
		t.Fatalf("no offset commit of fmt-group fmt[0] at 3 in:\n%s", out)
	}

	out = mustTrib(t, addr, "", "consume", "__consumer_offsets", "--formatter", "group-metadata", "--from-beginning", "-e", "-q")
	found = false
	for _, l := range parse(out) {
		if l.Key.Version <= 1 {
			t.Fatalf("group-metadata formatter printed an offset commit: %s", out)
		}
		var k struct {
			Group string `json:"group"`
		}
		json.Unmarshal(l.Key.Data, &k)
		var v struct {
			ProtocolType string `json:"protocolType"`
			Generation   int32  `json:"generation"`
			Members      []struct {
				MemberID string `json:"memberId"`
				ClientID string `json:"clientId"`
			} `json:"members"`
		}
		if k.Group == "fmt-group" && l.Value != nil && json.Unmarshal(l.Value.Data, &v) == nil && v.ProtocolType == "consumer" && v.Generation >= 1 {
			found = true
		}
	}
	if !found {
		t.Fatalf("no group metadata of fmt-group in:\n%s", out)
	}
	if _, errOut, err := trib(t, addr, "", "consume", "__consumer_offsets", "--formatter", "nope", "-e"); err == nil || !strings.Contains(errOut, "--formatter") {
		t.Fatalf("bad --formatter: %v %q", err, errOut)
	}
}

// trib produce against an address where no broker listens fails within
// seconds with the reason, without --delivery-timeout.
func TestToolsProduceNoBroker(t *testing.T) {
	start := time.Now()
	_, errOut, err := trib(t, "127.0.0.1:1", "line\n", "produce", "x")
	if err == nil || !strings.Contains(errOut, "no broker answered") || !strings.Contains(errOut, "connection refused") {
		t.Fatalf("err=%v stderr=%q", err, errOut)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("took %v", d)
	}
}
