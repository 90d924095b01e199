// DescribeAcls (key 29), CreateAcls (key 30) and DeleteAcls (key 31),
// versions 0-3.
//
// ACLs live in the metadata quorum (metadata.CreateACLs/DeleteACLs); the
// rules for which ACLs are valid and which a filter matches are
// internal/security's. v0 carries no pattern type: LITERAL for ACLs and
// filters, as Kafka. Each call needs ALTER (create, delete) or DESCRIBE
// (describe) on the cluster, answered CLUSTER_AUTHORIZATION_FAILED.
// Differences from Kafka: ACLs are accepted while the authorizer is off
// (Kafka answers SECURITY_DISABLED); they take effect once it is on.
package broker

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/security"
)

func init() {
	register(kmsg.DescribeACLs, 0, 3, (*Broker).handleDescribeAcls)
	register(kmsg.CreateACLs, 0, 3, (*Broker).handleCreateAcls)
	register(kmsg.DeleteACLs, 0, 3, (*Broker).handleDeleteAcls)
}

func patternOrLiteral(v int16, p kmsg.ACLResourcePatternType) security.PatternType {
	if v == 0 || p == 0 {
		return security.PatternLiteral
	}
	return security.PatternType(p)
}

func aclFilter(v int16, rt kmsg.ACLResourceType, name *string, pt kmsg.ACLResourcePatternType, principal, host *string,
	op kmsg.ACLOperation, perm kmsg.ACLPermissionType) security.Filter {
	return security.Filter{ResourceType: security.ResourceType(rt), ResourceName: name, PatternType: patternOrLiteral(v, pt),
		Principal: principal, Host: host, Operation: security.Operation(op), Permission: security.Permission(perm)}
}

func (b *Broker) handleDescribeAcls(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	if !b.allowedCluster(r, security.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(resp)
	}
	f := aclFilter(req.Version, req.ResourceType, req.ResourceName, req.ResourcePatternType, req.Principal, req.Host, req.Operation, req.PermissionType)
	if err := f.Validate(); err != nil {
		resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
		return respond(resp)
	}
	resp.Resources = describeACLResources(b.quorum.State().ACLs, f)
	return respond(resp)
}

// describeACLResources groups the ACLs f matches by resource pattern.
func describeACLResources(acls []security.ACL, f security.Filter) []kmsg.DescribeACLsResponseResource {
	var out []kmsg.DescribeACLsResponseResource
	for _, a := range acls {
		if !f.Matches(a) {
			continue
		}
		i := slices.IndexFunc(out, func(res kmsg.DescribeACLsResponseResource) bool {
			return security.ResourceType(res.ResourceType) == a.ResourceType && res.ResourceName == a.ResourceName &&
				security.PatternType(res.ResourcePatternType) == a.PatternType
		})
		if i < 0 {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName, res.ResourcePatternType = kmsg.ACLResourceType(a.ResourceType), a.ResourceName, kmsg.ACLResourcePatternType(a.PatternType)
			out = append(out, res)
			i = len(out) - 1
		}
		e := kmsg.NewDescribeACLsResponseResourceACL()
		e.Principal, e.Host, e.Operation, e.PermissionType = a.Principal, a.Host, kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
		out[i].ACLs = append(out[i].ACLs, e)
	}
	return out
}

func (b *Broker) handleCreateAcls(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	results := make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	authorized := b.allowedCluster(r, security.OpAlter)
	var cmd metadata.CreateACLs
	var idx []int
	for i, c := range req.Creations {
		results[i] = kmsg.NewCreateACLsResponseResult()
		if !authorized {
			results[i].ErrorCode = kerr.ClusterAuthorizationFailed.Code
			continue
		}
		a := security.ACL{ResourceType: security.ResourceType(c.ResourceType), ResourceName: c.ResourceName,
			PatternType: patternOrLiteral(req.Version, c.ResourcePatternType), Principal: c.Principal, Host: c.Host,
			Operation: security.Operation(c.Operation), Permission: security.Permission(c.PermissionType)}
		if err := a.Validate(); err != nil {
			results[i].ErrorCode, results[i].ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
			continue
		}
		cmd.ACLs = append(cmd.ACLs, a)
		idx = append(idx, i)
	}
	return func() kmsg.Response {
		if len(cmd.ACLs) > 0 {
			if err := b.propose(&metadata.Command{CreateACLs: &cmd}); err != nil {
				for _, i := range idx {
					results[i].ErrorCode, results[i].ErrorMessage = errCode(err), errMsg(err)
				}
			} else {
				for _, a := range cmd.ACLs {
					b.log.Info("ACL created", "acl", a.String(), "by", principal(r))
				}
			}
		}
		resp.Results = results
		return resp
	}
}

func (b *Broker) handleDeleteAcls(_ context.Context, r *Request) Pending {
	req := r.Msg.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	results := make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	authorized := b.allowedCluster(r, security.OpAlter)
	acls := b.quorum.State().ACLs
	var cmd metadata.DeleteACLs
	for i, f := range req.Filters {
		results[i] = kmsg.NewDeleteACLsResponseResult()
		if !authorized {
			results[i].ErrorCode = kerr.ClusterAuthorizationFailed.Code
			continue
		}
		sf := aclFilter(req.Version, f.ResourceType, f.ResourceName, f.ResourcePatternType, f.Principal, f.Host, f.Operation, f.PermissionType)
		if err := sf.Validate(); err != nil {
			results[i].ErrorCode, results[i].ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
			continue
		}
		cmd.Filters = append(cmd.Filters, sf)
		for _, a := range acls {
			if !sf.Matches(a) {
				continue
			}
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = kmsg.ACLResourceType(a.ResourceType), a.ResourceName, kmsg.ACLResourcePatternType(a.PatternType)
			m.Principal, m.Host, m.Operation, m.PermissionType = a.Principal, a.Host, kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
			results[i].MatchingACLs = append(results[i].MatchingACLs, m)
		}
	}
	return func() kmsg.Response {
		if len(cmd.Filters) > 0 {
			if err := b.propose(&metadata.Command{DeleteACLs: &cmd}); err != nil {
				for i := range results {
					if results[i].ErrorCode == 0 {
						results[i].ErrorCode, results[i].ErrorMessage, results[i].MatchingACLs = errCode(err), errMsg(err), nil
					}
				}
			}
		}
		resp.Results = results
		return resp
	}
}
