package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/tributary/tributary/internal/client"
	"github.com/tributary/tributary/internal/schemaregistry"
)

// startRegistry runs an in-process schema registry instance against the
// brokers; it is closed when the test ends (or earlier by the caller).
func startRegistry(t testing.TB, brokers string) *schemaregistry.Service {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := schemaregistry.Start(ctx, schemaregistry.Config{
		Brokers: []string{brokers}, Listen: "127.0.0.1:0", Eligible: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("start registry: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newSR(t testing.TB, url string) *sr.Client {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func wantSRCode(t testing.TB, err error, status, code int) {
	t.Helper()
	var re *sr.ResponseError
	if !errors.As(err, &re) || re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("want %d/%d, got %v", status, code, err)
	}
}

// waitWriter waits until the instance knows the elected writer.
func waitWriter(t testing.TB, s *schemaregistry.Service) (string, bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if url, self := s.Election.Writer(); url != "" {
			return url, self
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no registry writer elected within 60s")
	return "", false
}

const orderSchema = `{"type":"record","name":"Order","namespace":"shop","fields":[
 {"name":"id","type":"long"},{"name":"item","type":"string"},{"name":"qty","type":"int","default":1}]}`

type order struct {
	ID   int64  `avro:"id"`
	Item string `avro:"item"`
	Qty  int32  `avro:"qty"`
}

// TestSchemaRegistryAvroRoundTrip registers a schema with franz-go's
// registry client and produces and consumes Avro records in the
// Confluent wire format (magic byte 0, 4-byte schema id) through its Serde.
func TestSchemaRegistryAvroRoundTrip(t *testing.T) {
	n := startNode(t, "", noRebalanceDelay())
	reg := startRegistry(t, n.Addr())
	waitWriter(t, reg)
	rcl := newSR(t, reg.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	ss, err := rcl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: orderSchema})
	if err != nil {
		t.Fatal(err)
	}
	got, err := rcl.LookupSchema(ctx, "orders-value", sr.Schema{Schema: orderSchema})
	if err != nil || got.ID != ss.ID || got.Version != 1 {
		t.Fatalf("lookup: %+v %v", got, err)
	}
	byID, err := rcl.SchemaByID(ctx, ss.ID)
	if err != nil {
		t.Fatal(err)
	}
	schema, err := avro.Parse(byID.Schema)
	if err != nil {
		t.Fatalf("served schema does not parse: %v", err)
	}
	var serde sr.Serde
	serde.Register(ss.ID, order{},
		sr.EncodeFn(func(v any) ([]byte, error) { return avro.Marshal(schema, v) }),
		sr.DecodeFn(func(b []byte, v any) error { return avro.Unmarshal(schema, b, v) }))

	const topic = "orders"
	if _, err := newAdmin(t, n.Addr()).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, n.Addr(), kgo.ConsumeTopics(topic))
	var want []order
	for i := range 10 {
		o := order{ID: int64(i), Item: fmt.Sprintf("item-%d", i), Qty: int32(i + 1)}
		want = append(want, o)
		b, err := serde.Encode(o)
		if err != nil {
			t.Fatal(err)
		}
		if b[0] != 0 || int(b[1])<<24|int(b[2])<<16|int(b[3])<<8|int(b[4]) != ss.ID {
			t.Fatalf("wire header %x, want magic 0 and id %d", b[:5], ss.ID)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: b}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var gotOrders []order
	for len(gotOrders) < len(want) {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", len(gotOrders), len(want), err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			// A consumer resolves the writer's schema by the id in the record.
			id, _, err := serde.DecodeID(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rcl.SchemaByID(ctx, id); err != nil {
				t.Fatalf("schema %d of a consumed record: %v", id, err)
			}
			var o order
			if err := serde.Decode(r.Value, &o); err != nil {
				t.Fatal(err)
			}
			gotOrders = append(gotOrders, o)
		})
	}
	if fmt.Sprint(gotOrders) != fmt.Sprint(want) {
		t.Fatalf("round trip: got %v, want %v", gotOrders, want)
	}
}

// TestSchemaRegistryBadInputAndRestart checks the documented error answers
// and that a restarted instance serves everything from _schemas.
func TestSchemaRegistryBadInputAndRestart(t *testing.T) {
	n := startNode(t, "", noRebalanceDelay())
	reg := startRegistry(t, n.Addr())
	waitWriter(t, reg)
	rcl := newSR(t, reg.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	v1, err := rcl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: orderSchema})
	if err != nil {
		t.Fatal(err)
	}
	v2schema := strings.Replace(orderSchema, `]}`, `,{"name":"note","type":"string","default":""}]}`, 1)
	v2, err := rcl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: v2schema})
	if err != nil || v2.Version != 2 {
		t.Fatalf("v2: %+v %v", v2, err)
	}
	other, err := rcl.CreateSchema(ctx, "other-value", sr.Schema{Schema: `"string"`})
	if err != nil {
		t.Fatal(err)
	}

	_, err = rcl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: `{"type":"record","name":"Order","fields":[{"name":"x","type":"nosuchtype"}]}`})
	wantSRCode(t, err, 422, 42201)
	_, err = rcl.SchemaByVersion(ctx, "nosuchsubject", 1)
	wantSRCode(t, err, 404, 40401)
	resp, err := http.Get(reg.URL() + "/subjects/orders-value/versions/first")
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		ErrorCode int `json:"error_code"`
	}
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != 422 || e.ErrorCode != 42202 {
		t.Fatalf("bad version: %d %d", resp.StatusCode, e.ErrorCode)
	}
	incompatible := strings.Replace(orderSchema, `]}`, `,{"name":"required","type":"string"}]}`, 1)
	_, err = rcl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: incompatible})
	wantSRCode(t, err, 409, 409)
	if r := rcl.SetMode(ctx, sr.ModeReadOnly, "orders-value"); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	_, err = rcl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: `"int"`})
	wantSRCode(t, err, 422, 42205)

	// Restart: a new instance reads everything back from _schemas.
	reg.Close()
	reg2 := startRegistry(t, n.Addr())
	rcl2 := newSR(t, reg2.URL())
	for _, want := range []sr.SubjectSchema{v1, v2, other} {
		got, err := rcl2.SchemaByVersion(ctx, want.Subject, want.Version)
		if err != nil || got.ID != want.ID {
			t.Fatalf("after restart %s v%d: %+v %v, want id %d", want.Subject, want.Version, got, err, want.ID)
		}
	}
	if r := rcl2.Mode(ctx, "orders-value"); r[0].Err != nil || r[0].Mode != sr.ModeReadOnly {
		t.Fatalf("mode after restart: %+v", r[0])
	}
	// New ids continue after the old ones.
	waitWriter(t, reg2)
	next, err := rcl2.CreateSchema(ctx, "fresh-value", sr.Schema{Schema: `"bytes"`})
	if err != nil || next.ID <= other.ID {
		t.Fatalf("fresh schema after restart: %+v %v (last id %d)", next, err, other.ID)
	}
}

// TestSchemaRegistryTwoInstances runs two instances on one cluster: one is
// elected writer, writes sent to either succeed, and both serve the same ids.
func TestSchemaRegistryTwoInstances(t *testing.T) {
	n := startNode(t, "", noRebalanceDelay())
	a := startRegistry(t, n.Addr())
	b := startRegistry(t, n.Addr())
	// Both must agree on one writer.
	var writer string
	deadline := time.Now().Add(60 * time.Second)
	for {
		ua, sa := a.Election.Writer()
		ub, sb := b.Election.Writer()
		if ua != "" && ua == ub && sa != sb {
			writer = ua
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instances disagree on the writer: %q/%v %q/%v", ua, sa, ub, sb)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if writer != a.URL() && writer != b.URL() {
		t.Fatalf("writer %s is neither instance", writer)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ca, cb := newSR(t, a.URL()), newSR(t, b.URL())
	var mu sync.Mutex
	ids := map[string]int{}
	var wg sync.WaitGroup
	for i, cl := range []*sr.Client{ca, cb, ca, cb} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				subject := fmt.Sprintf("s%d-%d", i, j)
				s, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: fmt.Sprintf(`{"type":"fixed","name":"f%d_%d","size":4}`, i, j)})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids[subject] = s.ID
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	seen := map[int]string{}
	for subject, id := range ids {
		if prev, ok := seen[id]; ok {
			t.Fatalf("id %d given to %s and %s", id, prev, subject)
		}
		seen[id] = subject
		for _, cl := range []*sr.Client{ca, cb} {
			got, err := cl.SchemaByVersion(ctx, subject, 1)
			if err != nil || got.ID != id {
				t.Fatalf("%s on an instance: %+v %v, want id %d", subject, got, err, id)
			}
		}
	}
	if len(ids) != 20 {
		t.Fatalf("registered %d subjects, want 20", len(ids))
	}
}

// TestSchemaRegistryProcess runs `trib registry` as a process next to a
// `trib dev` broker, kills it with SIGKILL after registering and checks a
// new process serves the acknowledged schemas.
func TestSchemaRegistryProcess(t *testing.T) {
	broker := startTribProcess(t, "")
	start := func() (*exec.Cmd, string) { return startRegistryProcess(t, broker.Addr) }
	cmd, url := start()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl := newSR(t, url)
	var created []sr.SubjectSchema
	for i := range 5 {
		// Right after start the election may still be running: the write
		// waits for it instead of answering 50004.
		s, err := cl.CreateSchema(ctx, fmt.Sprintf("p%d", i), sr.Schema{Schema: fmt.Sprintf(`{"type":"enum","name":"e%d","symbols":["A"]}`, i)})
		if err != nil {
			t.Fatal(err)
		}
		created = append(created, s)
	}
	cmd.Process.Kill()
	cmd.Wait()
	_, url2 := start()
	cl2 := newSR(t, url2)
	for _, want := range created {
		got, err := cl2.SchemaByID(ctx, want.ID)
		if err != nil || got.Schema != want.Schema.Schema {
			t.Fatalf("schema %d after kill -9 and restart: %+v %v", want.ID, got, err)
		}
	}
}

// startRegistryProcess runs `trib registry` against brokers on a free port
// and returns the process and its URL once it serves. It is killed when
// the test ends.
func startRegistryProcess(t testing.TB, brokers string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(tribBinary(t), "registry", "--brokers", brokers, "--listen", "127.0.0.1:0", "--log-level", "warn")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedWriter{w: &bytes.Buffer{}}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "schema registry listening on "); ok {
				urlc <- u
			}
		}
	}()
	select {
	case u := <-urlc:
		return cmd, u
	case <-time.After(60 * time.Second):
		stderr.mu.Lock()
		defer stderr.mu.Unlock()
		t.Fatalf("trib registry did not start within 60s\n%s", stderr.w)
	}
	return nil, ""
}

// TestSchemaRegistryKafkajs drives the registry with an independent
// client, @kafkajs/confluent-schema-registry (register, look up, encode
// and decode in the Confluent wire format), producing and consuming
// through kafkajs.
func TestSchemaRegistryKafkajs(t *testing.T) {
	kafkajsDir(t)
	n := startNode(t, "", noRebalanceDelay())
	reg := startRegistry(t, n.Addr())
	waitWriter(t, reg)
	res := runKafkajs(t, n.Addr(), "registry.js", 2*time.Minute, "REGISTRY="+reg.URL(), "TOPIC=registry-orders")
	var r struct {
		AvroID, JSONID, ProtoID, AgainID, Latest, ByVersion int
		Headers                                             [][2]int
		Decoded                                             []struct {
			ID   int    `json:"id"`
			Item string `json:"item"`
		}
		IncompatibleStatus int
	}
	if err := json.Unmarshal(res[0], &r); err != nil {
		t.Fatal(err)
	}
	if r.AvroID == 0 || r.AgainID != r.AvroID || r.Latest != r.AvroID || r.ByVersion != r.AvroID {
		t.Fatalf("ids: %+v", r)
	}
	if r.JSONID == r.AvroID || r.ProtoID == r.AvroID || r.ProtoID == r.JSONID {
		t.Fatalf("distinct schemas share an id: %+v", r)
	}
	wantIDs := []int{r.AvroID, r.AvroID, r.AvroID, r.AvroID, r.AvroID, r.JSONID, r.ProtoID}
	if len(r.Headers) != len(wantIDs) || len(r.Decoded) != len(wantIDs) {
		t.Fatalf("consumed %d records, want %d: %+v", len(r.Decoded), len(wantIDs), r)
	}
	for i, h := range r.Headers {
		if h[0] != 0 || h[1] != wantIDs[i] {
			t.Fatalf("record %d: magic %d id %d, want 0 and %d", i, h[0], h[1], wantIDs[i])
		}
		if d := r.Decoded[i]; d.ID != i {
			t.Fatalf("record %d decoded as %+v", i, d)
		}
	}
	if r.IncompatibleStatus != 409 {
		t.Fatalf("incompatible change answered status %d, want 409", r.IncompatibleStatus)
	}
}

// TestSchemaRegistryClusterFailover runs the registry on a 3-broker
// cluster (_schemas with replication factor 3) and kills the leader of
// _schemas: registrations go on once a new leader is elected, and every
// acknowledged schema is served, also by a new instance.
func TestSchemaRegistryClusterFailover(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	admCl := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), freshMetadata)
	adm := kadm.NewClient(admCl)
	// The registry sizes _schemas by the brokers it sees, asking any of
	// them: wait until every broker lists all three. A Metadata request
	// each time: kadm's BrokerMetadata answers from the client's broker
	// list, which nothing refreshes while the test waits (it timed out
	// when the first answer had two brokers); and one broker listing three
	// is not enough (a registry that asked another, still at two, made
	// _schemas with replication factor 2 and its ISR never reached 3).
	c.waitFor("every broker listing three registered brokers", func() bool {
		views, errs := client.BrokerViews(ctx, admCl, []int32{1, 2, 3})
		if len(errs) > 0 {
			return false
		}
		for _, v := range views {
			if !v.Lists(1) || !v.Lists(2) || !v.Lists(3) {
				return false
			}
		}
		return true
	})
	start := func() *schemaregistry.Service {
		s, err := schemaregistry.Start(ctx, schemaregistry.Config{Brokers: c.addrs, Listen: "127.0.0.1:0", Eligible: true,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	reg := start()
	rcl := newSR(t, reg.URL())
	acked := map[string]int{}
	register := func(from, to int) {
		for i := from; i < to; i++ {
			subject := fmt.Sprintf("c%d", i)
			s, err := rcl.CreateSchema(ctx, subject, sr.Schema{Schema: fmt.Sprintf(`{"type":"fixed","name":"f%d","size":2}`, i)})
			if err != nil {
				t.Fatalf("register %s: %v", subject, err)
			}
			acked[subject] = s.ID
		}
	}
	register(0, 5)
	var td kadm.TopicDetail
	c.waitFor("_schemas with three in-sync replicas", func() bool {
		td = c.describe(adm, schemaregistry.DefaultTopic)
		return len(td.Partitions) == 1 && len(td.Partitions[0].Replicas) == 3 && len(td.Partitions[0].ISR) == 3
	})
	if td.Topic == "" || !strings.Contains(fmt.Sprint(describeConfig(t, adm, schemaregistry.DefaultTopic)), "compact") {
		t.Fatalf("_schemas is not compacted")
	}
	victim := td.Partitions[0].Leader
	c.nodes[victim-1].Kill()
	c.nodes[victim-1] = nil
	register(5, 10)
	reg2 := start()
	cl2 := newSR(t, reg2.URL())
	for subject, id := range acked {
		for _, cl := range []*sr.Client{rcl, cl2} {
			got, err := cl.SchemaByVersion(ctx, subject, 1)
			if err != nil || got.ID != id {
				t.Fatalf("%s after the leader of _schemas died: %+v %v, want id %d", subject, got, err, id)
			}
		}
	}
}

func describeConfig(t *testing.T, adm *kadm.Client, topic string) string {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" {
			return c.MaybeValue()
		}
	}
	return ""
}
