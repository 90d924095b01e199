package storage

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Kafka's checkpoint files are text: a version line ("0"), a count line,
// then one entry per line with space-separated fields.
//
//	recovery-point-offset-checkpoint, log-start-offset-checkpoint (data dir):
//	    <topic> <partition> <offset>
//	leader-epoch-checkpoint (partition dir):
//	    <epoch> <start offset>
const (
	recoveryPointFile = "recovery-point-offset-checkpoint"
	logStartFile      = "log-start-offset-checkpoint"
	leaderEpochFile   = "leader-epoch-checkpoint"
	cleanShutdownFile = ".kafka_cleanshutdown"
)

// TopicPartition names a partition in the data-dir checkpoints.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// dirName is the partition directory name, <topic>-<partition>.
func (tp TopicPartition) dirName() string { return tp.Topic + "-" + strconv.Itoa(int(tp.Partition)) }

// parseDirName splits <topic>-<partition>.
func parseDirName(name string) (TopicPartition, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return TopicPartition{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 {
		return TopicPartition{}, false
	}
	return TopicPartition{Topic: name[:i], Partition: int32(p)}, true
}

// readCheckpoint parses a checkpoint file into lines of fields, each with
// want fields. A missing file is empty; a malformed one is an error.
func readCheckpoint(path string, want int) ([][]string, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	line := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		return strings.TrimSpace(sc.Text()), true
	}
	v, ok := line()
	if !ok || v != "0" {
		return nil, fmt.Errorf("%s: unsupported checkpoint version %q", path, v)
	}
	c, ok := line()
	n, err := strconv.Atoi(c)
	if !ok || err != nil || n < 0 {
		return nil, fmt.Errorf("%s: bad entry count %q", path, c)
	}
	out := make([][]string, 0, min(n, 1<<16))
	for i := 0; i < n; i++ {
		l, ok := line()
		if !ok {
			return nil, fmt.Errorf("%s: %d entries, expected %d", path, i, n)
		}
		f := strings.Fields(l)
		if len(f) != want {
			return nil, fmt.Errorf("%s: malformed entry %q", path, l)
		}
		out = append(out, f)
	}
	return out, nil
}

// readOffsetsCheckpoint reads a data-dir checkpoint into a map.
func readOffsetsCheckpoint(path string) (map[TopicPartition]int64, error) {
	lines, err := readCheckpoint(path, 3)
	if err != nil {
		return nil, err
	}
	out := make(map[TopicPartition]int64, len(lines))
	for _, f := range lines {
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		o, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || p < 0 { // no partition dir has a negative index (parseDirName)
			return nil, fmt.Errorf("%s: malformed entry %q", path, strings.Join(f, " "))
		}
		out[TopicPartition{f[0], int32(p)}] = o
	}
	return out, nil
}

// writeOffsetsCheckpoint atomically replaces a data-dir checkpoint.
func writeOffsetsCheckpoint(path string, m map[TopicPartition]int64) error {
	keys := make([]TopicPartition, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Topic != keys[j].Topic {
			return keys[i].Topic < keys[j].Topic
		}
		return keys[i].Partition < keys[j].Partition
	})
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(keys))
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %d %d\n", k.Topic, k.Partition, m[k])
	}
	return writeFileAtomic(path, b.Bytes())
}

// EpochEntry is one leader-epoch-checkpoint entry: the first offset written
// in Epoch.
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

func readEpochCheckpoint(path string) ([]EpochEntry, error) {
	lines, err := readCheckpoint(path, 2)
	if err != nil {
		return nil, err
	}
	out := make([]EpochEntry, 0, len(lines))
	for _, f := range lines {
		e, err1 := strconv.ParseInt(f[0], 10, 32)
		o, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: malformed entry %q", path, strings.Join(f, " "))
		}
		out = append(out, EpochEntry{int32(e), o})
	}
	return out, nil
}

func writeEpochCheckpoint(path string, entries []EpochEntry) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(entries))
	for _, e := range entries {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	return writeFileAtomic(path, b.Bytes())
}

// writeFileAtomic writes data to path via a fsynced temp file, a rename and
// a fsync of the directory, so a crash leaves the old or the new content.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir fsyncs a directory so renames and creations in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
