package broker

import (
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/security"
)

// authz is the broker's side of authorization: the configured
// security.Authorizer (super.users, allow.everyone.if.no.acl.found), the
// ACLs of the current metadata state, and the audit log of denials. Every
// handler asks it through one hook (allowed) with the operation Kafka
// documents for that API (apiAuthorization lists them; a test checks that
// every served API is listed).
type authz struct {
	z   *security.Authorizer
	log *slog.Logger
	now func() time.Time

	mu   sync.Mutex // guards last
	last map[string]time.Time
}

func newAuthz(z *security.Authorizer, log *slog.Logger, now func() time.Time) *authz {
	if z == nil {
		return nil
	}
	return &authz{z: z, log: log, now: now, last: map[string]time.Time{}}
}

// auditInterval is how often one principal's denial of one operation on
// one resource is logged.
const auditInterval = time.Minute

// principal is the request's KafkaPrincipal (User:name).
func principal(r *Request) string {
	if r.Conn == nil || r.Conn.Principal == "" {
		return security.UserPrincipal(security.Anonymous)
	}
	return security.UserPrincipal(r.Conn.Principal)
}

// host is the client's IP address.
func host(r *Request) string {
	if r.Conn == nil {
		return ""
	}
	h, _, err := net.SplitHostPort(r.Conn.Remote)
	if err != nil {
		return r.Conn.Remote
	}
	return h
}

// allowed is the authorization hook: may r's principal do op on the
// resource? A denial is logged (rate-limited: one line per principal,
// operation and resource per minute).
func (b *Broker) allowed(r *Request, op security.Operation, rt security.ResourceType, name string) bool {
	return b.authorize(r, op, rt, name, true)
}

// probeCluster is allowedCluster without the audit line, for a check
// that has a fallback (CREATE on the cluster, else on the topic), as
// Kafka does not log those either.
func (b *Broker) probeCluster(r *Request, op security.Operation) bool {
	return b.authorize(r, op, security.ResourceCluster, security.ClusterName, false)
}

func (b *Broker) authorize(r *Request, op security.Operation, rt security.ResourceType, name string, audit bool) bool {
	a := b.authz
	if a == nil {
		return true
	}
	q := security.Request{Principal: principal(r), Host: host(r), Operation: op, ResourceType: rt, ResourceName: name}
	d := a.z.Authorize(b.quorum.State().ACLs, q)
	if !d.Allowed && audit {
		a.audit(r, q, d)
	}
	return d.Allowed
}

// allowedCluster is allowed on the cluster resource.
func (b *Broker) allowedCluster(r *Request, op security.Operation) bool {
	return b.allowed(r, op, security.ResourceCluster, security.ClusterName)
}

// allowedAnyTopicWrite is Kafka's check for an idempotent producer's
// InitProducerId: IDEMPOTENT_WRITE on the cluster, or WRITE allowed on
// some topic.
func (b *Broker) allowedIdempotent(r *Request) bool {
	if b.authz == nil {
		return true
	}
	q := security.Request{Principal: principal(r), Host: host(r), Operation: security.OpWrite, ResourceType: security.ResourceTopic}
	if b.authz.z.AnyAllowed(b.quorum.State().ACLs, q) {
		return true
	}
	return b.allowedCluster(r, security.OpIdempotentWrite)
}

func (a *authz) audit(r *Request, q security.Request, d security.Decision) {
	key := q.Principal + "\x00" + q.Operation.String() + "\x00" + q.ResourceType.String() + "\x00" + q.ResourceName
	now := a.now()
	a.mu.Lock()
	if t, ok := a.last[key]; ok && now.Sub(t) < auditInterval {
		a.mu.Unlock()
		return
	}
	if len(a.last) > 4096 {
		clear(a.last)
	}
	a.last[key] = now
	a.mu.Unlock()
	a.log.Info("authorization denied", "principal", q.Principal, "host", q.Host, "operation", q.Operation.String(),
		"resource_type", q.ResourceType.String(), "resource", q.ResourceName, "api", kmsg.NameForKey(r.Key), "reason", d.Reason)
}

// apiAuthorization documents, per served API, what its handler checks
// (Kafka's documented operations). TestEveryAPIAuthorized fails when a
// registered API is missing here, so a new handler must decide.
var apiAuthorization = map[kmsg.Key]string{
	kmsg.Produce:                      "WRITE on each topic (TOPIC_AUTHORIZATION_FAILED per partition); transactional: WRITE on the transactional id",
	kmsg.AddPartitionsToTxn:           "WRITE on the transactional id, WRITE on each topic",
	kmsg.EndTxn:                       "WRITE on the transactional id",
	kmsg.WriteTxnMarkers:              "CLUSTER_ACTION on the cluster (brokers only)",
	kmsg.DescribeProducers:            "READ on each topic (TOPIC_AUTHORIZATION_FAILED per partition)",
	kmsg.DescribeTransactions:         "DESCRIBE on each transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED per id)",
	kmsg.AddOffsetsToTxn:              "WRITE on the transactional id, READ on the group",
	kmsg.TxnOffsetCommit:              "WRITE on the transactional id, READ on the group, READ on each topic",
	kmsg.ListTransactions:             "DESCRIBE on each transactional id listed (others are left out)",
	kmsg.Fetch:                        "consumers: READ on each topic; followers: CLUSTER_ACTION on the cluster",
	kmsg.ListOffsets:                  "DESCRIBE on each topic",
	kmsg.Metadata:                     "DESCRIBE on each topic (unauthorized topics left out of a full listing); CREATE on the cluster or topic to auto-create",
	kmsg.OffsetCommit:                 "READ on the group, READ on each topic",
	kmsg.OffsetFetch:                  "DESCRIBE on the group, DESCRIBE on each topic (unauthorized topics left out of a full fetch)",
	kmsg.FindCoordinator:              "DESCRIBE on the group or transactional id",
	kmsg.JoinGroup:                    "READ on the group",
	kmsg.SyncGroup:                    "READ on the group",
	kmsg.Heartbeat:                    "READ on the group",
	kmsg.LeaveGroup:                   "READ on the group",
	kmsg.DescribeGroups:               "DESCRIBE on each group",
	kmsg.ListGroups:                   "DESCRIBE on the cluster, else only groups with DESCRIBE",
	kmsg.SASLHandshake:                "none (authentication)",
	kmsg.SASLAuthenticate:             "none (authentication)",
	kmsg.ApiVersions:                  "none",
	kmsg.CreateTopics:                 "CREATE on the cluster or the topic",
	kmsg.DeleteTopics:                 "DELETE on each topic",
	kmsg.CreatePartitions:             "ALTER on each topic",
	kmsg.DeleteRecords:                "DELETE on each topic",
	kmsg.InitProducerID:               "with a transactional id: WRITE on it; else IDEMPOTENT_WRITE on the cluster or WRITE on any topic",
	kmsg.OffsetForLeaderEpoch:         "followers: CLUSTER_ACTION on the cluster; consumers: DESCRIBE on each topic",
	kmsg.DescribeConfigs:              "DESCRIBE_CONFIGS on the topic, the group for group resources, or the cluster for broker resources",
	kmsg.AlterConfigs:                 "ALTER_CONFIGS on the topic, the group for group resources, or the cluster for broker resources",
	kmsg.IncrementalAlterConfigs:      "ALTER_CONFIGS on the topic, the group for group resources, or the cluster for broker resources",
	kmsg.DescribeLogDirs:              "DESCRIBE on the cluster",
	kmsg.DeleteGroups:                 "DELETE on each group",
	kmsg.OffsetDelete:                 "DELETE on the group, READ on each topic",
	kmsg.ElectLeaders:                 "ALTER on the cluster",
	kmsg.AlterPartitionAssignments:    "ALTER on the cluster",
	kmsg.ListPartitionReassignments:   "DESCRIBE on the cluster",
	kmsg.DescribeUserSCRAMCredentials: "DESCRIBE on the cluster",
	kmsg.AlterUserSCRAMCredentials:    "ALTER on the cluster",
	kmsg.DescribeQuorum:               "DESCRIBE on the cluster",
	kmsg.DescribeCluster:              "DESCRIBE on the cluster",
	kmsg.ConsumerGroupHeartbeat:       "READ on the group",
	kmsg.ConsumerGroupDescribe:        "DESCRIBE on each group",
	kmsg.DescribeACLs:                 "DESCRIBE on the cluster",
	kmsg.CreateACLs:                   "ALTER on the cluster",
	kmsg.DeleteACLs:                   "ALTER on the cluster",
	kmsg.ShareGroupHeartbeat:          "READ on the group, DESCRIBE on each subscribed topic",
	kmsg.ShareGroupDescribe:           "DESCRIBE on each group",
	kmsg.ShareFetch:                   "READ on the group, READ on each topic (TOPIC_AUTHORIZATION_FAILED per partition)",
	kmsg.ShareAcknowledge:             "READ on the group, READ on each topic (TOPIC_AUTHORIZATION_FAILED per partition)",
	kmsg.InitializeShareGroupState:    "CLUSTER_ACTION on the cluster (brokers only)",
	kmsg.ReadShareGroupState:          "CLUSTER_ACTION on the cluster (brokers only)",
	kmsg.WriteShareGroupState:         "CLUSTER_ACTION on the cluster (brokers only)",
	kmsg.DeleteShareGroupState:        "CLUSTER_ACTION on the cluster (brokers only)",
	kmsg.ReadShareGroupStateSummary:   "CLUSTER_ACTION on the cluster (brokers only)",
	kmsg.DescribeClientQuotas:         "DESCRIBE_CONFIGS on the cluster",
	kmsg.AlterClientQuotas:            "ALTER_CONFIGS on the cluster",
	kmsg.DescribeShareGroupOffsets:    "DESCRIBE on each group",
	kmsg.AlterShareGroupOffsets:       "READ on the group",
	kmsg.DeleteShareGroupOffsets:      "DELETE on the group",
}
