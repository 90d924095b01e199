// Command rdkafka-producer is the librdkafka idempotent producer of the
// network-partition fault tests (tests/netns_*_test.go). It lives in its own
// module so that only these tests pull in confluent-kafka-go (cgo, with the
// librdkafka it bundles); the broker never links it.
//
// It produces values "<name>-<9-digit index>" keyed index%61 to --topic,
// with librdkafka's defaults except enable.idempotence=true (which implies
// acks=all, max.in.flight 5 and unlimited retries), so timeouts are Kafka's:
// request.timeout.ms 30 s, socket.timeout.ms 60 s, message.timeout.ms 300 s.
// Extra librdkafka settings come as -X key=value.
//
// Output, one line per event on stdout (the test feeds a checker.History):
//
//	S <value>                       handed to librdkafka (before Produce)
//	A <partition> <offset> <value>  delivery report: acknowledged
//	F <value> <error>               delivery report: failed
//	E <error>                       a producer-wide error (fatal ones end it)
//
// It stops producing at SIGTERM or when stdin closes, flushes for up to
// --flush, and exits 0 (3 after a fatal error).
//
// With --txn commit,abort,... it is instead a transactional producer
// (transactional.id --name): InitTransactions, then per step one
// transaction of three records "<name>-<step>-<i>" to partitions 0-2 of
// --topic, committed or aborted, printing "T <step> <commit|abort> ok" or
// "T <step> <commit|abort> <error>", and exits (1 after an error).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

type settings []string

func (s *settings) String() string     { return strings.Join(*s, ",") }
func (s *settings) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	brokers := flag.String("brokers", "", "bootstrap servers")
	topic := flag.String("topic", "", "topic")
	name := flag.String("name", "rdk", "value prefix")
	rate := flag.Int("rate", 2000, "records per second at most")
	flush := flag.Duration("flush", 5*time.Minute, "how long to wait for outstanding deliveries at the end")
	var extra settings
	flag.Var(&extra, "X", "librdkafka setting key=value (repeatable)")
	txnScript := flag.String("txn", "", "transactional mode: comma-separated commit|abort steps")
	flag.Parse()
	if *txnScript != "" {
		os.Exit(transactional(*brokers, *topic, *name, strings.Split(*txnScript, ","), extra))
	}

	cfg := kafka.ConfigMap{
		"bootstrap.servers":  *brokers,
		"enable.idempotence": true,
		"linger.ms":          5,
	}
	for _, kv := range extra {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "bad -X %q\n", kv)
			os.Exit(2)
		}
		cfg[k] = v
	}
	p, err := kafka.NewProducer(&cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}

	out := bufio.NewWriterSize(os.Stdout, 1<<16)
	var outMu sync.Mutex
	emit := func(format string, args ...any) {
		outMu.Lock()
		fmt.Fprintf(out, format, args...)
		outMu.Unlock()
	}
	go func() { // flush the output often enough for the test to see acks live
		for range time.Tick(50 * time.Millisecond) {
			outMu.Lock()
			out.Flush()
			outMu.Unlock()
		}
	}()

	fatal := make(chan struct{})
	var fatalOnce sync.Once
	events := make(chan struct{})
	go func() {
		defer close(events)
		for ev := range p.Events() {
			switch e := ev.(type) {
			case *kafka.Message:
				v := string(e.Value)
				if err := e.TopicPartition.Error; err != nil {
					emit("F %s %s\n", v, oneLine(err.Error()))
				} else {
					emit("A %d %d %s\n", e.TopicPartition.Partition, int64(e.TopicPartition.Offset), v)
				}
			case kafka.Error:
				emit("E %s\n", oneLine(e.Error()))
				if e.IsFatal() {
					fatalOnce.Do(func() { close(fatal) })
				}
			case *kafka.Stats, kafka.OffsetsCommitted:
			default:
				_ = e
			}
		}
	}()

	stop := make(chan struct{})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		select {
		case <-sig:
		case <-stdinClosed():
		}
		close(stop)
	}()

	tick := time.NewTicker(time.Second / time.Duration(max(*rate/100, 1)))
	defer tick.Stop()
	perTick := max(*rate/100, 1)
	if *rate < 100 {
		tick.Reset(time.Second / time.Duration(max(*rate, 1)))
		perTick = 1
	}
	i := 0
loop:
	for {
		select {
		case <-stop:
			break loop
		case <-fatal:
			break loop
		case <-tick.C:
		}
		for range perTick {
			v := fmt.Sprintf("%s-%09d", *name, i)
			emit("S %s\n", v)
			msg := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: topic, Partition: kafka.PartitionAny},
				Key: []byte(fmt.Sprint(i % 61)), Value: []byte(v)}
			for {
				err := p.Produce(msg, nil)
				if err == nil {
					break
				}
				if kerr, ok := err.(kafka.Error); ok && kerr.Code() == kafka.ErrQueueFull {
					time.Sleep(10 * time.Millisecond) // back-pressure while a partition is stalled
					continue
				}
				emit("F %s %s\n", v, oneLine(err.Error()))
				break
			}
			i++
		}
	}
	left := p.Flush(int(flush.Milliseconds()))
	p.Close()
	<-events
	outMu.Lock()
	out.Flush()
	outMu.Unlock()
	if left > 0 {
		fmt.Fprintf(os.Stderr, "%d messages still outstanding after %v\n", left, *flush)
	}
	select {
	case <-fatal:
		os.Exit(3)
	default:
	}
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// stdinClosed is closed when stdin reaches EOF (the test closes its end).
func stdinClosed() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(ch)
	}()
	return ch
}

// transactional runs --txn's steps and returns the exit code.
func transactional(brokers, topic, name string, steps []string, extra settings) int {
	cfg := kafka.ConfigMap{"bootstrap.servers": brokers, "transactional.id": name, "linger.ms": 5}
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		cfg[k] = v
	}
	p, err := kafka.NewProducer(&cfg)
	if err != nil {
		fmt.Println("E", oneLine(err.Error()))
		return 1
	}
	defer p.Close()
	go func() {
		for range p.Events() { // delivery reports: the commit reports failures
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.InitTransactions(ctx); err != nil {
		fmt.Println("E init", oneLine(err.Error()))
		return 1
	}
	for i, step := range steps {
		if err := p.BeginTransaction(); err != nil {
			fmt.Println("T", i, step, oneLine(err.Error()))
			return 1
		}
		for j := range 3 {
			msg := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: int32(j)}, Value: []byte(fmt.Sprintf("%s-%d-%d", name, i, j))}
			if err := p.Produce(msg, nil); err != nil {
				fmt.Println("T", i, step, oneLine(err.Error()))
				return 1
			}
		}
		// Written before the end, so an abort has records to abort
		// (librdkafka purges unsent ones).
		if left := p.Flush(30000); left > 0 {
			fmt.Println("T", i, step, left, "records not delivered")
			return 1
		}
		if step == "commit" {
			err = p.CommitTransaction(ctx)
		} else {
			err = p.AbortTransaction(ctx)
		}
		if err != nil {
			fmt.Println("T", i, step, oneLine(err.Error()))
			return 1
		}
		fmt.Println("T", i, step, "ok")
	}
	return 0
}
