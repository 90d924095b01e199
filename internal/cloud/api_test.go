package cloud

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestOpenAPIMatchesRoutes: the OpenAPI document lists exactly the
// served routes (method and path), each with a summary and responses.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json: %v (openapi %q)", err, doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			if method == "parameters" {
				continue
			}
			var op struct {
				Summary   string                     `json:"summary"`
				Responses map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil || op.Summary == "" || len(op.Responses) == 0 {
				t.Errorf("%s %s: no summary or responses (%v)", method, path, err)
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	var served []string
	for _, rt := range (&api{}).routes() {
		served = append(served, rt.pattern)
	}
	slices.Sort(documented)
	slices.Sort(served)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("served but not in openapi.json: %s", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("in openapi.json but not served: %s", r)
		}
	}
}

func TestCompileACLs(t *testing.T) {
	acl, err := checkACL("app", []UserACL{{Topic: "orders", Permission: PermConsume}, {Topic: "logs-*", Permission: PermProduce}, {Topic: "*", Permission: PermAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	if acl[0].ID == "" || acl[0].ID == acl[1].ID {
		t.Fatalf("ids: %+v", acl)
	}
	again, _ := checkACL("app", acl[:1])
	if again[0].ID != acl[0].ID {
		t.Errorf("id not stable: %s vs %s", again[0].ID, acl[0].ID)
	}
	bs := compileACLs(User{Name: "app", Role: RoleNormal, ACL: acl}, []string{"127.0.0.1", "10.0.0.1"})
	has := func(rt kmsg.ACLResourceType, name string, pat kmsg.ACLResourcePatternType, op kmsg.ACLOperation, host string) bool {
		return slices.Contains(bs, aclBinding{ResourceType: rt, Name: name, Pattern: pat, Principal: "User:app", Host: host, Operation: op, Permission: kmsg.ACLPermissionTypeAllow})
	}
	lit, pre := kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed
	for _, c := range []struct {
		rt   kmsg.ACLResourceType
		name string
		pat  kmsg.ACLResourcePatternType
		op   kmsg.ACLOperation
		want bool
	}{
		{kmsg.ACLResourceTypeTopic, "orders", lit, kmsg.ACLOperationRead, true},
		{kmsg.ACLResourceTypeTopic, "orders", lit, kmsg.ACLOperationWrite, false},
		{kmsg.ACLResourceTypeTopic, "logs-", pre, kmsg.ACLOperationWrite, true},
		{kmsg.ACLResourceTypeTopic, "logs-", pre, kmsg.ACLOperationRead, false},
		{kmsg.ACLResourceTypeTopic, "*", lit, kmsg.ACLOperationAll, true},
		{kmsg.ACLResourceTypeGroup, "*", lit, kmsg.ACLOperationRead, true},
		{kmsg.ACLResourceTypeCluster, "kafka-cluster", lit, kmsg.ACLOperationAll, false},
	} {
		for _, host := range []string{"127.0.0.1", "10.0.0.1"} {
			if got := has(c.rt, c.name, c.pat, c.op, host); got != c.want {
				t.Errorf("%v %s %v %v from %s: %v, want %v", c.rt, c.name, c.pat, c.op, host, got, c.want)
			}
		}
	}
	if has(kmsg.ACLResourceTypeTopic, "orders", lit, kmsg.ACLOperationRead, "*") {
		t.Error("an ACL from any host while the firewall lists hosts")
	}
	prim := compileACLs(User{Name: "doadmin", Role: RolePrimary}, []string{"*"})
	if len(prim) != 4 {
		t.Errorf("primary user: %+v", prim)
	}
	for _, bad := range [][]UserACL{{{Topic: "a b", Permission: PermConsume}}, {{Topic: "x", Permission: "read"}},
		{{Topic: "x", Permission: PermConsume}, {Topic: "x", Permission: PermConsume}}, {{Topic: "a*b", Permission: PermConsume}}} {
		if _, err := checkACL("u", bad); err == nil {
			t.Errorf("acl %+v accepted", bad)
		}
	}
}

func TestMaintenanceWindow(t *testing.T) {
	day, hour, err := parseWindow("Tuesday", "3:30")
	if err != nil || day != "tuesday" || hour != "03:30" {
		t.Fatalf("parse: %q %q %v", day, hour, err)
	}
	for _, bad := range [][2]string{{"someday", "10:00"}, {"monday", "25:00"}, {"monday", "10"}} {
		if _, _, err := parseWindow(bad[0], bad[1]); err == nil {
			t.Errorf("window %v accepted", bad)
		}
	}
	tue := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) // a Tuesday
	for _, c := range []struct {
		at   time.Time
		want bool
	}{
		{tue.Add(3*time.Hour + 29*time.Minute), false},
		{tue.Add(3*time.Hour + 30*time.Minute), true},
		{tue.Add(7*time.Hour + 29*time.Minute), true},
		{tue.Add(7*time.Hour + 30*time.Minute), false},
		{tue.AddDate(0, 0, 7).Add(4 * time.Hour), true},
		{tue.AddDate(0, 0, 1).Add(4 * time.Hour), false},
	} {
		if got := inWindow("tuesday", "03:30", c.at); got != c.want {
			t.Errorf("inWindow at %v: %v, want %v", c.at, got, c.want)
		}
	}
	// A window that opens late Saturday runs into Sunday.
	if !inWindow("saturday", "23:00", time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)) {
		t.Error("saturday 23:00 window not open at sunday 01:00")
	}
}

func TestFirewallRules(t *testing.T) {
	rules, err := checkFirewallRules("c", []FirewallRule{{Type: "ip_addr", Value: "127.0.0.1"}, {Type: "ip_addr", Value: "::1"}, {Type: "ip_addr", Value: "10.1.2.3/8"}})
	if err != nil || len(rules) != 3 || rules[0].UUID == "" || rules[0].ClusterID != "c" || rules[2].Value != "10.0.0.0/8" {
		t.Fatalf("%+v %v", rules, err)
	}
	nodes := []Node{{Listen: "127.0.0.1:9092"}, {Listen: "10.9.9.9:9092"}}
	if got := allowList(rules, nodes); got != "127.0.0.1,::1,10.0.0.0/8,10.9.9.9" {
		t.Errorf("allow list %q", got)
	}
	if got := allowList(nil, nodes); got != "" {
		t.Errorf("allow list without rules %q", got)
	}
	for _, bad := range []FirewallRule{{Type: "ip_addr", Value: "10.0.0.0/33"}, {Type: "droplet", Value: "123"}, {Type: "ip_addr", Value: "example.com"}} {
		if _, err := checkFirewallRules("c", []FirewallRule{bad}); err == nil {
			t.Errorf("rule %+v accepted", bad)
		}
	}
}

func TestQuorumTLS(t *testing.T) {
	dir := t.TempDir()
	voters := []Node{{NodeID: 1, DataDir: filepath.Join(dir, "1")}}
	if !quorumOnTLS(voters) || !quorumOnTLS(nil) {
		t.Error("a new cluster's quorum is not on TLS")
	}
	settings := brokerSecuritySettings(Cluster{ControlPassword: "pw"}, voters[0], "k.pem", "ca.pem", true)
	if !slices.Contains(settings, quorumTLSSetting) {
		t.Errorf("settings %q lack %q", settings, quorumTLSSetting)
	}
	// A cluster made before quorum TLS keeps its PLAINTEXT quorum: a
	// rolling restart onto TLS would split it.
	os.MkdirAll(voters[0].DataDir, 0o755)
	legacy := strings.Join(brokerSecuritySettings(Cluster{ControlPassword: "pw"}, voters[0], "k.pem", "ca.pem", false), "\n")
	if err := os.WriteFile(filepath.Join(voters[0].DataDir, "broker.properties"), []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}
	if quorumOnTLS(voters) {
		t.Error("a PLAINTEXT quorum's cluster moved to TLS")
	}
	if err := os.WriteFile(filepath.Join(voters[0].DataDir, "broker.properties"), []byte(legacy+"\n"+quorumTLSSetting+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !quorumOnTLS(voters) {
		t.Error("a TLS quorum's cluster left TLS")
	}
}
