package tests

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// saramaMember is one sarama ConsumerGroup member consuming in the
// background; claims holds the partitions of its current session.
type saramaMember struct {
	mu       sync.Mutex
	claims   []int32
	consumed map[string]bool
	cancel   context.CancelFunc
	done     chan struct{}
	group    sarama.ConsumerGroup
}

func (m *saramaMember) Setup(s sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ps := range s.Claims() {
		m.claims = append(m.claims, ps...)
	}
	sort.Slice(m.claims, func(i, j int) bool { return m.claims[i] < m.claims[j] })
	return nil
}

func (m *saramaMember) Cleanup(sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	m.claims = nil
	m.mu.Unlock()
	return nil
}

func (m *saramaMember) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for msg := range c.Messages() {
		m.mu.Lock()
		m.consumed[fmt.Sprintf("%d/%d", msg.Partition, msg.Offset)] = true
		m.mu.Unlock()
		s.MarkMessage(msg, "")
	}
	return nil
}

func (m *saramaMember) snapshot() ([]int32, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int32(nil), m.claims...), len(m.consumed)
}

func (m *saramaMember) close() {
	m.cancel()
	<-m.done
	m.group.Close()
}

func startSaramaMember(t *testing.T, addr, group, topic string, version sarama.KafkaVersion) *saramaMember {
	cfg := sarama.NewConfig()
	cfg.Version = version
	cfg.ClientID = "sarama-group"
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cfg.Consumer.Group.Session.Timeout = 2 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Timeout = 5 * time.Second
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	g, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
	if err != nil {
		t.Fatalf("consumer group: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &saramaMember{consumed: map[string]bool{}, cancel: cancel, done: make(chan struct{}), group: g}
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{topic}, m); err != nil && ctx.Err() == nil {
				t.Logf("sarama consume: %v", err)
				time.Sleep(50 * time.Millisecond)
			}
		}
	}()
	return m
}

// TestSaramaConsumerGroup runs two sarama ConsumerGroup members (range
// strategy) at several protocol versions: they split 3 partitions 1/2,
// consume everything between them and commit where they stopped.
func TestSaramaConsumerGroup(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version sarama.KafkaVersion
	}{
		{"v0.10.2", sarama.V0_10_2_0}, // JoinGroup v1, Fetch v3 (message sets), ListOffsets v1
		{"v2.1", sarama.V2_1_0_0},
		{"default", sarama.DefaultVersion},
		{"max", sarama.MaxVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, "", groupSettings())
			ctx := context.Background()
			adm := newAdmin(t, n.Addr())
			topic := "sarama-group"
			if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			prod := newClient(t, n.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			produceN(t, prod, topic, 60)

			a := startSaramaMember(t, n.Addr(), "sg", topic, tc.version)
			waitClaims(t, []int{3}, a)
			b := startSaramaMember(t, n.Addr(), "sg", topic, tc.version)
			waitClaims(t, []int{1, 2}, a, b)

			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				if committedTotal(t, adm, "sg") == 60 {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if got := committedTotal(t, adm, "sg"); got != 60 {
				t.Fatalf("committed offsets sum to %d, want 60", got)
			}
			_, na := a.snapshot()
			_, nb := b.snapshot()
			if na+nb < 60 {
				t.Fatalf("members consumed %d+%d records, want at least 60", na, nb)
			}
			a.close()
			b.close()
			d, err := adm.DescribeGroups(ctx, "sg")
			if err != nil {
				t.Fatal(err)
			}
			if st := d["sg"].State; st != "Empty" {
				t.Fatalf("group state after both left: %s", st)
			}
		})
	}
}

func waitClaims(t *testing.T, want []int, ms ...*saramaMember) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var sizes []int
	for time.Now().Before(deadline) {
		sizes = sizes[:0]
		seen := map[int32]bool{}
		for _, m := range ms {
			c, _ := m.snapshot()
			sizes = append(sizes, len(c))
			for _, p := range c {
				seen[p] = true
			}
		}
		sort.Ints(sizes)
		if fmt.Sprint(sizes) == fmt.Sprint(want) && len(seen) == 3 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("claim sizes %v, want %v", sizes, want)
}

func committedTotal(t *testing.T, adm *kadm.Client, group string) int64 {
	t.Helper()
	os, err := adm.FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	os.Each(func(o kadm.OffsetResponse) { sum += o.At })
	return sum
}
