package cloud

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/client"
	"github.com/tributary/tributary/internal/safe"
)

// Operation steps, in the order an operation may pass them. The step
// stored with an operation is the next one to run; each is idempotent
// (it checks the cluster rather than remembering what it did), so the
// reconciler of a restarted control plane resumes at the stored step.
//
//	create: start_brokers → wait_ready → sync_users → done (online)
//	resize out: start_brokers → wait_ready → rebalance → wait_reassignments → elect_leaders → done
//	resize in:  start_brokers → wait_ready → rebalance (drain) → wait_reassignments → elect_leaders → stop_brokers → done
//	delete: stop_brokers → done (the cluster is removed)
const (
	stepStart       = "start_brokers"
	stepWaitReady   = "wait_ready"
	stepRebalance   = "rebalance"
	stepWaitMoves   = "wait_reassignments"
	stepElect       = "elect_leaders"
	stepStopBrokers = "stop_brokers"
	stepSyncUsers   = "sync_users"
	stepDone        = "done"
)

// Run reconciles until ctx ends: one worker per cluster, each of which
// supervises the cluster's brokers (restarting a crashed one) and
// advances its running operation by one step per poll.
func (s *Service) Run(ctx context.Context) {
	workers := map[string]chan struct{}{}
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		clusters, err := s.cfg.Store.Clusters(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("reconciler: cannot list clusters", "err", err)
		}
		for _, c := range clusters {
			if _, ok := workers[c.ID]; ok {
				continue
			}
			done := make(chan struct{})
			workers[c.ID] = done
			id := c.ID
			safe.Go(s.log, "cloud cluster worker", func() {
				defer close(done)
				s.work(ctx, id)
			})
		}
		for id, done := range workers {
			select {
			case <-done:
				delete(workers, id)
			default:
			}
		}
		select {
		case <-ctx.Done():
			for _, done := range workers {
				<-done
			}
			return
		case <-t.C:
		}
	}
}

// work is one cluster's worker; it returns when the cluster is gone or
// ctx ends.
func (s *Service) work(ctx context.Context, id string) {
	lastErr := ""
	for ctx.Err() == nil {
		c, err := s.cfg.Store.Cluster(ctx, id)
		if errors.Is(err, errNoRow) {
			s.dropClient(id)
			s.metrics.drop(id)
			return
		}
		if err == nil {
			// A pass is bounded, so a call that never answers cannot stall
			// the cluster's worker (the longest step, a graceful broker
			// stop, takes at most 40s).
			pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			err = s.reconcile(pctx, c)
			cancel()
		}
		if err != nil && ctx.Err() == nil {
			// Retried every poll; logged when it changes.
			if msg := err.Error(); msg != lastErr {
				var w *waitError
				if errors.As(err, &w) {
					s.log.Info("reconcile: waiting", "cluster", id, "for", err)
				} else {
					s.log.Warn("reconcile", "cluster", id, "err", err)
				}
				lastErr = msg
			}
		} else {
			lastErr = ""
		}
		select {
		case <-ctx.Done():
		case <-time.After(s.cfg.Poll):
		}
	}
}

// reconcile supervises c's brokers and runs one step of its operation.
func (s *Service) reconcile(ctx context.Context, c Cluster) error {
	ops, err := s.cfg.Store.Operations(ctx, c.ID)
	if err != nil {
		return err
	}
	var op *Operation
	for i := range ops {
		if ops[i].State == OpRunning {
			op = &ops[i]
		}
	}
	if op != nil {
		// The cluster again, read after its operation: c was read before
		// it, and an operation starts in one write with the change it
		// makes (Store.StartOperationChange), so c may predate that
		// change. An upgrade's first restart ran the old version so.
		if c, err = s.cfg.Store.Cluster(ctx, c.ID); err != nil {
			return err
		}
	}
	if op == nil || op.Kind != OpDelete {
		if err := s.supervise(ctx, c); err != nil {
			return err
		}
		s.watchDisks(ctx, c)
	}
	if (op == nil || (op.Kind != OpCreate && op.Kind != OpDelete)) && !s.usersSynced(c.ID) {
		// A failed sync is retried next poll; it does not hold up the
		// operation's step (a resize may be what lets it succeed).
		if err := s.syncUsers(ctx, c); err != nil && op == nil {
			return fmt.Errorf("users: %w", err)
		} else if err != nil {
			s.log.Info("users not applied yet; retried next poll", "cluster", c.ID, "err", err)
		}
	}
	if op == nil {
		return s.startDueUpdate(ctx, c)
	}
	next, err := s.step(ctx, c, op)
	var rf *rollFailed
	if errors.As(err, &rf) {
		return s.failOperation(ctx, c, op, rf.msg)
	}
	if err != nil {
		if op.Error != err.Error() {
			op.Error = err.Error()
			s.cfg.Store.UpdateOperation(ctx, *op)
		}
		return fmt.Errorf("%s %s: %w", op.Kind, op.Step, err)
	}
	if next == op.Step {
		return nil
	}
	s.log.Info("operation step", "cluster", c.ID, "operation", op.ID, "kind", op.Kind, "done", op.Step, "next", next)
	op.Step, op.Error = next, ""
	if next != stepDone {
		return s.cfg.Store.UpdateOperation(ctx, *op)
	}
	op.State = OpDone
	switch op.Kind {
	case OpDelete:
		if err := s.cfg.Store.DeleteCluster(ctx, c.ID); err != nil {
			return err
		}
		s.cfg.Store.AddEvent(ctx, c.ID, "cluster_deleted")
		s.dropClient(c.ID)
		s.metrics.drop(c.ID)
		s.log.Info("cluster deleted", "cluster", c.ID)
		return nil
	default:
		if err := s.cfg.Store.FinishOperation(ctx, *op, StatusOnline, 0); err != nil {
			return err
		}
		s.cfg.Store.AddEvent(ctx, c.ID, "cluster_online")
		s.log.Info("cluster online", "cluster", c.ID, "operation", op.Kind, "num_nodes", c.NumNodes)
		return nil
	}
}

// failOperation ends op as failed with msg (GET /operations), the cluster
// online again so that it can be acted on, and records an event.
func (s *Service) failOperation(ctx context.Context, c Cluster, op *Operation, msg string) error {
	op.State, op.Error = OpFailed, msg
	if err := s.cfg.Store.FinishOperation(ctx, *op, StatusOnline, 0); err != nil {
		return err
	}
	ev := "cluster_" + op.Kind + "_failed"
	switch c.Status {
	case StatusUpgrading:
		ev = "cluster_upgrade_failed"
	case StatusResizing:
		ev = "cluster_storage_resize_failed"
	}
	s.cfg.Store.AddEvent(ctx, c.ID, ev)
	s.log.Error("operation failed", "cluster", c.ID, "operation", op.ID, "kind", op.Kind, "err", msg)
	return nil
}

func voters(nodes []Node) []Node {
	var vs []Node
	for _, n := range nodes {
		if n.Voter {
			vs = append(vs, n)
		}
	}
	return vs
}

// supervise makes every broker that should run run.
func (s *Service) supervise(ctx context.Context, c Cluster) error {
	nodes, err := s.Nodes(ctx, c.ID)
	if err != nil {
		return err
	}
	s.metrics.ensureLogged(c.ID, nodes)
	vs := voters(nodes)
	for _, n := range nodes {
		restarted, err := s.cfg.Provisioner.Ensure(ctx, c, n, vs)
		if err != nil {
			return err
		}
		if restarted {
			s.log.Warn("broker was not running; restarted", "cluster", c.ID, "node_id", n.NodeID)
			s.cfg.Store.AddEvent(ctx, c.ID, fmt.Sprintf("broker_%d_restarted", n.NodeID))
		}
	}
	return nil
}

// step runs op's current step once and returns the next step (the same
// one when it is still waiting).
func (s *Service) step(ctx context.Context, c Cluster, opp *Operation) (string, error) {
	op := *opp
	switch op.Step {
	case stepRoll:
		return s.roll(ctx, c, opp)
	case stepWaitRolled:
		next, err := s.waitRolled(ctx, c, opp)
		if next == stepRoll && err == nil {
			// Record the progress now: the next roll step reads it.
			opp.Step = next
			if err := s.cfg.Store.UpdateOperation(ctx, *opp); err != nil {
				return op.Step, err
			}
			s.log.Info("rolling restart: broker back in every ISR", "cluster", c.ID, "node_id", op.To, "done", opp.Done)
		}
		return next, err
	case stepStart:
		if op.Kind == OpDelete {
			return stepStopBrokers, nil
		}
		return stepWaitReady, nil // supervise started the brokers
	case stepWaitReady:
		ready, err := s.ready(ctx, c)
		if err != nil || !ready {
			return op.Step, err
		}
		if op.Kind == OpCreate {
			return stepSyncUsers, nil
		}
		return stepRebalance, nil
	case stepSyncUsers:
		if err := s.syncUsers(ctx, c); err != nil {
			return op.Step, err
		}
		return stepDone, nil
	case stepRebalance:
		return s.rebalance(ctx, c, op)
	case stepWaitMoves:
		return s.waitMoves(ctx, c)
	case stepElect:
		adm, err := s.admin(ctx, c.ID)
		if err != nil {
			return op.Step, err
		}
		res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
		if err != nil {
			return op.Step, err
		}
		for _, ps := range res {
			for _, r := range ps {
				if r.Err != nil && !errors.Is(r.Err, kerr.ElectionNotNeeded) {
					s.log.Info("preferred leader not elected", "cluster", c.ID, "topic", r.Topic, "partition", r.Partition, "err", r.Err)
				}
			}
		}
		if op.To < op.From {
			return stepStopBrokers, nil
		}
		return stepDone, nil
	case stepStopBrokers:
		return s.stopBrokers(ctx, c, op)
	}
	return op.Step, fmt.Errorf("unknown step %q", op.Step)
}

// ready reports whether every active broker answers 200 on /readyz and
// is in the cluster's metadata.
func (s *Service) ready(ctx context.Context, c Cluster) (bool, error) {
	nodes, err := s.Nodes(ctx, c.ID)
	if err != nil {
		return false, err
	}
	for _, n := range nodes {
		if !brokerReady(n) {
			return false, waiting("broker %d is not ready yet (/readyz on %s)", n.NodeID, n.Admin)
		}
	}
	// Every broker, asked directly, must list every node as live. kadm's
	// BrokerMetadata answered from the client's cached broker list, which
	// an admin client refreshes only now and then: a broker that joined
	// after the client's last metadata request stayed missing for minutes
	// (a resize once waited on it for good).
	cc, err := s.client(ctx, c.ID)
	if err != nil {
		return false, err
	}
	ids := make([]int32, 0, len(nodes))
	for _, n := range nodes {
		ids = append(ids, n.NodeID)
	}
	views, errs := client.BrokerViews(ctx, cc.cl, ids)
	for _, viewer := range ids {
		if err := errs[viewer]; err != nil {
			return false, waiting("broker %d does not answer Metadata yet: %v", viewer, err)
		}
		for _, id := range ids {
			if !views[viewer].Lists(id) {
				return false, waiting("broker %d is not in broker %d's metadata yet", id, viewer)
			}
		}
	}
	return true, nil
}

// waitError is a step that waits for the cluster: recorded as the
// operation's error (GET /operations shows what it waits for) and
// logged at INFO, not WARN.
type waitError struct{ msg string }

func (e *waitError) Error() string { return e.msg }

func waiting(format string, args ...any) error {
	return &waitError{msg: fmt.Sprintf(format, args...)}
}

// brokerReady reports whether broker n answers 200 on /readyz.
func brokerReady(n Node) bool {
	hc := &http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Get("http://" + n.Admin + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// brokerMetadata returns every topic's partitions as broker id sees them
// (its own metadata, not the controller's), sorted by topic and
// partition.
func (s *Service) brokerMetadata(ctx context.Context, clusterID string, id int32) ([]partitionView, error) {
	cc, err := s.client(ctx, clusterID)
	if err != nil {
		return nil, err
	}
	req := kmsg.NewPtrMetadataRequest() // all topics
	resp, err := req.RequestWith(ctx, cc.cl.Broker(int(id)))
	if err != nil {
		return nil, fmt.Errorf("metadata from broker %d: %w", id, err)
	}
	var out []partitionView
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return nil, fmt.Errorf("metadata from broker %d: topic %v: %w", id, t.Topic, err)
		}
		for _, p := range t.Partitions {
			out = append(out, partitionView{Topic: *t.Topic, Partition: p.Partition, Replicas: p.Replicas, ISR: p.ISR, MinISR: 1})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out, nil
}

// assignments returns every partition's replicas as broker id sees them.
func (s *Service) assignments(ctx context.Context, clusterID string, id int32) ([]client.Assignment, error) {
	parts, err := s.brokerMetadata(ctx, clusterID, id)
	if err != nil {
		return nil, err
	}
	return toAssignments(parts), nil
}

func toAssignments(parts []partitionView) []client.Assignment {
	out := make([]client.Assignment, 0, len(parts))
	for _, p := range parts {
		out = append(out, client.Assignment{Topic: p.Topic, Partition: p.Partition, Replicas: p.Replicas})
	}
	return out
}

// staying returns the ids of the brokers a resize keeps: the lowest
// op.To of those not removed (voters have the lowest ids).
func staying(nodes []Node, to int) (keep, drop []Node) {
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].NodeID < nodes[j].NodeID })
	if len(nodes) <= to {
		return nodes, nil
	}
	return nodes[:to], nodes[to:]
}

// rebalance plans replica moves so the staying brokers hold the
// replicas evenly (none on a draining broker) and starts them.
func (s *Service) rebalance(ctx context.Context, c Cluster, op Operation) (string, error) {
	nodes, err := s.Nodes(ctx, c.ID)
	if err != nil {
		return op.Step, err
	}
	keep, drop := staying(nodes, op.To)
	for _, n := range drop {
		if n.State != NodeDraining {
			if err := s.cfg.Store.SetNodeState(ctx, c.ID, n.NodeID, NodeDraining); err != nil {
				return op.Step, err
			}
		}
	}
	// Plan from the active controller's view: a broker's metadata may lag.
	_, parts, err := s.controllerView(ctx, c.ID)
	if err != nil {
		return op.Step, err
	}
	current := toAssignments(parts)
	adm, err := s.admin(ctx, c.ID)
	if err != nil {
		return op.Step, err
	}
	po := client.PlanOptions{Balance: true}
	for _, n := range keep {
		po.Brokers = append(po.Brokers, n.NodeID)
	}
	moves, err := client.PlanReassignment(current, po)
	if err != nil {
		return op.Step, err
	}
	if len(moves) == 0 {
		// waitMoves checks again that no draining broker holds a replica
		// (the metadata read here may lag a broker's).
		return stepWaitMoves, nil
	}
	if err := s.setReassignThrottle(ctx, adm, moves); err != nil {
		return op.Step, err
	}
	var req kadm.AlterPartitionAssignmentsReq
	for _, m := range moves {
		req.Assign(m.Topic, m.Partition, m.To)
	}
	resps, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		return op.Step, err
	}
	var errs []error
	resps.Each(func(r kadm.AlterPartitionAssignmentsResponse) {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s-%d: %w %s", r.Topic, r.Partition, r.Err, r.ErrMessage))
		}
	})
	if len(errs) > 0 {
		return op.Step, errors.Join(errs...)
	}
	s.log.Info("reassignment started", "cluster", c.ID, "partitions", len(moves), "brokers", po.Brokers)
	s.cfg.Store.AddEvent(ctx, c.ID, fmt.Sprintf("reassignment_started_%d_partitions", len(moves)))
	return stepWaitMoves, nil
}

// waitMoves waits for the reassignments to finish; a replica still on a
// draining broker afterwards sends the operation back to rebalance.
func (s *Service) waitMoves(ctx context.Context, c Cluster) (string, error) {
	adm, err := s.admin(ctx, c.ID)
	if err != nil {
		return stepWaitMoves, err
	}
	md, err := adm.Metadata(ctx)
	if err != nil {
		return stepWaitMoves, err
	}
	cc, err := s.client(ctx, c.ID)
	if err != nil {
		return stepWaitMoves, err
	}
	controller, err := client.Controller(ctx, cc.cl) // not md's: the client's cache may name an old one
	if err != nil {
		return stepWaitMoves, err
	}
	set := kadm.TopicsSet{}
	for _, td := range md.Topics {
		for _, p := range td.Partitions {
			set.Add(td.Topic, p.Partition)
		}
	}
	rs, err := adm.ListPartitionReassignments(ctx, set)
	if err != nil {
		return stepWaitMoves, err
	}
	moving := 0
	rs.Each(func(kadm.ListPartitionReassignmentsResponse) { moving++ })
	if moving > 0 {
		return stepWaitMoves, nil
	}
	nodes, err := s.Nodes(ctx, c.ID)
	if err != nil {
		return stepWaitMoves, err
	}
	// Every broker's view must have the draining brokers empty.
	for _, viewer := range nodes {
		view, err := s.assignments(ctx, c.ID, viewer.NodeID)
		if err != nil {
			return stepWaitMoves, err
		}
		for _, n := range nodes {
			if n.State != NodeDraining {
				continue
			}
			for _, a := range view {
				if slices.Contains(a.Replicas, n.NodeID) {
					if viewer.NodeID == controller {
						return stepRebalance, nil
					}
					return stepWaitMoves, nil // that broker has not caught up yet
				}
			}
		}
	}
	if err := s.clearReassignThrottle(ctx, adm); err != nil {
		return stepWaitMoves, err
	}
	s.cfg.Store.AddEvent(ctx, c.ID, "reassignment_completed")
	return stepElect, nil
}

// stopBrokers stops and removes the draining brokers (all of them for a
// delete). A broker is marked removed before it is stopped, so the
// supervisor does not start it again.
func (s *Service) stopBrokers(ctx context.Context, c Cluster, op Operation) (string, error) {
	all, err := s.cfg.Store.Nodes(ctx, c.ID)
	if err != nil {
		return op.Step, err
	}
	for _, n := range all {
		if op.Kind != OpDelete && n.State == NodeActive {
			continue
		}
		if n.State != NodeRemoved {
			if err := s.cfg.Store.SetNodeState(ctx, c.ID, n.NodeID, NodeRemoved); err != nil {
				return op.Step, err
			}
		}
		if err := s.cfg.Provisioner.Stop(ctx, n, op.Kind != OpDelete); err != nil {
			return op.Step, err
		}
		if err := s.cfg.Provisioner.Destroy(ctx, n); err != nil {
			return op.Step, err
		}
	}
	s.dropClient(c.ID)
	return stepDone, nil
}
