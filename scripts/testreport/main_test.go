package main

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// testdata/run.json is `go test -json ./...` of a module whose package a
// has a passing, a failing (with a failed subtest), a skipped and two
// parallel tests, b a passing and a panicking test, e one passing test
// with a log line, and f no tests.
func TestReport(t *testing.T) {
	got := render(t, "testdata/run.json", 2)

	// What scripts/test reads back: top-level failures at column 0 and
	// the failed packages.
	var failed, pkgs []string
	for _, l := range strings.Split(got, "\n") {
		if m := regexp.MustCompile(`^--- FAIL: (\S+)`).FindStringSubmatch(l); m != nil {
			failed = append(failed, m[1])
		}
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "FAIL" {
			pkgs = append(pkgs, f[1])
		}
	}
	slices.Sort(failed)
	slices.Sort(pkgs)
	if want := []string{"TestFail", "TestPanic", "TestPar2"}; !slices.Equal(failed, want) {
		t.Errorf("top-level failures %v, want %v\n%s", failed, want, got)
	}
	if want := []string{"fake/a", "fake/b"}; !slices.Equal(pkgs, want) {
		t.Errorf("failed packages %v, want %v\n%s", pkgs, want, got)
	}
	for _, want := range []string{"    --- FAIL: TestFail/sub", "a_test.go:4: boom", "a_test.go:7: par2 fails",
		"panic: assignment to entry in nil map", "ok  \tfake/e\t", "?   \tfake/f\t[no test files]",
		"==> the 2 slowest of 8 top-level tests", "      0.31s  TestPar1  fake/a\n      0.20s  TestPass  fake/a\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	// Passing tests are quiet, as with go test without -v.
	for _, noise := range []string{"quiet on pass", "noise", "=== RUN", "--- PASS: TestPass", "\nPASS\n"} {
		if strings.Contains(got, noise) {
			t.Errorf("%q in\n%s", noise, got)
		}
	}
}

// A line that is not an event (go's own messages) passes through.
func TestReportPlainLines(t *testing.T) {
	var out bytes.Buffer
	r := newReport(&out)
	r.line([]byte("go: downloading example.com/x v1.0.0"))
	r.line([]byte(`{"Action":"build-output","ImportPath":"fake/c [fake/c.test]","Output":"c/c_test.go:3:27: undefined: undefined\n"}`))
	if got, want := out.String(), "go: downloading example.com/x v1.0.0\nc/c_test.go:3:27: undefined: undefined\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// testdata/timeout.json is `go test -json -timeout 1s` of a package whose
// TestHangs sleeps a minute: the run's end names it.
func TestReportTimeout(t *testing.T) {
	got := render(t, "testdata/timeout.json", 15)
	want := "==> timed out (go test -timeout) while running:\n  TestHangs (1s)  fake/t\n"
	if !strings.HasSuffix(got, want) {
		t.Errorf("the run does not end with %q:\n%s", want, got)
	}
}

// render is testreport's output for the test2json file path, with the n
// slowest tests.
func render(t *testing.T, path string, n int) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	run(f, &out, n)
	return out.String()
}
