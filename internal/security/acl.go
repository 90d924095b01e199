package security

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Kafka's ACL enums, with their wire codes (CreateAcls, DescribeAcls,
// DeleteAcls).
type (
	ResourceType int8
	PatternType  int8
	Operation    int8
	Permission   int8
)

const (
	ResourceAny             ResourceType = 1
	ResourceTopic           ResourceType = 2
	ResourceGroup           ResourceType = 3
	ResourceCluster         ResourceType = 4
	ResourceTransactionalID ResourceType = 5

	PatternAny      PatternType = 1
	PatternMatch    PatternType = 2
	PatternLiteral  PatternType = 3
	PatternPrefixed PatternType = 4

	OpAny             Operation = 1
	OpAll             Operation = 2
	OpRead            Operation = 3
	OpWrite           Operation = 4
	OpCreate          Operation = 5
	OpDelete          Operation = 6
	OpAlter           Operation = 7
	OpDescribe        Operation = 8
	OpClusterAction   Operation = 9
	OpDescribeConfigs Operation = 10
	OpAlterConfigs    Operation = 11
	OpIdempotentWrite Operation = 12

	PermissionAny   Permission = 1
	PermissionDeny  Permission = 2
	PermissionAllow Permission = 3
)

// ClusterName is the one cluster resource's name.
const ClusterName = "kafka-cluster"

// Wildcard is the resource name and host that match every name and host,
// and (as User:*) every principal.
const Wildcard = "*"

var (
	resourceNames   = map[ResourceType]string{ResourceAny: "ANY", ResourceTopic: "TOPIC", ResourceGroup: "GROUP", ResourceCluster: "CLUSTER", ResourceTransactionalID: "TRANSACTIONAL_ID"}
	patternNames    = map[PatternType]string{PatternAny: "ANY", PatternMatch: "MATCH", PatternLiteral: "LITERAL", PatternPrefixed: "PREFIXED"}
	operationNames  = map[Operation]string{OpAny: "ANY", OpAll: "ALL", OpRead: "READ", OpWrite: "WRITE", OpCreate: "CREATE", OpDelete: "DELETE", OpAlter: "ALTER", OpDescribe: "DESCRIBE", OpClusterAction: "CLUSTER_ACTION", OpDescribeConfigs: "DESCRIBE_CONFIGS", OpAlterConfigs: "ALTER_CONFIGS", OpIdempotentWrite: "IDEMPOTENT_WRITE"}
	permissionNames = map[Permission]string{PermissionAny: "ANY", PermissionDeny: "DENY", PermissionAllow: "ALLOW"}
)

func (r ResourceType) String() string { return enumName(resourceNames, r) }
func (p PatternType) String() string  { return enumName(patternNames, p) }
func (o Operation) String() string    { return enumName(operationNames, o) }
func (p Permission) String() string   { return enumName(permissionNames, p) }

func enumName[K ~int8](m map[K]string, k K) string {
	if n, ok := m[k]; ok {
		return n
	}
	return fmt.Sprintf("UNKNOWN(%d)", int8(k))
}

// ParseOperation parses an operation name (READ, Read, IdempotentWrite,
// IDEMPOTENT_WRITE...).
func ParseOperation(s string) (Operation, bool) { return parseEnum(operationNames, s) }

// ParseResourceType parses a resource type name.
func ParseResourceType(s string) (ResourceType, bool) { return parseEnum(resourceNames, s) }

// ParsePatternType parses a pattern type name.
func ParsePatternType(s string) (PatternType, bool) { return parseEnum(patternNames, s) }

// ParsePermission parses a permission name.
func ParsePermission(s string) (Permission, bool) { return parseEnum(permissionNames, s) }

func parseEnum[K ~int8](m map[K]string, s string) (K, bool) {
	norm := strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
	for k, n := range m {
		if n == norm || strings.ReplaceAll(n, "_", "") == norm {
			return k, true
		}
	}
	var zero K
	return zero, false
}

// ACL is one access control entry bound to a resource pattern.
type ACL struct {
	ResourceType ResourceType `json:"resource_type"`
	ResourceName string       `json:"resource_name"`
	PatternType  PatternType  `json:"pattern_type"`
	Principal    string       `json:"principal"` // User:name or User:*
	Host         string       `json:"host"`      // an IP or *
	Operation    Operation    `json:"operation"`
	Permission   Permission   `json:"permission"`
}

func (a ACL) String() string {
	return fmt.Sprintf("(principal=%s, host=%s, operation=%s, permission=%s) on %s:%s:%s", a.Principal, a.Host, a.Operation, a.Permission,
		a.ResourceType, a.PatternType, a.ResourceName)
}

// ErrInvalidACL marks an ACL or filter a request may not carry.
var ErrInvalidACL = errors.New("invalid ACL")

// Validate checks an ACL to create, as Kafka does: concrete resource
// type, pattern, operation and permission; a name; a principal of the
// form Type:name; the cluster resource named kafka-cluster.
func (a ACL) Validate() error {
	switch {
	case a.ResourceType < ResourceTopic || a.ResourceType > ResourceTransactionalID:
		return fmt.Errorf("%w: resource type %s cannot be used in an ACL", ErrInvalidACL, a.ResourceType)
	case a.PatternType != PatternLiteral && a.PatternType != PatternPrefixed:
		return fmt.Errorf("%w: pattern type %s cannot be used in an ACL (LITERAL or PREFIXED)", ErrInvalidACL, a.PatternType)
	case a.Operation < OpAll || a.Operation > OpIdempotentWrite:
		return fmt.Errorf("%w: operation %s cannot be used in an ACL", ErrInvalidACL, a.Operation)
	case a.Permission != PermissionAllow && a.Permission != PermissionDeny:
		return fmt.Errorf("%w: permission %s cannot be used in an ACL", ErrInvalidACL, a.Permission)
	case a.ResourceName == "":
		return fmt.Errorf("%w: empty resource name", ErrInvalidACL)
	case a.ResourceType == ResourceCluster && a.ResourceName != ClusterName:
		return fmt.Errorf("%w: the cluster resource is named %s", ErrInvalidACL, ClusterName)
	case a.PatternType == PatternPrefixed && a.ResourceName == Wildcard:
		return fmt.Errorf("%w: a PREFIXED pattern cannot be the wildcard %q", ErrInvalidACL, Wildcard)
	case a.Host == "":
		return fmt.Errorf("%w: empty host (use * for any)", ErrInvalidACL)
	}
	typ, name, ok := strings.Cut(a.Principal, ":")
	if !ok || typ == "" || name == "" {
		return fmt.Errorf("%w: principal %q is not Type:name (User:alice, User:*)", ErrInvalidACL, a.Principal)
	}
	return nil
}

// Filter selects ACLs (DescribeAcls, DeleteAcls): ANY and nil fields
// match everything; PatternMatch matches every pattern that applies to
// the name (literal equal, the literal wildcard, prefixes of it).
type Filter struct {
	ResourceType ResourceType
	ResourceName *string
	PatternType  PatternType
	Principal    *string
	Host         *string
	Operation    Operation
	Permission   Permission
}

// Validate refuses filters with enum values outside Kafka's.
func (f Filter) Validate() error {
	switch {
	case f.ResourceType < ResourceAny || f.ResourceType > ResourceTransactionalID:
		return fmt.Errorf("%w: resource type %d", ErrInvalidACL, f.ResourceType)
	case f.PatternType < PatternAny || f.PatternType > PatternPrefixed:
		return fmt.Errorf("%w: pattern type %d", ErrInvalidACL, f.PatternType)
	case f.Operation < OpAny || f.Operation > OpIdempotentWrite:
		return fmt.Errorf("%w: operation %d", ErrInvalidACL, f.Operation)
	case f.Permission < PermissionAny || f.Permission > PermissionAllow:
		return fmt.Errorf("%w: permission %d", ErrInvalidACL, f.Permission)
	}
	return nil
}

// Matches reports whether f selects a.
func (f Filter) Matches(a ACL) bool {
	if f.ResourceType != ResourceAny && f.ResourceType != a.ResourceType {
		return false
	}
	if f.Operation != OpAny && f.Operation != a.Operation {
		return false
	}
	if f.Permission != PermissionAny && f.Permission != a.Permission {
		return false
	}
	if f.Principal != nil && *f.Principal != a.Principal {
		return false
	}
	if f.Host != nil && *f.Host != a.Host {
		return false
	}
	switch f.PatternType {
	case PatternAny:
		return f.ResourceName == nil || *f.ResourceName == a.ResourceName
	case PatternLiteral, PatternPrefixed:
		return f.PatternType == a.PatternType && (f.ResourceName == nil || *f.ResourceName == a.ResourceName)
	case PatternMatch:
		if f.ResourceName == nil {
			return true
		}
		return patternApplies(a, *f.ResourceName)
	}
	return false
}

// patternApplies reports whether a's resource pattern covers name.
func patternApplies(a ACL, name string) bool {
	switch a.PatternType {
	case PatternLiteral:
		return a.ResourceName == name || a.ResourceName == Wildcard
	case PatternPrefixed:
		return strings.HasPrefix(name, a.ResourceName)
	}
	return false
}

// Authorizer decides requests against ACLs as Kafka's StandardAuthorizer:
// super users may do anything; a matching DENY wins over any ALLOW; an
// ALLOW of READ, WRITE, DELETE or ALTER implies DESCRIBE, an ALLOW of
// ALTER_CONFIGS implies DESCRIBE_CONFIGS, ALL implies every operation;
// a resource no ACL applies to is allowed only with
// allow.everyone.if.no.acl.found.
type Authorizer struct {
	// SuperUsers are super.users principals (User:admin).
	SuperUsers []string
	// AllowIfNoACL is allow.everyone.if.no.acl.found.
	AllowIfNoACL bool
}

// Request is one authorization question: may Principal (User:name) from
// Host do Operation on the resource?
type Request struct {
	Principal    string
	Host         string
	Operation    Operation
	ResourceType ResourceType
	ResourceName string
}

// Decision is an answer with the reason, for the audit log.
type Decision struct {
	Allowed bool
	Reason  string
}

// Authorize answers r against acls.
func (z *Authorizer) Authorize(acls []ACL, r Request) Decision {
	if slices.Contains(z.SuperUsers, r.Principal) {
		return Decision{true, "super user"}
	}
	found, allowed := false, false
	for _, a := range acls {
		if a.ResourceType != r.ResourceType || !patternApplies(a, r.ResourceName) {
			continue
		}
		found = true
		if !principalMatches(a.Principal, r.Principal) || (a.Host != Wildcard && a.Host != r.Host) {
			continue
		}
		if a.Permission == PermissionDeny && (a.Operation == OpAll || a.Operation == r.Operation) {
			return Decision{false, "denied by " + a.String()}
		}
		if a.Permission == PermissionAllow && implies(a.Operation, r.Operation) {
			allowed = true
		}
	}
	switch {
	case allowed:
		return Decision{true, "allowed by an ACL"}
	case !found && z.AllowIfNoACL:
		return Decision{true, "no ACL applies and allow.everyone.if.no.acl.found=true"}
	case !found:
		return Decision{false, "no ACL applies to the resource"}
	}
	return Decision{false, "no ACL allows it"}
}

// AnyAllowed reports whether r.Principal may do r.Operation on some
// resource of r.ResourceType (Kafka's authorizeByResourceType, used by
// InitProducerId for idempotent producers): an ALLOW on any pattern that
// no DENY on the same pattern (or a wildcard) cancels.
func (z *Authorizer) AnyAllowed(acls []ACL, r Request) bool {
	if slices.Contains(z.SuperUsers, r.Principal) {
		return true
	}
	for _, a := range acls {
		if a.ResourceType != r.ResourceType || a.Permission != PermissionAllow || !implies(a.Operation, r.Operation) ||
			!principalMatches(a.Principal, r.Principal) || (a.Host != Wildcard && a.Host != r.Host) {
			continue
		}
		q := r
		q.ResourceName = a.ResourceName
		if a.PatternType == PatternLiteral && a.ResourceName == Wildcard {
			q.ResourceName = "" // any name: check the wildcard's own denials
		}
		if z.Authorize(acls, q).Allowed || q.ResourceName == "" {
			return true
		}
	}
	return z.AllowIfNoACL && !slices.ContainsFunc(acls, func(a ACL) bool { return a.ResourceType == r.ResourceType })
}

func principalMatches(pattern, principal string) bool {
	if pattern == principal {
		return true
	}
	typ, name, _ := strings.Cut(pattern, ":")
	ptyp, _, _ := strings.Cut(principal, ":")
	return name == Wildcard && typ == ptyp
}

// implies reports whether an ACL for op grants want.
func implies(op, want Operation) bool {
	switch {
	case op == OpAll || op == want:
		return true
	case want == OpDescribe:
		return op == OpRead || op == OpWrite || op == OpDelete || op == OpAlter
	case want == OpDescribeConfigs:
		return op == OpAlterConfigs
	}
	return false
}

// UserPrincipal is the KafkaPrincipal string of a user name.
func UserPrincipal(name string) string { return "User:" + name }
