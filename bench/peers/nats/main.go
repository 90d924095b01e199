// Command nats is the NATS JetStream benchmark peer: it publishes records of
// the same size as `trib bench` into a file-storage stream with the official
// nats.go client (async publish, acks awaited), or consumes the stream from
// the start with a pull consumer, and prints a bench Result.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tributary/tributary/internal/bench"
)

// tmsg carries a message's intended send time; Msg must be the first field
// (the ack handler gets *nats.Msg back).
type tmsg struct {
	nats.Msg
	at time.Time
}

func main() {
	url := flag.String("url", nats.DefaultURL, "server URL")
	mode := flag.String("mode", "produce", "produce or consume")
	streamName := flag.String("stream", "BENCH", "stream name")
	size := flag.Int("record-size", 1024, "message payload bytes")
	records := flag.Int64("records", 0, "messages to publish (0: --duration)")
	dur := flag.Duration("duration", 10*time.Second, "publish time")
	rate := flag.Float64("rate", 0, "target messages/s (0: unlimited)")
	pending := flag.Int("max-pending", 4000, "async publishes in flight")
	asJSON := flag.Bool("json", false, "print JSON")
	flag.Parse()
	nc, err := nats.Connect(*url)
	if err != nil {
		fail(err)
	}
	defer nc.Close()
	var res *bench.Result
	if *mode == "produce" {
		res, err = produce(nc, *streamName, *size, *records, *dur, *rate, *pending)
	} else {
		res, err = consume(nc, *streamName)
	}
	if res != nil {
		if *asJSON {
			res.WriteJSON(os.Stdout)
		} else {
			res.WriteText(os.Stdout)
		}
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "nats bench:", err)
	os.Exit(1)
}

func produce(nc *nats.Conn, name string, size int, records int64, dur time.Duration, rate float64, pending int) (*bench.Result, error) {
	rec := bench.NewRecorder()
	var acked, errs atomic.Int64
	var firstErr atomic.Pointer[string]
	addErr := func(err error) {
		errs.Add(1)
		msg := err.Error()
		firstErr.CompareAndSwap(nil, &msg)
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(pending),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) {
			rec.Record(time.Since((*tmsg)(unsafe.Pointer(m)).at))
			acked.Add(1)
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) { addErr(err) }),
	)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	_ = js.DeleteStream(ctx, name)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"bench.>"}, Storage: jetstream.FileStorage}); err != nil {
		return nil, err
	}
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte('A' + i%26)
	}
	start := time.Now()
	deadline := start.Add(dur)
	for i := int64(0); records <= 0 || i < records; i++ {
		var at time.Time
		if rate > 0 {
			at = start.Add(time.Duration(float64(i) * float64(time.Second) / rate))
			if d := time.Until(at); d > 0 {
				time.Sleep(d)
			}
		} else {
			at = time.Now()
		}
		if records <= 0 && at.After(deadline) {
			break
		}
		m := &tmsg{Msg: nats.Msg{Subject: "bench.x", Data: payload}, at: at}
		if _, err := js.PublishMsgAsync(&m.Msg); err != nil {
			addErr(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		addErr(fmt.Errorf("%d publishes still unacknowledged after 30s", js.PublishAsyncPending()))
	}
	el := time.Since(start)
	l := rec.Summary()
	n := acked.Load()
	r := &bench.Result{Mode: "produce", Label: "nats-jetstream-file", Topic: name, Partitions: 1, Producers: 1, RecordSize: size,
		Acks: "stream-ack", TargetRate: rate, Records: n, Bytes: n * int64(size), Errors: errs.Load(), ProduceLatency: &l,
		Seconds: el.Seconds(), RecordsPerSec: float64(n) / el.Seconds(), MBPerSec: float64(n*int64(size)) / 1e6 / el.Seconds()}
	if p := firstErr.Load(); p != nil {
		r.FirstError = *p
	}
	return r, nil
}

func consume(nc *nats.Conn, name string) (*bench.Result, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	st, err := js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	total := int64(info.State.Msgs)
	if total == 0 {
		return nil, fmt.Errorf("stream %s is empty", name)
	}
	c, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckNonePolicy})
	if err != nil {
		return nil, err
	}
	var n, b atomic.Int64
	done := make(chan struct{})
	start := time.Now()
	cc, err := c.Consume(func(m jetstream.Msg) {
		b.Add(int64(len(m.Data())))
		if n.Add(1) == total {
			close(done)
		}
	}, jetstream.PullMaxMessages(10000))
	if err != nil {
		return nil, err
	}
	select {
	case <-done:
	case <-time.After(120 * time.Second):
	}
	el := time.Since(start)
	cc.Stop()
	r := &bench.Result{Mode: "consume", Label: "nats-jetstream-file", Topic: name, Partitions: 1, Consumers: 1,
		Records: n.Load(), Bytes: b.Load(), Seconds: el.Seconds()}
	if r.Records > 0 {
		r.RecordSize = int(r.Bytes / r.Records)
	}
	r.RecordsPerSec = float64(r.Records) / el.Seconds()
	r.MBPerSec = float64(r.Bytes) / 1e6 / el.Seconds()
	if r.Records < total {
		r.FirstError = fmt.Sprintf("received %d of %d", r.Records, total)
	}
	return r, nil
}
