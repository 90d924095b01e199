package console

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestParseTopicConfig(t *testing.T) {
	got, err := parseTopicConfig("# comment\nretention.ms = 3600000\ncleanup.policy=compact,delete\nmin.cleanable.dirty.ratio=0.2\npreallocate=true\nmessage.downconversion.enable=false\n")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"retention_ms": int64(3600000), "cleanup_policy": "compact_delete", "min_cleanable_dirty_ratio": 0.2,
		"preallocate": true, "message_down_conversion_enable": false}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	for in, msg := range map[string]string{
		"retention.ms=soon":       "retention.ms",
		"segment.bytes=1":         "segment.bytes",
		"no-equals":               "key=value",
		"unclean.leader.x=1":      "not a topic config",
		"cleanup.policy=shredded": "cleanup.policy",
	} {
		if _, err := parseTopicConfig(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("parseTopicConfig(%q) = %v, want an error about %q", in, err, msg)
		}
	}
}

func TestBrowseForm(t *testing.T) {
	for q, want := range map[string]startFrom{
		"":                                     {Mode: "end"},
		"from=beginning":                       {Mode: "beginning"},
		"from=offset&offset=42&partition=3":    {Mode: "offset", Offset: 42},
		"from=timestamp&time=2026-12-01T10:00": {Mode: "timestamp", Timestamp: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).UnixMilli()},
		"from=timestamp&time=1700000000000":    {Mode: "timestamp", Timestamp: 1700000000000},
	} {
		_, got, err := browseForm(httptest.NewRequest("GET", "/x?"+q, nil))
		if err != nil || got != want {
			t.Errorf("browseForm(%q) = %+v, %v; want %+v", q, got, err, want)
		}
	}
	for _, q := range []string{"from=offset&offset=-1", "from=offset", "from=timestamp&time=tomorrow", "from=sideways", "partition=x", "limit=0"} {
		if _, _, err := browseForm(httptest.NewRequest("GET", "/x?"+q, nil)); err == nil {
			t.Errorf("browseForm(%q) accepted", q)
		}
	}
	d, _, _ := browseForm(httptest.NewRequest("GET", "/x?limit=100000", nil))
	if d.Limit != maxBrowse {
		t.Errorf("limit not bounded: %d", d.Limit)
	}
}

func TestMatcher(t *testing.T) {
	r := &kgo.Record{Key: []byte("Order-7"), Value: []byte("paid"), Headers: []kgo.RecordHeader{{Key: "trace-id", Value: []byte("abc-123")}}}
	for _, c := range []struct {
		q      string
		fold   bool
		fields []string
		want   bool
	}{
		{"abc-123", false, nil, true},
		{"abc-123", false, []string{"key", "value"}, false},
		{"order", false, []string{"key"}, false},
		{"order", true, []string{"key"}, true},
		{"trace", false, []string{"headers"}, true},
		{"paid", false, []string{"headers"}, false},
	} {
		if got := newMatcher(c.q, c.fold, c.fields).match(r); got != c.want {
			t.Errorf("match(%q, fold=%v, %v) = %v, want %v", c.q, c.fold, c.fields, got, c.want)
		}
	}
}

func TestViewRecord(t *testing.T) {
	v := viewRecord(context.Background(), nil, &kgo.Record{Key: []byte{0xff, 0x00}, Value: []byte(`{"a":[1,2]}`)})
	if !v.KeyHex || v.Key != "ff00" || !v.ValueJSON || !strings.Contains(v.Value, "\n  \"a\": [") {
		t.Fatalf("viewRecord: %+v", v)
	}
	if v := viewRecord(context.Background(), nil, &kgo.Record{}); !v.KeyNull || !v.ValueNull {
		t.Fatalf("null key and value: %+v", v)
	}
}

// Rates are taken over the brokers in both samples: a broker that joins
// or restarts (its counters start again) is no spike.
func TestChartsRates(t *testing.T) {
	t0 := time.Unix(1000, 0)
	hist := func(n1, n10, total float64) map[float64]float64 {
		return map[float64]float64{1: n1, 10: n10, math.Inf(1): total}
	}
	bs := func(msgs float64, h map[float64]float64) *brokerSample {
		return &brokerSample{messagesIn: msgs, produce: h, fetch: map[float64]float64{}, topicIn: map[string]float64{"t": msgs}}
	}
	cm := &clusterMetrics{samples: []sample{
		{at: t0, brokers: map[string]*brokerSample{"a": bs(100, hist(0, 0, 0))}},
		{at: t0.Add(2 * time.Second), brokers: map[string]*brokerSample{"a": bs(120, hist(99, 100, 100)), "b": bs(5000, hist(0, 0, 0))}},
		{at: t0.Add(4 * time.Second), brokers: map[string]*brokerSample{"a": bs(10, hist(0, 0, 0)), "b": bs(5040, hist(0, 100, 100))}},
	}}
	charts, _ := cm.charts()
	in, lat := charts[0], charts[3]
	if len(in.Points) != 2 || in.Points[0].v != 10 || in.Points[1].v != 20 {
		t.Fatalf("messages in/s: %+v, want 10 then 20 (b new in the 2nd sample, a restarted in the 3rd)", in.Points)
	}
	if lat.Points[0].v != 1 || lat.Points[1].v != 10 {
		t.Fatalf("produce p99: %+v, want 1 then 10", lat.Points)
	}
	if r := cm.topicRates()["t"]; r != 20 {
		t.Fatalf("topic rate %v, want 20", r)
	}
	if svg := string(charts[0].SVG()); !strings.Contains(svg, "<polyline") {
		t.Fatalf("no line drawn: %s", svg)
	}
}

func TestStepsOf(t *testing.T) {
	steps := stepsOf(operation{Kind: "resize", FromNodes: 3, ToNodes: 5, Step: "rebalance", State: "running"})
	var got []string
	for _, s := range steps {
		got = append(got, s.Name+":"+s.State)
	}
	want := "start_brokers:done wait_ready:done rebalance:current wait_reassignments:todo elect_leaders:todo done:todo"
	if strings.Join(got, " ") != want {
		t.Fatalf("steps: %s\nwant:  %s", strings.Join(got, " "), want)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{"": "/clusters", "/clusters/x": "/clusters/x", "//evil.example": "/clusters",
		"https://evil.example": "/clusters", "/\\evil.example": "/clusters",
		"/\t/evil.example": "/clusters", "/\n/evil.example": "/clusters", "/a\\b": "/clusters"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// The group page's lag status and lag charts come from the brokers'
// admin listeners (/v1/consumer-groups/lag): the coordinator answers.
func TestLagStatusFromAdmin(t *testing.T) {
	coordinator := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/consumer-groups/lag" || r.URL.Query().Get("group") != "g" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"groups":{"g":"WARN"},"partitions":[{"group":"g","topic":"t","partition":0,"current_offset":5,"end_offset":9,"lag":4,"lag_seconds":2.5,"status":"WARN",
			"window":[{"Offset":1,"TimeMs":1000,"Lag":3},{"Offset":3,"TimeMs":2000,"Lag":4},{"Offset":5,"TimeMs":3000,"Lag":4}]}]}`))
	}))
	defer coordinator.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"groups":{},"partitions":[]}`)) }))
	defer other.Close()
	c := New(Config{Nodes: func(context.Context, string) ([]Node, error) {
		return []Node{{ID: 1, Admin: strings.TrimPrefix(other.URL, "http://")}, {ID: 2, Admin: strings.TrimPrefix(coordinator.URL, "http://")}}, nil
	}})
	defer c.Close()
	g := groupDetail{Name: "g", Lags: []lagView{{Topic: "t", Partition: 0, Lag: 4}, {Topic: "t", Partition: 1}}}
	c.lagStatus(context.Background(), "c1", &g)
	if g.Status != "WARN" || g.Lags[0].Status != "WARN" || g.Lags[0].LagSeconds != 2.5 || g.Lags[1].Status != "" {
		t.Fatalf("statuses: %+v", g)
	}
	if len(g.LagCharts) != 1 || len(g.LagCharts[0].Points) != 3 || g.LagCharts[0].Last != "4 records" || !strings.Contains(string(g.LagCharts[0].SVG()), "<polyline") {
		t.Fatalf("lag charts: %+v", g.LagCharts)
	}
}
