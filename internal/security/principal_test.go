package security

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestMappingRules runs testdata/principal_rules.txt: each line is
// "rules | distinguished name | principal", or "error: TEXT" for a rule
// set that does not parse or a name no rule maps.
func TestMappingRules(t *testing.T) {
	f, err := os.Open("testdata/principal_rules.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if strings.HasPrefix(text, "#") || strings.TrimSpace(text) == "" {
			continue
		}
		parts := strings.Split(text, " | ")
		if len(parts) != 3 {
			continue // a rule set alone on a line parses (checked below)
		}
		n++
		rules, dn, want := strings.TrimSpace(parts[0]), parts[1], parts[2]
		rs, err := ParseMappingRules(rules)
		var got string
		if err == nil {
			got, err = rs.Apply(dn)
		}
		if err != nil {
			got = "error: " + err.Error()
		}
		if strings.HasPrefix(want, "error: ") {
			if !strings.HasPrefix(got, "error: ") || !strings.Contains(got, strings.TrimPrefix(want, "error: ")) {
				t.Errorf("line %d: %q on %q = %q, want %s", line, rules, dn, got, want)
			}
			continue
		}
		if got != want {
			t.Errorf("line %d: %q on %q = %q, want %q", line, rules, dn, got, want)
		}
	}
	if n < 10 {
		t.Fatalf("only %d cases", n)
	}
	// A trailing separator is allowed.
	if _, err := ParseMappingRules("RULE:^CN=(.*)$/$1/,\n"); err != nil {
		t.Fatal(err)
	}
}

func FuzzMappingRules(f *testing.F) {
	f.Add("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L,DEFAULT", "CN=a,OU=ServiceUsers")
	f.Add("DEFAULT", "CN=x")
	f.Fuzz(func(t *testing.T, rules, dn string) {
		rs, err := ParseMappingRules(rules)
		if err != nil {
			return
		}
		rs.Apply(dn)
	})
}
