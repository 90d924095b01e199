// DescribeClientQuotas (key 48) and AlterClientQuotas (key 49), versions
// 0-1 (KIP-546).
//
// Quotas live in the metadata quorum (metadata.AlterQuotas) by entity: a
// user, a client id, or both, either of which may be the default (a null
// name); enforcement is quotas.go. Keys: producer_byte_rate,
// consumer_byte_rate (whole bytes per second), request_percentage and
// controller_mutation_rate (partitions per second, KIP-599), all positive
// (security.ValidateQuotaKey). Describe filters by components
// (EXACT name, DEFAULT, SPECIFIED: the entity has that type, with any name
// or the default); strict asks for entities with no other component.
// Describe needs DESCRIBE_CONFIGS on the cluster, alter ALTER_CONFIGS
// (CLUSTER_AUTHORIZATION_FAILED). Differences from Kafka: ip entities
// (connection_creation_rate) are refused with INVALID_REQUEST, as
// connection rates are not enforced.
package broker

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/security"
)

func init() {
	register(kmsg.DescribeClientQuotas, 0, 1, (*Broker).handleDescribeClientQuotas)
	register(kmsg.AlterClientQuotas, 0, 1, (*Broker).handleAlterClientQuotas)
}

// quotaEntity builds an entity from the wire's (type, nullable name) pairs.
func quotaEntity(types []string, names []*string) (security.QuotaEntity, error) {
	var e security.QuotaEntity
	for i, t := range types {
		n := security.DefaultName()
		if names[i] != nil {
			n = security.Named(*names[i])
		}
		var c *security.QuotaName
		switch t {
		case security.QuotaEntityUser:
			c = &e.User
		case security.QuotaEntityClientID:
			c = &e.ClientID
		case security.QuotaEntityIP:
			return e, fmt.Errorf("%w: ip quotas (connection_creation_rate) are not supported", security.ErrInvalidQuota)
		default:
			return e, fmt.Errorf("%w: unknown entity type %q", security.ErrInvalidQuota, t)
		}
		if c.Set {
			return e, fmt.Errorf("%w: entity type %q named twice", security.ErrInvalidQuota, t)
		}
		*c = n
	}
	return e, e.Validate()
}

// quotaComponents lists an entity's (type, name) pairs, user first.
func quotaComponents(e security.QuotaEntity) (types []string, names []*string) {
	add := func(t string, n security.QuotaName) {
		if !n.Set {
			return
		}
		types = append(types, t)
		if n.Default {
			names = append(names, nil)
		} else {
			names = append(names, kmsg.StringPtr(n.Name))
		}
	}
	add(security.QuotaEntityUser, e.User)
	add(security.QuotaEntityClientID, e.ClientID)
	return types, names
}

func (b *Broker) handleDescribeClientQuotas(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	if !b.allowedCluster(r, security.OpDescribeConfigs) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(resp)
	}
	invalid := func(format string, args ...any) Pending {
		resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(fmt.Sprintf(format, args...))
		return respond(resp)
	}
	seen := map[string]bool{}
	for _, c := range req.Components {
		switch c.EntityType {
		case security.QuotaEntityUser, security.QuotaEntityClientID, security.QuotaEntityIP:
		default:
			return invalid("unknown entity type %q", c.EntityType)
		}
		if seen[c.EntityType] {
			return invalid("entity type %q in more than one component", c.EntityType)
		}
		seen[c.EntityType] = true
		switch c.MatchType {
		case 0:
			if c.Match == nil {
				return invalid("an EXACT match on %q needs a name", c.EntityType)
			}
		case 1, 2:
		default:
			return invalid("unknown match type %d", c.MatchType)
		}
	}
	for _, q := range b.quorum.State().Quotas {
		if !quotaMatches(q.Entity, req.Components, req.Strict) {
			continue
		}
		e := kmsg.NewDescribeClientQuotasResponseEntry()
		types, names := quotaComponents(q.Entity)
		for i := range types {
			c := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			c.Type, c.Name = types[i], names[i]
			e.Entity = append(e.Entity, c)
		}
		keys := make([]string, 0, len(q.Values))
		for k := range q.Values {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := kmsg.NewDescribeClientQuotasResponseEntryValue()
			v.Key, v.Value = k, q.Values[k]
			e.Values = append(e.Values, v)
		}
		resp.Entries = append(resp.Entries, e)
	}
	return respond(resp)
}

// quotaMatches applies a describe filter to an entity.
func quotaMatches(e security.QuotaEntity, comps []kmsg.DescribeClientQuotasRequestComponent, strict bool) bool {
	component := func(t string) security.QuotaName {
		switch t {
		case security.QuotaEntityUser:
			return e.User
		case security.QuotaEntityClientID:
			return e.ClientID
		}
		return security.QuotaName{}
	}
	for _, c := range comps {
		n := component(c.EntityType)
		switch c.MatchType {
		case 0:
			if !n.Set || n.Default || n.Name != *c.Match {
				return false
			}
		case 1:
			if !n.Set || !n.Default {
				return false
			}
		case 2:
			if !n.Set {
				return false
			}
		}
	}
	if strict {
		types, _ := quotaComponents(e)
		for _, t := range types {
			if !slices.ContainsFunc(comps, func(c kmsg.DescribeClientQuotasRequestComponent) bool { return c.EntityType == t }) {
				return false
			}
		}
	}
	return true
}

func (b *Broker) handleAlterClientQuotas(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.AlterClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	allowed := b.allowedCluster(r, security.OpAlterConfigs)
	errs := make([]error, len(req.Entries))
	var cmd metadata.AlterQuotas
	var valid []int // entries in cmd, by request index
	for i, re := range req.Entries {
		if !allowed {
			continue
		}
		types := make([]string, len(re.Entity))
		names := make([]*string, len(re.Entity))
		for j, c := range re.Entity {
			types[j], names[j] = c.Type, c.Name
		}
		ent, err := quotaEntity(types, names)
		if err == nil {
			err = quotaOps(re.Ops)
		}
		if err != nil {
			errs[i] = err
			continue
		}
		alt := metadata.QuotaAlteration{Entity: ent, Set: map[string]float64{}}
		for _, op := range re.Ops {
			if op.Remove {
				alt.Remove = append(alt.Remove, op.Key)
			} else {
				alt.Set[op.Key] = op.Value
			}
		}
		cmd.Entries = append(cmd.Entries, alt)
		valid = append(valid, i)
	}
	// The same entity twice in one request: Kafka refuses both.
	for a := range valid {
		for c := a + 1; c < len(valid); c++ {
			if cmd.Entries[a].Entity == cmd.Entries[c].Entity {
				err := fmt.Errorf("%w: entity %s appears more than once", security.ErrInvalidQuota, cmd.Entries[a].Entity.Key())
				errs[valid[a]], errs[valid[c]] = err, err
			}
		}
	}
	var keep metadata.AlterQuotas
	for k, i := range valid {
		if errs[i] == nil {
			keep.Entries = append(keep.Entries, cmd.Entries[k])
		}
	}
	return func() kmsg.Response {
		var proposeErr error
		if len(keep.Entries) > 0 && !req.ValidateOnly {
			proposeErr = b.propose(&metadata.Command{AlterQuotas: &keep})
		}
		for i, re := range req.Entries {
			e := kmsg.NewAlterClientQuotasResponseEntry()
			for _, c := range re.Entity {
				ec := kmsg.NewAlterClientQuotasResponseEntryEntity()
				ec.Type, ec.Name = c.Type, c.Name
				e.Entity = append(e.Entity, ec)
			}
			switch err := errs[i]; {
			case !allowed:
				e.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			case err != nil:
				e.ErrorCode, e.ErrorMessage = errCode(err), errMsg(err)
			case proposeErr != nil:
				e.ErrorCode, e.ErrorMessage = errCode(proposeErr), errMsg(proposeErr)
			}
			resp.Entries = append(resp.Entries, e)
		}
		return resp
	}
}

// quotaOps checks one entry's operations: known keys, valid values, each
// key once.
func quotaOps(ops []kmsg.AlterClientQuotasRequestEntryOp) error {
	seen := map[string]bool{}
	for _, op := range ops {
		if err := security.ValidateQuotaKey(op.Key, op.Value, op.Remove); err != nil {
			return err
		}
		if seen[op.Key] {
			return fmt.Errorf("%w: %s altered twice in one entry", security.ErrInvalidQuota, op.Key)
		}
		seen[op.Key] = true
	}
	return nil
}
