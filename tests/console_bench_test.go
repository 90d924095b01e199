package tests

// The console's page-load figures (issue 14's closing note): time to
// first render of a cluster's overview and of its topic list with 1,000
// topics, in headless Chromium against a `trib cloud serve` process. It
// measures, it asserts nothing about speed; it runs only when asked:
//
//	TRIB_CONSOLE_BENCH=1 go test -run TestConsolePageLoad -v ./tests/

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/digitalocean/godo"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestConsolePageLoad(t *testing.T) {
	if os.Getenv("TRIB_CONSOLE_BENCH") == "" {
		t.Skip("a measurement, not a check: TRIB_CONSOLE_BENCH=1 runs it")
	}
	const topics, rounds = 1000, 10
	ctx := newBrowser(t)
	dir := t.TempDir()
	t.Cleanup(func() { killBrokers(dir) })
	cp := startCloud(t, dir, "sqlite")
	token := adminToken(t, dir)
	gc := godoClient(t, cp.URL, token)
	db, _, err := gc.Databases.Create(context.Background(), &godo.DatabaseCreateRequest{Name: "bench", EngineSlug: "kafka",
		SizeSlug: "local", Region: "local", NumNodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	db = waitStatus(t, gc, db.ID, "online", 2*time.Minute)
	bootstrap := fmt.Sprintf("%s:%d", db.Connection.Host, db.Connection.Port)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(bootstrap)}, cloudClientOpts(t, gc, db.ID, db.Connection.User, db.Connection.Password)...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var names []string
	for i := 0; i < topics; i++ {
		names = append(names, fmt.Sprintf("topic-%04d", i))
	}
	for chunk := range slices.Chunk(names, 100) {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		rs, err := adm.CreateTopics(cctx, 1, 1, nil, chunk...)
		cancel()
		if err == nil {
			err = rs.Error()
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	run(t, ctx, "sign in", 20*time.Second,
		chromedp.Navigate(cp.URL+"/login"),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Submit(chromedp.CSS("#login")),
		waitText("main h1", "Clusters"))
	// paint reads the navigation's timings: the HTML's arrival (server
	// render included) and the first contentful paint, from navigation
	// start.
	const paint = `(function(){var n=performance.getEntriesByType('navigation')[0];var p=performance.getEntriesByName('first-contentful-paint')[0];return [n.responseEnd, p?p.startTime:-1, n.loadEventEnd];})()`
	measure := func(name, url, ready string) {
		var resp, fcp, load []float64
		for i := 0; i < rounds; i++ {
			run(t, ctx, name, 30*time.Second, chromedp.Navigate(url), waitText(ready, "")) // Navigate waits for the load event
			v := read(t, ctx, chromedp.Evaluate[[]float64](paint))
			// The first-contentful-paint entry may come after the load
			// event on a small page: wait up to a second for it.
			for try := 0; v[1] < 0 && try < 20; try++ {
				time.Sleep(50 * time.Millisecond)
				v = read(t, ctx, chromedp.Evaluate[[]float64](paint))
			}
			resp, fcp, load = append(resp, v[0]), append(fcp, v[1]), append(load, v[2])
		}
		med := func(xs []float64) float64 { slices.Sort(xs); return xs[len(xs)/2] }
		t.Logf("%s: median of %d loads: HTML received %.0f ms, first contentful paint %.0f ms, load %.0f ms", name, rounds, med(resp), med(fcp), med(load))
	}
	measure("cluster overview", cp.URL+"/clusters/"+db.ID, "#brokers")
	measure(fmt.Sprintf("topic list (%d topics)", topics), cp.URL+"/clusters/"+db.ID+"/topics", "#topics")
	if n := read(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#topics tbody tr').length`)); n != topics {
		t.Fatalf("the topic list shows %d topics, want %d", n, topics)
	}
}
