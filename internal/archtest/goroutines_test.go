package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// clientTools are the packages whose goroutines may crash their process:
// command-line tools and test helpers, where a panic is a visible failure
// of one command, not of a broker.
var clientTools = []string{"cmd/", "tests", "bench/", "internal/bench", "internal/client", "internal/checker", "internal/archtest"}

// TestGoroutinesRecover: in the server-side packages every go statement
// (and time.AfterFunc callback) runs under internal/safe (a panic is logged and recovered, as a handler's
// is), or says why it needs not with a "safe:" comment on its line or the
// line above (it only waits on channels, or its callee recovers).
func TestGoroutinesRecover(t *testing.T) {
	fset := token.NewFileSet()
	goFiles(t, func(path, dir string) {
		if strings.HasSuffix(path, "_test.go") {
			return
		}
		for _, p := range clientTools {
			if strings.HasPrefix(dir, p) {
				return
			}
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			t.Error(err)
			return
		}
		excused := map[int]bool{}
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				if strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(c.Text, "//")), "safe:") {
					line := fset.Position(c.Pos()).Line
					excused[line], excused[fset.Position(cg.End()).Line+1] = true, true
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if c, ok := n.(*ast.CallExpr); ok && isTimeAfterFunc(c) {
				if line := fset.Position(c.Pos()).Line; !excused[line] && !(len(c.Args) == 2 && isSafeArg(c.Args[1])) {
					t.Errorf("%s:%d: a timer callback that does not recover panics: wrap it in safe.Func", path, line)
				}
				return true
			}
			g, ok := n.(*ast.GoStmt)
			if !ok {
				return true
			}
			line := fset.Position(g.Pos()).Line
			if excused[line] || isSafeCall(g.Call) || (isFuncLit(g.Call) && bodyUsesSafe(g.Call.Fun.(*ast.FuncLit).Body)) {
				return true
			}
			t.Errorf("%s:%d: a goroutine that does not recover panics: run it with internal/safe (safe.Go, safe.Loop, defer safe.Recover) or say why not in a \"// safe:\" comment", path, line)
			return true
		})
	})
}

func isSafeCall(c *ast.CallExpr) bool {
	sel, ok := c.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && x.Name == "safe"
}

// isTimeAfterFunc reports time.AfterFunc(d, f), whose f runs on its own
// goroutine.
func isTimeAfterFunc(c *ast.CallExpr) bool {
	sel, ok := c.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "AfterFunc" {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && x.Name == "time"
}

func isSafeArg(e ast.Expr) bool {
	c, ok := e.(*ast.CallExpr)
	return ok && isSafeCall(c)
}

func isFuncLit(c *ast.CallExpr) bool {
	_, ok := c.Fun.(*ast.FuncLit)
	return ok
}

// bodyUsesSafe reports a function body whose top-level statements defer or
// call internal/safe.
func bodyUsesSafe(b *ast.BlockStmt) bool {
	for _, st := range b.List {
		switch s := st.(type) {
		case *ast.DeferStmt:
			if isSafeCall(s.Call) {
				return true
			}
		case *ast.ExprStmt:
			if c, ok := s.X.(*ast.CallExpr); ok && isSafeCall(c) {
				return true
			}
		}
	}
	return false
}
