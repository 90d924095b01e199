package schemaregistry

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestCompatibility runs testdata/compat/*: each case lists schemas one
// per line, oldest first, the last being the candidate, and expects
// "compatible" or "incompatible" under the level.
//
//	check format=AVRO level=BACKWARD
//	<schema v1>
//	<candidate>
//	----
//	compatible
//
// Rewrite expectations with -rewrite after reviewing a rule change.
func TestCompatibility(t *testing.T) {
	datadriven.Walk(t, "testdata/compat", func(t *testing.T, path string) {
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd != "check" {
				d.Fatalf(t, "unknown command %s", d.Cmd)
			}
			var typ, level string
			d.ScanArgs(t, "format", &typ)
			d.ScanArgs(t, "level", &level)
			f, err := formatOf(typ)
			if err != nil {
				d.Fatalf(t, "%v", err)
			}
			var parsed []Parsed
			for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
				p, err := f.Parse(line, nil)
				if err != nil {
					return fmt.Sprintf("parse error: %v", err)
				}
				parsed = append(parsed, p)
			}
			if len(parsed) < 2 {
				d.Fatalf(t, "need at least two schemas")
			}
			var priors []Prior
			for i, p := range parsed[:len(parsed)-1] {
				priors = append(priors, Prior{Version: i + 1, Schema: p})
			}
			if msgs := Check(level, parsed[len(parsed)-1], priors); len(msgs) > 0 {
				return "incompatible"
			}
			return "compatible"
		})
	})
}
