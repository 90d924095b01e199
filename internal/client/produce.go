package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ProduceOptions are `trib produce`'s settings.
type ProduceOptions struct {
	Topic string
	// KeySeparator, when set, splits each line at its first occurrence into
	// key and value; a line without it is sent with a null key (as kcat -K).
	KeySeparator string
	// Acks is "all" (or "-1"), "1" or "0". Idempotence is on for "all" only.
	Acks string
	// Partition >= 0 sends every record to that partition; -1 uses the
	// default partitioner (murmur2 of the key, Kafka's Java default; sticky
	// for null keys).
	Partition int32
	// Compression is none, gzip, snappy, lz4 or zstd.
	Compression string
	// Headers are KEY=VALUE pairs added to every record.
	Headers []string
	// Format, if set, prints each acknowledged record with it.
	Format *Format
	// DeliveryTimeout bounds how long a record may wait for its
	// acknowledgement, retries included (Kafka's delivery.timeout.ms);
	// 0 means no bound.
	DeliveryTimeout time.Duration
}

// ProduceOpts returns the kgo options the settings need.
func (o ProduceOptions) ProduceOpts() ([]kgo.Opt, error) {
	// Like kcat and the Java producer, ask the broker to create a missing
	// topic (it does when auto.create.topics.enable is true).
	opts := []kgo.Opt{kgo.DefaultProduceTopic(o.Topic), kgo.ProducerLinger(0), kgo.AllowAutoTopicCreation()}
	if o.DeliveryTimeout > 0 {
		opts = append(opts, kgo.RecordDeliveryTimeout(o.DeliveryTimeout))
	}
	switch o.Acks {
	case "all", "-1", "":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return nil, fmt.Errorf("--acks %q: want all, -1, 1 or 0", o.Acks)
	}
	if o.Partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	switch strings.ToLower(o.Compression) {
	case "", "none":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	case "gzip":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case "snappy":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case "lz4":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case "zstd":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	default:
		return nil, fmt.Errorf("--compression %q: want none, gzip, snappy, lz4 or zstd", o.Compression)
	}
	return opts, nil
}

// Produce sends one record per line of in (a final line without newline
// counts; "\r\n" endings are stripped) and waits until every record is
// acknowledged. It returns the number of records acknowledged and the first
// error; it stops reading input after the first failed record.
func Produce(ctx context.Context, cl *kgo.Client, o ProduceOptions, in io.Reader, out io.Writer) (int, error) {
	var headers []kgo.RecordHeader
	for _, kv := range o.Headers {
		k, v, err := ParseKV("--header", kv)
		if err != nil {
			return 0, err
		}
		headers = append(headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	var (
		mu       sync.Mutex // guards firstErr, acked and out
		firstErr error
		acked    int
		buf      []byte
	)
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return firstErr != nil
	}
	promise := func(r *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("producing to %s: %w", o.Topic, err)
			}
			return
		}
		acked++
		if o.Format != nil {
			buf = o.Format.Append(buf[:0], r)
			out.Write(buf)
		}
	}
	sep := []byte(o.KeySeparator)
	br := bufio.NewReaderSize(in, 64<<10)
	var readErr error
	for !failed() {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
			r := &kgo.Record{Value: line, Headers: headers}
			if o.Partition >= 0 {
				r.Partition = o.Partition
			}
			if len(sep) > 0 {
				if i := bytes.Index(line, sep); i >= 0 {
					r.Key, r.Value = line[:i], line[i+len(sep):]
				}
			}
			cl.Produce(ctx, r, promise)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = fmt.Errorf("reading input: %w", err)
			}
			break
		}
	}
	flushErr := cl.Flush(ctx)
	mu.Lock()
	defer mu.Unlock()
	return acked, errors.Join(firstErr, readErr, flushErr)
}
