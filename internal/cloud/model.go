package cloud

import "time"

// Cluster statuses, as DigitalOcean names them ("deleting" is Tributary's:
// a delete is asynchronous and the cluster stays visible until it is gone).
const (
	StatusCreating = "creating"
	StatusOnline   = "online"
	StatusResizing = "resizing"
	StatusDeleting = "deleting"
)

// Cluster is one managed Kafka cluster: the desired state the reconciler
// drives the brokers towards.
type Cluster struct {
	ID             string
	Name           string
	Engine         string
	Version        string
	Size           string
	Region         string
	NumNodes       int // the brokers the cluster has (or will have when the running operation completes)
	StorageSizeMiB uint64
	Tags           []string
	Status         string
	CreatedAt      time.Time
}

// Node states.
const (
	NodeActive   = "active"   // runs and holds replicas
	NodeDraining = "draining" // runs; its replicas are being moved off
	NodeRemoved  = "removed"  // stopped for good (kept so the id is not reused)
)

// Node is one broker of a cluster: its identity, addresses and data dir
// are fixed when it is planned, so a restarted control plane finds the
// same broker again.
type Node struct {
	ClusterID  string
	NodeID     int32
	Listen     string // Kafka listener HOST:PORT
	Controller string // metadata quorum listener HOST:PORT
	Admin      string // admin listener (metrics, healthz, readyz) HOST:PORT
	Voter      bool   // a metadata quorum voter
	State      string
	DataDir    string
}

// Operation kinds.
const (
	OpCreate  = "create"
	OpResize  = "resize"
	OpDelete  = "delete"
	OpRestart = "restart" // rolling restart (install_update), or upgrade when Version changes
)

// Operation states.
const (
	OpRunning = "running"
	OpDone    = "done"
	OpFailed  = "failed"
)

// Operation is an asynchronous change of a cluster. Step names the next
// step to run; every step is idempotent, so a control plane that died in
// the middle of one runs it again after a restart.
type Operation struct {
	ID        string
	ClusterID string
	Kind      string
	// From and To are the broker counts of a resize.
	From, To int
	// Done lists the brokers a rolling restart has restarted and seen
	// back in every ISR (comma-separated node ids).
	Done      string
	Step      string
	State     string
	Error     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Event is one line of a cluster's event log (GET /events).
type Event struct {
	ID        int64
	ClusterID string
	Type      string
	Time      time.Time
}

// Token is an API bearer token; only its SHA-256 is stored.
type Token struct {
	ID        string
	Name      string
	Hash      string
	Scopes    []string // "read", "write"
	CreatedAt time.Time
}
