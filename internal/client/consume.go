package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ConsumeOptions are `trib consume`'s settings. Without Group, consumption
// is by partition and nothing is committed.
type ConsumeOptions struct {
	Topic string
	// Group, if set, consumes as a member of that consumer group: partitions
	// are assigned by the group, consumption resumes from the group's
	// committed offsets (Offset/FromBeginning only choose where to start
	// when there is none: beginning or end), and the offsets of printed
	// records are committed.
	Group string
	// Offset is where to start in every partition: "beginning" (also
	// "start", "earliest", "oldest"), "end" ("latest", "newest"), an
	// absolute offset N, -N for N records before the end, or @MS / s@MS for
	// the first record with timestamp >= MS (Unix milliseconds). Empty means
	// "end", or "beginning" when FromBeginning is set. An absolute offset
	// outside the log is an error unless Reset says where to go instead;
	// -N before the log start starts at the log start.
	Offset        string
	FromBeginning bool
	// Reset is Kafka's auto.offset.reset for an out-of-range --offset:
	// "earliest" (the log start) or "latest" (the log end); empty: error.
	// With Group it chooses where to start without a committed offset.
	Reset string
	// Formatter, if set, prints __consumer_offsets records as Kafka's
	// formatters do (see parseFormatter) instead of Format.
	Formatter string
	// Partitions restricts consumption; empty means all.
	Partitions []int32
	// Num > 0 stops after that many records.
	Num int
	// ExitAtEnd stops once every partition is read up to the end offset it
	// had when consumption started (kcat -e).
	ExitAtEnd bool
	Format    *Format
}

type startKind int

const (
	startBeginning startKind = iota
	startEnd
	startAbsolute
	startFromEnd
	startTimestamp
)

type startSpec struct {
	kind startKind
	n    int64
}

func parseOffset(s string, fromBeginning bool) (startSpec, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		if fromBeginning {
			return startSpec{kind: startBeginning}, nil
		}
		return startSpec{kind: startEnd}, nil
	case "beginning", "start", "earliest", "oldest":
		return startSpec{kind: startBeginning}, nil
	case "end", "latest", "newest":
		return startSpec{kind: startEnd}, nil
	}
	if fromBeginning {
		return startSpec{}, errors.New("--from-beginning and --offset both given")
	}
	if ts, ok := strings.CutPrefix(s, "s@"); ok {
		s = "@" + ts
	}
	if ts, ok := strings.CutPrefix(s, "@"); ok {
		ms, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || ms < 0 {
			return startSpec{}, fmt.Errorf("--offset %q: want @UNIX_MILLIS", s)
		}
		return startSpec{kind: startTimestamp, n: ms}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return startSpec{}, fmt.Errorf("--offset %q: want beginning, end, N, -N or @UNIX_MILLIS", s)
	}
	if n < 0 {
		return startSpec{kind: startFromEnd, n: -n}, nil
	}
	return startSpec{kind: startAbsolute, n: n}, nil
}

// Consume prints records of o.Topic to out with o.Format until ctx ends, Num
// records were printed, or (ExitAtEnd) the end is reached. It returns the
// number of records printed; ctx ending is not an error.
func Consume(ctx context.Context, f *Flags, o ConsumeOptions, out io.Writer) (int, error) {
	spec, err := parseOffset(o.Offset, o.FromBeginning)
	if err != nil {
		return 0, err
	}
	switch o.Reset {
	case "", "earliest", "latest":
	default:
		return 0, fmt.Errorf("--reset %q: want earliest or latest", o.Reset)
	}
	if o.Format == nil {
		o.Format = MustFormat(`%s\n`)
	}
	format := o.Format.Append
	if o.Formatter != "" {
		if format, err = parseFormatter(o.Formatter); err != nil {
			return 0, err
		}
	}
	if o.Group != "" {
		return consumeGroup(ctx, f, o, spec, format, out)
	}
	adm, err := f.Admin()
	if err != nil {
		return 0, err
	}
	starts, ends, err := resolveStarts(ctx, adm, o, spec)
	adm.Close()
	if err != nil {
		return 0, err
	}

	// pending holds the partitions not yet read to their end (ExitAtEnd).
	pending := map[int32]int64{}
	offsets := map[int32]kgo.Offset{}
	for p, start := range starts {
		offsets[p] = kgo.NewOffset().At(start)
		if start < ends[p] {
			pending[p] = ends[p]
		}
	}
	if o.ExitAtEnd && len(pending) == 0 {
		return 0, nil
	}
	cl, err := f.New(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.Topic: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()),
	)
	if err != nil {
		return 0, err
	}
	defer cl.Close()

	w := bufio.NewWriterSize(out, 64<<10)
	defer w.Flush()
	var buf []byte
	n := 0
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return n, nil
		}
		if fs.IsClientClosed() {
			return n, errors.New("client closed")
		}
		for _, fe := range fs.Errors() {
			if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded) {
				continue
			}
			return n, fmt.Errorf("fetching %s[%d]: %w", fe.Topic, fe.Partition, fe.Err)
		}
		stop := false
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			for _, r := range fp.Records {
				if stop {
					return
				}
				buf = format(buf[:0], r)
				w.Write(buf)
				n++
				if o.Num > 0 && n >= o.Num {
					stop = true
				}
			}
			if len(fp.Records) > 0 {
				last := fp.Records[len(fp.Records)-1].Offset
				if end, ok := pending[fp.Partition]; ok && last+1 >= end {
					delete(pending, fp.Partition)
				}
			}
		})
		if err := w.Flush(); err != nil {
			return n, err
		}
		if stop || (o.ExitAtEnd && len(pending) == 0) {
			return n, nil
		}
	}
}

// resolveStarts looks the topic up (without auto-creating it) and turns
// spec into an exact start offset per partition; ends are the partitions'
// end offsets now.
func resolveStarts(ctx context.Context, adm *kadm.Client, o ConsumeOptions, spec startSpec) (starts, ends map[int32]int64, err error) {
	tds, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		return nil, nil, err
	}
	td, ok := tds[o.Topic]
	if !ok {
		return nil, nil, fmt.Errorf("topic %q does not exist", o.Topic)
	}
	if td.Err != nil {
		return nil, nil, fmt.Errorf("topic %q: %w", o.Topic, td.Err)
	}
	parts := o.Partitions
	if len(parts) == 0 {
		parts = td.Partitions.Numbers()
	}
	for _, p := range parts {
		if _, ok := td.Partitions[p]; !ok {
			return nil, nil, fmt.Errorf("topic %q has no partition %d", o.Topic, p)
		}
	}
	lo, err := adm.ListStartOffsets(ctx, o.Topic)
	if err != nil {
		return nil, nil, err
	}
	hi, err := adm.ListEndOffsets(ctx, o.Topic)
	if err != nil {
		return nil, nil, err
	}
	var byTime kadm.ListedOffsets
	if spec.kind == startTimestamp {
		if byTime, err = adm.ListOffsetsAfterMilli(ctx, spec.n, o.Topic); err != nil {
			return nil, nil, err
		}
	}
	starts, ends = map[int32]int64{}, map[int32]int64{}
	for _, p := range parts {
		l, lok := lo.Lookup(o.Topic, p)
		h, hok := hi.Lookup(o.Topic, p)
		if !lok || !hok {
			return nil, nil, fmt.Errorf("%s[%d]: no offsets in the broker's answer", o.Topic, p)
		}
		if err := errors.Join(l.Err, h.Err); err != nil {
			return nil, nil, fmt.Errorf("%s[%d]: listing offsets: %w", o.Topic, p, err)
		}
		start := l.Offset
		switch spec.kind {
		case startEnd:
			start = h.Offset
		case startAbsolute:
			start = spec.n
			if start < l.Offset || start > h.Offset {
				switch o.Reset {
				case "earliest":
					start = l.Offset
				case "latest":
					start = h.Offset
				default:
					return nil, nil, fmt.Errorf("%s[%d]: offset %d is out of range (log start %d, log end %d); --reset earliest|latest starts at the log start or end instead",
						o.Topic, p, spec.n, l.Offset, h.Offset)
				}
			}
		case startFromEnd:
			start = h.Offset - spec.n
		case startTimestamp:
			t, ok := byTime.Lookup(o.Topic, p)
			if !ok || t.Err != nil || t.Offset < 0 {
				start = h.Offset
			} else {
				start = t.Offset
			}
		}
		starts[p] = min(max(start, l.Offset), h.Offset)
		ends[p] = h.Offset
	}
	return starts, ends, nil
}

// ParsePartitions parses "0,2,5" style lists (repeatable flag values).
func ParsePartitions(vals []string) ([]int32, error) {
	var out []int32
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			p, err := strconv.ParseInt(s, 10, 32)
			if err != nil || p < 0 {
				return nil, fmt.Errorf("partition %q: want a non-negative number", s)
			}
			if !slices.Contains(out, int32(p)) {
				out = append(out, int32(p))
			}
		}
	}
	return out, nil
}

// consumeGroup is Consume as a member of consumer group o.Group. Offsets
// are committed (synchronously) for exactly the records printed: after each
// batch of polled records and on exit.
func consumeGroup(ctx context.Context, f *Flags, o ConsumeOptions, spec startSpec, format recordFormatter, out io.Writer) (int, error) {
	switch {
	case o.ExitAtEnd:
		return 0, errors.New("--exit cannot be combined with --group")
	case len(o.Partitions) > 0:
		return 0, errors.New("--partition cannot be combined with --group (the group assigns partitions)")
	case spec.kind != startBeginning && spec.kind != startEnd:
		return 0, errors.New("with --group, --offset can only be beginning or end (where to start without a committed offset)")
	}
	adm, err := f.Admin()
	if err != nil {
		return 0, err
	}
	tds, err := adm.ListTopicsWithInternal(ctx)
	adm.Close()
	if err != nil {
		return 0, err
	}
	if !tds.Has(o.Topic) {
		return 0, fmt.Errorf("topic %q does not exist", o.Topic)
	}
	reset := kgo.NewOffset().AtEnd()
	if spec.kind == startBeginning && o.Reset != "latest" || o.Reset == "earliest" {
		reset = kgo.NewOffset().AtStart()
	}
	cl, err := f.New(
		kgo.ConsumerGroup(o.Group),
		kgo.ConsumeTopics(o.Topic),
		kgo.ConsumeResetOffset(reset),
		kgo.DisableAutoCommit(),
	)
	if err != nil {
		return 0, err
	}
	defer cl.Close()

	w := bufio.NewWriterSize(out, 64<<10)
	defer w.Flush()
	var (
		buf     []byte
		n       int
		pending []*kgo.Record // printed, not yet committed
	)
	commit := func() error {
		if len(pending) == 0 {
			return nil
		}
		// Commit even when ctx is done (Ctrl-C): what was printed counts.
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := cl.CommitRecords(cctx, pending...)
		pending = pending[:0]
		if err != nil {
			return fmt.Errorf("committing offsets of group %s: %w", o.Group, err)
		}
		return nil
	}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return n, commit()
		}
		for _, fe := range fs.Errors() {
			if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded) {
				continue
			}
			return n, errors.Join(fmt.Errorf("fetching %s[%d]: %w", fe.Topic, fe.Partition, fe.Err), commit())
		}
		stop := false
		fs.EachRecord(func(r *kgo.Record) {
			if stop {
				return
			}
			buf = format(buf[:0], r)
			w.Write(buf)
			pending = append(pending, r)
			n++
			stop = o.Num > 0 && n >= o.Num
		})
		if err := w.Flush(); err != nil {
			return n, err
		}
		if err := commit(); err != nil {
			return n, err
		}
		if stop {
			return n, nil
		}
	}
}
