package config

import (
	"strings"
	"testing"
)

func TestParseThrottledReplicas(t *testing.T) {
	for _, c := range []struct {
		in      string
		ok      bool
		has     [][2]int32
		hasNot  [][2]int32
		all     bool
		isEmpty bool
	}{
		{in: "", ok: true, isEmpty: true, hasNot: [][2]int32{{0, 1}}},
		{in: "*", ok: true, all: true, has: [][2]int32{{0, 1}, {7, 3}}},
		{in: " * ", ok: true, all: true},
		{in: "0:1,1:2", ok: true, has: [][2]int32{{0, 1}, {1, 2}}, hasNot: [][2]int32{{0, 2}, {1, 1}}},
		{in: " 0:1 , ,2:3,", ok: true, has: [][2]int32{{0, 1}, {2, 3}}, hasNot: [][2]int32{{1, 1}}},
		{in: "0:1,*", ok: false},
		{in: "0", ok: false},
		{in: "a:1", ok: false},
		{in: "0:-1", ok: false},
		{in: "-0:1", ok: false},
		{in: "+1:1", ok: false},
		{in: "0:1:2", ok: false},
		{in: "0 :1", ok: false},
		{in: "99999999999:1", ok: false},
	} {
		got, err := ParseThrottledReplicas(c.in)
		if (err == nil) != c.ok {
			t.Errorf("%q: err %v, want ok %v", c.in, err, c.ok)
			continue
		}
		if !c.ok {
			continue
		}
		if got.All != c.all || got.Empty() != c.isEmpty {
			t.Errorf("%q: All %v Empty %v", c.in, got.All, got.Empty())
		}
		for _, h := range c.has {
			if !got.Has(h[0], h[1]) {
				t.Errorf("%q: does not have %d:%d", c.in, h[0], h[1])
			}
		}
		for _, h := range c.hasNot {
			if got.Has(h[0], h[1]) {
				t.Errorf("%q: has %d:%d", c.in, h[0], h[1])
			}
		}
	}
	// The topic configs and the broker rates validate through it.
	if err := checkBrokerKey(LeaderThrottledRateKey, "1048576"); err != nil {
		t.Error(err)
	}
	if err := checkBrokerKey(FollowerThrottledRateKey, "-1"); err == nil {
		t.Error("a negative follower rate was accepted")
	}
	if !DynamicBrokerKey(LeaderThrottledRateKey) || !DynamicBrokerKey(FollowerThrottledRateKey) {
		t.Error("the throttle rates are not dynamic")
	}
	if err := TopicDefs[LeaderThrottledReplicasKey].Check("0:x"); err == nil {
		t.Error("topic config accepted 0:x")
	}
}

func FuzzParseThrottledReplicas(f *testing.F) {
	for _, s := range []string{"", "*", "0:1,1:2", " 3:4 ,", "0:1,*", "x", "1:2:3", "-1:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseThrottledReplicas(s)
		if err != nil {
			return
		}
		if got.All {
			if strings.TrimSpace(s) != "*" {
				t.Fatalf("%q parsed as *", s)
			}
			return
		}
		// Every accepted pair is one of the entries, and every entry is in.
		n := 0
		for _, e := range strings.Split(s, ",") {
			e = strings.TrimSpace(e)
			if e == "" {
				continue
			}
			n++
		}
		if n == 0 && !got.Empty() {
			t.Fatalf("%q: no entries but not empty", s)
		}
		if len(got.pairs) > n {
			t.Fatalf("%q: %d pairs from %d entries", s, len(got.pairs), n)
		}
		for k := range got.pairs {
			if k[0] < 0 || k[1] < 0 || !got.Has(k[0], k[1]) {
				t.Fatalf("%q: bad pair %v", s, k)
			}
		}
	})
}
