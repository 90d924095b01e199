package broker

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/partition"
)

const modulePath = "github.com/tributary/tributary/"

var sentinelName = regexp.MustCompile(`^Err[A-Z]`)

// brokerPackages returns the internal packages the broker imports,
// directly or not ("internal/pkg"), and the broker itself: the errors that
// can reach a handler. Services outside that graph (connect, the schema
// registry, the managed service) map their errors to HTTP at their own
// edge.
func brokerPackages(t *testing.T, root string) map[string]bool {
	t.Helper()
	fset := token.NewFileSet()
	seen := map[string]bool{}
	var visit func(pkg string)
	visit = func(pkg string) {
		if seen[pkg] {
			return
		}
		seen[pkg] = true
		files, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(pkg), "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if dep, ok := strings.CutPrefix(p, modulePath); ok && strings.HasPrefix(dep, "internal/") {
					visit(dep)
				}
			}
		}
	}
	visit("internal/broker")
	return seen
}

// declaredSentinels parses every non-test file of the packages the broker
// imports and returns their exported package-level Err* variables as
// "internal/pkg.ErrX".
func declaredSentinels(t *testing.T) []string {
	t.Helper()
	root := filepath.Join("..", "..")
	inGraph := brokerPackages(t, root)
	fset := token.NewFileSet()
	var out []string
	err := filepath.WalkDir(filepath.Join(root, "internal"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		if !inGraph[pkg] {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				for _, n := range spec.(*ast.ValueSpec).Names {
					if sentinelName.MatchString(n.Name) {
						out = append(out, pkg+"."+n.Name)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// tabledSentinels parses errors.go and returns every pkg.ErrX it names in
// the err field of a wireError row, as "internal/pkg.ErrX".
func tabledSentinels(t *testing.T) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	imports := map[string]string{}
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		name := p[strings.LastIndex(p, "/")+1:]
		if imp.Name != nil {
			name = imp.Name.Name
		}
		imports[name] = strings.TrimPrefix(p, modulePath)
	}
	out := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		kv, ok := n.(*ast.KeyValueExpr)
		if !ok {
			return true
		}
		if k, ok := kv.Key.(*ast.Ident); !ok || k.Name != "err" {
			return true
		}
		if sel, ok := kv.Value.(*ast.SelectorExpr); ok {
			if x, ok := sel.X.(*ast.Ident); ok {
				out[imports[x.Name]+"."+sel.Sel.Name] = true
			}
		}
		return true
	})
	return out
}

// TestEveryErrorMapped: an exported Err* sentinel in an internal package
// must have a row in an error table, so adding a sentinel forces choosing
// its Kafka code (and an unmapped error never silently becomes
// UNKNOWN_SERVER_ERROR on the wire).
func TestEveryErrorMapped(t *testing.T) {
	declared := declaredSentinels(t)
	if len(declared) < 20 {
		t.Fatalf("found only %d sentinels; is the walk broken? %v", len(declared), declared)
	}
	tabled := tabledSentinels(t)
	for _, s := range declared {
		if !tabled[s] {
			t.Errorf("%s has no row in an error table (internal/broker/errors.go): choose its Kafka code", s)
		}
	}
	for s := range tabled {
		if strings.HasPrefix(s, "internal/") && !contains(declared, s) {
			t.Errorf("errors.go maps %s, which is not an exported package-level Err* variable", s)
		}
	}
}

func contains(s []string, v string) bool {
	i := sort.SearchStrings(s, v)
	return i < len(s) && s[i] == v
}

// TestErrorTables checks every row answers its own code, also when wrapped
// (no earlier row shadows it), and has a description.
func TestErrorTables(t *testing.T) {
	for _, table := range errorTables {
		for _, w := range table {
			if w.code == nil || w.desc == "" {
				t.Errorf("row %v: code and description are required", w.err)
			}
			if w.err == nil {
				continue
			}
			for _, err := range []error{w.err, fmt.Errorf("context: %w", w.err)} {
				if got := wireErr(err); got != w.code {
					t.Errorf("%q answers %s, its row says %s", err, got.Message, w.code.Message)
				}
			}
		}
	}
}

func TestErrCode(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want *kerr.Error
	}{
		{"unmapped", errors.New("something unexpected"), kerr.UnknownServerError},
		{"kerr passes through", fmt.Errorf("%w: no such thing", kerr.InvalidTopicException), kerr.InvalidTopicException},
		{"cerr", cerr(kerr.PolicyViolation, "too many"), kerr.PolicyViolation},
		{"file error", fmt.Errorf("append: %w", &fs.PathError{Op: "write", Path: "/data/t-0/0.log", Err: syscall.ENOSPC}), kerr.KafkaStorageError},
		{"bare errno", syscall.EIO, kerr.KafkaStorageError},
		{"network errno is not storage", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, kerr.UnknownServerError},
	}
	for _, c := range cases {
		if got := wireErr(c.err); got != c.want {
			t.Errorf("%s: %v answers %s, want %s", c.name, c.err, got.Message, c.want.Message)
		}
	}
	if errCode(nil) != 0 {
		t.Error("errCode(nil) != 0")
	}
}

func TestCoordinatorErr(t *testing.T) {
	cases := []struct {
		err  error
		want *kerr.Error
	}{
		{partition.ErrNotLeader, kerr.NotCoordinator},
		{kerr.NotCoordinator, kerr.NotCoordinator},
		{&fs.PathError{Op: "write", Path: "x", Err: syscall.EIO}, kerr.CoordinatorNotAvailable},
		{errors.New("other"), kerr.CoordinatorNotAvailable},
	}
	for _, c := range cases {
		if got := coordinatorErr(c.err); !errors.Is(got, c.want) {
			t.Errorf("coordinatorErr(%v) = %v, want %s", c.err, got, c.want.Message)
		}
	}
	if coordinatorErr(nil) != nil {
		t.Error("coordinatorErr(nil) != nil")
	}
}

// TestEveryAPIAuthorized: every served API says what it authorizes
// (authz.go), so a new handler cannot skip the authorizer unnoticed.
func TestEveryAPIAuthorized(t *testing.T) {
	for key := range apis {
		if _, ok := apiAuthorization[kmsg.Key(key)]; !ok {
			t.Errorf("%s has no entry in apiAuthorization (authz.go)", kmsg.NameForKey(key))
		}
	}
}
