package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Bounds of a browse: records shown and how long it may read.
const (
	maxBrowse     = 500
	browseTimeout = 10 * time.Second
	// maxShownBytes cuts a key or value shown on a page.
	maxShownBytes = 64 << 10
)

// recordView is one record as a page shows it: key, value and headers as
// text (UTF-8 as is, JSON pretty-printed, anything else as hex).
type recordView struct {
	Partition int32
	Offset    int64
	Timestamp int64
	Key       string
	KeyNull   bool
	KeyHex    bool
	Value     string
	ValueNull bool
	ValueHex  bool
	ValueJSON bool
	Size      int
	Headers   []headerView
	// KeySchema and ValueSchema name the registered schema a wire-format
	// key or value was decoded with (see schemaDecoder); *DecodeErr say
	// why one could not be (it is shown raw then).
	KeySchema      string
	ValueSchema    string
	KeyDecodeErr   string
	ValueDecodeErr string
}

type headerView struct{ Key, Value string }

func shown(b []byte) (s string, isHex bool) {
	cut := ""
	if len(b) > maxShownBytes {
		b, cut = b[:maxShownBytes], fmt.Sprintf(" … (%d bytes shown)", maxShownBytes)
	}
	if utf8.Valid(b) {
		return string(b) + cut, false
	}
	return hex.EncodeToString(b) + cut, true
}

// viewRecord makes r's view; with dec, keys and values in the Schema
// Registry's wire format are decoded to JSON.
// shownHex is b in hex (a wire-format record that could not be decoded:
// its schema id and payload are binary even when they are valid UTF-8).
func shownHex(b []byte) string {
	if len(b) > maxShownBytes {
		return hex.EncodeToString(b[:maxShownBytes]) + fmt.Sprintf(" … (%d bytes shown)", maxShownBytes)
	}
	return hex.EncodeToString(b)
}

func viewRecord(ctx context.Context, dec *schemaDecoder, r *kgo.Record) recordView {
	v := recordView{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(),
		KeyNull: r.Key == nil, ValueNull: r.Value == nil, Size: len(r.Key) + len(r.Value)}
	if w, ok := dec.decode(ctx, r.Key); ok && w.Err == "" {
		v.Key, v.KeySchema = w.Text, w.Schema
	} else if ok {
		v.KeyDecodeErr = w.Err
		v.Key, v.KeyHex = shownHex(r.Key), true
	} else {
		v.Key, v.KeyHex = shown(r.Key)
	}
	if w, ok := dec.decode(ctx, r.Value); ok {
		if w.Err == "" {
			v.Value, v.ValueSchema, v.ValueJSON = w.Text, w.Schema, true
		} else {
			v.ValueDecodeErr = w.Err
			v.Value, v.ValueHex = shownHex(r.Value), true
		}
	} else if len(r.Value) > 0 && len(r.Value) <= maxShownBytes && (r.Value[0] == '{' || r.Value[0] == '[') && json.Valid(r.Value) {
		var buf bytes.Buffer
		if json.Indent(&buf, r.Value, "", "  ") == nil {
			v.Value, v.ValueJSON = buf.String(), true
		}
	}
	if !v.ValueJSON && !v.ValueHex {
		v.Value, v.ValueHex = shown(r.Value)
	}
	for _, h := range r.Headers {
		hv, _ := shown(h.Value)
		v.Headers = append(v.Headers, headerView{Key: h.Key, Value: hv})
	}
	return v
}

// offsetRange is where a read starts and the high watermark it stops at
// (both read when the read begins).
type offsetRange struct{ start, end int64 }

// startFrom is where a browse or a search begins.
type startFrom struct {
	Mode      string // "beginning", "offset", "timestamp", "end"
	Offset    int64
	Timestamp int64 // Unix ms
	// Last is how many records per partition "end" goes back.
	Last int64
}

// ranges resolves where to read each partition of topic (all of them, or
// only partition when >= 0).
func ranges(ctx context.Context, kc *kafkaClient, topic string, partition int32, from startFrom) (map[int32]offsetRange, error) {
	ctx, cancel := context.WithTimeout(ctx, kafkaTimeout)
	defer cancel()
	starts, err := kc.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, errKafka("list start offsets", err)
	}
	if err := starts.Error(); err != nil {
		return nil, errKafka("list start offsets", err)
	}
	ends, err := kc.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, errKafka("list end offsets", err)
	}
	if err := ends.Error(); err != nil {
		return nil, errKafka("list end offsets", err)
	}
	var byTime map[int32]int64
	if from.Mode == "timestamp" {
		listed, err := kc.adm.ListOffsetsAfterMilli(ctx, from.Timestamp, topic)
		if err != nil {
			return nil, errKafka("list offsets by timestamp", err)
		}
		byTime = map[int32]int64{}
		for p, o := range listed[topic] {
			if o.Err == nil {
				byTime[p] = o.Offset
			}
		}
	}
	out := map[int32]offsetRange{}
	for p, so := range starts[topic] {
		if partition >= 0 && p != partition {
			continue
		}
		eo, ok := ends.Lookup(topic, p)
		if !ok {
			continue
		}
		r := offsetRange{start: so.Offset, end: eo.Offset}
		switch from.Mode {
		case "offset":
			r.start = min(max(from.Offset, r.start), r.end)
		case "timestamp":
			if o, ok := byTime[p]; ok && o >= 0 {
				r.start = min(max(o, r.start), r.end)
			} else {
				r.start = r.end
			}
		case "end":
			r.start = max(r.start, r.end-max(from.Last, 1))
		}
		out[p] = r
	}
	if partition >= 0 && len(out) == 0 {
		return nil, fmt.Errorf("topic %q has no partition %d", topic, partition)
	}
	return out, nil
}

// scan reads every partition of rs from its start to its end and calls
// fn with each record (control records included, so a transaction's
// marker at the end of a partition is seen and the read ends); fn returns
// false to stop. It returns when every range is read, fn stops it, or ctx
// ends (ctx's error is returned then).
func scan(ctx context.Context, kc *kafkaClient, topic string, rs map[int32]offsetRange, fn func(*kgo.Record) bool) error {
	parts := map[int32]kgo.Offset{}
	left := 0
	for p, r := range rs {
		if r.start < r.end {
			parts[p] = kgo.NewOffset().At(r.start)
			left++
		}
	}
	if left == 0 {
		return nil
	}
	opts := append(append([]kgo.Opt{}, kc.opts...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.KeepControlRecords(), kgo.FetchMaxWait(500*time.Millisecond))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	done := map[int32]bool{}
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if ferr == nil && !isRetriable(err) {
				ferr = err
			}
		})
		if ferr != nil {
			return ferr
		}
		stop := false
		fs.EachRecord(func(r *kgo.Record) {
			rg := rs[r.Partition]
			if stop || done[r.Partition] || r.Offset >= rg.end {
				return
			}
			if !fn(r) {
				stop = true
				return
			}
			if r.Offset >= rg.end-1 {
				done[r.Partition] = true
				left--
			}
		})
		if stop {
			return nil
		}
	}
	return nil
}

func isRetriable(err error) bool {
	type retriable interface{ IsRetriable() bool }
	if r, ok := err.(retriable); ok {
		return r.IsRetriable()
	}
	return false
}

// browse returns up to limit records of topic from where from says: in
// offset order for one partition, by timestamp across partitions.
func browse(ctx context.Context, kc *kafkaClient, dec *schemaDecoder, topic string, partition int32, from startFrom, limit int) ([]recordView, bool, error) {
	from.Last = int64(limit)
	rs, err := ranges(ctx, kc, topic, partition, from)
	if err != nil {
		return nil, false, err
	}
	ctx, cancel := context.WithTimeout(ctx, browseTimeout)
	defer cancel()
	perPartition := map[int32]int{}
	var out []recordView
	err = scan(ctx, kc, topic, rs, func(r *kgo.Record) bool {
		if r.Attrs.IsControl() {
			return true
		}
		if perPartition[r.Partition] >= limit {
			return true
		}
		perPartition[r.Partition]++
		out = append(out, viewRecord(ctx, dec, r))
		return len(out) < limit*len(rs)
	})
	timedOut := false
	if err != nil {
		if ctx.Err() == nil {
			return nil, false, errKafka("read records", err)
		}
		timedOut = true
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Timestamp != out[j].Timestamp {
			return out[i].Timestamp < out[j].Timestamp
		}
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	if len(out) > limit {
		if from.Mode == "end" {
			out = out[len(out)-limit:]
		} else {
			out = out[:limit]
		}
	}
	return out, timedOut, nil
}

// matcher is a search's filter over keys, values and headers.
type matcher struct {
	needle                   []byte
	fold                     bool
	inKey, inValue, inHeader bool
}

func (m matcher) in(b []byte) bool {
	if m.fold {
		return bytes.Contains(bytes.ToLower(b), m.needle)
	}
	return bytes.Contains(b, m.needle)
}

func (m matcher) match(r *kgo.Record) bool {
	if m.inKey && m.in(r.Key) {
		return true
	}
	if m.inValue && m.in(r.Value) {
		return true
	}
	if m.inHeader {
		for _, h := range r.Headers {
			if m.in([]byte(h.Key)) || m.in(h.Value) {
				return true
			}
		}
	}
	return false
}

func newMatcher(q string, fold bool, fields []string) matcher {
	m := matcher{needle: []byte(q), fold: fold}
	if fold {
		m.needle = bytes.ToLower(m.needle)
	}
	for _, f := range fields {
		switch strings.ToLower(f) {
		case "key":
			m.inKey = true
		case "value":
			m.inValue = true
		case "headers":
			m.inHeader = true
		}
	}
	if !m.inKey && !m.inValue && !m.inHeader {
		m.inKey, m.inValue, m.inHeader = true, true, true
	}
	return m
}

// maxExport bounds an export's records.
const maxExport = 100_000

// exportRecord is one line of an export (JSON Lines): key, value and
// header values as text when they are UTF-8, else base64 with the
// encoding named.
type exportRecord struct {
	Partition     int32          `json:"partition"`
	Offset        int64          `json:"offset"`
	Timestamp     int64          `json:"timestamp"`
	Key           *string        `json:"key"`
	KeyEncoding   string         `json:"key_encoding,omitempty"`
	Value         *string        `json:"value"`
	ValueEncoding string         `json:"value_encoding,omitempty"`
	Headers       []exportHeader `json:"headers,omitempty"`
}

type exportHeader struct {
	Key           string `json:"key"`
	Value         string `json:"value"`
	ValueEncoding string `json:"value_encoding,omitempty"`
}

func exportBytes(b []byte) (*string, string) {
	if b == nil {
		return nil, ""
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, ""
	}
	s := base64.StdEncoding.EncodeToString(b)
	return &s, "base64"
}

func toExport(r *kgo.Record) exportRecord {
	e := exportRecord{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli()}
	e.Key, e.KeyEncoding = exportBytes(r.Key)
	e.Value, e.ValueEncoding = exportBytes(r.Value)
	for _, h := range r.Headers {
		v, enc := exportBytes(h.Value)
		eh := exportHeader{Key: h.Key, ValueEncoding: enc}
		if v != nil {
			eh.Value = *v
		}
		e.Headers = append(e.Headers, eh)
	}
	return e
}
