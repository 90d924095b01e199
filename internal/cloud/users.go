package cloud

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/security"
)

// Users and their ACLs. The store holds the desired users; syncUsers
// makes the cluster match: a SCRAM-SHA-256 and a SCRAM-SHA-512 credential
// per user (AlterUserScramCredentials), the mTLS listener's mapping of
// each user's current certificate (secure.go), and for each user's principal
// exactly the Kafka ACLs compiled from its DigitalOcean ACLs
// (CreateAcls/DeleteAcls on the difference). It runs after every change
// through the API, as a step of a cluster's creation, and from the
// reconciler whenever a change is not known to be applied (after a
// failure, and once after a control plane start), so a change recorded
// in the store reaches the cluster even if the control plane dies first.
// Only principals of users the store knows are touched: ACLs made
// directly on the cluster for other principals stay.

// DigitalOcean's Kafka ACL permissions.
const (
	PermConsume        = "consume"
	PermProduce        = "produce"
	PermProduceConsume = "produceconsume"
	PermAdmin          = "admin"
)

// userName is what a user may be called: a letter first, then letters,
// digits, '.', '_' and '-' (a valid principal name; never controlUser).
var userName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9._-]{0,62}$`)

// topicPattern is an ACL's topic: "*", a topic name, or a prefix ending
// in "*".
var topicPattern = regexp.MustCompile(`^(\*|[a-zA-Z0-9._-]{1,249}\*?)$`)

// scramIterations is the SCRAM iteration count of users' credentials.
const scramIterations = 8192

// aclID is an ACL's id: stable for the same user, topic and permission.
func aclID(user string, a UserACL) string {
	h := sha256.Sum256([]byte(user + "\x00" + a.Topic + "\x00" + a.Permission))
	return hex.EncodeToString(h[:6])
}

// checkACL validates a user's ACL list and fills in the ids.
func checkACL(user string, acl []UserACL) ([]UserACL, error) {
	out := make([]UserACL, 0, len(acl))
	seen := map[string]bool{}
	for _, a := range acl {
		if !topicPattern.MatchString(a.Topic) {
			return nil, errorf(KindInvalid, "invalid acl topic %q: \"*\", a topic name, or a prefix ending in \"*\"", a.Topic)
		}
		switch a.Permission {
		case PermConsume, PermProduce, PermProduceConsume, PermAdmin:
		default:
			return nil, errorf(KindInvalid, "invalid acl permission %q: one of %s, %s, %s, %s", a.Permission, PermAdmin, PermConsume, PermProduce, PermProduceConsume)
		}
		a.ID = aclID(user, a)
		if seen[a.ID] {
			return nil, errorf(KindInvalid, "the acl {topic %q, permission %q} is listed twice", a.Topic, a.Permission)
		}
		seen[a.ID] = true
		out = append(out, a)
	}
	return out, nil
}

// aclBinding is one Kafka ACL.
type aclBinding struct {
	ResourceType kmsg.ACLResourceType
	Name         string
	Pattern      kmsg.ACLResourcePatternType
	Principal    string
	Host         string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}

// compileACLs turns a user's DigitalOcean ACLs into Kafka ACLs, each
// allowed from every host in hosts:
//
//	consume        topic: READ, DESCRIBE; every group: READ
//	produce        topic: WRITE, DESCRIBE (idempotence: WRITE on a topic is enough)
//	produceconsume both
//	admin          topic: ALL (also create, delete, alter its configs); every group: READ
//
// The primary user gets ALL on every topic, group and transactional id
// and on the cluster.
func compileACLs(u User, hosts []string) []aclBinding {
	p := security.UserPrincipal(u.Name)
	var out []aclBinding
	add := func(rt kmsg.ACLResourceType, name string, pat kmsg.ACLResourcePatternType, ops ...kmsg.ACLOperation) {
		for _, h := range hosts {
			for _, op := range ops {
				b := aclBinding{ResourceType: rt, Name: name, Pattern: pat, Principal: p, Host: h, Operation: op, Permission: kmsg.ACLPermissionTypeAllow}
				if !slices.Contains(out, b) {
					out = append(out, b)
				}
			}
		}
	}
	lit := kmsg.ACLResourcePatternTypeLiteral
	if u.Role == RolePrimary {
		add(kmsg.ACLResourceTypeTopic, security.Wildcard, lit, kmsg.ACLOperationAll)
		add(kmsg.ACLResourceTypeGroup, "*", lit, kmsg.ACLOperationAll)
		add(kmsg.ACLResourceTypeTransactionalId, "*", lit, kmsg.ACLOperationAll)
		add(kmsg.ACLResourceTypeCluster, security.ClusterName, lit, kmsg.ACLOperationAll)
		return out
	}
	for _, a := range u.ACL {
		name, pat := a.Topic, lit
		if name != "*" && strings.HasSuffix(name, "*") {
			name, pat = strings.TrimSuffix(name, "*"), kmsg.ACLResourcePatternTypePrefixed
		}
		topic := func(ops ...kmsg.ACLOperation) { add(kmsg.ACLResourceTypeTopic, name, pat, ops...) }
		switch a.Permission {
		case PermConsume:
			topic(kmsg.ACLOperationRead, kmsg.ACLOperationDescribe)
		case PermProduce:
			topic(kmsg.ACLOperationWrite, kmsg.ACLOperationDescribe)
		case PermProduceConsume:
			topic(kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDescribe)
		case PermAdmin:
			topic(kmsg.ACLOperationAll)
		}
		if a.Permission != PermProduce {
			add(kmsg.ACLResourceTypeGroup, "*", lit, kmsg.ACLOperationRead)
		}
	}
	return out
}

// Users lists a cluster's users.
func (s *Service) Users(ctx context.Context, id string) ([]User, error) {
	c, err := s.Cluster(ctx, id)
	if err != nil {
		return nil, err
	}
	all, err := s.cfg.Store.Users(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(u User) bool { return u.State != UserActive }), nil
}

// User returns one user (KindNotFound when there is none).
func (s *Service) User(ctx context.Context, id, name string) (User, error) {
	us, err := s.Users(ctx, id)
	if err != nil {
		return User{}, err
	}
	for _, u := range us {
		if u.Name == name {
			return u, nil
		}
	}
	return User{}, errorf(KindNotFound, "The resource you were accessing could not be found.")
}

// secureCluster returns the cluster when it has SASL users.
func (s *Service) secureCluster(ctx context.Context, id string) (Cluster, error) {
	c, err := s.Cluster(ctx, id)
	if err != nil {
		return c, err
	}
	if !c.Secure() {
		return c, errorf(KindInvalid, "this database cluster was made before users were offered; it serves PLAINTEXT without users")
	}
	if c.Status == StatusDeleting {
		return c, errorf(KindConflict, "the database cluster is being deleted")
	}
	return c, nil
}

// CreateUser adds a user with a generated password and its ACLs.
func (s *Service) CreateUser(ctx context.Context, id, name string, acl []UserACL) (User, error) {
	c, err := s.secureCluster(ctx, id)
	if err != nil {
		return User{}, err
	}
	if !userName.MatchString(name) {
		return User{}, errorf(KindInvalid, "invalid user name %q: 1 to 63 letters, digits, '.', '_' and '-', starting with a letter", name)
	}
	if acl, err = checkACL(name, acl); err != nil {
		return User{}, err
	}
	u := User{ClusterID: c.ID, Name: name, Role: RoleNormal, Password: newPassword(), ACL: acl, State: UserActive}
	if err := issueUserCert(c, &u); err != nil {
		return User{}, err
	}
	if err := s.cfg.Store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, errNoRow) {
			return User{}, errorf(KindNotFound, "The resource you were accessing could not be found.")
		}
		return User{}, err
	}
	s.cfg.Store.AddEvent(ctx, c.ID, "user_create_"+name)
	s.applyUsers(ctx, c)
	return s.User(ctx, id, name)
}

// changeUser applies change to an existing user and syncs the cluster.
func (s *Service) changeUser(ctx context.Context, id, name, event string, change func(*User) error) (User, error) {
	c, err := s.secureCluster(ctx, id)
	if err != nil {
		return User{}, err
	}
	u, err := s.User(ctx, id, name)
	if err != nil {
		return User{}, err
	}
	if err := change(&u); err != nil {
		return User{}, err
	}
	if err := s.cfg.Store.UpdateUser(ctx, u); err != nil {
		return User{}, err
	}
	s.cfg.Store.AddEvent(ctx, c.ID, event+"_"+name)
	s.applyUsers(ctx, c)
	return u, nil
}

// UpdateUserACL replaces a normal user's ACLs.
func (s *Service) UpdateUserACL(ctx context.Context, id, name string, acl []UserACL) (User, error) {
	return s.changeUser(ctx, id, name, "user_update", func(u *User) error {
		if u.Role == RolePrimary {
			return errorf(KindInvalid, "the primary user %s has every permission; its ACLs cannot be changed", u.Name)
		}
		var err error
		u.ACL, err = checkACL(u.Name, acl)
		return err
	})
}

// ResetUserAuth gives a user a new generated password and a new client
// certificate; the old ones stop working once the cluster is synced.
func (s *Service) ResetUserAuth(ctx context.Context, id, name string) (User, error) {
	c, err := s.secureCluster(ctx, id)
	if err != nil {
		return User{}, err
	}
	return s.changeUser(ctx, id, name, "user_reset_auth", func(u *User) error {
		u.Password = newPassword()
		return issueUserCert(c, u)
	})
}

// DeleteUser removes a normal user: its credentials and ACLs leave the
// cluster, then the user leaves the store.
func (s *Service) DeleteUser(ctx context.Context, id, name string) error {
	_, err := s.changeUser(ctx, id, name, "user_delete", func(u *User) error {
		if u.Role == RolePrimary {
			return errorf(KindInvalid, "the primary user %s cannot be deleted", u.Name)
		}
		u.State = UserDeleting
		return nil
	})
	return err
}

// applyUsers syncs c's users now when c's brokers serve; when they do
// not, or the sync fails, the reconciler retries.
func (s *Service) applyUsers(ctx context.Context, c Cluster) {
	s.setUsersSynced(c.ID, false)
	if c.Status == StatusCreating || c.Status == StatusDeleting {
		return
	}
	if err := s.syncUsers(ctx, c); err != nil {
		s.log.Warn("users not applied yet; the reconciler retries", "cluster", c.ID, "err", err)
	}
}

func (s *Service) setUsersSynced(id string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok {
		s.synced[id] = true
	} else {
		delete(s.synced, id)
	}
}

func (s *Service) usersSynced(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.synced[id]
}

// syncUsers makes c's SCRAM credentials and ACLs match its users in the
// store (see the top of this file). Syncs run one at a time.
func (s *Service) syncUsers(ctx context.Context, c Cluster) error {
	if !c.Secure() {
		return nil
	}
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	users, err := s.cfg.Store.Users(ctx, c.ID)
	if err != nil {
		return err
	}
	for i, u := range users {
		// A user made before certificates were offered gets one now.
		if u.State == UserActive && u.AccessCert == "" {
			if err := issueUserCert(c, &users[i]); err != nil {
				return err
			}
			if err := s.cfg.Store.UpdateUser(ctx, users[i]); err != nil {
				return err
			}
		}
	}
	cc, err := s.client(ctx, c.ID)
	if err != nil {
		return err
	}
	var up []kadm.UpsertSCRAM
	var del []kadm.DeleteSCRAM
	for _, u := range users {
		for _, m := range []kadm.ScramMechanism{kadm.ScramSha256, kadm.ScramSha512} {
			if u.State == UserActive {
				up = append(up, kadm.UpsertSCRAM{User: u.Name, Mechanism: m, Iterations: scramIterations, Password: u.Password})
			} else {
				del = append(del, kadm.DeleteSCRAM{User: u.Name, Mechanism: m})
			}
		}
	}
	res, err := cc.adm.AlterUserSCRAMs(ctx, del, up)
	if err != nil {
		return fmt.Errorf("alter SCRAM credentials: %w", err)
	}
	for _, r := range res {
		if r.Err != nil && !errors.Is(r.Err, kerr.ResourceNotFound) {
			return fmt.Errorf("SCRAM credentials of %s: %w %s", r.User, r.Err, r.ErrMessage)
		}
	}
	if err := s.syncListenerConfigs(ctx, c, cc.adm, users); err != nil {
		return err
	}
	for _, u := range users {
		var want []aclBinding
		if u.State == UserActive {
			// From any host: trusted sources are enforced at the
			// brokers' accept (firewall.go), not in ACLs.
			want = compileACLs(u, []string{security.Wildcard})
		}
		if err := syncPrincipalACLs(ctx, cc, security.UserPrincipal(u.Name), want); err != nil {
			return fmt.Errorf("ACLs of %s: %w", u.Name, err)
		}
	}
	for _, u := range users {
		if u.State == UserDeleting {
			if err := s.cfg.Store.RemoveUser(ctx, c.ID, u.Name); err != nil {
				return err
			}
		}
	}
	s.setUsersSynced(c.ID, true)
	return nil
}

// syncPrincipalACLs makes principal's ACLs on the cluster exactly want.
func syncPrincipalACLs(ctx context.Context, cc *clusterClient, principal string, want []aclBinding) error {
	dreq := kmsg.NewPtrDescribeACLsRequest()
	dreq.ResourceType = kmsg.ACLResourceTypeAny
	dreq.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
	dreq.Principal = &principal
	dreq.Operation = kmsg.ACLOperationAny
	dreq.PermissionType = kmsg.ACLPermissionTypeAny
	dresp, err := dreq.RequestWith(ctx, cc.cl)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(dresp.ErrorCode); err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	var have []aclBinding
	for _, r := range dresp.Resources {
		for _, a := range r.ACLs {
			have = append(have, aclBinding{ResourceType: r.ResourceType, Name: r.ResourceName, Pattern: r.ResourcePatternType,
				Principal: a.Principal, Host: a.Host, Operation: a.Operation, Permission: a.PermissionType})
		}
	}
	var dels []kmsg.DeleteACLsRequestFilter
	for _, b := range have {
		if slices.Contains(want, b) {
			continue
		}
		f := kmsg.NewDeleteACLsRequestFilter()
		f.ResourceType, f.ResourceName, f.ResourcePatternType = b.ResourceType, &b.Name, b.Pattern
		f.Principal, f.Host, f.Operation, f.PermissionType = &b.Principal, &b.Host, b.Operation, b.Permission
		dels = append(dels, f)
	}
	if len(dels) > 0 {
		req := kmsg.NewPtrDeleteACLsRequest()
		req.Filters = dels
		resp, err := req.RequestWith(ctx, cc.cl)
		if err != nil {
			return err
		}
		for _, r := range resp.Results {
			if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
				return fmt.Errorf("delete: %w", err)
			}
		}
	}
	var adds []kmsg.CreateACLsRequestCreation
	for _, b := range want {
		if slices.Contains(have, b) {
			continue
		}
		a := kmsg.NewCreateACLsRequestCreation()
		a.ResourceType, a.ResourceName, a.ResourcePatternType = b.ResourceType, b.Name, b.Pattern
		a.Principal, a.Host, a.Operation, a.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
		adds = append(adds, a)
	}
	if len(adds) > 0 {
		req := kmsg.NewPtrCreateACLsRequest()
		req.Creations = adds
		resp, err := req.RequestWith(ctx, cc.cl)
		if err != nil {
			return err
		}
		for _, r := range resp.Results {
			if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
				return fmt.Errorf("create: %w", err)
			}
		}
	}
	return nil
}
