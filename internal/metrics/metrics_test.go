package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type fakeSource struct{ s BrokerSnapshot }

func (f fakeSource) Snapshot() BrokerSnapshot { return f.s }

func fullSnapshot(partitions int) BrokerSnapshot {
	s := BrokerSnapshot{ActiveController: true, OfflinePartitions: 1, GlobalPartitions: partitions, GlobalTopics: 1,
		IsrShrinks: 3, IsrExpands: 2, ProducePurgatory: 4, FetchPurgatory: 5, LogDirs: []string{"."},
		Total: TopicCounters{MessagesIn: 10, BytesIn: 100}, Topics: []TopicCounters{{Topic: "t", MessagesIn: 10, BytesIn: 100}}}
	for i := range partitions {
		s.Partitions = append(s.Partitions, PartitionStats{Topic: "t", Partition: int32(i), Leader: i%3 == 0, Replicas: 3,
			ISR: 3 - i%2, MinISR: 2, LogEndOffset: int64(i), SizeBytes: 1000})
	}
	return s
}

// TestGatherConsistent: every collector's metrics gather without error
// (label cardinality, duplicate series, help strings) and pass
// Prometheus's lint, with and without per-partition series, before and
// after a source is attached.
func TestGatherConsistent(t *testing.T) {
	for _, per := range []bool{false, true} {
		m := New(Options{PerPartition: per})
		if _, err := m.Registry.Gather(); err != nil {
			t.Fatalf("no source yet: %v", err)
		}
		m.SetSource(fakeSource{fullSnapshot(10)})
		m.Requests.Received(0, 9)
		m.Requests.Done(0, time.Now())
		m.ObserveFsync(time.Millisecond)
		m.Lag.Observe(1000, []CommittedOffset{{Group: "g", Topic: "t", Partition: 0, Offset: 5, CommitMs: 900}},
			map[TopicPartition]int64{{Topic: "t", Partition: 0}: 10})
		if _, err := m.Registry.Gather(); err != nil {
			t.Fatalf("per-partition=%v: %v", per, err)
		}
		problems, err := testutil.GatherAndLint(m.Registry)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			// Kafka's names are kept as the JMX exporter renders them
			// (totaltimems in milliseconds, the delayedOperation label),
			// and kafka-exporter's lag_sum as it names it.
			if strings.Contains(p.Text, "units") || p.Metric == "kafka_consumergroup_lag_sum" ||
				p.Metric == "kafka_server_delayedoperationpurgatory_purgatorysize" && strings.Contains(p.Text, "camelCase") {
				continue
			}
			t.Errorf("lint %s: %s", p.Metric, p.Text)
		}
	}
}

// TestBrokerGauges: the replica manager gauges are derived from the
// partitions as Kafka defines them.
func TestBrokerGauges(t *testing.T) {
	m := New(Options{})
	m.SetSource(fakeSource{BrokerSnapshot{Partitions: []PartitionStats{
		{Topic: "a", Partition: 0, Leader: true, Replicas: 3, ISR: 3, MinISR: 2},
		{Topic: "a", Partition: 1, Leader: true, Replicas: 3, ISR: 2, MinISR: 2}, // under-replicated, at min ISR
		{Topic: "a", Partition: 2, Leader: true, Replicas: 3, ISR: 1, MinISR: 2}, // under-replicated, under min ISR
		{Topic: "a", Partition: 3, Leader: false, Replicas: 3, ISR: 1, MinISR: 2, Offline: true},
	}}})
	want := `
# HELP kafka_server_replicamanager_underreplicatedpartitions Partitions led here whose ISR is smaller than the replica set.
# TYPE kafka_server_replicamanager_underreplicatedpartitions gauge
kafka_server_replicamanager_underreplicatedpartitions 2
# HELP kafka_server_replicamanager_underminisrpartitioncount Partitions led here whose ISR is below min.insync.replicas.
# TYPE kafka_server_replicamanager_underminisrpartitioncount gauge
kafka_server_replicamanager_underminisrpartitioncount 1
# HELP kafka_server_replicamanager_atminisrpartitioncount Partitions led here whose ISR is exactly min.insync.replicas.
# TYPE kafka_server_replicamanager_atminisrpartitioncount gauge
kafka_server_replicamanager_atminisrpartitioncount 1
# HELP kafka_server_replicamanager_leadercount Partitions led by this broker.
# TYPE kafka_server_replicamanager_leadercount gauge
kafka_server_replicamanager_leadercount 3
# HELP kafka_server_replicamanager_partitioncount Replicas on this broker.
# TYPE kafka_server_replicamanager_partitioncount gauge
kafka_server_replicamanager_partitioncount 4
# HELP kafka_server_replicamanager_offlinereplicacount Replicas on this broker whose log is offline.
# TYPE kafka_server_replicamanager_offlinereplicacount gauge
kafka_server_replicamanager_offlinereplicacount 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want),
		"kafka_server_replicamanager_underreplicatedpartitions", "kafka_server_replicamanager_underminisrpartitioncount",
		"kafka_server_replicamanager_atminisrpartitioncount", "kafka_server_replicamanager_leadercount",
		"kafka_server_replicamanager_partitioncount", "kafka_server_replicamanager_offlinereplicacount"); err != nil {
		t.Error(err)
	}
}

// BenchmarkScrape1000Partitions: one scrape (collect and encode) of a
// broker with 1,000 partitions, with and without per-partition series.
func BenchmarkScrape1000Partitions(b *testing.B) {
	for _, per := range []bool{false, true} {
		name := "broker-level"
		if per {
			name = "per-partition"
		}
		b.Run(name, func(b *testing.B) {
			m := New(Options{PerPartition: per})
			m.SetSource(fakeSource{fullSnapshot(1000)})
			for b.Loop() {
				if _, err := m.Registry.Gather(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRequestPath: what the server adds per request with metrics on
// (a count and a latency observation, plus the clock read for the start
// time), to compare with a produce request's own cost.
func BenchmarkRequestPath(b *testing.B) {
	r := NewRequests()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := time.Now()
			r.Received(0, 9)
			r.Done(0, start)
		}
	})
}

// TestRequestSlots: Kafka counts consumer and follower fetches apart.
func TestRequestSlots(t *testing.T) {
	r := NewRequests()
	consumer := kmsg.NewPtrFetchRequest()
	consumer.Version = 16
	follower := kmsg.NewPtrFetchRequest()
	follower.Version = 16
	follower.ReplicaState.ID = 2
	oldFollower := kmsg.NewPtrFetchRequest()
	oldFollower.Version = 12
	oldFollower.ReplicaID = 3
	oldConsumer := kmsg.NewPtrFetchRequest()
	oldConsumer.Version = 12
	oldConsumer.ReplicaID = -1
	oldConsumer.ReplicaState.ID = 0 // not on the wire before v15
	for _, req := range []kmsg.Request{consumer, follower, oldFollower, oldConsumer, kmsg.NewPtrProduceRequest()} {
		slot := RequestSlot(req.Key(), req)
		r.Received(slot, req.GetVersion())
		r.Done(slot, time.Now())
	}
	want := `
# HELP kafka_network_requestmetrics_requests_total Requests received, per API and version (RequestMetrics RequestsPerSec).
# TYPE kafka_network_requestmetrics_requests_total counter
kafka_network_requestmetrics_requests_total{request="FetchConsumer",version="12"} 1
kafka_network_requestmetrics_requests_total{request="FetchConsumer",version="16"} 1
kafka_network_requestmetrics_requests_total{request="FetchFollower",version="12"} 1
kafka_network_requestmetrics_requests_total{request="FetchFollower",version="16"} 1
kafka_network_requestmetrics_requests_total{request="Produce",version="0"} 1
`
	reg := prometheus.NewRegistry()
	reg.MustRegister(r)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "kafka_network_requestmetrics_requests_total"); err != nil {
		t.Error(err)
	}
}
