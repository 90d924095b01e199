package controller

import (
	"fmt"
	"slices"
)

// Partition is one partition's replica assignment and leadership, as the
// metadata state records it (metadata.Partition is this type).
type Partition struct {
	Replicas []int32 `json:"replicas"`
	ISR      []int32 `json:"isr"`
	Leader   int32   `json:"leader"` // -1: offline
	// LeaderEpoch increases with every leader change.
	LeaderEpoch int32 `json:"leader_epoch"`
	// PartitionEpoch increases with every change of this record.
	PartitionEpoch int32 `json:"partition_epoch"`
	// AddingReplicas and RemovingReplicas are set while a reassignment
	// (KIP-455) is in progress. Replicas is then the target replicas
	// followed by the removing ones, so every replica of either set keeps
	// (or gets) a copy until the switch.
	AddingReplicas   []int32 `json:"adding_replicas,omitempty"`
	RemovingReplicas []int32 `json:"removing_replicas,omitempty"`
	// Offline are replicas whose log is offline on their broker (corrupt
	// data or an I/O error; Kafka's replicas in an offline log dir). They
	// are out of the ISR (unless the last member), never elected, and
	// return with SetReplicaOffline(online) once repaired.
	Offline []int32 `json:"offline_replicas,omitempty"`
}

// eligible are the ISR members that may lead: not offline.
func (p Partition) eligible() []int32 { return without(p.ISR, p.Offline) }

// Clone returns a deep copy.
func (p Partition) Clone() Partition {
	p.Replicas = slices.Clone(p.Replicas)
	p.ISR = slices.Clone(p.ISR)
	p.AddingReplicas = slices.Clone(p.AddingReplicas)
	p.RemovingReplicas = slices.Clone(p.RemovingReplicas)
	p.Offline = slices.Clone(p.Offline)
	return p
}

// Reassigning reports whether a reassignment is in progress.
func (p Partition) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// TargetReplicas are the replicas once the reassignment in progress
// completes (Replicas when none is).
func (p Partition) TargetReplicas() []int32 { return without(p.Replicas, p.RemovingReplicas) }

// OriginalReplicas are the replicas from before the reassignment in
// progress, which cancelling it restores (Replicas when none is).
func (p Partition) OriginalReplicas() []int32 { return without(p.Replicas, p.AddingReplicas) }

// NewPartition is a new partition on replicas: all in sync, the first one
// (the preferred replica) leading, epochs zero.
func NewPartition(replicas []int32) Partition {
	return Partition{Replicas: slices.Clone(replicas), ISR: slices.Clone(replicas), Leader: replicas[0]}
}

// Brokers is the view of the registered brokers the policies need.
type Brokers interface {
	// Live reports a registered, unfenced broker.
	Live(id int32) bool
	// Registered reports a registered broker, fenced or not.
	Registered(id int32) bool
}

// TopicPartition names a partition in refusal messages.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

// without returns the members of s not in drop, in s's order.
func without(s, drop []int32) []int32 {
	out := make([]int32, 0, len(s))
	for _, r := range s {
		if !slices.Contains(drop, r) {
			out = append(out, r)
		}
	}
	return out
}

func nilIfEmpty(s []int32) []int32 {
	if len(s) == 0 {
		return nil
	}
	return s
}
