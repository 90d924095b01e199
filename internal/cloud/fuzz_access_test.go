package cloud

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/security"
)

// FuzzAccessBodies: the bodies of the users, firewall and maintenance
// endpoints never panic and are refused with a 4xx; what is accepted is
// already in its stored form (checking it again changes nothing) and
// compiles to Kafka ACLs on valid resource names and hosts (no rule:
// every host).
func FuzzAccessBodies(f *testing.F) {
	for _, s := range []string{
		`{"name":"app","settings":{"acl":[{"topic":"orders","permission":"consume"},{"topic":"logs-*","permission":"produce"},{"topic":"*","permission":"admin"}]}}`,
		`{"name":"a.b_c-d","settings":{"acl":[{"id":"x","topic":"t","permission":"produceconsume"}]}}`,
		`{"name":"1x","settings":null}`, `{"settings":{"acl":[{"topic":"**","permission":"admin"}]}}`,
		`{"rules":[{"type":"ip_addr","value":"10.0.0.1"},{"type":"ip_addr","value":"::ffff:1.2.3.4","uuid":"u"}]}`,
		`{"rules":[{"type":"ip_addr","value":"10.0.0.0/8"}]}`, `{"day":"Monday","hour":"03:00"}`, `{"day":"sunday","hour":"23:59:00"}`, `{"day":"x","hour":"24:00"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(err error) bool {
			if err == nil {
				return true
			}
			if s, _ := httpStatus(err); s < 400 || s >= 500 {
				t.Fatalf("%q: %v → status %d", b, err, s)
			}
			return false
		}
		// Users (POST /users, PUT /users/{name}).
		var ur userRequest
		if check(decodeBody(b, &ur)) {
			acl, err := checkACL(ur.Name, ur.acl())
			if check(err) {
				again, err := checkACL(ur.Name, acl)
				if err != nil || len(again) != len(acl) {
					t.Fatalf("checked ACL %+v refused again: %v", acl, err)
				}
				for i := range acl {
					if again[i] != acl[i] {
						t.Fatalf("checking %+v again gave %+v", acl[i], again[i])
					}
				}
				if userName.MatchString(ur.Name) {
					for _, bd := range compileACLs(User{Name: ur.Name, ACL: acl}, []string{"*"}) {
						if bd.Name == "" || (bd.Name != "*" && strings.Contains(bd.Name, "*")) {
							t.Fatalf("%+v compiled to %+v", acl, bd)
						}
						if bd.ResourceType == kmsg.ACLResourceTypeTopic && bd.Pattern == kmsg.ACLResourcePatternTypePrefixed && bd.Name == "*" {
							t.Fatalf("%+v compiled to a prefixed \"*\"", acl)
						}
					}
				}
			}
		}
		// Firewall (PUT /firewall).
		var fr struct {
			Rules []apiFirewallRule `json:"rules"`
		}
		if check(decodeBody(b, &fr)) {
			var rules []FirewallRule
			for _, r := range fr.Rules {
				rules = append(rules, FirewallRule{UUID: r.UUID, Type: r.Type, Value: r.Value})
			}
			out, err := checkFirewallRules("c", rules)
			if check(err) {
				again, err := checkFirewallRules("c", out)
				if err != nil {
					t.Fatalf("checked rules %+v refused again: %v", out, err)
				}
				for i := range out {
					if again[i] != out[i] {
						t.Fatalf("rule %+v checked again is %+v", out[i], again[i])
					}
				}
				if l := allowList(out, nil); len(out) > 0 {
					if _, err := security.ParseAllowList(strings.Split(l, ",")); err != nil || l == "" {
						t.Fatalf("allow list %q from %+v: %v", l, out, err)
					}
				}
			}
		}
		// Maintenance window (PUT /maintenance).
		var mw struct {
			Day  string `json:"day"`
			Hour string `json:"hour"`
		}
		if check(decodeBody(b, &mw)) {
			day, hour, err := parseWindow(mw.Day, mw.Hour)
			if check(err) {
				if d2, h2, err := parseWindow(day, hour); err != nil || d2 != day || h2 != hour {
					t.Fatalf("window %q %q read back as %q %q (%v)", day, hour, d2, h2, err)
				}
			}
		}
	})
}
