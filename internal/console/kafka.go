package console

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// kafkaTimeout bounds every read the console makes from a cluster, so a
// page about a cluster that does not answer shows an error instead of
// hanging.
const kafkaTimeout = 5 * time.Second

// kafkaClients caches one Kafka client per cluster, valid for one set of
// bootstrap addresses (a resize changes them).
type kafkaClients struct {
	log *slog.Logger

	mu      sync.Mutex // guards clients
	clients map[string]*kafkaClient
}

type kafkaClient struct {
	key  string
	opts []kgo.Opt
	cl   *kgo.Client
	adm  *kadm.Client
	// producer is made on the first produce from the console (under
	// kafkaClients.mu).
	producer *kgo.Client
}

func newKafkaClients(log *slog.Logger) *kafkaClients {
	return &kafkaClients{log: log, clients: map[string]*kafkaClient{}}
}

// clientOpts are the options to reach db's brokers: its bootstrap
// addresses and, when its connection says so, TLS and SASL.
func clientOpts(db database) ([]kgo.Opt, error) {
	seeds := db.BootstrapServers
	if len(seeds) == 0 && db.Connection != nil && db.Connection.Host != "" {
		seeds = []string{fmt.Sprintf("%s:%d", db.Connection.Host, db.Connection.Port)}
	}
	if len(seeds) == 0 {
		return nil, fmt.Errorf("the cluster has no running brokers (status %s)", db.Status)
	}
	opts := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ClientID("trib-console"), kgo.RetryTimeout(kafkaTimeout),
		kgo.DialTimeout(3 * time.Second)}
	if cn := db.Connection; cn != nil && cn.SSL {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(db.CA) {
			return nil, fmt.Errorf("the cluster's CA certificate is missing or not PEM")
		}
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
		if cn.User != "" {
			opts = append(opts, kgo.SASL(scram.Auth{User: cn.User, Pass: cn.Password}.AsSha512Mechanism()))
		}
	}
	return opts, nil
}

// get returns the cached client for db.
func (k *kafkaClients) get(db database) (*kafkaClient, error) {
	opts, err := clientOpts(db)
	if err != nil {
		return nil, err
	}
	// The key changes with the brokers and with the credentials (a
	// reset_auth gives the user a new password).
	key := strings.Join(db.BootstrapServers, ",")
	if cn := db.Connection; cn != nil {
		key += "|" + cn.User + "|" + cn.Password
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if kc, ok := k.clients[db.ID]; ok {
		if kc.key == key {
			return kc, nil
		}
		kc.close()
		delete(k.clients, db.ID)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	kc := &kafkaClient{key: key, opts: opts, cl: cl, adm: kadm.NewClient(cl)}
	k.clients[db.ID] = kc
	return kc, nil
}

func (k *kafkaClients) close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for id, kc := range k.clients {
		kc.close()
		delete(k.clients, id)
	}
}

func (kc *kafkaClient) close() {
	kc.cl.Close()
	if kc.producer != nil {
		kc.producer.Close()
	}
}

// brokerView is one broker on the overview.
type brokerView struct {
	NodeID     int32
	Address    string
	Controller bool
	Up         bool
	Ready      string // the admin listener's /readyz: "ready", "not ready" or "" (unknown)
	// DiskBudget and DiskFree are the broker's storage_size_mib and what
	// is left of it (-1 unknown); DiskFull: it refuses appends.
	DiskBudget, DiskFree int64
	DiskFull             bool
	Voter                bool
	DiskUsed             int64
	Replicas             int
	Leaders              int
}

// overview is the cluster's health as its brokers report it.
type overview struct {
	Brokers           []brokerView
	Controller        int32
	Topics            int
	Partitions        int
	UnderReplicated   int
	Offline           int
	UnderMinISR       int
	DiskUsed          int64
	Healthy           bool
	Err               string
	MetadataBrokerIDs []int32
}

// readOverview reads brokers, controller, partition health and disk use.
// bootstrap lists the addresses the control plane runs brokers on; one
// missing from the cluster's metadata is shown down.
func readOverview(ctx context.Context, kc *kafkaClient, bootstrap []string) overview {
	ctx, cancel := context.WithTimeout(ctx, kafkaTimeout)
	defer cancel()
	var o overview
	md, err := kc.adm.Metadata(ctx)
	if err != nil {
		o.Err = err.Error()
		for _, a := range bootstrap {
			o.Brokers = append(o.Brokers, brokerView{NodeID: -1, Address: a, DiskBudget: -1, DiskFree: -1})
		}
		return o
	}
	o.Controller = md.Controller
	byAddr := map[string]*brokerView{}
	for _, b := range md.Brokers {
		addr := fmt.Sprintf("%s:%d", b.Host, b.Port)
		o.Brokers = append(o.Brokers, brokerView{NodeID: b.NodeID, Address: addr, Controller: b.NodeID == md.Controller, Up: true, DiskBudget: -1, DiskFree: -1})
		o.MetadataBrokerIDs = append(o.MetadataBrokerIDs, b.NodeID)
	}
	for _, a := range bootstrap {
		found := false
		for i := range o.Brokers {
			if o.Brokers[i].Address == a {
				found = true
			}
		}
		if !found {
			o.Brokers = append(o.Brokers, brokerView{NodeID: -1, Address: a, DiskBudget: -1, DiskFree: -1})
		}
	}
	for i := range o.Brokers {
		byAddr[o.Brokers[i].Address] = &o.Brokers[i]
	}
	byID := map[int32]*brokerView{}
	for i := range o.Brokers {
		if o.Brokers[i].NodeID >= 0 {
			byID[o.Brokers[i].NodeID] = &o.Brokers[i]
		}
	}
	// min.insync.replicas matters only for topics with a partition whose
	// ISR is short, so only theirs are described (a healthy cluster of
	// thousands of topics costs no DescribeConfigs).
	var short []string
	for _, td := range md.Topics {
		for _, p := range td.Partitions {
			if td.Err == nil && len(p.ISR) < len(p.Replicas) {
				short = append(short, td.Topic)
				break
			}
		}
	}
	minISR := map[string]int{}
	if len(short) > 0 {
		if rcs, err := kc.adm.DescribeTopicConfigs(ctx, short...); err == nil {
			for _, rc := range rcs {
				for _, c := range rc.Configs {
					if c.Key == "min.insync.replicas" && c.Value != nil {
						var n int
						fmt.Sscan(*c.Value, &n)
						minISR[rc.Name] = n
					}
				}
			}
		}
	}
	for _, td := range md.Topics {
		if td.Err != nil {
			continue
		}
		o.Topics++
		for _, p := range td.Partitions {
			o.Partitions++
			if p.Leader < 0 {
				o.Offline++
			}
			if len(p.ISR) < len(p.Replicas) {
				o.UnderReplicated++
			}
			if m := minISR[td.Topic]; m > 0 && len(p.ISR) < m {
				o.UnderMinISR++
			}
			for _, r := range p.Replicas {
				if b := byID[r]; b != nil {
					b.Replicas++
				}
			}
			if b := byID[p.Leader]; b != nil {
				b.Leaders++
			}
		}
	}
	if dirs, err := kc.adm.DescribeAllLogDirs(ctx, nil); err == nil {
		dirs.Each(func(d kadm.DescribedLogDir) {
			if b := byID[d.Broker]; b != nil {
				d.Topics.Each(func(p kadm.DescribedLogDirPartition) { b.DiskUsed += p.Size })
			}
		})
	}
	o.Healthy = o.Offline == 0 && o.UnderReplicated == 0
	for _, b := range o.Brokers {
		o.DiskUsed += b.DiskUsed
		if !b.Up {
			o.Healthy = false
		}
	}
	sort.Slice(o.Brokers, func(i, j int) bool {
		if (o.Brokers[i].NodeID < 0) != (o.Brokers[j].NodeID < 0) {
			return o.Brokers[j].NodeID < 0
		}
		return o.Brokers[i].NodeID < o.Brokers[j].NodeID
	})
	return o
}

// topicSizes returns each topic's size: the sum of its partitions' sizes
// on their leaders (DescribeLogDirs), so replicas are not counted again.
func topicSizes(ctx context.Context, kc *kafkaClient) (map[string]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, kafkaTimeout)
	defer cancel()
	tds, err := kc.adm.ListTopics(ctx)
	if err != nil {
		return nil, err
	}
	type tp struct {
		topic string
		p     int32
	}
	leaders := map[tp]int32{}
	for _, td := range tds {
		for _, p := range td.Partitions {
			leaders[tp{td.Topic, p.Partition}] = p.Leader
		}
	}
	dirs, err := kc.adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	dirs.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			if l, ok := leaders[tp{p.Topic, p.Partition}]; ok && l == d.Broker {
				out[p.Topic] += p.Size
			}
		})
	})
	return out, nil
}

// partitionView is one partition of a topic's page.
type partitionView struct {
	Partition       int32
	Leader          int32
	LeaderEpoch     int32
	Replicas        []int32
	ISR             []int32
	Offline         []int32
	StartOffset     int64
	EndOffset       int64
	Size            int64
	UnderReplicated bool
	Err             string
}

// readPartitions describes a topic's partitions: leader, replicas, ISR,
// log start offset, high watermark and size on the leader.
func readPartitions(ctx context.Context, kc *kafkaClient, topic string) ([]partitionView, error) {
	ctx, cancel := context.WithTimeout(ctx, kafkaTimeout)
	defer cancel()
	tds, err := kc.adm.ListTopics(ctx, topic)
	if err != nil {
		return nil, err
	}
	td, ok := tds[topic]
	if !ok {
		return nil, fmt.Errorf("topic %q not found", topic)
	}
	if td.Err != nil {
		return nil, td.Err
	}
	starts, _ := kc.adm.ListStartOffsets(ctx, topic)
	ends, _ := kc.adm.ListEndOffsets(ctx, topic)
	sizes := map[int32]int64{}
	leaders := map[int32]int32{}
	for _, p := range td.Partitions {
		leaders[p.Partition] = p.Leader
	}
	if dirs, err := kc.adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{topic: {}}); err == nil {
		dirs.Each(func(d kadm.DescribedLogDir) {
			d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
				if p.Topic == topic && leaders[p.Partition] == d.Broker {
					sizes[p.Partition] = p.Size
				}
			})
		})
	}
	var out []partitionView
	for _, p := range td.Partitions.Sorted() {
		v := partitionView{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Replicas: p.Replicas,
			ISR: p.ISR, Offline: p.OfflineReplicas, StartOffset: -1, EndOffset: -1, Size: sizes[p.Partition],
			UnderReplicated: len(p.ISR) < len(p.Replicas)}
		if p.Err != nil {
			v.Err = p.Err.Error()
		}
		if o, ok := starts.Lookup(topic, p.Partition); ok && o.Err == nil {
			v.StartOffset = o.Offset
		}
		if o, ok := ends.Lookup(topic, p.Partition); ok && o.Err == nil {
			v.EndOffset = o.Offset
		}
		out = append(out, v)
	}
	return out, nil
}

// groupSummary is one consumer group on the groups page.
type groupSummary struct {
	Name     string
	State    string
	Protocol string
	Members  int
	Lag      int64
	Err      string
}

func readGroups(ctx context.Context, kc *kafkaClient) ([]groupSummary, error) {
	ctx, cancel := context.WithTimeout(ctx, kafkaTimeout)
	defer cancel()
	listed, err := kc.adm.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	names := listed.Groups()
	sort.Strings(names)
	if len(names) == 0 {
		return nil, nil
	}
	lags, err := kc.adm.Lag(ctx, names...)
	if err != nil {
		return nil, err
	}
	var out []groupSummary
	for _, n := range names {
		g := groupSummary{Name: n, Lag: -1}
		if l, ok := listed[n]; ok {
			g.State, g.Protocol = l.State, l.ProtocolType
		}
		if l, ok := lags[n]; ok {
			if err := l.Error(); err != nil {
				g.Err = err.Error()
			} else {
				g.State = l.State
				g.Members = len(l.Members)
				g.Lag = l.Lag.Total()
			}
		}
		out = append(out, g)
	}
	return out, nil
}

// memberView and lagView make up a group's page.
type memberView struct {
	MemberID, ClientID, Host, InstanceID string
	Assigned                             []string
}

type lagView struct {
	Topic     string
	Partition int32
	Committed int64
	End       int64
	Lag       int64
	Member    string
	Err       string
	// Status and LagSeconds are the coordinator's Burrow-style view.
	Status     string
	LagSeconds float64
}

type groupDetail struct {
	Name    string
	State   string
	Members []memberView
	Lags    []lagView
	Total   int64
	Topics  []string
	// Status is the group's Burrow-style status (OK, WARN, ERR, STOP,
	// STALL, REWIND; NOTFOUND before its first commit is seen).
	Status    string
	StatusErr string
	// LagCharts are partitions' lag at their last commits (the
	// coordinator's status window).
	LagCharts []chart
}

func readGroup(ctx context.Context, kc *kafkaClient, name string) (groupDetail, error) {
	ctx, cancel := context.WithTimeout(ctx, kafkaTimeout)
	defer cancel()
	lags, err := kc.adm.Lag(ctx, name)
	if err != nil {
		return groupDetail{}, err
	}
	l, ok := lags[name]
	if !ok {
		return groupDetail{}, fmt.Errorf("group %q not found", name)
	}
	if err := l.Error(); err != nil {
		return groupDetail{}, fmt.Errorf("group %q: %w", name, err)
	}
	d := groupDetail{Name: name, State: l.State, Total: l.Lag.Total()}
	for _, m := range l.Members {
		mv := memberView{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
		if m.InstanceID != nil {
			mv.InstanceID = *m.InstanceID
		}
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range ca.Topics {
				ps := slices.Clone(t.Partitions)
				slices.Sort(ps)
				mv.Assigned = append(mv.Assigned, fmt.Sprintf("%s %v", t.Topic, ps))
			}
		}
		sort.Strings(mv.Assigned)
		d.Members = append(d.Members, mv)
	}
	for _, ml := range l.Lag.Sorted() {
		v := lagView{Topic: ml.Topic, Partition: ml.Partition, Committed: ml.Commit.At, End: ml.End.Offset, Lag: ml.Lag}
		if ml.Member != nil {
			v.Member = ml.Member.ClientID
		}
		if ml.Err != nil {
			v.Err = ml.Err.Error()
		}
		d.Lags = append(d.Lags, v)
		if !slices.Contains(d.Topics, ml.Topic) {
			d.Topics = append(d.Topics, ml.Topic)
		}
	}
	return d, nil
}

// errKafka wraps a cluster read's failure for a page.
func errKafka(what string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: the cluster did not answer within %s", what, kafkaTimeout)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// produce writes one record with a producer client kept beside the
// cluster's admin client: rec.Partition < 0 lets the key pick the
// partition, else it is the partition. The record's partition and
// offset are set on success.
func (k *kafkaClients) produce(ctx context.Context, db database, kc *kafkaClient, rec *kgo.Record) error {
	k.mu.Lock()
	if kc.producer == nil {
		opts := append(append([]kgo.Opt{}, kc.opts...), kgo.RecordPartitioner(kgo.BasicConsistentPartitioner(func(string) func(*kgo.Record, int) int {
			return func(r *kgo.Record, n int) int {
				if r.Partition >= 0 {
					return int(r.Partition)
				}
				return kgo.StickyKeyPartitioner(nil).ForTopic(r.Topic).Partition(r, n)
			}
		})))
		p, err := kgo.NewClient(opts...)
		if err != nil {
			k.mu.Unlock()
			return err
		}
		kc.producer = p
	}
	p := kc.producer
	k.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, kafkaTimeout)
	defer cancel()
	return p.ProduceSync(ctx, rec).FirstErr()
}
