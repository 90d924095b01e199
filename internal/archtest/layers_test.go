// Package archtest enforces the layering in docs/ARCHITECTURE.md with two
// rules, checked over every Go file of the module (tests included) under
// cmd/, internal/, bench/ and tests/:
//
//   - layers: a package imports only packages in strictly lower layers, so
//     there are no cycles and data flows down;
//   - allowed imports: each package lists the module packages it may
//     import. A package missing from the list fails the test, so a new
//     package (including the planned ones below) is placed deliberately,
//     and an import outside its list is a design change made in this file.
//
// The services still to come (connect, schemaregistry, cloud, console) are
// listed already: they sit beside the cluster, not inside it, so they may
// import only client-side and shared packages, never the broker's
// internals.
//
// A third test checks that docs/ARCHITECTURE.md names every package.
package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/tributary/tributary/"

// Package groups used by the allowed lists.
var (
	// shared: pure data types and helpers with no cluster state, usable by
	// servers and clients alike.
	shared = []string{"internal/record", "internal/config", "internal/safe", "internal/controller", "internal/security"}
	// clientSide: what a tool or an ecosystem service builds on to talk to
	// a cluster as a Kafka client.
	clientSide = []string{"internal/client", "internal/checker"}
)

func list(groups ...[]string) []string { return slices.Concat(groups...) }

// pkg is one package's place: its layer (higher sits above lower) and the
// module packages it may import.
type pkg struct {
	layer   int
	imports []string
}

// testImports are the module packages a package's _test.go files may
// import besides its list (still from lower layers).
var testImports = map[string][]string{
	// The listener's fuzz test drives the real handlers.
	"internal/server": {"internal/broker"},
	// The console's wire-format decoding is tested against the real
	// registry's REST API.
	"internal/console": {"internal/schemaregistry"},
}

var packages = map[string]pkg{
	// Entry points and tests.
	"cmd/trib":          {100, list(shared, clientSide, []string{"internal/bench", "internal/node", "internal/storage", "internal/schemaregistry", "internal/connect", "internal/cloud"})},
	"tests":             {100, list(shared, clientSide, []string{"internal/node", "internal/broker", "internal/group", "internal/schemaregistry", "internal/connect"})},
	"bench/peers":       {100, list(shared, []string{"internal/bench"})},
	"bench/report":      {100, list(shared, []string{"internal/bench"})},
	"internal/archtest": {100, nil},

	// Build tools (scripts/test).
	"scripts/testreport": {100, nil},

	// Services beside the cluster (planned): client-side and shared only.
	"internal/cloud":          {80, list(shared, clientSide, []string{"internal/console"})},
	"internal/console":        {70, list(shared, clientSide)},
	"internal/connect":        {60, list(shared, clientSide)},
	"internal/schemaregistry": {60, list(shared, clientSide)},

	// Client tools.
	"internal/bench":  {55, list(shared, clientSide, []string{"internal/node"})},
	"internal/client": {50, list(shared)},

	// The node and its data plane.
	"internal/node": {45, list(shared, []string{"internal/server", "internal/broker", "internal/metadata", "internal/metrics"})},
	// The listener does not import the handlers: the types they exchange
	// are in internal/protocol.
	"internal/server":      {40, list(shared, []string{"internal/protocol", "internal/metadata", "internal/metrics"})},
	"internal/broker":      {35, list(shared, []string{"internal/protocol", "internal/replica", "internal/group", "internal/share", "internal/txn", "internal/replication", "internal/partition", "internal/metadata", "internal/storage", "internal/security", "internal/metrics"})},
	"internal/group":       {30, list(shared, []string{"internal/metrics"})},
	"internal/share":       {30, list(shared)},
	"internal/txn":         {32, list(shared, []string{"internal/group", "internal/metrics"})},
	"internal/replica":     {28, list(shared, []string{"internal/replication", "internal/partition", "internal/metadata", "internal/storage", "internal/metrics"})},
	"internal/replication": {25, list(shared, []string{"internal/partition", "internal/storage", "internal/metrics"})},
	"internal/partition":   {20, list(shared, []string{"internal/storage", "internal/metrics"})},
	"internal/metadata":    {15, list(shared, []string{"internal/metrics"})},
	"internal/storage":     {10, list(shared, []string{"internal/metrics"})},
	"internal/metrics":     {5, nil},

	// Shared, at the bottom.
	"internal/controller": {4, nil},
	"internal/protocol":   {3, nil},
	"internal/config":     {2, []string{"internal/security"}},
	"internal/security":   {1, nil},
	"internal/record":     {2, nil},
	"internal/checker":    {1, nil},
	"internal/safe":       {0, nil},
}

// placeOf returns the entry for a package directory (the nearest listed
// ancestor: bench/peers covers bench/peers/nats).
func placeOf(dir string) (string, pkg, bool) {
	for p := dir; p != "." && p != ""; p = filepath.ToSlash(filepath.Dir(p)) {
		if e, ok := packages[p]; ok {
			return p, e, true
		}
	}
	return "", pkg{}, false
}

// goFiles calls fn with every Go file of the module outside testdata,
// hidden directories and node_modules, and its package directory relative
// to the module root.
func goFiles(t *testing.T, fn func(path, dir string)) {
	t.Helper()
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		fn(path, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestImports(t *testing.T) {
	fset := token.NewFileSet()
	goFiles(t, func(path, dir string) {
		name, from, ok := placeOf(dir)
		if !ok {
			t.Errorf("%s: package %s is not listed in archtest; give it a layer and its allowed imports (and a line in docs/ARCHITECTURE.md)", path, dir)
			return
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			t.Error(err)
			return
		}
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if !strings.HasPrefix(p, module) {
				continue
			}
			target := strings.TrimPrefix(p, module)
			toName, to, ok := placeOf(target)
			switch {
			case !ok:
				t.Errorf("%s imports %s, which is not listed in archtest", path, target)
			case toName == name:
				// within one package tree
			case to.layer >= from.layer:
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must go down the layers", path, from.layer, target, to.layer)
			case !slices.Contains(from.imports, toName) && !(strings.HasSuffix(path, "_test.go") && slices.Contains(testImports[name], toName)):
				t.Errorf("%s imports %s, which is not among %s's allowed imports %v", path, target, name, from.imports)
			}
		}
	})
}

// TestAllowedListsGoDown keeps the lists consistent with the layers, so a
// list cannot allow a cycle.
func TestAllowedListsGoDown(t *testing.T) {
	for name, p := range packages {
		for _, imp := range slices.Concat(p.imports, testImports[name]) {
			to, ok := packages[imp]
			switch {
			case !ok:
				t.Errorf("%s may import %s, which is not listed", name, imp)
			case to.layer >= p.layer:
				t.Errorf("%s (layer %d) may import %s (layer %d): lists must go down the layers", name, p.layer, imp, to.layer)
			}
		}
	}
}

// TestArchitectureDocNamesEveryPackage: docs/ARCHITECTURE.md mentions the
// path of every package directory that exists.
func TestArchitectureDocNamesEveryPackage(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	goFiles(t, func(_, dir string) { seen[dir] = true })
	var dirs []string
	for d := range seen {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		if !strings.Contains(string(doc), d) {
			t.Errorf("docs/ARCHITECTURE.md does not name package %s", d)
		}
	}
}
