package config

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Kafka's stock KRaft files resolve, unchanged, to the node they describe.
func TestStockKafkaPropertiesLayout(t *testing.T) {
	for _, tc := range []struct {
		file   string
		voters map[int32]string
	}{
		{"kafka-3.9-kraft-server.properties", map[int32]string{1: "localhost:9093"}},
		{"kafka-4.1-server.properties", nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := Load(Sources{File: filepath.Join("..", "..", "tests", "testdata", tc.file)})
			if err != nil {
				t.Fatal(err)
			}
			l, err := b.Layout()
			if err != nil {
				t.Fatal(err)
			}
			if l.NodeID != 1 || !l.Broker || !l.Controller || l.DataDir != "/tmp/kraft-combined-logs" ||
				l.BrokerListener != "PLAINTEXT" || l.Listen != ":9092" || l.Advertise != "localhost:9092" ||
				l.ControllerListen != ":9093" || l.ControllerAdvertise != "localhost:9093" || len(l.Voters) != len(tc.voters) {
				t.Fatalf("layout %+v", l)
			}
			for id, a := range tc.voters {
				if l.Voters[id] != a {
					t.Fatalf("voters %v", l.Voters)
				}
			}
			if v := b.Effective("log.retention.ms"); v.Value != "604800000" || v.Origin != OriginFile {
				t.Fatalf("log.retention.ms %+v", v)
			}
			if got := b.NotApplicableSet(); len(got) < 5 {
				t.Fatalf("not applicable keys %v", got)
			}
		})
	}
}

// Flags override the file: --listen replaces the broker listener only,
// --controller-listen the controller listener.
func TestLoadFlagsOverrideFile(t *testing.T) {
	file := filepath.Join("..", "..", "tests", "testdata", "kafka-3.9-kraft-server.properties")
	b, err := Load(Sources{File: file, Env: []string{"TRIB_NUM_PARTITIONS=4", "TRIB_BROKERS=x:1", "TRIB_NODE_ID=9"},
		Set: []string{"num.partitions=6"}, Listen: "127.0.0.1:7000", ControllerListen: "127.0.0.1:7001",
		Flags: map[string]FlagValue{"node.id": {"2", "--node-id"}, "controller.quorum.voters": {"2@127.0.0.1:7001", "--controllers"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Get("listeners"); got != "PLAINTEXT://127.0.0.1:7000,CONTROLLER://127.0.0.1:7001" {
		t.Fatalf("listeners %q", got)
	}
	if v := b.Effective("num.partitions"); v.Value != "6" || v.Origin != OriginFlag {
		t.Fatalf("num.partitions %+v", v)
	}
	if v := b.Effective("node.id"); v.Value != "2" || v.Where != "--node-id" {
		t.Fatalf("node.id %+v", v)
	}
	l, err := b.Layout()
	if err != nil {
		t.Fatal(err)
	}
	if l.NodeID != 2 || l.Listen != "127.0.0.1:7000" || l.ControllerListen != "127.0.0.1:7001" || l.Voters[2] != "127.0.0.1:7001" {
		t.Fatalf("layout %+v", l)
	}
	b, err = Load(Sources{File: file, Env: []string{"TRIB_NUM_PARTITIONS=4"}})
	if err != nil {
		t.Fatal(err)
	}
	if v := b.Effective("num.partitions"); v.Value != "4" || v.Origin != OriginEnv || v.Where != "TRIB_NUM_PARTITIONS" {
		t.Fatalf("num.partitions %+v", v)
	}
}

// log.retention.ms over minutes over hours within one origin; a higher
// origin wins whatever its unit; negative means unlimited (-1).
func TestRetentionPrecedence(t *testing.T) {
	for _, tc := range []struct {
		layers []Layer
		want   string
	}{
		{nil, "604800000"},
		{[]Layer{{Origin: OriginFile, Values: map[string]string{"log.retention.hours": "1"}}}, "3600000"},
		{[]Layer{{Origin: OriginFile, Values: map[string]string{"log.retention.hours": "1", "log.retention.minutes": "2"}}}, "120000"},
		{[]Layer{{Origin: OriginFile, Values: map[string]string{"log.retention.hours": "1", "log.retention.minutes": "2", "log.retention.ms": "5"}}}, "5"},
		{[]Layer{{Origin: OriginFile, Values: map[string]string{"log.retention.ms": "5"}}, {Origin: OriginFlag, Values: map[string]string{"log.retention.hours": "2"}}}, "7200000"},
		{[]Layer{{Origin: OriginFile, Values: map[string]string{"log.retention.minutes": "-1"}}}, "-1"},
	} {
		b, err := LoadBroker(tc.layers...)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Get("log.retention.ms"); got != tc.want {
			t.Errorf("%+v: log.retention.ms %s, want %s", tc.layers, got, tc.want)
		}
		// Topics fall back to the resolved value.
		if got := NewTopicConfig(nil, b).Get("retention.ms"); got != tc.want {
			t.Errorf("%+v: topic retention.ms %s, want %s", tc.layers, got, tc.want)
		}
	}
}

// Refusals name the key, the reason and where it was set; every problem
// is reported at once.
func TestLoadRefuses(t *testing.T) {
	for _, tc := range []struct {
		values map[string]string
		want   []string
	}{
		{map[string]string{"num.partitons": "3", "ssl.keystore.type": "JKS", "ssl.keystore.password": "x", "listener.name.ssl.ssl.cipher.suites": "x"},
			[]string{`unknown broker config "num.partitons"`, `invalid value "JKS" for ssl.keystore.type`, "ssl.keystore.password is not supported: Tributary reads PEM",
				"listener.name.ssl.ssl.cipher.suites is not supported"}},
		{map[string]string{"ssl.principal.mapping.rules": "RULE:broken"}, []string{"ssl.principal.mapping.rules"}},
		{map[string]string{"sasl.enabled.mechanisms": "GSSAPI", "sasl.kerberos.service.name": "kafka", "listener.name.x.plain.sasl.jaas.config": `M required password="hunter2"`},
			[]string{`invalid value "GSSAPI" for sasl.enabled.mechanisms`, "sasl.kerberos.service.name is not supported", "invalid value for listener.name.x.plain.sasl.jaas.config: sasl.jaas.config must end with ';'"}},
		{map[string]string{"zookeeper.connect": "zk:2181"}, []string{"ZooKeeper"}},
		{map[string]string{"log.retention.hourz": "1"}, []string{"did you mean log.retention.hours?"}},
		{map[string]string{"retention.ms": "1"}, []string{"topic config; its broker-wide default is log.retention.ms"}},
		{map[string]string{"num.partitions": "zero"}, []string{`invalid value "zero" for num.partitions`}},
		{map[string]string{"admin.listen": "localhost", "consumer.lag.window.commits": "1"},
			[]string{`invalid value "localhost" for admin.listen`, `invalid value "1" for consumer.lag.window.commits`}},
		{map[string]string{"admin.listen": ":70000"}, []string{"not a number from 0 to 65535"}},
	} {
		_, err := LoadBroker(Layer{Origin: OriginFile, Values: tc.values, Where: map[string]string{"num.partitons": "f:3"}})
		if err == nil {
			t.Fatalf("%v accepted", tc.values)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error shows a password: %v", err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q lacks %q", tc.values, err, w)
			}
		}
	}
	for _, tc := range []struct {
		values map[string]string
		want   string
	}{
		{map[string]string{"listeners": "PLAINTEXT://:9092,X://:9094", "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,X:KERBEROS"}, "not a security protocol"},
		{map[string]string{"listeners": "PLAINTEXT://:9092,CONTROLLER://:9093", "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_SSL"}, "controller listener CONTROLLER://:9093 uses SASL_SSL"},
		{map[string]string{"listeners": "INTERNAL://:9092"}, "no security protocol"},
		{map[string]string{"listeners": "A://:9092,B://:9094", "listener.security.protocol.map": "A:PLAINTEXT,B:PLAINTEXT"}, "security.inter.broker.protocol=PLAINTEXT is not in listeners"},
		{map[string]string{"log.dirs": "/a,/b"}, "JBOD"},
		{map[string]string{"process.roles": "controller"}, "controller-only"},
		{map[string]string{"process.roles": "broker", "controller.quorum.voters": "1@h:1"}, "a broker-only node is not a voter"},
		{map[string]string{"process.roles": "broker"}, "controller.quorum.voters (ID@HOST:PORT,...), which is not set"},
		{map[string]string{"process.roles": "broker", "controller.quorum.voters": "2@h:1", "listeners": "PLAINTEXT://:9092,CONTROLLER://:9093"}, "process.roles has no controller"},
		{map[string]string{"process.roles": "broker,controller", "controller.quorum.voters": "2@h:1"}, "not in controller.quorum.voters"},
		{map[string]string{"node.id": "1", "broker.id": "2"}, "differ"},
		{map[string]string{"advertised.listeners": "PLAINTEXT://0.0.0.0:9092"}, "meta-address"},
		{map[string]string{"inter.broker.listener.name": "OTHER"}, "not in listeners"},
		{map[string]string{"controller.quorum.bootstrap.servers": "a:1,b:2"}, "dynamic quorum"},
	} {
		b, err := LoadBroker(Layer{Origin: OriginFile, Values: tc.values, Where: map[string]string{"listeners": "f:1"}})
		if err != nil {
			t.Fatalf("%v: %v", tc.values, err)
		}
		if _, err := b.Layout(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: layout error %v, want %q", tc.values, err, tc.want)
		}
	}
}

func TestParseProperties(t *testing.T) {
	in := "# comment\n! also\n  a=1\nb : two words \nc  3\nd=x\\\n   y\ne=\\u0041\\=\\\\\nempty=\n"
	got, lines, err := ParseProperties(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "1", "b": "two words", "c": "3", "d": "xy", "e": `A=\`, "empty": ""}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s=%q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) || lines["d"] != 6 {
		t.Errorf("got %v lines %v", got, lines)
	}
}

var update = flag.Bool("update", false, "rewrite the generated tables in docs/CONFIG.md")

// docs/CONFIG.md's key tables are generated from BrokerDefs, NotApplicable
// and Refused (go test ./internal/config -run TestConfigDoc -update), so
// the document cannot drift from the code.
func TestConfigDoc(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "CONFIG.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- BEGIN GENERATED: go test ./internal/config -run TestConfigDoc -update -->\n", "<!-- END GENERATED -->\n"
	i, j := strings.Index(string(doc), begin), strings.Index(string(doc), end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the generated-section markers", path)
	}
	want := string(doc[:i+len(begin)]) + configTables() + string(doc[j:])
	if want == string(doc) {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is out of date with internal/config: run go test ./internal/config -run TestConfigDoc -update", path)
}

func configTables() string {
	var b strings.Builder
	cell := func(s string) string {
		if s == "" {
			return "(none)"
		}
		return "`" + s + "`"
	}
	b.WriteString("\n### Honoured\n\n| key | type | default | dynamic |\n|---|---|---|---|\n")
	types := map[Type]string{TypeBoolean: "boolean", TypeString: "string", TypeInt: "int", TypeShort: "short", TypeLong: "long", TypeDouble: "double", TypeList: "list", TypePassword: "password"}
	for _, k := range sortedKeys(BrokerDefs) {
		d := BrokerDefs[k]
		def := d.Default
		if len(def) > 40 {
			def = def[:37] + "..."
		}
		dyn := ""
		if DynamicBrokerKey(k) {
			dyn = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", k, types[d.Type], cell(def), dyn)
	}
	b.WriteString("\n### Accepted, not applicable\n\n| key | why it has no effect |\n|---|---|\n")
	for _, k := range sortedKeys(NotApplicable) {
		fmt.Fprintf(&b, "| `%s` | %s |\n", k, NotApplicable[k])
	}
	b.WriteString("\n### Refused at start-up\n\n| key | why |\n|---|---|\n")
	for _, k := range sortedKeys(Refused) {
		fmt.Fprintf(&b, "| `%s` | %s |\n", k, Refused[k])
	}
	for _, p := range refusedPrefixes {
		fmt.Fprintf(&b, "| `%s*` | %s |\n", p.prefix, p.reason)
	}
	b.WriteString("\n")
	return b.String()
}

// Several listeners with their protocols; listener-prefixed TLS keys
// override the broker-wide ones for that listener only.
func TestLayoutListeners(t *testing.T) {
	b, err := LoadBroker(Layer{Origin: OriginFile, Values: map[string]string{
		"listeners":                                    "PLAINTEXT://:9092,SSL://:9093,INTERNAL://127.0.0.1:9094,CONTROLLER://:9095",
		"advertised.listeners":                         "PLAINTEXT://a:9092,SSL://a:9093,INTERNAL://10.0.0.1:9094",
		"listener.security.protocol.map":               "PLAINTEXT:PLAINTEXT,SSL:SSL,INTERNAL:SSL,CONTROLLER:PLAINTEXT",
		"inter.broker.listener.name":                   "INTERNAL",
		"ssl.keystore.location":                        "/all.pem",
		"ssl.client.auth":                              "requested",
		"listener.name.internal.ssl.client.auth":       "required",
		"listener.name.internal.ssl.keystore.location": "/internal.pem",
		"listener.name.internal.ssl.key.password":      "secret",
	}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := b.Layout()
	if err != nil {
		t.Fatal(err)
	}
	want := []BrokerListener{
		{Name: "PLAINTEXT", Protocol: "PLAINTEXT", Listen: ":9092", Advertise: "a:9092"},
		{Name: "SSL", Protocol: "SSL", Listen: ":9093", Advertise: "a:9093"},
		{Name: "INTERNAL", Protocol: "SSL", Listen: "127.0.0.1:9094", Advertise: "10.0.0.1:9094"},
	}
	if fmt.Sprint(l.Listeners) != fmt.Sprint(want) || l.BrokerListener != "INTERNAL" || l.Listen != "127.0.0.1:9094" || l.Advertise != "10.0.0.1:9094" || l.ControllerListen != ":9095" {
		t.Fatalf("layout %+v", l)
	}
	if o := b.ServerTLSOptions("INTERNAL"); o.KeystoreLocation != "/internal.pem" || o.ClientAuth != "required" || o.KeyPassword != "secret" {
		t.Fatalf("INTERNAL TLS %+v", o)
	}
	if o := b.ServerTLSOptions("SSL"); o.KeystoreLocation != "/all.pem" || o.ClientAuth != "requested" || o.KeyPassword != "" {
		t.Fatalf("SSL TLS %+v", o)
	}
	var out strings.Builder
	if err := b.Print(&out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "secret") || !strings.Contains(out.String(), "listener.name.internal.ssl.key.password=[hidden]") {
		t.Fatalf("--print-config shows the password or not the key:\n%s", out.String())
	}
}

// TestDynamicListenerKeys: allowed.cidrs (broker-wide and per listener)
// and a listener's ssl.principal.mapping.rules change at runtime, each
// value validated as its static form is; the broker-wide mapping rules
// and other listener keys do not.
func TestDynamicListenerKeys(t *testing.T) {
	for _, c := range []struct {
		key, value string
		ok         bool
	}{
		{"allowed.cidrs", "10.0.0.0/8", true},
		{"listener.name.sasl_ssl.allowed.cidrs", "127.0.0.1", true},
		{"listener.name.ssl.ssl.principal.mapping.rules", "RULE:^CN=app,OU=1f,O=Tributary$/app/", true},
		{"listener.name.ssl.ssl.principal.mapping.rules", "RULE:broken", false},
		{"ssl.principal.mapping.rules", "DEFAULT", false},
		{"listener.name.ssl.ssl.client.auth", "required", false},
	} {
		err := ValidateDynamicBroker(c.key, c.value)
		if (err == nil) != c.ok {
			t.Errorf("ValidateDynamicBroker(%s=%s): %v, want ok=%v", c.key, c.value, err, c.ok)
		}
	}
	base, err := LoadBroker(Layer{Origin: OriginFile, Values: map[string]string{
		"listener.name.ssl.ssl.principal.mapping.rules": "RULE:^$/nobody/"}})
	if err != nil {
		t.Fatal(err)
	}
	const rules = "RULE:^CN=app,OU=1f,O=Tributary$/app/"
	b := base.WithDynamic(map[string]string{"listener.name.ssl.ssl.principal.mapping.rules": rules}, nil)
	if got := b.ListenerGet("SSL", PrincipalMappingRulesKey); got != rules {
		t.Errorf("effective mapping rules of SSL: %q, want the dynamic %q", got, rules)
	}
}
