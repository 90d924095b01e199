package connect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary/tributary/internal/safe"
)

// Settings are a worker's settings under Kafka Connect's distributed
// worker keys (connect-distributed.properties).
type Settings struct {
	GroupID                               string
	ConfigTopic, OffsetTopic, StatusTopic string
	ConfigRF, OffsetRF, StatusRF          int16
	OffsetPartitions, StatusPartitions    int32
	KeyConverter, ValueConverter          string
	ConverterProps                        map[string]string
	OffsetFlushInterval                   time.Duration
	HeartbeatInterval, SessionTimeout     time.Duration
	RebalanceTimeout, RebalanceDelay      time.Duration
	TaskShutdownTimeout                   time.Duration
	// ExactlyOnceSource is exactly.once.source.support: disabled,
	// preparing (as disabled: a rolling upgrade's first step) or enabled.
	ExactlyOnceSource string
	// ConnectProtocol is connect.protocol (sessioned, compatible, eager).
	ConnectProtocol string
	// KeyTTL, KeyAlgorithm, SignatureAlgorithm, VerificationAlgorithms:
	// inter.worker.* request signing under "sessioned" (KIP-507).
	KeyTTL                           time.Duration
	KeyAlgorithm, SignatureAlgorithm string
	VerificationAlgorithms           []string
}

// settingKeys are the worker keys understood, with their defaults
// (Connect's, except replication factors: -1 is the broker's default so
// a one-broker dev cluster works).
var settingKeys = map[string]string{
	"group.id":                              "connect-cluster",
	"config.storage.topic":                  "connect-configs",
	"offset.storage.topic":                  "connect-offsets",
	"status.storage.topic":                  "connect-status",
	"config.storage.replication.factor":     "-1",
	"offset.storage.replication.factor":     "-1",
	"status.storage.replication.factor":     "-1",
	"offset.storage.partitions":             "25",
	"status.storage.partitions":             "5",
	"key.converter":                         JSONConverterClass,
	"value.converter":                       JSONConverterClass,
	"offset.flush.interval.ms":              "60000",
	"heartbeat.interval.ms":                 "3000",
	"session.timeout.ms":                    "10000",
	"rebalance.timeout.ms":                  "60000",
	"scheduled.rebalance.max.delay.ms":      "300000",
	"task.shutdown.graceful.timeout.ms":     "5000",
	"exactly.once.source.support":           "disabled",
	"connect.protocol":                      protocolSessioned,
	"inter.worker.key.ttl.ms":               "3600000",
	"inter.worker.key.generation.algorithm": DefaultMACAlgorithm,
	"inter.worker.signature.algorithm":      DefaultMACAlgorithm,
	"inter.worker.verification.algorithms":  DefaultMACAlgorithm,
}

// ParseSettings resolves worker settings from Connect keys over the
// defaults. Keys starting with key.converter. or value.converter. are
// converter settings; other unknown keys are refused.
func ParseSettings(kv map[string]string) (Settings, error) {
	get := func(k string) string {
		if v, ok := kv[k]; ok {
			return strings.TrimSpace(v)
		}
		return settingKeys[k]
	}
	s := Settings{ConverterProps: map[string]string{}}
	for k, v := range kv {
		if strings.HasPrefix(k, "key.converter.") || strings.HasPrefix(k, "value.converter.") {
			s.ConverterProps[k] = v
			continue
		}
		if _, ok := settingKeys[k]; !ok {
			return s, fmt.Errorf("unknown connect worker setting %q", k)
		}
	}
	num := func(k string, bits int) (int64, error) {
		n, err := strconv.ParseInt(get(k), 10, bits)
		if err != nil {
			return 0, fmt.Errorf("%s: %q is not a number", k, get(k))
		}
		return n, nil
	}
	ms := func(k string, dst *time.Duration) error {
		n, err := num(k, 64)
		if err != nil {
			return err
		}
		if n < 0 {
			return fmt.Errorf("%s must not be negative", k)
		}
		*dst = time.Duration(n) * time.Millisecond
		return nil
	}
	s.GroupID, s.ConfigTopic, s.OffsetTopic, s.StatusTopic = get("group.id"), get("config.storage.topic"), get("offset.storage.topic"), get("status.storage.topic")
	s.KeyConverter, s.ValueConverter = get("key.converter"), get("value.converter")
	for _, c := range []string{s.KeyConverter, s.ValueConverter} {
		if _, err := NewConverter(c, nil); err != nil {
			return s, err
		}
	}
	for _, r := range []struct {
		k   string
		dst *int16
	}{{"config.storage.replication.factor", &s.ConfigRF}, {"offset.storage.replication.factor", &s.OffsetRF}, {"status.storage.replication.factor", &s.StatusRF}} {
		n, err := num(r.k, 16)
		if err != nil {
			return s, err
		}
		*r.dst = int16(n)
	}
	for _, r := range []struct {
		k   string
		dst *int32
	}{{"offset.storage.partitions", &s.OffsetPartitions}, {"status.storage.partitions", &s.StatusPartitions}} {
		n, err := num(r.k, 32)
		if err != nil || n < 1 {
			return s, fmt.Errorf("%s must be a positive number", r.k)
		}
		*r.dst = int32(n)
	}
	for _, r := range []struct {
		k   string
		dst *time.Duration
	}{{"offset.flush.interval.ms", &s.OffsetFlushInterval}, {"heartbeat.interval.ms", &s.HeartbeatInterval},
		{"session.timeout.ms", &s.SessionTimeout}, {"rebalance.timeout.ms", &s.RebalanceTimeout},
		{"scheduled.rebalance.max.delay.ms", &s.RebalanceDelay}, {"task.shutdown.graceful.timeout.ms", &s.TaskShutdownTimeout}} {
		if err := ms(r.k, r.dst); err != nil {
			return s, err
		}
	}
	s.ExactlyOnceSource = strings.ToLower(get("exactly.once.source.support"))
	switch s.ExactlyOnceSource {
	case "disabled", "preparing", "enabled":
	default:
		return s, fmt.Errorf("exactly.once.source.support must be one of disabled, preparing, enabled (not %q)", s.ExactlyOnceSource)
	}
	s.ConnectProtocol = strings.ToLower(get("connect.protocol"))
	switch s.ConnectProtocol {
	case protocolSessioned, protocolCompatible, "eager":
	default:
		return s, fmt.Errorf("connect.protocol must be one of sessioned, compatible, eager (not %q)", s.ConnectProtocol)
	}
	if err := ms("inter.worker.key.ttl.ms", &s.KeyTTL); err != nil {
		return s, err
	}
	if s.KeyTTL <= 0 {
		return s, errors.New("inter.worker.key.ttl.ms must be positive")
	}
	s.KeyAlgorithm, s.SignatureAlgorithm = get("inter.worker.key.generation.algorithm"), get("inter.worker.signature.algorithm")
	for _, a := range strings.Split(get("inter.worker.verification.algorithms"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			s.VerificationAlgorithms = append(s.VerificationAlgorithms, a)
		}
	}
	for _, a := range append([]string{s.KeyAlgorithm, s.SignatureAlgorithm}, s.VerificationAlgorithms...) {
		if err := checkMACAlgorithm(a); err != nil {
			return s, fmt.Errorf("inter.worker.*: %w", err)
		}
	}
	if !slices.Contains(s.VerificationAlgorithms, s.SignatureAlgorithm) {
		return s, fmt.Errorf("inter.worker.signature.algorithm %s must be one of inter.worker.verification.algorithms", s.SignatureAlgorithm)
	}
	if s.HeartbeatInterval <= 0 || s.SessionTimeout <= s.HeartbeatInterval {
		return s, errors.New("heartbeat.interval.ms must be positive and below session.timeout.ms")
	}
	return s, nil
}

// RunOptions start a worker process.
type RunOptions struct {
	Brokers []string
	// Listen is the REST address; Advertise the host:port other workers
	// and the statuses use (Listen when empty).
	Listen, Advertise string
	Settings          Settings
	Logger            *slog.Logger
	LogLevel          *slog.LevelVar
	// Ready, if set, is called with the bound REST address once serving.
	Ready func(addr string)
}

// Run runs a worker until ctx ends: it creates the internal topics,
// serves the REST API and runs the herder.
func Run(ctx context.Context, o RunOptions) error {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	s := o.Settings
	prod, err := kgo.NewClient(kgo.SeedBrokers(o.Brokers...), kgo.ProducerLinger(5*time.Millisecond), kgo.AllowAutoTopicCreation())
	if err != nil {
		return err
	}
	defer prod.Close()
	// Source records go through their own client: its partitioner honours
	// a record's explicit partition.
	srcProd, err := kgo.NewClient(kgo.SeedBrokers(o.Brokers...), kgo.ProducerLinger(5*time.Millisecond),
		kgo.AllowAutoTopicCreation(), kgo.RecordPartitioner(newSourcePartitioner()))
	if err != nil {
		return err
	}
	defer srcProd.Close()
	adm := kadm.NewClient(prod)
	if err := EnsureTopics(ctx, adm, s); err != nil {
		return err
	}
	clusterID := ""
	if md, err := adm.BrokerMetadata(ctx); err == nil {
		clusterID = md.Cluster
	}

	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	adv := o.Advertise
	if adv == "" {
		adv = ln.Addr().String()
	}
	hc := &http.Client{Timeout: 90 * time.Second}
	cfg := WorkerConfig{GroupID: s.GroupID, WorkerID: adv, ConfigTopic: s.ConfigTopic, OffsetTopic: s.OffsetTopic, StatusTopic: s.StatusTopic,
		KeyConverter: s.KeyConverter, ValueConverter: s.ValueConverter, ConverterProps: s.ConverterProps,
		OffsetFlushInterval: s.OffsetFlushInterval, HeartbeatInterval: s.HeartbeatInterval, SessionTimeout: s.SessionTimeout,
		RebalanceTimeout: s.RebalanceTimeout, RebalanceDelay: s.RebalanceDelay, TaskShutdownTimeout: s.TaskShutdownTimeout, Logger: log, LogLevel: o.LogLevel,
		ExactlyOnceSource: s.ExactlyOnceSource == "enabled",
		ConnectProtocol:   s.ConnectProtocol, KeyTTL: s.KeyTTL, KeyAlgorithm: s.KeyAlgorithm, SignatureAlgorithm: s.SignatureAlgorithm,
		VerificationAlgorithms: s.VerificationAlgorithms}
	deps := Deps{
		Group: prod,
		OpenLog: func(topic string, apply ApplyFunc) (Log, error) {
			return openKafkaLog(o.Brokers, prod, adm, topic, apply, log)
		},
		Producer:         newKgoProducer(srcProd),
		NewTxnProducer:   func(id string) (TxnProducer, error) { return newKgoTxnProducer(o.Brokers, id) },
		NewSinkConsumer:  func(c SinkConsumerConfig) (SinkConsumer, error) { return newKgoSinkConsumer(o.Brokers, log, c) },
		SinkOffsets:      sinkOffsets(adm),
		AlterSinkOffsets: alterSinkOffsets(adm),
		Forward:          forwardHTTP(hc),
		ClusterID:        clusterID,
	}
	h, err := NewHerder(cfg, deps, NewPlugins())
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: NewREST(h, hc, log), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	safe.Go(log, "connect rest", func() { serveErr <- srv.Serve(ln) })
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	herderDone := make(chan error, 1)
	safe.Go(log, "connect herder", func() { herderDone <- h.Run(runCtx) })
	select {
	case err = <-serveErr:
		cancel()
		<-herderDone
	case err = <-herderDone:
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	srv.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
