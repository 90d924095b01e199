package console

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A search reads a topic on the server, in the background, and keeps the
// records that match: it is bounded (at most MaxScan records read, at most
// maxMatches kept, at most maxSearchTime long), shows its progress, and
// stops when cancelled, when its session ends or when the console closes.
// A search over a topic of a hundred million records therefore reads the
// first MaxScan of them and says so; it never holds more than maxMatches
// records in memory.
const (
	maxMatches        = 200
	maxSearchTime     = 2 * time.Minute
	defaultScan       = 100_000
	maxScanLimit      = 10_000_000
	maxSearchesPerSes = 2
	keptSearches      = 10
)

// Search states.
const (
	searchRunning   = "running"
	searchDone      = "done"      // read every record up to the high watermarks
	searchLimited   = "limited"   // stopped at the scan, match or time bound
	searchCancelled = "cancelled" // stopped by the user
	searchFailed    = "failed"
)

// searchJob is one search. Its fields after mu are written by the
// search's goroutine and read by pages, under mu.
type searchJob struct {
	ID        string
	ClusterID string
	Topic     string
	Query     string
	Fields    []string
	Fold      bool
	From      startFrom
	MaxScan   int64
	Started   time.Time
	cancel    context.CancelFunc

	mu       sync.Mutex
	total    int64
	scanned  int64
	matches  []recordView
	state    string
	reason   string
	finished time.Time
}

// searchStatus is a copy of a job's progress for a page.
type searchStatus struct {
	Job     *searchJob
	Total   int64
	Scanned int64
	Matches []recordView
	State   string
	Reason  string
	Elapsed string
	Running bool
}

func (j *searchJob) status() searchStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	end := j.finished
	if end.IsZero() {
		end = time.Now()
	}
	return searchStatus{Job: j, Total: j.total, Scanned: j.scanned, Matches: append([]recordView(nil), j.matches...),
		State: j.state, Reason: j.reason, Elapsed: end.Sub(j.Started).Round(100 * time.Millisecond).String(), Running: j.state == searchRunning}
}

func (j *searchJob) finish(state, reason string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state == searchRunning {
		j.state, j.reason, j.finished = state, reason, time.Now()
	}
}

// searches are one session's searches, newest last.
type searches struct {
	mu   sync.Mutex // guards jobs
	jobs []*searchJob
}

func newSearches() *searches { return &searches{} }

func (ss *searches) get(id string) *searchJob {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, j := range ss.jobs {
		if j.ID == id {
			return j
		}
	}
	return nil
}

// add registers j unless the session already runs its maximum of
// searches; the oldest finished searches are forgotten.
func (ss *searches) add(j *searchJob) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	running := 0
	for _, o := range ss.jobs {
		if o.status().Running {
			running++
		}
	}
	if running >= maxSearchesPerSes {
		return fmt.Errorf("%d searches are running already: wait for one to finish or cancel it", running)
	}
	ss.jobs = append(ss.jobs, j)
	for len(ss.jobs) > keptSearches {
		i := -1
		for k, o := range ss.jobs {
			if !o.status().Running {
				i = k
				break
			}
		}
		if i < 0 {
			break
		}
		ss.jobs = append(ss.jobs[:i], ss.jobs[i+1:]...)
	}
	return nil
}

// list returns the session's searches of one topic, newest first.
func (ss *searches) list(clusterID, topic string) []*searchJob {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var out []*searchJob
	for i := len(ss.jobs) - 1; i >= 0; i-- {
		if j := ss.jobs[i]; j.ClusterID == clusterID && j.Topic == topic {
			out = append(out, j)
		}
	}
	return out
}

func (ss *searches) cancelAll() {
	if ss == nil {
		return
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, j := range ss.jobs {
		j.cancel()
		j.finish(searchCancelled, "the session ended")
	}
}

// run reads the topic and keeps the matches; it is the job's goroutine.
func (j *searchJob) run(ctx context.Context, kc *kafkaClient, dec *schemaDecoder) {
	defer j.cancel()
	rs, err := ranges(ctx, kc, j.Topic, -1, j.From)
	if err != nil {
		j.finish(searchFailed, err.Error())
		return
	}
	var total int64
	for _, r := range rs {
		total += r.end - r.start
	}
	j.mu.Lock()
	j.total = total
	j.mu.Unlock()
	m := newMatcher(j.Query, j.Fold, j.Fields)
	limited := ""
	var scanned int64
	err = scan(ctx, kc, j.Topic, rs, func(r *kgo.Record) bool {
		scanned++
		hit := !r.Attrs.IsControl() && m.match(r)
		var view recordView
		if hit { // outside j.mu: decoding may ask the schema registry
			view = viewRecord(ctx, dec, r)
		}
		j.mu.Lock()
		j.scanned = scanned
		if hit {
			j.matches = append(j.matches, view)
		}
		n := len(j.matches)
		j.mu.Unlock()
		switch {
		case n >= maxMatches:
			limited = fmt.Sprintf("stopped at %d matches", maxMatches)
		case scanned >= j.MaxScan:
			limited = fmt.Sprintf("stopped after reading %d records (the search's bound)", j.MaxScan)
		default:
			return true
		}
		return false
	})
	j.mu.Lock()
	sort.SliceStable(j.matches, func(a, b int) bool {
		if j.matches[a].Partition != j.matches[b].Partition {
			return j.matches[a].Partition < j.matches[b].Partition
		}
		return j.matches[a].Offset < j.matches[b].Offset
	})
	j.mu.Unlock()
	switch {
	case errors.Is(err, context.Canceled):
		j.finish(searchCancelled, "cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		j.finish(searchLimited, fmt.Sprintf("stopped after %s (the search's time bound)", maxSearchTime))
	case err != nil:
		j.finish(searchFailed, err.Error())
	case limited != "":
		j.finish(searchLimited, limited)
	default:
		j.finish(searchDone, "read every record up to the end of each partition")
	}
}
