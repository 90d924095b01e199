package broker

import (
	"context"
	"time"

	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/replica"
	"github.com/tributary/tributary/internal/storage"
)

// The broker's handlers reach the rest of the node through two small
// interfaces, so a handler can be tested with fakes (handlers_test.go):
// the metadata quorum (*metadata.Quorum) and the replica manager
// (*replica.Manager). Every method is safe for concurrent use; those
// taking a context block until it ends or their work is done.

// MetadataSource is the cluster metadata: the applied state, proposals to
// the controller, and this broker's registration.
type MetadataSource interface {
	// State is the latest applied state (immutable); Changed is closed at
	// the next change.
	State() *metadata.State
	Changed() <-chan struct{}
	// Propose applies cmd through the controller; WaitApplied waits until
	// this node has applied index.
	Propose(ctx context.Context, cmd *metadata.Command) (metadata.Result, error)
	WaitApplied(ctx context.Context, index uint64) error
	// SetVisible reports the index this broker serves from;
	// WaitVisibleEverywhere waits until every live broker serves index.
	SetVisible(index uint64)
	WaitVisibleEverywhere(ctx context.Context, index uint64) error
	// Heartbeat registers or keeps alive this broker; Fence fences it
	// (controlled shutdown).
	Heartbeat(b metadata.Broker) error
	Fence(ctx context.Context, id int32) error
	// Addr is this node's controller address; LeaderID, IsLeader and Info
	// describe the quorum (Metadata's controller id, DescribeQuorum).
	Addr() string
	LeaderID() int32
	IsLeader() bool
	Info() metadata.QuorumInfo
}

// Replicas is the replica manager as the handlers use it: a read-only
// view of the local replicas (the handlers act on a replica through its
// partition methods), ISR expansion on a follower's fetch, storage fault
// reports, and the reconcile and shutdown calls the broker's loops make.
type Replicas interface {
	Reconcile(st *metadata.State, current, ready bool, logOptions func(topic string) (storage.Options, bool)) replica.Reconciled
	Local() []replica.Replica
	DiskUsage() storage.DiskUsage
	// FollowerFetched records a follower's fetch on a leader replica
	// and proposes its ISR addition once it has caught up.
	// refetch: the follower asks again for what it was sent (read it
	// checked; partition.FollowerFetched).
	FollowerFetched(p *partition.Partition, follower int32, fetchOffset int64, now time.Time) (refetch bool, err error)
	// StorageFault reports p offline after cause (its log is offline)
	// and returns the error the client should get; WakeFaults asks the
	// fault loop to look now.
	StorageFault(p *partition.Partition, cause error) error
	WakeFaults()
	Halt()
	CloseFetchers()
	Close() error
}

var (
	_ MetadataSource = (*metadata.Quorum)(nil)
	_ Replicas       = (*replica.Manager)(nil)
)
