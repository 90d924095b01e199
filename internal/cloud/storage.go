package cloud

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Disk size per broker. Each broker runs with log.dir.max.bytes set to
// the cluster's storage_size_mib, so its data dir counts as a volume of
// that size: appends fail with KAFKA_STORAGE_ERROR (and the broker logs
// it) once less than log.dir.min.free.bytes of it is left, and the log
// stays intact. GET /nodes reports each broker's budget and what is
// free of it (DescribeLogDirs). A storage resize is a rolling restart
// onto the new size (status resizing); a size that would not hold the
// data a broker has plus the reserve is refused.

// mib is a mebibyte.
const mib = 1 << 20

// brokerReserveBytes is the broker's default log.dir.min.free.bytes, the
// part of the budget writes leave free; a broker's own value (the
// installation's --broker-set) is asked for (brokerReserve).
const brokerReserveBytes = 100 * mib

// NodeStatus is one broker with its disk as it reports it.
type NodeStatus struct {
	Node
	// TotalBytes and FreeBytes are the broker's disk budget and what is
	// left of it; -1 when the broker did not answer.
	TotalBytes, FreeBytes int64
	// Full is set while the broker refuses writes for lack of space.
	Full bool
	// Err says why the broker's disk is not known.
	Err string
}

// NodeStatuses lists a cluster's brokers with their disk usage.
func (s *Service) NodeStatuses(ctx context.Context, id string) ([]NodeStatus, error) {
	// An unknown cluster (or another tenant's) is a 404, not an empty list.
	if _, err := s.Cluster(ctx, id); err != nil {
		return nil, err
	}
	nodes, err := s.Nodes(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]NodeStatus, len(nodes))
	for i, n := range nodes {
		out[i] = NodeStatus{Node: n, TotalBytes: -1, FreeBytes: -1}
	}
	dirs, err := s.logDirs(ctx, id)
	for i := range out {
		if err != nil {
			out[i].Err = err.Error()
			continue
		}
		d, ok := dirs[out[i].NodeID]
		if !ok {
			out[i].Err = "the broker did not answer"
			continue
		}
		out[i].TotalBytes, out[i].FreeBytes = d.TotalBytes, d.UsableBytes
		if d.Err != nil {
			out[i].Full, out[i].Err = true, d.Err.Error()
		}
	}
	return out, nil
}

// logDirs is each answering broker's log dir (one per broker).
func (s *Service) logDirs(ctx context.Context, id string) (map[int32]kadm.DescribedLogDir, error) {
	adm, err := s.admin(ctx, id)
	if err != nil {
		return nil, err
	}
	all, err := adm.DescribeAllLogDirs(ctx, nil)
	var se *kadm.ShardErrors
	if err != nil && !errors.As(err, &se) {
		return nil, err
	}
	out := map[int32]kadm.DescribedLogDir{}
	for broker, dirs := range all {
		names := make([]string, 0, len(dirs))
		for name := range dirs {
			names = append(names, name)
		}
		sort.Strings(names)
		if len(names) > 0 {
			out[broker] = dirs[names[0]]
		}
	}
	return out, nil
}

// resizeStorage starts a rolling restart of c's brokers onto a disk of
// sizeMiB each.
func (s *Service) resizeStorage(ctx context.Context, c Cluster, sizeMiB uint64) (Operation, error) {
	if sizeMiB < minStorageMiB {
		return Operation{}, errorf(KindInvalid, "storage_size_mib %d is below the minimum of %d", sizeMiB, minStorageMiB)
	}
	if sizeMiB < c.StorageSizeMiB {
		dirs, err := s.logDirs(ctx, c.ID)
		if err != nil {
			return Operation{}, errorf(KindUnavailable, "cannot read the brokers' disk usage: %v", err)
		}
		nodes, err := s.Nodes(ctx, c.ID)
		if err != nil {
			return Operation{}, err
		}
		for _, n := range nodes {
			d, ok := dirs[n.NodeID]
			if !ok || d.TotalBytes < 0 {
				return Operation{}, errorf(KindUnavailable, "broker %d did not report its disk usage; retry when it answers", n.NodeID)
			}
			reserve, err := s.brokerReserve(ctx, c.ID, n.NodeID)
			if err != nil {
				return Operation{}, errorf(KindUnavailable, "cannot read broker %d's log.dir.min.free.bytes; retry when it answers: %v", n.NodeID, err)
			}
			used := d.TotalBytes - d.UsableBytes
			if need := used + reserve; int64(sizeMiB)*mib < need {
				return Operation{}, errorf(KindInvalid, "storage_size_mib %d cannot hold broker %d's data: it uses %d MiB and keeps %d MiB free (log.dir.min.free.bytes), so it needs at least %d MiB",
					sizeMiB, n.NodeID, used/mib, reserve/mib, (need+mib-1)/mib)
			}
		}
	}
	op := Operation{ID: newID(), ClusterID: c.ID, Kind: OpRestart, From: c.NumNodes, Step: stepRoll, State: OpRunning}
	if err := s.cfg.Store.StartOperationChange(ctx, op, Change{Status: StatusResizing, NumNodes: c.NumNodes, StorageSizeMiB: sizeMiB}); err != nil {
		return Operation{}, err
	}
	s.cfg.Store.AddEvent(ctx, c.ID, "cluster_storage_resize")
	s.log.Info("storage resize requested", "cluster", c.ID, "from_mib", c.StorageSizeMiB, "to_mib", sizeMiB)
	return op, nil
}

// brokerReserve is broker id's log.dir.min.free.bytes as it reports it
// (DescribeConfigs): the part of its disk writes leave free.
func (s *Service) brokerReserve(ctx context.Context, clusterID string, id int32) (int64, error) {
	adm, err := s.admin(ctx, clusterID)
	if err != nil {
		return 0, err
	}
	rcs, err := adm.DescribeBrokerConfigs(ctx, id)
	if err != nil {
		return 0, err
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			return 0, rc.Err
		}
		for _, cf := range rc.Configs {
			if cf.Key == "log.dir.min.free.bytes" && cf.Value != nil {
				return strconv.ParseInt(*cf.Value, 10, 64)
			}
		}
	}
	return brokerReserveBytes, nil
}

// diskCheckEvery is how often the reconciler asks a cluster's brokers
// whether their disk budget is full.
const diskCheckEvery = 5 * time.Second

// watchDisks records an event when a broker of c starts refusing writes
// for lack of space (broker_<id>_disk_full) and when it takes them again
// (broker_<id>_disk_ok). A restarted control plane reports a full disk
// once more.
func (s *Service) watchDisks(ctx context.Context, c Cluster) {
	if c.Status == StatusCreating || c.Status == StatusDeleting {
		return
	}
	s.mu.Lock()
	if time.Since(s.diskChecked[c.ID]) < diskCheckEvery {
		s.mu.Unlock()
		return
	}
	s.diskChecked[c.ID] = time.Now()
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	dirs, err := s.logDirs(ctx, c.ID)
	if err != nil {
		return
	}
	for _, id := range slices.Sorted(maps.Keys(dirs)) {
		full := dirs[id].Err != nil
		key := c.ID + "/" + strconv.Itoa(int(id))
		s.mu.Lock()
		was := s.diskFull[key]
		s.diskFull[key] = full
		s.mu.Unlock()
		switch {
		case full && !was:
			s.log.Warn("broker refuses writes: its disk budget is full", "cluster", c.ID, "node_id", id, "err", dirs[id].Err)
			s.cfg.Store.AddEvent(ctx, c.ID, fmt.Sprintf("broker_%d_disk_full", id))
		case !full && was:
			s.log.Info("broker takes writes again: disk space is back", "cluster", c.ID, "node_id", id)
			s.cfg.Store.AddEvent(ctx, c.ID, fmt.Sprintf("broker_%d_disk_ok", id))
		}
	}
}
