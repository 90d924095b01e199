package metadata

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/tributary/tributary/internal/controller"
	"github.com/tributary/tributary/internal/security"
)

// apply returns the state after cmd, or nil and a failed result (the state
// is then unchanged). It is deterministic: every replica computes the same.
// Each command has one function below; the rules they follow (election,
// ISR changes, fencing, reassignment) are the controller's policies.
func (s *State) apply(cmd *Command) (*State, Result) {
	switch {
	case cmd.InitCluster != nil:
		return s.applyInitCluster(cmd.InitCluster)
	case cmd.RegisterBroker != nil:
		return s.applyRegisterBroker(*cmd.RegisterBroker)
	case cmd.FenceBroker != nil:
		return s.applyFenceBroker(cmd.FenceBroker)
	case cmd.CreateTopic != nil:
		return s.applyCreateTopic(cmd.CreateTopic, cmd.MaxBrokerPartitions)
	case cmd.DeleteTopic != nil:
		return s.applyDeleteTopic(cmd.DeleteTopic)
	case cmd.CreatePartitions != nil:
		return s.applyCreatePartitions(cmd.CreatePartitions, cmd.MaxBrokerPartitions)
	case cmd.SetTopicConfigs != nil:
		return s.applySetTopicConfigs(cmd.SetTopicConfigs)
	case cmd.SetBrokerConfigs != nil:
		return s.applySetBrokerConfigs(cmd.SetBrokerConfigs)
	case cmd.SetGroupConfigs != nil:
		return s.applySetGroupConfigs(cmd.SetGroupConfigs)
	case cmd.AlterPartition != nil:
		return s.applyAlterPartition(cmd.AlterPartition)
	case cmd.AllocateIDs != nil:
		return s.applyAllocateIDs(cmd.AllocateIDs)
	case cmd.ElectLeader != nil:
		return s.applyElectLeader(cmd.ElectLeader)
	case cmd.Reassign != nil:
		return s.applyReassign(cmd.Reassign)
	case cmd.ReplicaOffline != nil:
		return s.applyReplicaOffline(cmd.ReplicaOffline)
	case cmd.AlterScram != nil:
		return s.applyAlterScram(cmd.AlterScram)
	case cmd.CreateACLs != nil:
		return s.applyCreateACLs(cmd.CreateACLs)
	case cmd.DeleteACLs != nil:
		return s.applyDeleteACLs(cmd.DeleteACLs)
	case cmd.AlterQuotas != nil:
		return s.applyAlterQuotas(cmd.AlterQuotas)
	}
	return fail(ErrInvalidCommand, "empty command")
}

// fail is a refused command: sentinel names the error, the message (the
// sentinel's text when format is empty) tells the requester why.
func fail(sentinel error, format string, args ...any) (*State, Result) {
	msg := sentinel.Error()
	if format != "" {
		msg = fmt.Sprintf(format, args...)
	}
	return nil, Result{Err: msg, Code: sentinel.Error()}
}

// refused is a command a controller policy refused.
func refused(err error) (*State, Result) {
	var r *controller.Refusal
	if errors.As(err, &r) {
		return nil, Result{Err: r.Msg, Code: r.Sentinel.Error()}
	}
	return fail(err, "")
}

// partition returns topic's partition i, or a failed result.
func (s *State) partition(topic string, i int32) (*Topic, controller.TopicPartition, bool) {
	t, ok := s.Topics[topic]
	if !ok || i < 0 || int(i) >= len(t.Parts) {
		return nil, controller.TopicPartition{}, false
	}
	return t, controller.TopicPartition{Topic: topic, Partition: i}, true
}

// withPartition returns a new state with topic t's partition i replaced.
func (s *State) withPartition(t *Topic, i int32, p Partition) *State {
	nt := t.Clone()
	nt.Parts[i] = p
	n := s.shallow()
	n.Topics[t.Name] = nt
	return n
}

func (s *State) applyInitCluster(c *InitCluster) (*State, Result) {
	if s.ClusterID != "" {
		return s, Result{}
	}
	n := s.shallow()
	n.ClusterID = c.ClusterID
	return n, Result{}
}

// applyRegisterBroker registers or re-registers a broker and unfences it. A
// new incarnation of a live broker is a restart: it is fenced first (its
// unflushed tail may be gone), then unfenced.
func (s *State) applyRegisterBroker(rb Broker) (*State, Result) {
	n := s.shallow()
	if old, ok := s.Brokers[rb.ID]; ok {
		rb.Epoch = old.Epoch + 1
		if old.Incarnation != rb.Incarnation && !old.Fenced {
			fenced := *old
			fenced.Fenced = true
			n.Brokers[rb.ID] = &fenced
			n.eachPartition(func(p Partition) (Partition, bool) { return controller.Fence(p, rb.ID, n) })
		}
	} else {
		rb.Epoch = 1
	}
	rb.Fenced = false
	n.Brokers[rb.ID] = &rb
	n.eachPartition(func(p Partition) (Partition, bool) { return controller.Unfence(p, rb.ID, n) })
	return n, Result{Value: rb.Epoch}
}

func (s *State) applyFenceBroker(f *FenceBroker) (*State, Result) {
	old, ok := s.Brokers[f.ID]
	if !ok {
		return fail(ErrUnknownBroker, "broker %d is not registered", f.ID)
	}
	n := s.shallow()
	b := *old
	b.Fenced = true
	n.Brokers[f.ID] = &b
	n.eachPartition(func(p Partition) (Partition, bool) { return controller.Fence(p, f.ID, n) })
	return n, Result{}
}

// eachPartition replaces every partition for which fn reports a change,
// cloning only the topics that change. Called on a shallow copy.
func (s *State) eachPartition(fn func(Partition) (Partition, bool)) {
	for _, name := range s.TopicNames() {
		t := s.Topics[name]
		var nt *Topic
		for i, p := range t.Parts {
			np, changed := fn(p)
			if !changed {
				continue
			}
			if nt == nil {
				nt = t.Clone()
			}
			nt.Parts[i] = np
		}
		if nt != nil {
			s.Topics[name] = nt
		}
	}
}

func (s *State) applyCreateTopic(t *Topic, maxHosted int) (*State, Result) {
	if _, ok := s.Topics[t.Name]; ok {
		return fail(ErrTopicExists, "topic %q already exists", t.Name)
	}
	if len(t.Parts) == 0 {
		return fail(ErrInvalidPartitions, "topic %q has no partitions", t.Name)
	}
	if err := controller.CheckCapacity(s.HostedReplicas(), t.Parts, maxHosted); err != nil {
		return refused(err)
	}
	n := s.shallow()
	n.Topics[t.Name] = t.Clone()
	return n, Result{}
}

func (s *State) applyDeleteTopic(d *DeleteTopic) (*State, Result) {
	if _, ok := s.Topics[d.Name]; !ok {
		return fail(ErrUnknownTopic, "topic %q does not exist", d.Name)
	}
	n := s.shallow()
	delete(n.Topics, d.Name)
	return n, Result{}
}

func (s *State) applyCreatePartitions(c *CreatePartitions, maxHosted int) (*State, Result) {
	t, ok := s.Topics[c.Name]
	if !ok {
		return fail(ErrUnknownTopic, "topic %q does not exist", c.Name)
	}
	if err := controller.CheckCapacity(s.HostedReplicas(), c.Parts, maxHosted); err != nil {
		return refused(err)
	}
	nt := t.Clone()
	for _, p := range c.Parts {
		nt.Parts = append(nt.Parts, p.Clone())
	}
	n := s.shallow()
	n.Topics[c.Name] = nt
	return n, Result{Value: int64(len(nt.Parts))}
}

func (s *State) applySetTopicConfigs(c *SetTopicConfigs) (*State, Result) {
	t, ok := s.Topics[c.Name]
	if !ok {
		return fail(ErrUnknownTopic, "topic %q does not exist", c.Name)
	}
	if c.Expect.changed(t.Configs) {
		return fail(ErrConfigConflict, "topic %q: configs changed meanwhile", c.Name)
	}
	nt := t.Clone()
	nt.Configs = maps.Clone(c.Configs)
	n := s.shallow()
	n.Topics[c.Name] = nt
	return n, Result{}
}

func (s *State) applySetBrokerConfigs(c *SetBrokerConfigs) (*State, Result) {
	if c.Expect.changed(s.BrokerConfigs[c.Resource]) {
		return fail(ErrConfigConflict, "broker resource %q: configs changed meanwhile", c.Resource)
	}
	n := s.shallow()
	n.BrokerConfigs = maps.Clone(s.BrokerConfigs)
	if n.BrokerConfigs == nil {
		n.BrokerConfigs = map[string]map[string]string{}
	}
	if len(c.Configs) == 0 {
		delete(n.BrokerConfigs, c.Resource)
	} else {
		n.BrokerConfigs[c.Resource] = maps.Clone(c.Configs)
	}
	return n, Result{}
}

func (s *State) applySetGroupConfigs(c *SetGroupConfigs) (*State, Result) {
	if c.Expect.changed(s.GroupConfigs[c.Group]) {
		return fail(ErrConfigConflict, "group %q: configs changed meanwhile", c.Group)
	}
	n := s.shallow()
	n.GroupConfigs = maps.Clone(s.GroupConfigs)
	if n.GroupConfigs == nil {
		n.GroupConfigs = map[string]map[string]string{}
	}
	if len(c.Configs) == 0 {
		delete(n.GroupConfigs, c.Group)
	} else {
		n.GroupConfigs[c.Group] = maps.Clone(c.Configs)
	}
	return n, Result{}
}

func (s *State) applyAlterPartition(a *AlterPartition) (*State, Result) {
	t, tp, ok := s.partition(a.Topic, a.Partition)
	if !ok {
		return fail(ErrUnknownTopic, "unknown partition %s-%d", a.Topic, a.Partition)
	}
	np, err := controller.AlterISR(tp, t.Parts[a.Partition], controller.ISRChange{
		Leader: a.Leader, LeaderEpoch: a.LeaderEpoch, PartitionEpoch: a.PartitionEpoch, ISR: a.ISR}, s)
	if err != nil {
		return refused(err)
	}
	return s.withPartition(t, a.Partition, np), Result{Value: int64(np.PartitionEpoch)}
}

func (s *State) applyAllocateIDs(a *AllocateIDs) (*State, Result) {
	if a.Count <= 0 {
		return fail(ErrInvalidCommand, "")
	}
	n := s.shallow()
	first := n.NextProducerID
	n.NextProducerID += a.Count
	return n, Result{Value: first}
}

func (s *State) applyElectLeader(e *ElectLeader) (*State, Result) {
	t, _, ok := s.partition(e.Topic, e.Partition)
	if !ok {
		return fail(ErrUnknownTopic, "unknown partition %s-%d", e.Topic, e.Partition)
	}
	np, why := controller.Elect(t.Parts[e.Partition], e.Unclean, s)
	if why != nil {
		if e.Report {
			return fail(why, "%s-%d: %v", e.Topic, e.Partition, why)
		}
		return s, Result{}
	}
	return s.withPartition(t, e.Partition, np), Result{Value: int64(np.Leader)}
}

func (s *State) applyReassign(r *Reassign) (*State, Result) {
	t, tp, ok := s.partition(r.Topic, r.Partition)
	if !ok {
		return fail(ErrUnknownTopic, "unknown partition %s-%d", r.Topic, r.Partition)
	}
	p := t.Parts[r.Partition]
	var np Partition
	var err error
	changed := true
	if r.Cancel {
		np, err = controller.CancelReassignment(tp, p, s)
	} else {
		np, changed, err = controller.Reassign(tp, p, r.Target, r.KeepReplicationFactor, s)
	}
	switch {
	case err != nil:
		return refused(err)
	case !changed:
		return s, Result{}
	}
	return s.withPartition(t, r.Partition, np), Result{}
}

func (s *State) applyReplicaOffline(c *ReplicaOffline) (*State, Result) {
	t, tp, ok := s.partition(c.Topic, c.Partition)
	if !ok {
		return fail(ErrUnknownTopic, "unknown partition %s-%d", c.Topic, c.Partition)
	}
	np, changed, err := controller.SetReplicaOffline(tp, t.Parts[c.Partition], c.Broker, c.Online, s)
	switch {
	case err != nil:
		return refused(err)
	case !changed:
		return s, Result{}
	}
	return s.withPartition(t, c.Partition, np), Result{Value: int64(np.Leader)}
}

func (s *State) applyAlterScram(a *AlterScram) (*State, Result) {
	for _, u := range a.Upserts {
		c := u.Credential
		// The salted password is not stored; the derived keys stand for it.
		if err := controller.CheckScramUpsert(u.User, u.Mechanism, c.Iterations, c.Salt, c.StoredKey); err != nil {
			return refused(err)
		}
	}
	n := s.shallow()
	n.Scram = maps.Clone(s.Scram)
	if n.Scram == nil {
		n.Scram = map[string]map[string]security.ScramCredential{}
	}
	for _, d := range a.Deletions {
		if m, ok := n.Scram[d.User]; ok {
			m = maps.Clone(m)
			delete(m, d.Mechanism)
			if len(m) == 0 {
				delete(n.Scram, d.User)
			} else {
				n.Scram[d.User] = m
			}
		}
	}
	for _, u := range a.Upserts {
		m := maps.Clone(n.Scram[u.User])
		if m == nil {
			m = map[string]security.ScramCredential{}
		}
		m[u.Mechanism] = u.Credential
		n.Scram[u.User] = m
	}
	return n, Result{}
}

func (s *State) applyCreateACLs(c *CreateACLs) (*State, Result) {
	for _, a := range c.ACLs {
		if err := a.Validate(); err != nil {
			return fail(ErrInvalidCommand, "%v", err)
		}
	}
	n := s.shallow()
	n.ACLs = slices.Clone(s.ACLs)
	for _, a := range c.ACLs {
		if !slices.Contains(n.ACLs, a) {
			n.ACLs = append(n.ACLs, a)
		}
	}
	return n, Result{}
}

func (s *State) applyDeleteACLs(d *DeleteACLs) (*State, Result) {
	n := s.shallow()
	n.ACLs = slices.DeleteFunc(slices.Clone(s.ACLs), func(a security.ACL) bool {
		return slices.ContainsFunc(d.Filters, func(f security.Filter) bool { return f.Matches(a) })
	})
	return n, Result{Value: int64(len(s.ACLs) - len(n.ACLs))}
}

func (s *State) applyAlterQuotas(a *AlterQuotas) (*State, Result) {
	for _, e := range a.Entries {
		if err := e.Entity.Validate(); err != nil {
			return fail(ErrInvalidCommand, "%v", err)
		}
		for k, v := range e.Set {
			if err := security.ValidateQuotaKey(k, v, false); err != nil {
				return fail(ErrInvalidCommand, "%v", err)
			}
		}
	}
	byKey := make(map[string]security.ClientQuota, len(s.Quotas))
	for _, q := range s.Quotas {
		byKey[q.Entity.Key()] = q
	}
	for _, e := range a.Entries {
		k := e.Entity.Key()
		q := byKey[k]
		q.Entity, q.Values = e.Entity, maps.Clone(q.Values)
		if q.Values == nil {
			q.Values = map[string]float64{}
		}
		maps.Copy(q.Values, e.Set)
		for _, r := range e.Remove {
			delete(q.Values, r)
		}
		if len(q.Values) == 0 {
			delete(byKey, k)
		} else {
			byKey[k] = q
		}
	}
	n := s.shallow()
	n.Quotas = slices.Collect(maps.Values(byKey))
	security.SortQuotas(n.Quotas)
	return n, Result{}
}

// changed reports whether a conditional change's expected configs are no
// longer cur (an empty map and none are the same).
func (e ExpectConfigs) changed(cur map[string]string) bool {
	return e.Check && !maps.Equal(e.Configs, cur)
}
