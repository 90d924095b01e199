package config

import (
	"testing"
	"time"
)

func TestParseISODuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"PT1H": time.Hour, "P1D": 24 * time.Hour, "PT30M": 30 * time.Minute, "PT1.5S": 1500 * time.Millisecond,
		"P2DT3H4M5S": 51*time.Hour + 4*time.Minute + 5*time.Second, "pt10s": 10 * time.Second, "PT0S": 0,
	} {
		if got, err := ParseISODuration(in); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "P", "PT", "1H", "PT-1H", "P1Y", "P1DT", "PTH", "P99999999999999999D"} {
		if _, err := ParseISODuration(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	for v, ok := range map[string]bool{"latest": true, "earliest": true, "by_duration:PT1H": true, "by_duration:": false, "by_duration:1h": false, "none": false} {
		if err := checkShareReset(v); (err == nil) != ok {
			t.Errorf("share.auto.offset.reset=%s: %v", v, err)
		}
	}
}
