package metadata

import (
	"errors"
	"maps"
	"testing"
)

// A conditional config change applies only to the configs it was computed
// from: two changes computed from the same configs (IncrementalAlterConfigs
// sent to two brokers at once) cannot both apply, so the second is
// computed again instead of dropping the first. A change without the
// condition (written before it existed) applies as it always did.
func TestConditionalConfigChanges(t *testing.T) {
	s := threeBrokers(t, 1, 2, 3)
	base := map[string]string{}
	first := map[string]string{"retention.ms": "1000"}
	second := map[string]string{"cleanup.policy": "compact"}
	s = mustApply(t, s, &Command{SetTopicConfigs: &SetTopicConfigs{Name: "t", Configs: first, Expect: ExpectConfigs{Check: true, Configs: base}}})
	if err := applyErr(s, &Command{SetTopicConfigs: &SetTopicConfigs{Name: "t", Configs: second, Expect: ExpectConfigs{Check: true, Configs: base}}}); !errors.Is(err, ErrConfigConflict) {
		t.Fatalf("a change computed from replaced configs: %v, want ErrConfigConflict", err)
	}
	if got := s.Topics["t"].Configs; !maps.Equal(got, first) {
		t.Fatalf("configs %v, want %v", got, first)
	}
	both := map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}
	s = mustApply(t, s, &Command{SetTopicConfigs: &SetTopicConfigs{Name: "t", Configs: both, Expect: ExpectConfigs{Check: true, Configs: first}}})
	s = mustApply(t, s, &Command{SetTopicConfigs: &SetTopicConfigs{Name: "t", Configs: second}})
	if got := s.Topics["t"].Configs; !maps.Equal(got, second) {
		t.Fatalf("an unconditional change: configs %v, want %v", got, second)
	}

	// Broker and group resources: none set and an empty map are the same.
	s = mustApply(t, s, &Command{SetBrokerConfigs: &SetBrokerConfigs{Configs: map[string]string{"a": "1"}, Expect: ExpectConfigs{Check: true}}})
	if err := applyErr(s, &Command{SetBrokerConfigs: &SetBrokerConfigs{Configs: map[string]string{"b": "2"}, Expect: ExpectConfigs{Check: true, Configs: map[string]string{}}}}); !errors.Is(err, ErrConfigConflict) {
		t.Fatalf("broker configs: %v, want ErrConfigConflict", err)
	}
	s = mustApply(t, s, &Command{SetGroupConfigs: &SetGroupConfigs{Group: "g", Configs: map[string]string{"a": "1"}, Expect: ExpectConfigs{Check: true}}})
	if err := applyErr(s, &Command{SetGroupConfigs: &SetGroupConfigs{Group: "g", Configs: nil, Expect: ExpectConfigs{Check: true}}}); !errors.Is(err, ErrConfigConflict) {
		t.Fatalf("group configs: %v, want ErrConfigConflict", err)
	}
	if got := s.BrokerConfigs[""]; !maps.Equal(got, map[string]string{"a": "1"}) {
		t.Fatalf("broker configs %v", got)
	}
}
