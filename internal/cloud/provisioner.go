package cloud

import "context"

// Provisioner runs a cluster's brokers somewhere: processes on this host
// (LocalProvisioner) or, later, pods of a StatefulSet. The reconciler is
// its only caller and talks to the brokers themselves only as a Kafka
// client and over their admin listeners, so a provisioner owns nothing
// but where brokers run and their storage.
//
// Every method is idempotent: the reconciler calls them again after a
// control plane restart, with the same arguments, not knowing whether the
// first call took effect. Calls for one node are never concurrent; calls
// for different nodes may be.
type Provisioner interface {
	// Plan fixes addresses and storage for new brokers ids of cluster c;
	// taken lists the nodes already planned (of every cluster) so that
	// addresses are not handed out twice. It starts nothing.
	Plan(ctx context.Context, c Cluster, ids []int32, taken []Node) ([]Node, error)
	// Ensure makes broker n run with the quorum voters and settings given,
	// starting it if it is not running (a crashed broker is restarted on
	// its storage). restarted reports that it started a broker that had
	// run before (it crashed or was stopped behind the control plane's
	// back). It does not wait for the broker to serve.
	Ensure(ctx context.Context, c Cluster, n Node, voters []Node) (restarted bool, err error)
	// Stop shuts broker n down: graceful is a controlled shutdown (then a
	// kill after a timeout), otherwise a kill (its storage is about to be
	// destroyed). Stopping a stopped broker does nothing.
	Stop(ctx context.Context, n Node, graceful bool) error
	// Destroy removes broker n's storage; n is stopped.
	Destroy(ctx context.Context, n Node) error
}
