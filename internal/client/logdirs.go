package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// logDirs returns every broker's log dirs (DescribeLogDirs, which also
// reports each volume's free space). A broker whose dir is out of space
// (below log.dir.min.free.bytes) or offline answers the dir with
// KAFKA_STORAGE_ERROR.
func logDirs(ctx context.Context, adm *kadm.Client) (kadm.DescribedAllLogDirs, error) {
	all, err := adm.DescribeAllLogDirs(ctx, nil)
	var se *kadm.ShardErrors
	if err != nil && !errors.As(err, &se) {
		return nil, err
	}
	return all, nil
}

// dirState describes a log dir for people: "ok" or why writes fail.
func dirState(d kadm.DescribedLogDir) string {
	switch {
	case errors.Is(d.Err, kerr.KafkaStorageError):
		return "FULL or OFFLINE: writes fail with KAFKA_STORAGE_ERROR"
	case d.Err != nil:
		return d.Err.Error()
	}
	return "ok"
}

func humanBytes(n int64) string {
	if n < 0 {
		return "-"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// printLogDirs prints every broker's log dir with its free space and state
// (trib cluster info).
func printLogDirs(ctx context.Context, adm *kadm.Client, w io.Writer) {
	all, err := logDirs(ctx, adm)
	if err != nil {
		fmt.Fprintf(w, "\nLog dirs: not available (%v)\n", err)
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "BROKER\tLOG DIR\tFREE\tTOTAL\tSTATE")
	ids := make([]int32, 0, len(all))
	for id := range all {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		for _, d := range all[id].Sorted() {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", id, d.Dir, humanBytes(d.UsableBytes), humanBytes(d.TotalBytes), dirState(d))
		}
	}
	tw.Flush()
}

// offlineNote is the Offline column of a partition line: replicas whose
// log is offline (a storage fault) or whose broker is down.
func offlineNote(p kadm.PartitionDetail) string {
	if len(p.OfflineReplicas) == 0 {
		return ""
	}
	return "\tOffline: " + ids(p.OfflineReplicas)
}

// storageNotes prints, under a topic in trib topic describe, the log dirs
// of its replicas' brokers that fail writes (out of space below
// log.dir.min.free.bytes, or offline). The log dirs are asked for once.
type storageNotes struct {
	asked bool
	all   kadm.DescribedAllLogDirs
}

func (s *storageNotes) print(ctx context.Context, adm *kadm.Client, td kadm.TopicDetail, w io.Writer) {
	if !s.asked {
		s.asked = true
		s.all, _ = logDirs(ctx, adm)
	}
	var lines []string
	for id, dirs := range s.all {
		if !hasReplica(td, id) {
			continue
		}
		for _, d := range dirs.Sorted() {
			if d.Err != nil {
				lines = append(lines, fmt.Sprintf("broker %d log dir %s (%s free): %s", id, d.Dir, humanBytes(d.UsableBytes), dirState(d)))
			}
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintf(w, "\tStorage: %s\n", l)
	}
}

func hasReplica(td kadm.TopicDetail, id int32) bool {
	for _, p := range td.Partitions {
		if slices.Contains(p.Replicas, id) {
			return true
		}
	}
	return false
}
