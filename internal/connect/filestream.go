package connect

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// FileStreamSource and FileStreamSink are Connect's example file
// connectors with Connect's class names and configs: the source reads a
// text file line by line into one topic (one task whatever tasks.max) and
// resumes from the byte position committed in the offsets topic; the sink
// appends each record's value and a newline to a file.

const (
	fileSourceClass = "org.apache.kafka.connect.file.FileStreamSourceConnector"
	fileSinkClass   = "org.apache.kafka.connect.file.FileStreamSinkConnector"
	// Version reported for the built-in plugins and GET /.
	Version = "3.9.0"

	// fileEOFWait is how long a source poll waits at the end of the file
	// before returning nothing (Connect waits one second).
	fileEOFWait = time.Second
)

func fileStreamSourcePlugin() *Plugin {
	return &Plugin{
		Class: fileSourceClass, Type: TypeSource, Version: Version,
		Config: []ConfigKey{
			{Name: "file", Type: TypeString, HasDefault: true, Importance: "HIGH", Order: 1, DisplayName: "file",
				Doc: "Source filename. If not specified, the standard input will be used"},
			{Name: "topic", Type: TypeString, Importance: "HIGH", Order: 2, DisplayName: "topic",
				Doc: "The topic to publish data to", Check: func(v string) string {
					if r := nonEmpty(v); r != "" {
						return r
					}
					if len(listConfig(v)) != 1 {
						return "'topic' in FileStreamSourceConnector configuration requires definition of a single topic"
					}
					return ""
				}},
			{Name: "batch.size", Type: TypeInt, HasDefault: true, Default: strp("2000"), Importance: "LOW", Order: 3, DisplayName: "batch.size",
				Doc: "The maximum number of records the source task can read from the file each time it is polled", Check: atLeast(1)},
		},
		ExactlyOnce:   true,
		NewConnector:  func() Connector { return &fileStreamConnector{source: true} },
		NewSourceTask: func() SourceTask { return &fileSourceTask{} },
	}
}

func fileStreamSinkPlugin() *Plugin {
	return &Plugin{
		Class: fileSinkClass, Type: TypeSink, Version: Version,
		Config: []ConfigKey{
			{Name: "file", Type: TypeString, HasDefault: true, Importance: "HIGH", Order: 1, DisplayName: "file",
				Doc: "Destination filename. If not specified, the standard output will be used"},
		},
		NewConnector: func() Connector { return &fileStreamConnector{} },
		NewSinkTask:  func() SinkTask { return &fileSinkTask{} },
	}
}

type fileStreamConnector struct {
	source bool
	config map[string]string
}

func (c *fileStreamConnector) Start(config map[string]string) error {
	c.config = config
	return nil
}

func (c *fileStreamConnector) TaskConfigs(maxTasks int) ([]map[string]string, error) {
	task := map[string]string{}
	for _, k := range []string{"file", "topic", "batch.size"} {
		if v, ok := c.config[k]; ok {
			task[k] = v
		}
	}
	if c.source {
		return []map[string]string{task}, nil // one input stream: one task
	}
	out := make([]map[string]string, maxTasks)
	for i := range out {
		out[i] = task
	}
	return out, nil
}

func (c *fileStreamConnector) Stop() error { return nil }

// fileSourceTask reads complete lines; a partial last line waits for its
// newline. The source partition is {"filename": file} and the offset
// {"position": byte offset after the last line returned}.
type fileSourceTask struct {
	name      string
	topic     string
	batchSize int
	f         *os.File
	stdin     bool
	position  int64
	buf       []byte // unread bytes from position on
	eof       bool
	sawMiss   bool
	part      map[string]any
}

func (t *fileSourceTask) Start(config map[string]string, offsets OffsetReader) error {
	t.name = config["file"]
	t.topic = strings.TrimSpace(config["topic"])
	t.batchSize = int(intConfig(config, "batch.size", 2000))
	if t.name == "" {
		t.stdin = true
		t.f = os.Stdin
		return nil
	}
	if off := offsets.Offset(t.partition()); off != nil {
		pos, err := offsetPosition(off["position"])
		if err != nil {
			return fmt.Errorf("invalid committed offset for %s: %w", t.name, err)
		}
		t.position = pos
	}
	return nil
}

// offsetPosition reads a committed "position" (a JSON number).
func offsetPosition(v any) (int64, error) {
	switch p := v.(type) {
	case json.Number:
		return p.Int64()
	case float64:
		return int64(p), nil
	case int64:
		return p, nil
	case nil:
		return 0, nil
	}
	return 0, fmt.Errorf("position %v is not a number", v)
}

// partition is the task's source partition, one map shared by its
// records (the runtime does not modify it).
func (t *fileSourceTask) partition() map[string]any {
	if t.stdin {
		return nil
	}
	if t.part == nil {
		t.part = map[string]any{"filename": t.name}
	}
	return t.part
}

// open opens the file at the committed position; a missing file is
// retried on the next poll, as Connect does.
func (t *fileSourceTask) open() (bool, error) {
	f, err := os.Open(t.name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := f.Seek(t.position, io.SeekStart); err != nil {
		f.Close()
		return false, err
	}
	t.f = f
	return true, nil
}

func (t *fileSourceTask) Poll(ctx context.Context) ([]SourceRecord, error) {
	if t.f == nil {
		ok, err := t.open()
		if err != nil {
			return nil, err
		}
		if !ok {
			t.sawMiss = true
			return nil, sleepCtx(ctx, fileEOFWait)
		}
	}
	for {
		recs := t.lines()
		if len(recs) > 0 {
			return recs, nil
		}
		if t.eof && t.stdin {
			return nil, sleepCtx(ctx, fileEOFWait)
		}
		// Keep the unread tail at the front of one reusable buffer and
		// read after it.
		if cap(t.buf)-len(t.buf) < 64<<10 {
			nb := make([]byte, len(t.buf), max(2*cap(t.buf), len(t.buf)+256<<10))
			copy(nb, t.buf)
			t.buf = nb
		}
		n, err := t.f.Read(t.buf[len(t.buf):cap(t.buf)])
		t.buf = t.buf[:len(t.buf)+n]
		if n > 0 {
			continue
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		// At the end: wait for the file to grow.
		return nil, sleepCtx(ctx, fileEOFWait)
	}
}

// lines cuts up to batchSize complete lines from buf.
func (t *fileSourceTask) lines() []SourceRecord {
	var out []SourceRecord
	for len(out) < t.batchSize {
		i := bytes.IndexByte(t.buf, '\n')
		if i < 0 {
			break
		}
		line := t.buf[:i]
		line = bytes.TrimSuffix(line, []byte{'\r'})
		t.position += int64(i + 1)
		t.buf = t.buf[i+1:]
		rec := SourceRecord{Topic: t.topic, Value: StringData(string(line))}
		if !t.stdin {
			rec.SourcePartition = t.partition()
			rec.SourceOffset = map[string]any{"position": t.position}
		}
		out = append(out, rec)
	}
	if len(t.buf) == 0 {
		t.buf = t.buf[:0:0]
	}
	return out
}

func (t *fileSourceTask) Commit() error { return nil }

func (t *fileSourceTask) Stop() error {
	if t.f != nil && !t.stdin {
		return t.f.Close()
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
	return nil
}

// fileSinkTask appends "value\n" per record.
type fileSinkTask struct {
	f *os.File
	w *bufio.Writer
}

func (t *fileSinkTask) Start(config map[string]string) error {
	name := config["file"]
	if name == "" {
		t.w = bufio.NewWriter(os.Stdout)
		return nil
	}
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("couldn't find or create file '%s' for FileStreamSinkTask: %w", name, err)
	}
	t.f, t.w = f, bufio.NewWriterSize(f, 256<<10)
	return nil
}

func (t *fileSinkTask) Put(records []SinkRecord) error {
	for _, r := range records {
		t.w.WriteString(DataString(r.Value))
		if err := t.w.WriteByte('\n'); err != nil {
			return err
		}
	}
	return nil
}

func (t *fileSinkTask) Flush() error { return t.w.Flush() }

func (t *fileSinkTask) Stop() error {
	err := t.w.Flush()
	if t.f != nil {
		if cerr := t.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
