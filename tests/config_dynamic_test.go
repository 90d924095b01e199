package tests

// Dynamic broker configs (issue 19): IncrementalAlterConfigs on the broker
// resource, cluster-wide ("") and per broker, for the keys Kafka lets
// change at runtime; every broker applies them (DescribeConfigs sources,
// and the produce path honours message.max.bytes), they survive a restart
// of the whole cluster, and read-only keys and bad values are refused.

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// describeConfigs describes one resource through the broker at addr.
func describeConfigs(t *testing.T, addr string, typ kmsg.ConfigResourceType, name string) (map[string]kmsg.DescribeConfigsResponseResourceConfig, error) {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName = typ, name
	req.Resources = append(req.Resources, res)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if len(resp.Resources) != 1 {
		return nil, errors.New("no resource in the answer")
	}
	if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
		return nil, err
	}
	out := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range resp.Resources[0].Configs {
		out[c.Name] = c
	}
	return out, nil
}

func configIs(c kmsg.DescribeConfigsResponseResourceConfig, value string, src kmsg.ConfigSource) bool {
	return c.Value != nil && *c.Value == value && c.Source == src
}

func TestConfigDynamicBrokerConfigs(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), freshMetadata))
	// TOPIC_ALREADY_EXISTS: the client retried a create that had
	// succeeded (its first answer was lost to a retriable error).
	if res, err := adm.CreateTopic(ctx, 1, 3, nil, "dyn"); err != nil || res.Err != nil && !errors.Is(res.Err, kerr.TopicAlreadyExists) {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	alter := func(op kadm.IncrementalOp, name, value string, brokers ...int32) error {
		t.Helper()
		res, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: op, Name: name, Value: kadm.StringPtr(value)}}, brokers...)
		if err != nil {
			return err
		}
		for _, r := range res {
			if r.Err != nil {
				return r.Err
			}
		}
		return nil
	}
	// waitTopic waits until every broker describes topic "dyn" with key
	// at value from src.
	waitTopic := func(what, key, value string, src kmsg.ConfigSource) {
		t.Helper()
		c.waitFor(what, func() bool {
			for _, a := range c.addrs {
				cfg, err := describeConfigs(t, a, kmsg.ConfigResourceTypeTopic, "dyn")
				if err != nil || !configIs(cfg[key], value, src) {
					return false
				}
			}
			return true
		})
	}

	// A cluster-wide default reaches every broker and the produce path.
	if err := alter(kadm.SetConfig, "message.max.bytes", "1000"); err != nil {
		t.Fatal(err)
	}
	waitTopic("message.max.bytes=1000 everywhere", "max.message.bytes", "1000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	pcl := newClient(t, c.addrs[0], kgo.SeedBrokers(c.addrs...), kgo.RecordRetries(2), kgo.ProducerBatchCompression(kgo.NoCompression()))
	big := &kgo.Record{Topic: "dyn", Value: []byte(strings.Repeat("x", 2000))}
	if err := pcl.ProduceSync(ctx, big).FirstErr(); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("2000-byte record with message.max.bytes=1000: %v, want MESSAGE_TOO_LARGE", err)
	}

	// Per broker over the cluster default.
	if err := alter(kadm.SetConfig, "log.retention.ms", "9000"); err != nil {
		t.Fatal(err)
	}
	if err := alter(kadm.SetConfig, "log.retention.ms", "5000", 2); err != nil {
		t.Fatal(err)
	}
	c.waitFor("per-broker log.retention.ms on broker 2", func() bool {
		b2, err2 := describeConfigs(t, c.addrs[1], kmsg.ConfigResourceTypeBroker, "2")
		b1, err1 := describeConfigs(t, c.addrs[0], kmsg.ConfigResourceTypeBroker, "1")
		return err1 == nil && err2 == nil &&
			configIs(b2["log.retention.ms"], "5000", kmsg.ConfigSourceDynamicBrokerConfig) && !b2["log.retention.ms"].ReadOnly &&
			configIs(b1["log.retention.ms"], "9000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	})
	if b1, err := describeConfigs(t, c.addrs[0], kmsg.ConfigResourceTypeBroker, "1"); err != nil || !b1["num.partitions"].ReadOnly {
		t.Fatalf("num.partitions is not read-only: %v %+v", err, b1["num.partitions"])
	}
	// Other brokers apply the change as their metadata catches up.
	c.waitFor("both cluster defaults on broker 3", func() bool {
		defs, err := describeConfigs(t, c.addrs[2], kmsg.ConfigResourceTypeBroker, "")
		return err == nil && len(defs) == 2 && configIs(defs["message.max.bytes"], "1000", kmsg.ConfigSourceDynamicDefaultBrokerConfig) &&
			configIs(defs["log.retention.ms"], "9000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	})

	// Refusals: read-only, unknown, invalid value, unknown broker.
	for _, tc := range []struct {
		name, value string
		brokers     []int32
		want        error
	}{
		{"num.partitions", "3", nil, kerr.InvalidRequest},
		{"node.id", "7", []int32{1}, kerr.InvalidRequest},
		{"no.such.config", "1", nil, kerr.InvalidRequest},
		{"message.max.bytes", "-5", nil, kerr.InvalidConfig},
	} {
		if err := alter(kadm.SetConfig, tc.name, tc.value, tc.brokers...); !errors.Is(err, tc.want) {
			t.Errorf("set %s=%s on %v: %v, want %v", tc.name, tc.value, tc.brokers, err, tc.want)
		}
	}

	// The whole cluster restarts: the dynamic configs are still there.
	for _, nd := range c.nodes {
		nd.Close()
	}
	var wg sync.WaitGroup
	for i := range c.nodes {
		wg.Add(1)
		go func(i int) { defer wg.Done(); c.start(i) }(i)
	}
	wg.Wait()
	waitTopic("message.max.bytes=1000 after restart", "max.message.bytes", "1000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	c.waitFor("broker 2's own log.retention.ms after restart", func() bool {
		b2, err := describeConfigs(t, c.addrs[1], kmsg.ConfigResourceTypeBroker, "2")
		return err == nil && configIs(b2["log.retention.ms"], "5000", kmsg.ConfigSourceDynamicBrokerConfig)
	})

	// Deleting the default restores the static value; the record fits.
	if err := alter(kadm.DeleteConfig, "message.max.bytes", ""); err != nil {
		t.Fatal(err)
	}
	waitTopic("message.max.bytes back to the default", "max.message.bytes", "1048588", kmsg.ConfigSourceDefaultConfig)
	if err := pcl.ProduceSync(ctx, big).FirstErr(); err != nil {
		t.Fatalf("2000-byte record after deleting the dynamic limit: %v", err)
	}
	c.waitFor("one cluster default left on every broker", func() bool {
		for _, a := range c.addrs {
			cfg, err := describeConfigs(t, a, kmsg.ConfigResourceTypeBroker, "")
			if err != nil || len(cfg) != 1 {
				return false
			}
		}
		return true
	})
}
