package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descGroupLag = prometheus.NewDesc("kafka_consumergroup_lag",
		"Messages a group has yet to consume in a partition: the high watermark minus the committed offset (kafka-exporter).", []string{"consumergroup", "topic", "partition"}, nil)
	descGroupOffset = prometheus.NewDesc("kafka_consumergroup_current_offset",
		"A group's committed offset in a partition (kafka-exporter).", []string{"consumergroup", "topic", "partition"}, nil)
	descGroupLagSum = prometheus.NewDesc("kafka_consumergroup_lag_sum",
		"A group's lag summed over a topic's partitions (kafka-exporter).", []string{"consumergroup", "topic"}, nil)
	descGroupLagSeconds = prometheus.NewDesc("tributary_consumergroup_lag_seconds",
		"How long the oldest unconsumed record of a group's partition has waited: now minus when the log end first passed the committed offset.", []string{"consumergroup", "topic", "partition"}, nil)
	descPartitionStatus = prometheus.NewDesc("tributary_consumergroup_partition_status",
		"1 for a group partition's lag status by Burrow's rules (status OK, WARN, STOP, STALL or REWIND).", []string{"consumergroup", "topic", "partition", "status"}, nil)
	descGroupStatus = prometheus.NewDesc("tributary_consumergroup_status",
		"1 for a group's lag status by Burrow's rules: the worst of its partitions' (OK, WARN or ERR).", []string{"consumergroup", "status"}, nil)
)

// lagCollector reports the lag tracker's groups: those coordinated by this
// broker, so across a cluster every group is reported once.
type lagCollector struct{ m *Metrics }

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descGroupLag, descGroupOffset, descGroupLagSum, descGroupLagSeconds, descPartitionStatus, descGroupStatus} {
		ch <- d
	}
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	lags := c.m.Lag.Lags(c.m.now().UnixMilli(), "")
	type groupTopic struct{ group, topic string }
	sums := map[groupTopic]int64{}
	statuses := map[string][]LagStatus{}
	for _, l := range lags {
		part := strconv.Itoa(int(l.Partition))
		if l.EndOffset >= 0 {
			ch <- newMetric(descGroupLag, prometheus.GaugeValue, float64(l.Lag), l.Group, l.Topic, part)
			ch <- newMetric(descGroupLagSeconds, prometheus.GaugeValue, l.LagSeconds, l.Group, l.Topic, part)
			sums[groupTopic{l.Group, l.Topic}] += l.Lag
		}
		ch <- newMetric(descGroupOffset, prometheus.GaugeValue, float64(l.Offset), l.Group, l.Topic, part)
		ch <- newMetric(descPartitionStatus, prometheus.GaugeValue, 1, l.Group, l.Topic, part, l.StatusName)
		statuses[l.Group] = append(statuses[l.Group], l.Status)
	}
	for k, v := range sums {
		ch <- newMetric(descGroupLagSum, prometheus.GaugeValue, float64(v), k.group, k.topic)
	}
	for g, s := range statuses {
		ch <- newMetric(descGroupStatus, prometheus.GaugeValue, 1, g, GroupStatus(s).String())
	}
}
