// Package archtest enforces the layering in docs/ARCHITECTURE.md: a package
// may import only packages in strictly lower layers. A new internal package
// must be given a layer here.
package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/tributary/tributary/"

// layers: higher numbers sit above lower ones. Packages in one layer may not
// import each other.
var layers = map[string]int{
	"cmd/trib":                100,
	"internal/archtest":       100,
	"internal/cloud":          80,
	"internal/console":        70,
	"internal/connect":        60,
	"internal/schemaregistry": 60,
	"internal/bench":          55,
	"internal/client":         50,
	"internal/node":           45,
	"internal/server":         40,
	"internal/broker":         35,
	"internal/group":          30,
	"internal/txn":            30,
	"internal/replication":    25,
	"internal/partition":      20,
	"internal/metadata":       15,
	"internal/storage":        10,
	"internal/security":       8,
	"internal/metrics":        5,
	"internal/config":         2,
	"internal/checker":        1,
	"internal/record":         2,
	"internal/safe":           0,
}

func layerOf(pkg string) (int, bool) {
	for p := pkg; p != "." && p != ""; p = filepath.Dir(p) {
		if l, ok := layers[p]; ok {
			return l, true
		}
	}
	return 0, false
}

func TestNoUpwardImports(t *testing.T) {
	root := "../.."
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		if !strings.HasPrefix(rel, "internal/") && !strings.HasPrefix(rel, "cmd/") {
			return nil
		}
		from, ok := layerOf(rel)
		if !ok {
			t.Errorf("%s: package %s has no layer in archtest; add it (and to docs/ARCHITECTURE.md)", path, rel)
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if !strings.HasPrefix(p, module) {
				continue
			}
			target := strings.TrimPrefix(p, module)
			to, ok := layerOf(target)
			if !ok {
				t.Errorf("%s imports %s, which has no layer", path, target)
				continue
			}
			if strings.HasPrefix(target, rel) || strings.HasPrefix(rel, target+"/") {
				continue
			}
			if to >= from {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must go down the layers", path, from, target, to)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
