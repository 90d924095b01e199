package tests

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/node"
	"github.com/tributary/tributary/internal/security"
)

// BenchmarkTLSThroughput is a paired A/B: one broker with a PLAINTEXT and
// an SSL listener; each iteration produces 32 MiB (1 KiB records,
// acks=all) through each listener and consumes it back, alternating which
// goes first, and reports each side's MB/s and the TLS/plaintext ratios
// of the same run:
//
//	go test ./tests -run XXX -bench TLSThroughput -benchtime 3x
func BenchmarkTLSThroughput(b *testing.B) {
	p := newPKI(b)
	n, err := node.Start(context.Background(), node.Config{
		NodeID: 1, DataDir: b.TempDir(),
		Settings: map[string]string{
			"ssl.keystore.location":   p.keystore("broker", pkix.Name{CommonName: "broker-1"}),
			"ssl.truststore.location": p.Truststore,
		},
		Listeners: []config.BrokerListener{
			{Name: "PLAINTEXT", Protocol: "PLAINTEXT", Listen: "127.0.0.1:0"},
			{Name: "SSL", Protocol: "SSL", Listen: "127.0.0.1:0"},
		},
		InterBrokerListener: "PLAINTEXT",
		Logger:              slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close() })
	const recordSize, total = 1024, 32 << 20
	value := make([]byte, recordSize)
	run := func(addr string, topic string, opts ...kgo.Opt) (produce, consume float64) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		prod := newClient(b, addr, append(opts, kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(),
			kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerLinger(5*time.Millisecond))...)
		start := time.Now()
		errc := make(chan error, 1)
		for i := 0; i < total/recordSize; i++ {
			prod.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					select {
					case errc <- err:
					default:
					}
				}
			})
		}
		if err := prod.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		select {
		case err := <-errc:
			b.Fatal(err)
		default:
		}
		produce = total / time.Since(start).Seconds() / 1e6
		prod.Close()
		cons := newClient(b, addr, append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxBytes(16<<20))...)
		start = time.Now()
		for got := 0; got < total/recordSize; {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				b.Fatalf("consumed %d records", got)
			}
			got += fs.NumRecords()
		}
		consume = total / time.Since(start).Seconds() / 1e6
		cons.Close()
		return produce, consume
	}
	tlsOpt := kgo.DialTLSConfig(p.clientTLS(""))
	var pp, pc, tp, tc float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		topic := func(s string) string { return s + "-" + string(rune('a'+i%26)) + time.Now().Format("150405.000") }
		if i%2 == 0 {
			a, c := run(n.ListenerAddr("PLAINTEXT"), topic("plain"))
			d, e := run(n.ListenerAddr("SSL"), topic("tls"), tlsOpt)
			pp, pc, tp, tc = pp+a, pc+c, tp+d, tc+e
		} else {
			d, e := run(n.ListenerAddr("SSL"), topic("tls"), tlsOpt)
			a, c := run(n.ListenerAddr("PLAINTEXT"), topic("plain"))
			pp, pc, tp, tc = pp+a, pc+c, tp+d, tc+e
		}
	}
	b.StopTimer()
	nf := float64(b.N)
	b.ReportMetric(pp/nf, "plain_produce_MB/s")
	b.ReportMetric(tp/nf, "tls_produce_MB/s")
	b.ReportMetric(pc/nf, "plain_consume_MB/s")
	b.ReportMetric(tc/nf, "tls_consume_MB/s")
	b.ReportMetric(tp/pp, "tls_produce_ratio")
	b.ReportMetric(tc/pc, "tls_consume_ratio")
}

// BenchmarkHandshake measures connection set-up: a TLS handshake (TLS
// 1.3, ECDSA P-256) to an SSL listener, and a full SCRAM-SHA-512
// authentication (handshake, two SaslAuthenticate round trips, 8192
// iterations) plus one Metadata request on a SASL_PLAINTEXT listener.
// ns/op is the time per new connection, on one client goroutine:
//
//	go test ./tests -run XXX -bench Handshake
func BenchmarkHandshake(b *testing.B) {
	p := newPKI(b)
	n, err := node.Start(context.Background(), node.Config{
		NodeID: 1, DataDir: b.TempDir(),
		Settings: map[string]string{
			"ssl.keystore.location":   p.keystore("broker", pkix.Name{CommonName: "broker-1"}),
			"ssl.truststore.location": p.Truststore,
			"sasl.enabled.mechanisms": "SCRAM-SHA-512",
		},
		Listeners: []config.BrokerListener{
			{Name: "PLAINTEXT", Protocol: "PLAINTEXT", Listen: "127.0.0.1:0"},
			{Name: "SSL", Protocol: "SSL", Listen: "127.0.0.1:0"},
			{Name: "SASL_PLAINTEXT", Protocol: "SASL_PLAINTEXT", Listen: "127.0.0.1:0"},
		},
		InterBrokerListener: "PLAINTEXT",
		Logger:              slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close() })
	b.Run("tls", func(b *testing.B) {
		addr := n.ListenerAddr("SSL")
		cfg := security.WithServerName(p.clientTLS(""), addr)
		for i := 0; i < b.N; i++ {
			c, err := tls.Dial("tcp", addr, cfg)
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
	b.Run("scram-sha-512", func(b *testing.B) {
		ctx := context.Background()
		adm := kadm.NewClient(newClient(b, n.ListenerAddr("PLAINTEXT")))
		if _, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "bench", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "bench-pw"}}); err != nil {
			b.Fatal(err)
		}
		mech := scram.Auth{User: "bench", Pass: "bench-pw"}.AsSha512Mechanism()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			cl, err := kgo.NewClient(kgo.SeedBrokers(n.ListenerAddr("SASL_PLAINTEXT")), kgo.SASL(mech))
			if err != nil {
				b.Fatal(err)
			}
			req := kmsg.NewPtrMetadataRequest()
			req.Topics = []kmsg.MetadataRequestTopic{}
			if _, err := req.RequestWith(ctx, cl); err != nil {
				b.Fatal(err)
			}
			cl.Close()
		}
	})
}
