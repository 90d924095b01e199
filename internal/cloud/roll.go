package cloud

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tributary/tributary/internal/client"
)

// Rolling restarts follow Strimzi's roller: one broker at a time; a broker
// whose restart would take a partition below min.insync.replicas waits;
// the active controller goes last; the next broker goes only when the
// last one is ready again (/readyz) and back in the ISR of every partition
// it replicates.
//
//	restart: roll → wait_rolled → roll → ... → done
const (
	stepRoll       = "roll"
	stepWaitRolled = "wait_rolled"
)

// Statuses of a rolling restart (Tributary's: DigitalOcean applies
// updates inside its maintenance window and does not show a status).
const (
	StatusRestarting = "restarting"
	StatusUpgrading  = "upgrading"
)

// partitionView is one partition as a broker reports it.
type partitionView struct {
	Topic     string
	Partition int32
	Replicas  []int32
	ISR       []int32
	MinISR    int
}

// wouldAffectAvailability is Strimzi's rule for restarting broker b: it
// refuses when a partition b replicates is already below its
// min.insync.replicas, or is exactly at it with b in the ISR (while
// min.insync.replicas < the replica count; smaller partitions cannot be
// kept available anyway). It returns the first blocking partition.
func wouldAffectAvailability(b int32, parts []partitionView) (bool, string) {
	for _, p := range parts {
		if !slices.Contains(p.Replicas, b) || len(p.Replicas) <= p.MinISR {
			continue
		}
		switch {
		case len(p.ISR) < p.MinISR:
			return true, fmt.Sprintf("%s-%d has %d in-sync replicas, below min.insync.replicas=%d", p.Topic, p.Partition, len(p.ISR), p.MinISR)
		case len(p.ISR) == p.MinISR && slices.Contains(p.ISR, b):
			return true, fmt.Sprintf("%s-%d is at min.insync.replicas=%d with broker %d in its ISR", p.Topic, p.Partition, p.MinISR, b)
		}
	}
	return false, ""
}

// RestartCluster records a rolling restart of every broker, onto version
// when it is not "" (an upgrade: the brokers restart on that version's
// build).
func (s *Service) RestartCluster(ctx context.Context, id, version string) (Operation, error) {
	c, err := s.Cluster(ctx, id)
	if err != nil {
		return Operation{}, err
	}
	status := StatusRestarting
	if version != "" && version != c.Version {
		if !slices.Contains(s.cfg.Catalog.Versions, version) {
			return Operation{}, errorf(KindInvalid, "invalid version %q: this installation offers %v", version, s.cfg.Catalog.Versions)
		}
		status = StatusUpgrading
	} else {
		version = ""
	}
	if c.Status != StatusOnline {
		return Operation{}, errorf(KindConflict, "the database cluster is %s; a restart needs it online", c.Status)
	}
	op := Operation{ID: newID(), ClusterID: id, Kind: OpRestart, From: c.NumNodes, Step: stepRoll, State: OpRunning}
	if err := s.cfg.Store.StartOperationChange(ctx, op, Change{Status: status, NumNodes: c.NumNodes, Version: version}); err != nil {
		return Operation{}, err
	}
	ev := "cluster_restart"
	if version != "" {
		ev = "cluster_upgrade_" + version
	}
	s.cfg.Store.AddEvent(ctx, id, ev)
	s.log.Info("rolling restart requested", "cluster", id, "version", version)
	return op, nil
}

func parseDone(s string) []int32 {
	var out []int32
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, int32(n))
		}
	}
	return out
}

// controllerView returns the active controller and every partition as
// it sees them (another broker's metadata may lag), with each topic's
// min.insync.replicas.
func (s *Service) controllerView(ctx context.Context, clusterID string) (int32, []partitionView, error) {
	cc, err := s.client(ctx, clusterID)
	if err != nil {
		return -1, nil, err
	}
	// Asked now: kadm's BrokerMetadata would name the controller the
	// client cached, possibly one a restart of this roll moved away.
	controller, err := client.Controller(ctx, cc.cl)
	if err != nil {
		return -1, nil, err
	}
	adm := cc.adm
	out, err := s.brokerMetadata(ctx, clusterID, controller)
	if err != nil {
		return -1, nil, err
	}
	var topics []string
	for _, p := range out {
		if len(topics) == 0 || topics[len(topics)-1] != p.Topic {
			topics = append(topics, p.Topic)
		}
	}
	if len(topics) == 0 {
		return controller, out, nil
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return -1, nil, fmt.Errorf("describe topic configs: %w", err)
	}
	minISR := map[string]int{}
	for _, rc := range rcs {
		for _, cf := range rc.Configs {
			if cf.Key == "min.insync.replicas" && cf.Value != nil {
				if n, err := strconv.Atoi(*cf.Value); err == nil {
					minISR[rc.Name] = n
				}
			}
		}
	}
	for i := range out {
		if m, ok := minISR[out[i].Topic]; ok {
			out[i].MinISR = m
		}
	}
	return controller, out, nil
}

// roll picks the next broker Strimzi's rules allow and restarts it; op.To
// records which one, for wait_rolled.
func (s *Service) roll(ctx context.Context, c Cluster, op *Operation) (string, error) {
	nodes, err := s.Nodes(ctx, c.ID)
	if err != nil {
		return op.Step, err
	}
	done := parseDone(op.Done)
	var todo []Node
	for _, n := range nodes {
		if !slices.Contains(done, n.NodeID) {
			todo = append(todo, n)
		}
	}
	if len(todo) == 0 {
		return stepDone, nil
	}
	controller, parts, err := s.controllerView(ctx, c.ID)
	if err != nil {
		return op.Step, err
	}
	var ids []int32
	for _, n := range todo {
		ids = append(ids, n.NodeID)
	}
	next, why := nextToRoll(ids, controller, parts)
	if next < 0 {
		return op.Step, fmt.Errorf("no broker can restart without hurting availability yet: %s", strings.Join(why, "; "))
	}
	n := todo[slices.IndexFunc(todo, func(n Node) bool { return n.NodeID == next })]
	s.log.Info("rolling restart: restarting broker", "cluster", c.ID, "node_id", n.NodeID, "version", c.Version, "controller", controller)
	if err := s.cfg.Provisioner.Stop(ctx, n, true); err != nil {
		return op.Step, err
	}
	if _, err := s.cfg.Provisioner.Ensure(ctx, c, n, voters(nodes)); err != nil {
		return op.Step, err
	}
	s.cfg.Store.AddEvent(ctx, c.ID, fmt.Sprintf("broker_%d_restarted_for_%s", n.NodeID, op.Kind))
	op.To = int(n.NodeID)
	return stepWaitRolled, nil
}

// nextToRoll picks the broker of todo to restart next: the lowest id whose
// restart would not hurt availability, the active controller only when it
// is the last one left. It returns -1 and the reasons when none may go.
func nextToRoll(todo []int32, controller int32, parts []partitionView) (int32, []string) {
	todo = slices.Sorted(slices.Values(todo))
	var why []string
	for _, b := range todo {
		if b == controller && len(todo) > 1 {
			why = append(why, fmt.Sprintf("broker %d is the active controller and goes last", b))
			continue
		}
		if blocked, reason := wouldAffectAvailability(b, parts); blocked {
			why = append(why, fmt.Sprintf("broker %d waits: %s", b, reason))
			continue
		}
		return b, nil
	}
	return -1, why
}

// rollFailed is a rolled broker that did not come back within
// RollTimeout: the roll stops and its operation fails.
type rollFailed struct{ msg string }

func (e *rollFailed) Error() string { return e.msg }

// notBack says why restarted broker n is not back yet: not ready, or not
// in the ISR of a partition it replicates (in the controller's view); ""
// when it is back.
func (s *Service) notBack(ctx context.Context, c Cluster, n Node) string {
	if !brokerReady(n) {
		return fmt.Sprintf("not ready (/readyz on %s)", n.Admin)
	}
	_, parts, err := s.controllerView(ctx, c.ID)
	if err != nil {
		return fmt.Sprintf("the controller's view is not readable: %v", err)
	}
	for _, p := range parts {
		if slices.Contains(p.Replicas, n.NodeID) && !slices.Contains(p.ISR, n.NodeID) {
			return fmt.Sprintf("not in the ISR of %s-%d", p.Topic, p.Partition)
		}
	}
	return ""
}

// waitRolled waits until broker op.To is ready and back in the ISR of
// every partition it replicates (in the controller's view).
func (s *Service) waitRolled(ctx context.Context, c Cluster, op *Operation) (string, error) {
	nodes, err := s.Nodes(ctx, c.ID)
	if err != nil {
		return op.Step, err
	}
	i := slices.IndexFunc(nodes, func(n Node) bool { return n.NodeID == int32(op.To) })
	if i < 0 {
		return op.Step, fmt.Errorf("rolling restart: broker %d is not in the cluster", op.To)
	}
	key := op.ID + "/" + strconv.Itoa(op.To)
	if why := s.notBack(ctx, c, nodes[i]); why != "" {
		// Reported as what the operation waits for; a broker that is not
		// back within RollTimeout stops the roll and fails it.
		s.mu.Lock()
		since, ok := s.rollWaits[key]
		if !ok {
			since = time.Now()
			s.rollWaits[key] = since
		}
		s.mu.Unlock()
		if waited := time.Since(since); waited > s.cfg.RollTimeout {
			done := op.Done
			if done == "" {
				done = "none"
			}
			return op.Step, &rollFailed{fmt.Sprintf("broker %d was not back %v after its restart onto version %s (%s); the roll stopped (brokers restarted before it: %s, the others untouched); an upgrade to the previous version rolls the brokers back",
				op.To, waited.Round(time.Second), c.Version, why, done)}
		}
		return op.Step, waiting("broker %d is not back after its restart yet: %s", op.To, why)
	}
	s.mu.Lock()
	delete(s.rollWaits, key)
	s.mu.Unlock()
	if op.Done != "" {
		op.Done += ","
	}
	op.Done += strconv.Itoa(op.To)
	return stepRoll, nil
}
