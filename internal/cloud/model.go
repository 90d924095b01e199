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
	// CACert and CAKey are the cluster's own CA (PEM): it signs the
	// brokers' certificates and is what clients trust (GET /ca). Empty
	// for a cluster made before TLS was offered (it runs PLAINTEXT).
	CACert, CAKey string
	// ControlPassword is the control plane's own credential on the
	// cluster (controlUser, a super user over SASL PLAIN), also the
	// brokers' inter-broker credential. Never shown through the API.
	ControlPassword string
	// MaintenanceDay and MaintenanceHour are the weekly maintenance
	// window (DigitalOcean's: a lower-case day and "HH:MM" UTC) in which
	// a pending update is installed; "" is no window.
	MaintenanceDay, MaintenanceHour string
	// PendingVersion is an upgrade waiting for the maintenance window
	// (or install_update); "" for none.
	PendingVersion string
	// Tenant is the tenant of the token that created the cluster; only
	// that tenant's tokens see it (tenant.go).
	Tenant string
	// DeletionProtection refuses a delete of the cluster while it is set
	// (Tributary's; DigitalOcean's API has no such flag).
	DeletionProtection bool
	// BrokerConfig are KafkaConfig values the brokers read only at start
	// (Kafka names, e.g. auto.create.topics.enable): every broker starts
	// with them, and a change is a rolling restart.
	BrokerConfig map[string]string
}

// Secure reports whether the cluster's brokers serve SASL_SSL.
func (c Cluster) Secure() bool { return c.CACert != "" }

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
	// Metrics is the broker's metrics endpoint HOST:PORT: the control
	// plane serves the broker's /metrics there behind basic auth
	// (metrics.go). Empty for a broker planned before it was offered.
	Metrics string
	// MTLS is the broker's SSL listener HOST:PORT, where users connect
	// with their client certificate (secure.go). Empty for a broker
	// planned before it was offered.
	MTLS    string
	Voter   bool // a metadata quorum voter
	State   string
	DataDir string
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

// AuditRecord is one write request in the audit log.
type AuditRecord struct {
	ID        int64
	TokenID   string
	TokenName string // "" when the token is gone
	Method    string
	Path      string
	Status    int
	Time      time.Time
}

// Token is an API bearer token; only its SHA-256 is stored.
type Token struct {
	ID     string
	Name   string
	Hash   string
	Scopes []string // "read", "write"
	// Tenant is whose clusters the token sees and creates ("" is the
	// installation's default tenant, the admin token's).
	Tenant    string
	CreatedAt time.Time
}

// User roles, as DigitalOcean names them: the primary user (doadmin) is
// made with the cluster and cannot be deleted.
const (
	RolePrimary = "primary"
	RoleNormal  = "normal"
)

// User states: a deleted user stays as "deleting" until its credentials
// and ACLs are gone from the cluster.
const (
	UserActive   = "active"
	UserDeleting = "deleting"
)

// User is a cluster's user (a SASL/SCRAM credential and a client
// certificate) with DigitalOcean's simple ACLs.
// The store is the desired state; the reconciler makes the cluster's
// SCRAM credentials and Kafka ACLs match it (users.go).
type User struct {
	ClusterID string
	Name      string
	Role      string
	Password  string
	// AccessCert and AccessKey are the user's client certificate, signed
	// by the cluster's CA, and its private key (PEM): the user's identity
	// on the brokers' mTLS listener. Empty until issued (secure.go).
	AccessCert, AccessKey string
	ACL                   []UserACL
	State                 string
	CreatedAt             time.Time
}

// UserACL is DigitalOcean's Kafka ACL: a topic pattern ("*", a name, or
// a prefix ending in "*") and a permission (consume, produce,
// produceconsume, admin). ID is computed by the service.
type UserACL struct {
	ID         string `json:"id"`
	Topic      string `json:"topic"`
	Permission string `json:"permission"`
}

// FirewallRule is one trusted source of a cluster (DigitalOcean's
// firewall rule): only connections from trusted sources reach its
// brokers' Kafka listeners.
type FirewallRule struct {
	UUID      string
	ClusterID string
	Type      string // "ip_addr" is what this installation offers
	Value     string
	CreatedAt time.Time
}
