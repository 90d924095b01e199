// DescribeLogDirs (key 35), versions 0-4 (v0, removed in Kafka 4, is v1
// without throttle semantics).
//
// A broker has one log directory, its data dir (absolute path). Listed are
// the partitions this broker holds a replica of, leader or follower, with
// null topics meaning all of them; requested partitions held elsewhere or
// unknown are left out, as Kafka does. Size is the bytes of the partition's
// segment files (storage.Log.Size); OffsetLag is Kafka's
// max(high watermark - log end offset, 0) on this replica; IsFuture is
// always false (no AlterReplicaLogDirs). v4 reports the volume's total and
// usable (available to this process) bytes from statfs(2). While the
// volume has less free than log.dir.min.free.bytes the dir carries
// KAFKA_STORAGE_ERROR: appends to it are refused until space returns.
package broker

import (
	"context"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/security"
	"github.com/tributary/tributary/internal/storage"
)

func init() { register(kmsg.DescribeLogDirs, 0, 4, (*Broker).handleDescribeLogDirs) }

func (b *Broker) handleDescribeLogDirs(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.DescribeLogDirsRequest)
	if !b.allowedCluster(r, security.OpDescribe) {
		resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(resp)
	}
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = b.cfg.DataDir
	if abs, err := filepath.Abs(dir.Dir); err == nil {
		dir.Dir = abs
	}
	du := b.replicas.DiskUsage()
	if du.Full {
		// Appends are refused with KAFKA_STORAGE_ERROR until space is
		// freed (log.dir.min.free.bytes); Kafka marks an unusable log dir
		// the same way.
		dir.ErrorCode = errCode(storage.ErrDiskFull)
	}
	if req.Version >= 4 {
		dir.TotalBytes = du.TotalBytes
		dir.UsableBytes = du.FreeBytes
	}
	describe := func(name string, parts []int32, all bool) {
		t := b.topic(name)
		if t == nil {
			return
		}
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic = name
		if all {
			parts = nil
			for i := range t.parts {
				parts = append(parts, int32(i))
			}
		}
		for _, i := range parts {
			p := t.partition(i)
			if p == nil {
				continue
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition = i
			snap := p.Snapshot()
			dp.Size = p.Size()
			dp.OffsetLag = max(snap.HighWatermark-snap.LogEndOffset, 0)
			dt.Partitions = append(dt.Partitions, dp)
		}
		if len(dt.Partitions) > 0 {
			dir.Topics = append(dir.Topics, dt)
		}
	}
	if req.Topics == nil {
		for _, name := range b.topicNames() {
			describe(name, nil, true)
		}
	} else {
		for _, rt := range req.Topics {
			describe(rt.Topic, rt.Partitions, false)
		}
	}
	resp.Dirs = append(resp.Dirs, dir)
	return respond(resp)
}
