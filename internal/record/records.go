package record

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var (
	decompOnce sync.Once
	decomp     kgo.Decompressor
)

// Records decodes every record of the batch, decompressing if needed. It is
// for cold paths only (timestamp lookups, compaction, log dump, key checks);
// produce and fetch never call it.
func (b Batch) Records() ([]kmsg.Record, error) {
	decompOnce.Do(func() { decomp = kgo.DefaultDecompressor() })
	body := []byte(b[HeaderSize:])
	if c := b.Compression(); c != 0 {
		var err error
		body, err = decomp.Decompress(body, kgo.CompressionCodecType(c))
		if err != nil {
			return nil, fmt.Errorf("%w: decompress: %v", ErrCorrupt, err)
		}
	}
	n := int(b.RecordCount())
	if n < 0 || n > len(body) {
		return nil, fmt.Errorf("%w: record count %d", ErrCorrupt, n)
	}
	out := make([]kmsg.Record, 0, n)
	for i := 0; i < n; i++ {
		l, vn := binary.Varint(body)
		if vn <= 0 || l < 0 || int(l) > len(body)-vn {
			return nil, fmt.Errorf("%w: record %d length", ErrCorrupt, i)
		}
		var r kmsg.Record
		if err := r.ReadFrom(body[:vn+int(l)]); err != nil {
			return nil, fmt.Errorf("%w: record %d: %v", ErrCorrupt, i, err)
		}
		out = append(out, r)
		body = body[vn+int(l):]
	}
	return out, nil
}

// Timestamp of record r in batch b, honouring LogAppendTime.
func (b Batch) Timestamp(r *kmsg.Record) int64 {
	if b.IsLogAppendTime() {
		return b.MaxTimestamp()
	}
	return b.FirstTimestamp() + r.TimestampDelta64
}
