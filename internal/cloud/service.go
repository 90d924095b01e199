// Package cloud is the managed service's control plane: a service core
// (this file: validated requests that become recorded operations), the
// reconciler that drives each cluster's brokers towards the stored desired
// state (reconcile.go), the store (store.go), the provisioners that run
// brokers (provisioner.go, local.go) and a thin HTTP layer speaking
// DigitalOcean's Databases API for engine "kafka" (http.go).
//
// It talks to the clusters it runs only as a Kafka client (franz-go kadm)
// and over the brokers' admin listeners (/readyz), never through the
// broker's internals.
package cloud

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Engine is the only engine this service offers.
const Engine = "kafka"

// Catalog is what this installation offers (GET /v2/databases/options);
// the first version is the default of a new cluster.
type Catalog struct {
	Regions  []string
	Versions []string
	Sizes    []string
	MinNodes int
	MaxNodes int
	// MaxVoters is the size of each cluster's metadata quorum: the first
	// min(MaxVoters, num_nodes) brokers of a new cluster are voters.
	MaxVoters int
}

// DefaultCatalog is the local provisioner's offer.
func DefaultCatalog() Catalog {
	return Catalog{Regions: []string{"local"}, Versions: []string{"3.9"}, Sizes: []string{"local"},
		MinNodes: 1, MaxNodes: 9, MaxVoters: 3}
}

// Config configures a Service.
type Config struct {
	Store       Store
	Provisioner Provisioner
	Catalog     Catalog
	Logger      *slog.Logger
	// ClientOpts are added to every Kafka client the service makes.
	ClientOpts []kgo.Opt
	// Poll is how often the reconciler looks at each cluster (default 500ms).
	Poll time.Duration
	// Now is the clock maintenance windows are read with (default time.Now).
	Now func() time.Time
	// RollTimeout is how long a rolling restart waits for a restarted
	// broker to be back (ready and in every ISR) before the roll stops
	// and its operation fails (default 5 minutes).
	RollTimeout time.Duration
	// ReassignThrottle, if > 0, bounds a resize's replica copies (bytes/s
	// each leader sends to new replicas, KIP-73): the rebalance sets
	// leader.replication.throttled.rate as the cluster default and
	// leader.replication.throttled.replicas=* on the moved topics, and
	// clears both once the moves are done (throttle.go).
	ReassignThrottle int64
}

// Service is the control plane's core. Its methods validate a request
// against the catalog and the store and record the change; the reconciler
// (Run) carries it out.
type Service struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex // guards clients and synced
	clients map[string]*clusterClient
	// synced holds the clusters whose users and ACLs are known to match
	// the store (users.go); empty after a start.
	synced map[string]bool
	// syncMu serialises syncUsers; lock order: syncMu before mu.
	syncMu sync.Mutex
	// metrics runs the brokers' metrics endpoints (metrics.go).
	metrics *metricsEndpoints
	// rollWaits is when this control plane started waiting for each
	// rolled broker ("<operation>/<node>"), for RollTimeout; guarded by
	// mu. A restarted control plane waits a whole RollTimeout again.
	rollWaits map[string]time.Time
	// diskChecked is when each cluster's brokers were last asked about
	// their disks, diskFull what each broker ("<cluster>/<node>") said
	// (storage.go); guarded by mu.
	diskChecked map[string]time.Time
	diskFull    map[string]bool
}

// clusterClient is a cached Kafka client for one cluster, valid for one
// set of bootstrap addresses.
type clusterClient struct {
	key string
	cl  *kgo.Client
	adm *kadm.Client
}

// New returns a service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.Catalog.MaxNodes == 0 {
		cfg.Catalog = DefaultCatalog()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RollTimeout <= 0 {
		cfg.RollTimeout = 5 * time.Minute
	}
	s := &Service{cfg: cfg, log: cfg.Logger, clients: map[string]*clusterClient{}, synced: map[string]bool{}, rollWaits: map[string]time.Time{},
		diskChecked: map[string]time.Time{}, diskFull: map[string]bool{}}
	s.metrics = &metricsEndpoints{s: s, servers: map[string]*metricsServer{}, lastErr: map[string]string{}}
	return s
}

func (s *Service) now() time.Time { return s.cfg.Now() }

// Catalog returns the offer.
func (s *Service) Catalog() Catalog { return s.cfg.Catalog }

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// CreateRequest is a new cluster's shape (DigitalOcean's
// DatabaseCreateRequest fields this service reads).
type CreateRequest struct {
	Name           string
	Engine         string
	Version        string
	Size           string
	Region         string
	NumNodes       int
	StorageSizeMiB uint64
	Tags           []string
	// Rules are the trusted sources (DigitalOcean's create-time firewall
	// rules).
	Rules []FirewallRule
	// DeletionProtection refuses deletes until it is turned off.
	DeletionProtection bool
}

var clusterName = regexp.MustCompile(`^[a-z][a-z0-9-]{1,62}[a-z0-9]$`)

// tagName is DigitalOcean's tag rule.
var tagName = regexp.MustCompile(`^[a-zA-Z0-9_\-:]{1,255}$`)

// minStorageMiB is the smallest disk a broker may be given.
const minStorageMiB = 1024

func (s *Service) checkShape(size, region string, numNodes int) error {
	cat := s.cfg.Catalog
	if !slices.Contains(cat.Sizes, size) {
		return errorf(KindInvalid, "invalid size %q: this installation offers %v", size, cat.Sizes)
	}
	if region != "" && !slices.Contains(cat.Regions, region) {
		return errorf(KindInvalid, "invalid region %q: this installation offers %v", region, cat.Regions)
	}
	if numNodes < cat.MinNodes || numNodes > cat.MaxNodes {
		return errorf(KindInvalid, "num_nodes %d is out of range: a kafka cluster has %d to %d nodes", numNodes, cat.MinNodes, cat.MaxNodes)
	}
	return nil
}

// CreateCluster validates r, plans the brokers and records the cluster
// with its create operation; the reconciler starts the brokers.
func (s *Service) CreateCluster(ctx context.Context, r CreateRequest) (Cluster, error) {
	cat := s.cfg.Catalog
	if r.Engine != Engine {
		return Cluster{}, errorf(KindInvalid, "invalid engine %q: this installation offers %q", r.Engine, Engine)
	}
	if !clusterName.MatchString(r.Name) {
		return Cluster{}, errorf(KindInvalid, "invalid name %q: 3 to 64 lower-case letters, digits and dashes, starting with a letter and not ending with a dash", r.Name)
	}
	if r.Version == "" {
		r.Version = cat.Versions[0]
	}
	if !slices.Contains(cat.Versions, r.Version) {
		return Cluster{}, errorf(KindInvalid, "invalid version %q: this installation offers %v", r.Version, cat.Versions)
	}
	if r.Region == "" {
		r.Region = cat.Regions[0]
	}
	if err := s.checkShape(r.Size, r.Region, r.NumNodes); err != nil {
		return Cluster{}, err
	}
	if r.StorageSizeMiB == 0 {
		r.StorageSizeMiB = 10 * 1024
	}
	if r.StorageSizeMiB < minStorageMiB {
		return Cluster{}, errorf(KindInvalid, "storage_size_mib %d is below the minimum of %d", r.StorageSizeMiB, minStorageMiB)
	}
	for _, t := range r.Tags {
		if !tagName.MatchString(t) {
			return Cluster{}, errorf(KindInvalid, "invalid tag %q: 1 to 255 letters, digits, '_', '-' and ':'", t)
		}
	}
	c := Cluster{ID: newID(), Name: r.Name, Engine: Engine, Version: r.Version, Size: r.Size, Region: r.Region,
		NumNodes: r.NumNodes, StorageSizeMiB: r.StorageSizeMiB, Tags: r.Tags, Status: StatusCreating,
		CreatedAt: time.Now().UTC().Truncate(time.Second), DeletionProtection: r.DeletionProtection}
	c.Tenant, _ = tenantOf(ctx)
	taken, err := s.cfg.Store.AllNodes(ctx)
	if err != nil {
		return Cluster{}, err
	}
	var ids []int32
	for i := 1; i <= r.NumNodes; i++ {
		ids = append(ids, int32(i))
	}
	nodes, err := s.cfg.Provisioner.Plan(ctx, c, ids, taken)
	if err != nil {
		return Cluster{}, err
	}
	for i := range nodes {
		nodes[i].Voter = i < cat.MaxVoters
	}
	if err := newClusterSecrets(&c); err != nil {
		return Cluster{}, err
	}
	admin := User{ClusterID: c.ID, Name: primaryUser, Role: RolePrimary, Password: newPassword(), State: UserActive}
	if err := issueUserCert(c, &admin); err != nil {
		return Cluster{}, err
	}
	op := Operation{ID: newID(), ClusterID: c.ID, Kind: OpCreate, To: r.NumNodes, Step: stepStart, State: OpRunning}
	rules, err := checkFirewallRules(c.ID, r.Rules)
	if err != nil {
		return Cluster{}, err
	}
	if err := s.cfg.Store.CreateCluster(ctx, c, nodes, op, []User{admin}, rules); err != nil {
		return Cluster{}, err
	}
	s.cfg.Store.AddEvent(ctx, c.ID, "cluster_create")
	s.log.Info("cluster create requested", "cluster", c.ID, "name", c.Name, "num_nodes", c.NumNodes)
	return c, nil
}

// Cluster returns one cluster (a KindNotFound *Error when there is none).
func (s *Service) Cluster(ctx context.Context, id string) (Cluster, error) {
	c, err := s.cfg.Store.Cluster(ctx, id)
	if errors.Is(err, errNoRow) || (err == nil && !visible(ctx, c)) {
		// Another tenant's cluster is answered as an unknown one.
		return Cluster{}, errorf(KindNotFound, "The resource you were accessing could not be found.")
	}
	return c, err
}

// Clusters lists the clusters (the requesting tenant's).
func (s *Service) Clusters(ctx context.Context) ([]Cluster, error) {
	cs, err := s.cfg.Store.Clusters(ctx)
	return slices.DeleteFunc(cs, func(c Cluster) bool { return !visible(ctx, c) }), err
}

// Nodes lists a cluster's brokers that run or will run.
func (s *Service) Nodes(ctx context.Context, id string) ([]Node, error) {
	all, err := s.cfg.Store.Nodes(ctx, id)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(n Node) bool { return n.State == NodeRemoved }), nil
}

// Events lists a cluster's events.
func (s *Service) Events(ctx context.Context, id string) ([]Event, error) {
	if _, err := s.Cluster(ctx, id); err != nil {
		return nil, err
	}
	return s.cfg.Store.Events(ctx, id)
}

// Operations lists a cluster's operations.
func (s *Service) Operations(ctx context.Context, id string) ([]Operation, error) {
	if _, err := s.Cluster(ctx, id); err != nil {
		return nil, err
	}
	return s.cfg.Store.Operations(ctx, id)
}

// ResizeRequest changes a cluster's shape; zero fields keep theirs.
type ResizeRequest struct {
	Size           string
	NumNodes       int
	StorageSizeMiB uint64
}

// ResizeCluster validates r and records a resize operation: scale out
// starts the new brokers and moves replicas onto them; scale in moves
// replicas off the brokers that go, then stops them. A scale in that
// would leave fewer brokers than a topic's replication factor, or than
// the metadata quorum's voters, is refused.
func (s *Service) ResizeCluster(ctx context.Context, id string, r ResizeRequest) (Operation, error) {
	c, err := s.Cluster(ctx, id)
	if err != nil {
		return Operation{}, err
	}
	if r.Size == "" {
		r.Size = c.Size
	}
	if r.NumNodes == 0 {
		r.NumNodes = c.NumNodes
	}
	if err := s.checkShape(r.Size, c.Region, r.NumNodes); err != nil {
		return Operation{}, err
	}
	if r.Size != c.Size {
		return Operation{}, errorf(KindInvalid, "changing the size of a cluster's brokers is not offered by this installation (it has one size, %q)", c.Size)
	}
	if c.Status != StatusOnline {
		return Operation{}, errorf(KindConflict, "the database cluster is %s; a resize needs it online", c.Status)
	}
	if r.StorageSizeMiB != 0 && r.StorageSizeMiB != c.StorageSizeMiB {
		if r.NumNodes != c.NumNodes {
			return Operation{}, errorf(KindInvalid, "change num_nodes and storage_size_mib in two resizes, one after the other")
		}
		return s.resizeStorage(ctx, c, r.StorageSizeMiB)
	}
	if r.NumNodes == c.NumNodes {
		return Operation{}, errorf(KindInvalid, "the cluster already has %d nodes", c.NumNodes)
	}
	all, err := s.cfg.Store.Nodes(ctx, id)
	if err != nil {
		return Operation{}, err
	}
	var newNodes []Node
	if r.NumNodes < c.NumNodes {
		voters := 0
		for _, n := range all {
			if n.Voter {
				voters++
			}
		}
		if r.NumNodes < voters {
			return Operation{}, errorf(KindInvalid, "cannot resize to %d nodes: the cluster's metadata quorum has %d voters", r.NumNodes, voters)
		}
		if err := s.checkReplicationFits(ctx, c, r.NumNodes); err != nil {
			return Operation{}, err
		}
	} else {
		maxID := int32(0)
		for _, n := range all {
			maxID = max(maxID, n.NodeID)
		}
		var ids []int32
		for i := 0; i < r.NumNodes-c.NumNodes; i++ {
			ids = append(ids, maxID+1+int32(i))
		}
		taken, err := s.cfg.Store.AllNodes(ctx)
		if err != nil {
			return Operation{}, err
		}
		if newNodes, err = s.cfg.Provisioner.Plan(ctx, c, ids, taken); err != nil {
			return Operation{}, err
		}
		// A cluster planned before the mTLS listener was offered gets none
		// on its new brokers either: a listener on some brokers only would
		// hide the others from its clients' metadata.
		if slices.ContainsFunc(all, func(n Node) bool { return n.State == NodeActive && n.MTLS == "" }) {
			for i := range newNodes {
				newNodes[i].MTLS = ""
			}
		}
	}
	op := Operation{ID: newID(), ClusterID: id, Kind: OpResize, From: c.NumNodes, To: r.NumNodes, Step: stepStart, State: OpRunning}
	if err := s.cfg.Store.StartOperation(ctx, op, StatusResizing, r.NumNodes, newNodes); err != nil {
		return Operation{}, err
	}
	s.cfg.Store.AddEvent(ctx, id, "cluster_resize")
	s.log.Info("cluster resize requested", "cluster", id, "from", c.NumNodes, "to", r.NumNodes)
	return op, nil
}

// checkReplicationFits refuses a broker count below any topic's
// replication factor.
func (s *Service) checkReplicationFits(ctx context.Context, c Cluster, n int) error {
	adm, err := s.admin(ctx, c.ID)
	if err != nil {
		return err
	}
	tds, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		return errorf(KindUnavailable, "cannot read the cluster's topics: %v", err)
	}
	for _, td := range tds.Sorted() {
		if td.Err != nil {
			return errorf(KindUnavailable, "cannot read topic %s: %v", td.Topic, td.Err)
		}
		if rf := td.Partitions.NumReplicas(); rf > n {
			return errorf(KindInvalid, "cannot resize to %d nodes: topic %q has replication factor %d", n, td.Topic, rf)
		}
	}
	return nil
}

// DeleteCluster records a delete operation: the reconciler stops the
// brokers, removes their storage and then the cluster.
func (s *Service) DeleteCluster(ctx context.Context, id string) error {
	c, err := s.Cluster(ctx, id)
	if err != nil {
		return err
	}
	if c.Status == StatusDeleting {
		return nil
	}
	if c.DeletionProtection {
		return errDeletionProtected
	}
	op := Operation{ID: newID(), ClusterID: id, Kind: OpDelete, From: c.NumNodes, Step: stepStart, State: OpRunning}
	if err := s.cfg.Store.StartOperation(ctx, op, StatusDeleting, c.NumNodes, nil); err != nil {
		return err
	}
	s.cfg.Store.AddEvent(ctx, id, "cluster_delete")
	s.log.Info("cluster delete requested", "cluster", id)
	return nil
}

// SetDeletionProtection turns a cluster's deletion protection on or off.
func (s *Service) SetDeletionProtection(ctx context.Context, id string, on bool) error {
	if _, err := s.Cluster(ctx, id); err != nil {
		return err
	}
	if err := s.cfg.Store.SetDeletionProtection(ctx, id, on); err != nil {
		if errors.Is(err, errNoRow) {
			return errorf(KindNotFound, "The resource you were accessing could not be found.")
		}
		return err
	}
	ev := "deletion_protection_off"
	if on {
		ev = "deletion_protection_on"
	}
	s.cfg.Store.AddEvent(ctx, id, ev)
	return nil
}

// admin returns a Kafka admin client for a cluster's running brokers.
func (s *Service) admin(ctx context.Context, id string) (*kadm.Client, error) {
	cc, err := s.client(ctx, id)
	if err != nil {
		return nil, err
	}
	return cc.adm, nil
}

// client returns the cached Kafka client for a cluster's running
// brokers (as controlUser on a secure cluster), making one when the
// brokers changed.
func (s *Service) client(ctx context.Context, id string) (*clusterClient, error) {
	c, err := s.Cluster(ctx, id)
	if err != nil {
		return nil, err
	}
	nodes, err := s.Nodes(ctx, id)
	if err != nil {
		return nil, err
	}
	var seeds []string
	for _, n := range nodes {
		seeds = append(seeds, n.Listen)
	}
	if len(seeds) == 0 {
		return nil, errorf(KindUnavailable, "the cluster has no brokers")
	}
	key := fmt.Sprint(seeds)
	s.mu.Lock()
	defer s.mu.Unlock()
	if cc, ok := s.clients[id]; ok {
		if cc.key == key {
			return cc, nil
		}
		cc.cl.Close()
		delete(s.clients, id)
	}
	sec, err := controlClientOpts(c)
	if err != nil {
		return nil, err
	}
	opts := append(append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ClientID("trib-cloud"),
		kgo.RetryTimeout(10 * time.Second)}, sec...), s.cfg.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	cc := &clusterClient{key: key, cl: cl, adm: kadm.NewClient(cl)}
	s.clients[id] = cc
	return cc, nil
}

func (s *Service) dropClient(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cc, ok := s.clients[id]; ok {
		cc.cl.Close()
		delete(s.clients, id)
	}
}

// Close releases the Kafka clients and closes the metrics endpoints.
func (s *Service) Close() {
	s.metrics.closeAll()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, cc := range s.clients {
		cc.cl.Close()
		delete(s.clients, id)
	}
}
