package cloud

import "context"

// Change is what starting an operation does to its cluster.
type Change struct {
	Status   string
	NumNodes int
	NewNodes []Node
	// Version, when not "", is the cluster's new version.
	Version string
	// StorageSizeMiB, when not 0, is each broker's new disk size.
	StorageSizeMiB uint64
	// BrokerConfig, when not nil, is the cluster's new set of broker
	// configs applied at broker start (Cluster.BrokerConfig).
	BrokerConfig map[string]string
}

// Store keeps the control plane's state: clusters (the desired state),
// their brokers, operations with their next step, events, tokens and the
// audit log. Every method is one transaction, so a crash leaves either the
// whole change or none of it. Implementations are safe for concurrent use.
type Store interface {
	// CreateCluster inserts c with its planned brokers, its create
	// operation, its first users and its trusted sources. A name already
	// in use is a KindConflict *Error.
	CreateCluster(ctx context.Context, c Cluster, nodes []Node, op Operation, users []User, rules []FirewallRule) error
	// Cluster returns one cluster, or errNoRow.
	Cluster(ctx context.Context, id string) (Cluster, error)
	// Clusters lists every cluster, oldest first.
	Clusters(ctx context.Context) ([]Cluster, error)
	// Nodes lists a cluster's brokers (removed ones too) by node id.
	Nodes(ctx context.Context, clusterID string) ([]Node, error)
	// AllNodes lists every broker of every cluster.
	AllNodes(ctx context.Context) ([]Node, error)
	// StartOperation records op against its cluster, sets the cluster's
	// status and broker count and inserts newNodes, all at once; it fails
	// with a KindConflict *Error while another operation of the cluster
	// runs, and a delete with errDeletionProtected while the cluster's
	// deletion protection is set.
	StartOperation(ctx context.Context, op Operation, status string, numNodes int, newNodes []Node) error
	// StartOperationChange is StartOperation with the whole change: it
	// also sets the cluster's version (when not "", clearing a pending
	// upgrade) and storage size (when not 0).
	StartOperationChange(ctx context.Context, op Operation, ch Change) error
	// UpdateOperation stores op's step, state, error, To and progress.
	UpdateOperation(ctx context.Context, op Operation) error
	// SetNodeState changes one broker's state.
	SetNodeState(ctx context.Context, clusterID string, nodeID int32, state string) error
	// FinishOperation marks op done or failed and sets the cluster's
	// status (and broker count, when numNodes > 0) in one transaction.
	FinishOperation(ctx context.Context, op Operation, status string, numNodes int) error
	// DeleteCluster removes a cluster, its brokers, operations, users and
	// firewall rules; its events stay.
	DeleteCluster(ctx context.Context, id string) error
	// Operations lists a cluster's operations, oldest first; with
	// clusterID "" the running operations of every cluster.
	Operations(ctx context.Context, clusterID string) ([]Operation, error)
	// AddEvent appends to a cluster's event log.
	AddEvent(ctx context.Context, clusterID, typ string) error
	// Events lists a cluster's events, oldest first.
	Events(ctx context.Context, clusterID string) ([]Event, error)
	// Users lists a cluster's users (deleting ones too), oldest first.
	Users(ctx context.Context, clusterID string) ([]User, error)
	// CreateUser inserts u; a name in use is a KindConflict *Error, a
	// missing cluster errNoRow.
	CreateUser(ctx context.Context, u User) error
	// UpdateUser stores u's password, ACL and state (errNoRow if none).
	UpdateUser(ctx context.Context, u User) error
	// RemoveUser deletes a user in state deleting (its credentials and
	// ACLs are gone from the cluster).
	RemoveUser(ctx context.Context, clusterID, name string) error
	// FirewallRules lists a cluster's trusted sources.
	FirewallRules(ctx context.Context, clusterID string) ([]FirewallRule, error)
	// SetFirewallRules replaces a cluster's trusted sources.
	SetFirewallRules(ctx context.Context, clusterID string, rules []FirewallRule) error
	// SetDeletionProtection sets or clears a cluster's deletion
	// protection (StartOperation refuses a delete while it is set).
	SetDeletionProtection(ctx context.Context, clusterID string, on bool) error
	// SetMaintenance sets a cluster's maintenance window and the version
	// upgrade pending for it ("" for none); errNoRow if there is no such
	// cluster.
	SetMaintenance(ctx context.Context, clusterID, day, hour, pendingVersion string) error
	// Setting reads an installation-wide setting, or errNoRow.
	Setting(ctx context.Context, name string) (string, error)
	// SetSetting stores a setting; with onlyIfMissing an existing value
	// is kept.
	SetSetting(ctx context.Context, name, value string, onlyIfMissing bool) error
	// CreateToken stores a token (by its hash).
	CreateToken(ctx context.Context, t Token) error
	// TokenByHash finds a token, or errNoRow.
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// TokenCount counts the tokens.
	TokenCount(ctx context.Context) (int, error)
	// Audit records one write request.
	Audit(ctx context.Context, tokenID, method, path string, status int) error
	// AuditLog lists the newest audit records (at most limit), newest
	// first, with their tokens' names.
	AuditLog(ctx context.Context, limit int) ([]AuditRecord, error)
	Close() error
}
