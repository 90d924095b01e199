// Command testreport turns `go test -json` output (stdin) into what `go
// test` prints without -json or -v (stdout): the output of failed tests,
// build errors and one line per package. At the end it prints the slowest
// top-level tests, so a run shows where its time goes. scripts/test pipes
// the whole suite through it; its exit status is always 0 (the test run's
// status is go test's).
//
//	go test -json ./... 2>&1 | go run ./scripts/testreport -slowest 15
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json's TestEvent).
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// result is a finished top-level test.
type result struct {
	pkg, test, action string
	elapsed           float64
}

// report renders a test2json stream as go test's default output. Not safe
// for concurrent use: one goroutine feeds it lines in order.
type report struct {
	out     io.Writer
	pending map[[2]string][]string // (package, top-level test) -> its output so far
	order   [][2]string            // keys of pending, in the order they started
	results []result
	// running lists the tests a test binary named when its -timeout
	// expired ("running tests:"), by package; inRunning: the lines being
	// read are that list.
	running   []string
	inRunning string
}

func newReport(out io.Writer) *report {
	return &report{out: out, pending: map[[2]string][]string{}}
}

// line handles one line of input.
func (r *report) line(b []byte) {
	var e event
	if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &e) != nil || e.Action == "" {
		fmt.Fprintf(r.out, "%s\n", b) // not an event: go's own messages on stderr
		return
	}
	if e.Action == "output" {
		r.timeout(e.Package, e.Output)
	}
	top, _, sub := strings.Cut(e.Test, "/")
	key := [2]string{e.Package, top}
	switch {
	case e.Action == "build-output":
		io.WriteString(r.out, e.Output)
	case e.Test == "" && e.Action == "output":
		if e.Output == "PASS\n" { // go test prints only "ok pkg" for a passing package
			return
		}
		if strings.HasPrefix(e.Output, "FAIL") {
			r.flush(e.Package) // tests that never finished (a panic, a timeout)
		}
		io.WriteString(r.out, e.Output)
	case e.Test == "":
	case e.Action == "output":
		if framing(e.Output) {
			return
		}
		if _, ok := r.pending[key]; !ok {
			r.order = append(r.order, key)
		}
		out := e.Output
		if sub && strings.HasPrefix(out, "--- ") {
			// -json leaves a subtest's result line unindented; go test
			// indents it by its depth, and scripts/test takes the
			// unindented ones for top-level tests.
			out = strings.Repeat("    ", strings.Count(e.Test, "/")) + out
		}
		r.pending[key] = append(r.pending[key], out)
	case sub:
	case e.Action == "pass" || e.Action == "fail" || e.Action == "skip":
		r.results = append(r.results, result{pkg: e.Package, test: top, action: e.Action, elapsed: e.Elapsed})
		if e.Action == "fail" {
			r.print(key)
		}
		delete(r.pending, key)
	}
}

// timeout notes the tests a test binary of pkg lists when its -timeout
// expires (out is one line of its output): its goroutine dump follows and
// can be long enough that a CI log keeps only its end, so the list is
// printed again at the end of the run.
func (r *report) timeout(pkg, out string) {
	switch {
	case strings.TrimSpace(out) == "running tests:":
		r.inRunning = pkg
	case r.inRunning == pkg && strings.HasPrefix(out, "\t\t"):
		r.running = append(r.running, strings.TrimSpace(out)+"  "+pkg)
	case r.inRunning == pkg:
		r.inRunning = ""
	}
}

// timedOut prints the tests that were running when a test binary timed
// out.
func (r *report) timedOut() {
	if len(r.running) == 0 {
		return
	}
	fmt.Fprintf(r.out, "==> timed out (go test -timeout) while running:\n")
	for _, s := range r.running {
		fmt.Fprintf(r.out, "  %s\n", s)
	}
}

// framing reports whether s is one of the -v mode's test start lines,
// which go test does not print without -v.
func framing(s string) bool {
	for _, p := range []string{"=== RUN ", "=== PAUSE ", "=== CONT ", "=== NAME "} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func (r *report) print(key [2]string) {
	for _, s := range r.pending[key] {
		io.WriteString(r.out, s)
	}
}

// flush prints the output of pkg's unfinished tests ("" for every
// package).
func (r *report) flush(pkg string) {
	var keep [][2]string
	for _, k := range r.order {
		if _, ok := r.pending[k]; !ok {
			continue
		}
		if pkg != "" && k[0] != pkg {
			keep = append(keep, k)
			continue
		}
		r.print(k)
		delete(r.pending, k)
	}
	r.order = keep
}

// slowest prints the n slowest top-level tests.
func (r *report) slowest(n int) {
	if n <= 0 || len(r.results) == 0 {
		return
	}
	rs := append([]result(nil), r.results...)
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].elapsed > rs[j].elapsed })
	var total float64
	for _, x := range rs {
		total += x.elapsed
	}
	fmt.Fprintf(r.out, "==> the %d slowest of %d top-level tests (%.0fs in all):\n", min(n, len(rs)), len(rs), total)
	for _, x := range rs[:min(n, len(rs))] {
		mark := ""
		if x.action != "pass" {
			mark = " (" + x.action + ")"
		}
		fmt.Fprintf(r.out, "  %8.2fs  %s  %s%s\n", x.elapsed, x.test, x.pkg, mark)
	}
}

func main() {
	n := flag.Int("slowest", 15, "print the `n` slowest top-level tests at the end (0: none)")
	flag.Parse()
	run(os.Stdin, os.Stdout, *n) // stdout unbuffered: a failure shows as it happens
}

// run renders the test2json stream in as go test's output on out, then the
// n slowest top-level tests and the tests a timed-out binary was running.
func run(in io.Reader, out io.Writer, n int) {
	r := newReport(out)
	br := bufio.NewReaderSize(in, 1<<20)
	for {
		b, err := br.ReadBytes('\n')
		if len(b) > 0 {
			r.line(bytes.TrimSuffix(b, []byte("\n")))
		}
		if err != nil {
			break
		}
	}
	r.flush("")
	r.slowest(n)
	r.timedOut()
}
