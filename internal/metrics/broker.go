package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TopicCounters are a topic's (or the broker's) monotonic counters, kept by
// the broker with atomic adds on the request path and read at scrape time.
type TopicCounters struct {
	Topic                 string // "" for the broker-wide totals
	MessagesIn            int64
	BytesIn               int64
	BytesOut              int64 // to consumers
	ReplicationBytesOut   int64 // to follower replicas
	ReplicationBytesIn    int64 // appended here as a follower
	BytesRejected         int64
	TotalProduceRequests  int64 // per partition of a produce request, as Kafka counts
	FailedProduceRequests int64
	TotalFetchRequests    int64 // per partition of a consumer fetch
	FailedFetchRequests   int64
}

// PartitionStats is one local replica's state at scrape time.
type PartitionStats struct {
	Topic          string
	Partition      int32
	Leader         bool // this broker leads it
	Offline        bool // its log is offline here (storage fault)
	Replicas       int
	ISR            int
	MinISR         int
	LogStartOffset int64
	LogEndOffset   int64
	HighWatermark  int64
	SizeBytes      int64
}

// BrokerSnapshot is what the broker reports at scrape time.
type BrokerSnapshot struct {
	Partitions []PartitionStats
	Topics     []TopicCounters
	Total      TopicCounters
	// ActiveController is true on the quorum's leader.
	ActiveController bool
	// OfflinePartitions is the number of partitions without a leader, as
	// the metadata says; reported by the active controller only (0
	// elsewhere), as Kafka does.
	OfflinePartitions int
	// GlobalPartitions and GlobalTopics: the cluster's counts, reported by
	// the active controller only.
	GlobalPartitions, GlobalTopics int
	IsrShrinks, IsrExpands         int64
	// ProducePurgatory and FetchPurgatory are the acks=all produces and
	// long-polling fetches waiting now.
	ProducePurgatory, FetchPurgatory int64
	// FetchSessions, FetchSessionPartitions and FetchSessionEvictions:
	// the incremental fetch sessions (KIP-227) open now, the partitions
	// they hold, and the sessions evicted so far to make room for others.
	FetchSessions, FetchSessionPartitions, FetchSessionEvictions int64
	// LogDirs are the data dirs, for the disk metrics.
	LogDirs []string
	// Quota throttling per quota type (Produce, Fetch, Request): responses
	// throttled and their total throttle time.
	QuotaThrottled     map[string]int64
	QuotaThrottleTotal map[string]time.Duration
}

// Source is the broker seen from the collector. Snapshot is called once
// per scrape, from the scraping goroutine; it must hold no lock across
// I/O and do no work proportional to the traffic.
type Source interface {
	Snapshot() BrokerSnapshot
}

var (
	descMessagesIn         = counterDesc("kafka_server_brokertopicmetrics_messagesin_total", "Records appended (BrokerTopicMetrics MessagesInPerSec).")
	descBytesIn            = counterDesc("kafka_server_brokertopicmetrics_bytesin_total", "Bytes of record batches appended from producers (BytesInPerSec).")
	descBytesOut           = counterDesc("kafka_server_brokertopicmetrics_bytesout_total", "Bytes of record batches sent to consumers (BytesOutPerSec).")
	descReplBytesOut       = counterDesc("kafka_server_brokertopicmetrics_replicationbytesout_total", "Bytes of record batches sent to follower replicas (ReplicationBytesOutPerSec).")
	descReplBytesIn        = counterDesc("kafka_server_brokertopicmetrics_replicationbytesin_total", "Bytes of record batches appended here as a follower replica (ReplicationBytesInPerSec).")
	descBytesRejected      = counterDesc("kafka_server_brokertopicmetrics_bytesrejected_total", "Bytes of batches refused as too large (BytesRejectedPerSec).")
	descTotalProduce       = counterDesc("kafka_server_brokertopicmetrics_totalproducerequests_total", "Partition produce requests (TotalProduceRequestsPerSec).")
	descFailedProduce      = counterDesc("kafka_server_brokertopicmetrics_failedproducerequests_total", "Partition produce requests answered with an error (FailedProduceRequestsPerSec).")
	descTotalFetch         = counterDesc("kafka_server_brokertopicmetrics_totalfetchrequests_total", "Partition fetch requests from consumers (TotalFetchRequestsPerSec).")
	descFailedFetch        = counterDesc("kafka_server_brokertopicmetrics_failedfetchrequests_total", "Partition fetch requests from consumers answered with an error (FailedFetchRequestsPerSec).")
	descUnderReplicated    = gaugeDesc("kafka_server_replicamanager_underreplicatedpartitions", "Partitions led here whose ISR is smaller than the replica set.")
	descUnderMinISR        = gaugeDesc("kafka_server_replicamanager_underminisrpartitioncount", "Partitions led here whose ISR is below min.insync.replicas.")
	descAtMinISR           = gaugeDesc("kafka_server_replicamanager_atminisrpartitioncount", "Partitions led here whose ISR is exactly min.insync.replicas.")
	descPartitionCount     = gaugeDesc("kafka_server_replicamanager_partitioncount", "Replicas on this broker.")
	descLeaderCount        = gaugeDesc("kafka_server_replicamanager_leadercount", "Partitions led by this broker.")
	descOfflineReplicas    = gaugeDesc("kafka_server_replicamanager_offlinereplicacount", "Replicas on this broker whose log is offline.")
	descIsrShrinks         = gaugeDesc("kafka_server_replicamanager_isrshrinks_total", "ISR shrinks committed for partitions led here (IsrShrinksPerSec).")
	descIsrExpands         = gaugeDesc("kafka_server_replicamanager_isrexpands_total", "ISR expansions committed for partitions led here (IsrExpandsPerSec).")
	descActiveController   = gaugeDesc("kafka_controller_kafkacontroller_activecontrollercount", "1 on the active controller (the metadata quorum leader), else 0.")
	descOfflinePartitions  = gaugeDesc("kafka_controller_kafkacontroller_offlinepartitionscount", "Partitions without a leader (active controller only).")
	descGlobalPartitions   = gaugeDesc("kafka_controller_kafkacontroller_globalpartitioncount", "Partitions in the cluster (active controller only).")
	descGlobalTopics       = gaugeDesc("kafka_controller_kafkacontroller_globaltopiccount", "Topics in the cluster (active controller only).")
	descQuotaThrottled     = prometheus.NewDesc("kafka_server_quota_throttled_total", "Responses throttled by a client quota (producer_byte_rate: Produce, consumer_byte_rate: Fetch, request_percentage: Request, controller_mutation_rate: ControllerMutation).", []string{"quota_type"}, nil)
	descQuotaThrottleTime  = prometheus.NewDesc("kafka_server_quota_throttle_time_seconds_total", "Total throttle time told to clients over their quota, by quota type.", []string{"quota_type"}, nil)
	descPurgatory          = prometheus.NewDesc("kafka_server_delayedoperationpurgatory_purgatorysize", "Requests waiting: acks=all produces (Produce) and long-polling fetches (Fetch).", []string{"delayedOperation"}, nil)
	descFetchSessions      = gaugeDesc("kafka_server_fetchsessioncache_numincrementalfetchsessions", "Incremental fetch sessions open (KIP-227).")
	descFetchSessionParts  = gaugeDesc("kafka_server_fetchsessioncache_numincrementalfetchpartitionscached", "Partitions held by the open incremental fetch sessions.")
	descFetchSessionEvicts = gaugeDesc("kafka_server_fetchsessioncache_incrementalfetchsessionevictions_total", "Incremental fetch sessions evicted to make room for a new one (IncrementalFetchSessionEvictionsPerSec).")
	descLogSize            = partitionDesc("kafka_log_log_size", "Bytes of the partition's log on this broker.")
	descLogEnd             = partitionDesc("kafka_log_log_logendoffset", "The partition's log end offset on this broker.")
	descLogStart           = partitionDesc("kafka_log_log_logstartoffset", "The partition's log start offset on this broker.")
	descPartitionUnderRepl = partitionDesc("kafka_cluster_partition_underreplicated", "1 if this broker leads the partition and its ISR is smaller than its replica set.")
)

func counterDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, []string{"topic"}, nil)
}

// gaugeDesc is an unlabelled metric's descriptor (gauges, and the
// replica manager's counters).
func gaugeDesc(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
func partitionDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, []string{"topic", "partition"}, nil)
}

// brokerCollector turns a BrokerSnapshot into metrics at scrape time.
type brokerCollector struct {
	src           Source
	perPartition  bool
	diskCollector *diskCollector
}

func (c *brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Snapshot()
	counters := func(tc TopicCounters, labels ...string) {
		for _, m := range []struct {
			d *prometheus.Desc
			v int64
		}{{descMessagesIn, tc.MessagesIn}, {descBytesIn, tc.BytesIn}, {descBytesOut, tc.BytesOut}, {descReplBytesOut, tc.ReplicationBytesOut}, {descReplBytesIn, tc.ReplicationBytesIn},
			{descBytesRejected, tc.BytesRejected}, {descTotalProduce, tc.TotalProduceRequests}, {descFailedProduce, tc.FailedProduceRequests},
			{descTotalFetch, tc.TotalFetchRequests}, {descFailedFetch, tc.FailedFetchRequests}} {
			ch <- newMetric(m.d, prometheus.CounterValue, float64(m.v), labels...)
		}
	}
	// The broker-wide totals carry topic="", which Prometheus stores as no
	// topic label: the series the JMX exporter gives the MBean without a
	// topic key.
	counters(s.Total, "")
	for _, tc := range s.Topics {
		counters(tc, tc.Topic)
	}
	var under, underMin, atMin, leaders, offline int
	for _, p := range s.Partitions {
		if p.Offline {
			offline++
		}
		if !p.Leader {
			continue
		}
		leaders++
		if p.ISR < p.Replicas {
			under++
		}
		if p.ISR < p.MinISR {
			underMin++
		} else if p.ISR == p.MinISR {
			atMin++
		}
	}
	gauge := func(d *prometheus.Desc, v int) { ch <- newMetric(d, prometheus.GaugeValue, float64(v)) }
	gauge(descUnderReplicated, under)
	gauge(descUnderMinISR, underMin)
	gauge(descAtMinISR, atMin)
	gauge(descPartitionCount, len(s.Partitions))
	gauge(descLeaderCount, leaders)
	gauge(descOfflineReplicas, offline)
	ch <- newMetric(descIsrShrinks, prometheus.CounterValue, float64(s.IsrShrinks))
	ch <- newMetric(descIsrExpands, prometheus.CounterValue, float64(s.IsrExpands))
	active := 0
	if s.ActiveController {
		active = 1
	}
	gauge(descActiveController, active)
	gauge(descOfflinePartitions, s.OfflinePartitions)
	gauge(descGlobalPartitions, s.GlobalPartitions)
	gauge(descGlobalTopics, s.GlobalTopics)
	for _, qt := range []string{"Produce", "Fetch", "Request", "ControllerMutation"} {
		ch <- newMetric(descQuotaThrottled, prometheus.CounterValue, float64(s.QuotaThrottled[qt]), qt)
		ch <- newMetric(descQuotaThrottleTime, prometheus.CounterValue, s.QuotaThrottleTotal[qt].Seconds(), qt)
	}
	ch <- newMetric(descPurgatory, prometheus.GaugeValue, float64(s.ProducePurgatory), "Produce")
	ch <- newMetric(descPurgatory, prometheus.GaugeValue, float64(s.FetchPurgatory), "Fetch")
	gauge(descFetchSessions, int(s.FetchSessions))
	gauge(descFetchSessionParts, int(s.FetchSessionPartitions))
	ch <- newMetric(descFetchSessionEvicts, prometheus.CounterValue, float64(s.FetchSessionEvictions))
	if c.perPartition {
		for _, p := range s.Partitions {
			part := strconv.Itoa(int(p.Partition))
			ch <- newMetric(descLogSize, prometheus.GaugeValue, float64(p.SizeBytes), p.Topic, part)
			ch <- newMetric(descLogEnd, prometheus.GaugeValue, float64(p.LogEndOffset), p.Topic, part)
			ch <- newMetric(descLogStart, prometheus.GaugeValue, float64(p.LogStartOffset), p.Topic, part)
			ur := 0
			if p.Leader && p.ISR < p.Replicas {
				ur = 1
			}
			ch <- newMetric(descPartitionUnderRepl, prometheus.GaugeValue, float64(ur), p.Topic, part)
		}
	}
	if c.diskCollector != nil {
		c.diskCollector.collect(ch, s.LogDirs)
	}
}

// newMetric builds a const metric; the descriptors above are fixed, so an
// error is a programming mistake and becomes an invalid metric (which the
// registry reports on scrape) rather than a panic.
func newMetric(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}
