package cloud

// JSON shapes of DigitalOcean's Databases API (engine "kafka"), with
// DigitalOcean's field names so that its clients (godo, doctl) read and
// write them unchanged. Only the fields this service fills are here.

import (
	"net"
	"strconv"
	"time"
)

type apiConnection struct {
	Protocol string `json:"protocol"`
	URI      string `json:"uri,omitempty"`
	Host     string `json:"host,omitempty"`
	Port     int    `json:"port,omitempty"`
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	SSL      bool   `json:"ssl"`
	// ApplicationPorts is DigitalOcean's map of a connection's other
	// ports; Tributary's key: "kafka_mtls", the broker's SSL listener
	// where users connect with their client certificate (access_cert,
	// access_key) instead of SASL.
	ApplicationPorts map[string]uint32 `json:"application_ports,omitempty"`
}

type apiServiceAddress struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

type apiMaintenanceWindow struct {
	Day         string   `json:"day"`
	Hour        string   `json:"hour"`
	Pending     bool     `json:"pending"`
	Description []string `json:"description"`
}

type apiUserSettings struct {
	ACL []UserACL `json:"acl"`
}

type apiUser struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password"`
	// AccessCert and AccessKey are the user's client certificate (signed
	// by the cluster's CA, GET /ca) and private key, PEM, for the mTLS
	// port (application_ports.kafka_mtls).
	AccessCert string           `json:"access_cert,omitempty"`
	AccessKey  string           `json:"access_key,omitempty"`
	Settings   *apiUserSettings `json:"settings,omitempty"`
}

type apiFirewallRule struct {
	UUID        string    `json:"uuid"`
	ClusterUUID string    `json:"cluster_uuid"`
	Type        string    `json:"type"`
	Value       string    `json:"value"`
	CreatedAt   time.Time `json:"created_at"`
}

type apiDatabase struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Engine     string         `json:"engine"`
	Version    string         `json:"version"`
	Connection *apiConnection `json:"connection,omitempty"`
	// PrivateConnection is the same as Connection: the local provisioner
	// has one network.
	PrivateConnection *apiConnection        `json:"private_connection,omitempty"`
	Users             []apiUser             `json:"users,omitempty"`
	MaintenanceWindow *apiMaintenanceWindow `json:"maintenance_window,omitempty"`
	NumNodes          int                   `json:"num_nodes"`
	Size              string                `json:"size"`
	Region            string                `json:"region"`
	Status            string                `json:"status"`
	CreatedAt         time.Time             `json:"created_at"`
	Tags              []string              `json:"tags"`
	StorageSizeMiB    uint64                `json:"storage_size_mib"`
	// MetricsEndpoints serve each broker's Prometheus /metrics behind
	// the basic-auth credentials of /v2/databases/metrics/credentials.
	MetricsEndpoints []apiServiceAddress `json:"metrics_endpoints,omitempty"`
	// Tributary's addition beside DigitalOcean's fields: every broker's
	// bootstrap address.
	BootstrapServers []string `json:"bootstrap_servers,omitempty"`
	// DeletionProtection (Tributary's): a delete is refused while set.
	DeletionProtection bool `json:"deletion_protection"`
}

type apiCreateRequest struct {
	Name               string            `json:"name"`
	Engine             string            `json:"engine"`
	Version            string            `json:"version"`
	Size               string            `json:"size"`
	Region             string            `json:"region"`
	NumNodes           int               `json:"num_nodes"`
	Tags               []string          `json:"tags"`
	StorageSizeMiB     uint64            `json:"storage_size_mib"`
	PrivateNetworkUUID string            `json:"private_network_uuid"`
	ProjectID          string            `json:"project_id"`
	Rules              []apiFirewallRule `json:"rules"`
	BackupRestore      any               `json:"backup_restore"`
	StorageAutoscale   *apiAutoscale     `json:"storage_autoscale"`
	DeletionProtection bool              `json:"deletion_protection"`
}

type apiAutoscale struct {
	Enabled bool `json:"enabled"`
}

type apiResizeRequest struct {
	Size           string `json:"size"`
	NumNodes       int    `json:"num_nodes"`
	StorageSizeMiB uint64 `json:"storage_size_mib"`
}

type apiEvent struct {
	ID          string `json:"id"`
	ClusterName string `json:"cluster_name"`
	EventType   string `json:"event_type"`
	CreateTime  string `json:"create_time"`
}

type apiLayout struct {
	NumNodes int      `json:"num_nodes"`
	Sizes    []string `json:"sizes"`
}

type apiEngineOptions struct {
	Regions  []string    `json:"regions"`
	Versions []string    `json:"versions"`
	Layouts  []apiLayout `json:"layouts"`
}

type apiOperation struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	FromNodes int       `json:"from_nodes,omitempty"`
	ToNodes   int       `json:"to_nodes,omitempty"`
	Step      string    `json:"step"`
	State     string    `json:"state"`
	Error     string    `json:"error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type apiTopicPartition struct {
	ID             uint32                  `json:"id"`
	Size           uint64                  `json:"size"`
	InSyncReplicas uint32                  `json:"in_sync_replicas"`
	EarliestOffset uint64                  `json:"earliest_offset"`
	ConsumerGroups []apiTopicConsumerGroup `json:"consumer_groups"`
}

type apiTopicConsumerGroup struct {
	Name   string `json:"name"`
	Offset uint64 `json:"offset"`
}

type apiTopic struct {
	Name              string              `json:"name"`
	Partitions        []apiTopicPartition `json:"partitions,omitempty"`
	ReplicationFactor uint32              `json:"replication_factor"`
	State             string              `json:"state"`
	Config            map[string]any      `json:"config,omitempty"`
}

func toAPIUser(u User) apiUser {
	a := apiUser{Name: u.Name, Role: u.Role, Password: u.Password, AccessCert: u.AccessCert, AccessKey: u.AccessKey}
	if u.Role != RolePrimary {
		a.Settings = &apiUserSettings{ACL: u.ACL}
		if a.Settings.ACL == nil {
			a.Settings.ACL = []UserACL{}
		}
	}
	return a
}

func toAPIFirewallRule(r FirewallRule) apiFirewallRule {
	return apiFirewallRule{UUID: r.UUID, ClusterUUID: r.ClusterID, Type: r.Type, Value: r.Value, CreatedAt: r.CreatedAt.UTC()}
}

func toAPI(c Cluster, nodes []Node, users []User) apiDatabase {
	d := apiDatabase{ID: c.ID, Name: c.Name, Engine: c.Engine, Version: c.Version, NumNodes: c.NumNodes,
		Size: c.Size, Region: c.Region, Status: c.Status, CreatedAt: c.CreatedAt, Tags: c.Tags,
		StorageSizeMiB: c.StorageSizeMiB, DeletionProtection: c.DeletionProtection}
	if d.Tags == nil {
		d.Tags = []string{}
	}
	for _, n := range nodes {
		if n.State == NodeActive {
			d.BootstrapServers = append(d.BootstrapServers, n.Listen)
			if host, port, err := net.SplitHostPort(n.Metrics); err == nil {
				p, _ := strconv.Atoi(port)
				d.MetricsEndpoints = append(d.MetricsEndpoints, apiServiceAddress{Host: host, Port: p})
			}
		}
	}
	for _, u := range users {
		if u.State == UserActive {
			d.Users = append(d.Users, toAPIUser(u))
		}
	}
	if c.MaintenanceDay != "" {
		d.MaintenanceWindow = &apiMaintenanceWindow{Day: c.MaintenanceDay, Hour: c.MaintenanceHour,
			Pending: c.PendingVersion != "", Description: maintenanceDescription(c)}
		if d.MaintenanceWindow.Description == nil {
			d.MaintenanceWindow.Description = []string{}
		}
	}
	if len(d.BootstrapServers) > 0 {
		host, port, _ := net.SplitHostPort(d.BootstrapServers[0])
		p, _ := strconv.Atoi(port)
		conn := apiConnection{Protocol: "kafka", Host: host, Port: p, URI: "kafka://" + d.BootstrapServers[0], SSL: c.Secure()}
		for _, n := range nodes {
			if n.State == NodeActive && n.Listen == d.BootstrapServers[0] && n.MTLS != "" && c.Secure() {
				_, mport, _ := net.SplitHostPort(n.MTLS)
				mp, _ := strconv.Atoi(mport)
				conn.ApplicationPorts = map[string]uint32{"kafka_mtls": uint32(mp)}
			}
		}
		for _, u := range users {
			if u.Role == RolePrimary {
				conn.User, conn.Password = u.Name, u.Password
			}
		}
		priv := conn
		d.Connection, d.PrivateConnection = &conn, &priv
	}
	return d
}

func toAPIOperation(op Operation) apiOperation {
	return apiOperation{ID: op.ID, Kind: op.Kind, FromNodes: op.From, ToNodes: op.To, Step: op.Step,
		State: op.State, Error: op.Error, CreatedAt: op.CreatedAt, UpdatedAt: op.UpdatedAt}
}

// apiNode is Tributary's view of one broker (GET /nodes).
type apiNode struct {
	NodeID int32  `json:"node_id"`
	Host   string `json:"host"`
	Port   int    `json:"port"`
	State  string `json:"state"`
	Voter  bool   `json:"voter"`
	// StorageTotalBytes and StorageFreeBytes are the broker's disk
	// budget (storage_size_mib) and what is left of it; -1 when unknown.
	StorageTotalBytes int64  `json:"storage_total_bytes"`
	StorageFreeBytes  int64  `json:"storage_free_bytes"`
	StorageFull       bool   `json:"storage_full"`
	Error             string `json:"error,omitempty"`
}

func toAPINode(n NodeStatus) apiNode {
	host, port, _ := net.SplitHostPort(n.Listen)
	p, _ := strconv.Atoi(port)
	return apiNode{NodeID: n.NodeID, Host: host, Port: p, State: n.State, Voter: n.Voter, StorageTotalBytes: n.TotalBytes,
		StorageFreeBytes: n.FreeBytes, StorageFull: n.Full, Error: n.Err}
}
