package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/security"
)

// ACLOptions are kafka-acls.sh's flags.
type ACLOptions struct {
	AllowPrincipals, DenyPrincipals  []string
	AllowHosts, DenyHosts            []string
	Operations                       []string
	Topics, Groups, TransactionalIDs []string
	Cluster                          bool
	// PatternType is --resource-pattern-type: literal or prefixed to
	// create; any, match, literal or prefixed to list and delete.
	PatternType string
	// Producer and Consumer are kafka-acls.sh's shortcuts: WRITE,
	// DESCRIBE and CREATE on the topics (and IDEMPOTENT_WRITE on the
	// cluster with Idempotent); READ and DESCRIBE on the topics and READ
	// on the groups.
	Producer, Consumer, Idempotent bool
	// Principal filters list and delete (kafka-acls.sh --principal).
	Principal string
}

type aclResource struct {
	typ  security.ResourceType
	name string
}

func (o ACLOptions) resources() []aclResource {
	var out []aclResource
	for _, t := range o.Topics {
		out = append(out, aclResource{security.ResourceTopic, t})
	}
	for _, g := range o.Groups {
		out = append(out, aclResource{security.ResourceGroup, g})
	}
	for _, x := range o.TransactionalIDs {
		out = append(out, aclResource{security.ResourceTransactionalID, x})
	}
	if o.Cluster {
		out = append(out, aclResource{security.ResourceCluster, security.ClusterName})
	}
	return out
}

// ACLsToCreate expands the options into ACLs, as kafka-acls.sh --add.
func (o ACLOptions) ACLsToCreate() ([]security.ACL, error) {
	pt := security.PatternLiteral
	if o.PatternType != "" {
		p, ok := security.ParsePatternType(o.PatternType)
		if !ok || (p != security.PatternLiteral && p != security.PatternPrefixed) {
			return nil, fmt.Errorf("--resource-pattern-type %q: use literal or prefixed to create ACLs", o.PatternType)
		}
		pt = p
	}
	type opOn struct {
		op  security.Operation
		res aclResource
	}
	var ops []opOn
	res := o.resources()
	for _, name := range o.Operations {
		op, ok := security.ParseOperation(name)
		if !ok || op == security.OpAny {
			return nil, fmt.Errorf("--operation %q: use Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite or All", name)
		}
		for _, r := range res {
			ops = append(ops, opOn{op, r})
		}
	}
	if o.Producer {
		if len(o.Topics) == 0 {
			return nil, errors.New("--producer needs --topic")
		}
		for _, t := range o.Topics {
			for _, op := range []security.Operation{security.OpWrite, security.OpDescribe, security.OpCreate} {
				ops = append(ops, opOn{op, aclResource{security.ResourceTopic, t}})
			}
		}
		if o.Idempotent {
			ops = append(ops, opOn{security.OpIdempotentWrite, aclResource{security.ResourceCluster, security.ClusterName}})
		}
	}
	if o.Consumer {
		if len(o.Topics) == 0 || len(o.Groups) == 0 {
			return nil, errors.New("--consumer needs --topic and --group")
		}
		for _, t := range o.Topics {
			for _, op := range []security.Operation{security.OpRead, security.OpDescribe} {
				ops = append(ops, opOn{op, aclResource{security.ResourceTopic, t}})
			}
		}
		for _, g := range o.Groups {
			ops = append(ops, opOn{security.OpRead, aclResource{security.ResourceGroup, g}})
		}
	}
	if len(ops) == 0 {
		return nil, errors.New("nothing to create: give --operation with --topic/--group/--transactional-id/--cluster, or --producer/--consumer")
	}
	if len(o.AllowPrincipals)+len(o.DenyPrincipals) == 0 {
		return nil, errors.New("give --allow-principal or --deny-principal (User:name, User:*)")
	}
	hosts := func(h []string) []string {
		if len(h) == 0 {
			return []string{security.Wildcard}
		}
		return h
	}
	var out []security.ACL
	add := func(principals, hs []string, perm security.Permission) {
		for _, p := range principals {
			for _, h := range hosts(hs) {
				for _, x := range ops {
					rpt := pt
					if x.res.typ == security.ResourceCluster {
						rpt = security.PatternLiteral
					}
					a := security.ACL{ResourceType: x.res.typ, ResourceName: x.res.name, PatternType: rpt, Principal: p, Host: h, Operation: x.op, Permission: perm}
					if !slices.Contains(out, a) {
						out = append(out, a)
					}
				}
			}
		}
	}
	add(o.AllowPrincipals, o.AllowHosts, security.PermissionAllow)
	add(o.DenyPrincipals, o.DenyHosts, security.PermissionDeny)
	for _, a := range out {
		if err := a.Validate(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Filters are the ACL filters of list and delete: per given resource (any
// resource when none), the pattern type (default: any for list, literal
// for delete, as kafka-acls.sh), the principal and operations if given.
func (o ACLOptions) Filters(defaultPattern security.PatternType) ([]security.Filter, error) {
	pt := defaultPattern
	if o.PatternType != "" {
		p, ok := security.ParsePatternType(o.PatternType)
		if !ok {
			return nil, fmt.Errorf("--resource-pattern-type %q: use any, match, literal or prefixed", o.PatternType)
		}
		pt = p
	}
	ops := []security.Operation{security.OpAny}
	if len(o.Operations) > 0 {
		ops = nil
		for _, name := range o.Operations {
			op, ok := security.ParseOperation(name)
			if !ok {
				return nil, fmt.Errorf("--operation %q is not an operation", name)
			}
			ops = append(ops, op)
		}
	}
	var principal *string
	if o.Principal != "" {
		principal = &o.Principal
	}
	var out []security.Filter
	res := o.resources()
	if len(res) == 0 {
		res = []aclResource{{typ: security.ResourceAny}}
	}
	for _, r := range res {
		for _, op := range ops {
			f := security.Filter{ResourceType: r.typ, PatternType: pt, Principal: principal, Operation: op, Permission: security.PermissionAny}
			if r.name != "" {
				name := r.name
				f.ResourceName = &name
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// CreateACLs creates acls and prints them.
func CreateACLs(ctx context.Context, cl *kgo.Client, acls []security.ACL, w io.Writer) error {
	req := kmsg.NewPtrCreateACLsRequest()
	for _, a := range acls {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceType(a.ResourceType), a.ResourceName, kmsg.ACLResourcePatternType(a.PatternType)
		c.Principal, c.Host, c.Operation, c.PermissionType = a.Principal, a.Host, kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
		req.Creations = append(req.Creations, c)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("create ACLs: %w", err)
	}
	var errs []error
	for i, r := range resp.Results {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w%s", acls[i], err, detail(r.ErrorMessage)))
			continue
		}
		fmt.Fprintf(w, "Created ACL %s\n", acls[i])
	}
	return errors.Join(errs...)
}

func detail(msg *string) string {
	if msg == nil || *msg == "" {
		return ""
	}
	return " (" + *msg + ")"
}

func toKmsgFilter(f security.Filter) (rt kmsg.ACLResourceType, name *string, pt kmsg.ACLResourcePatternType, principal *string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) {
	return kmsg.ACLResourceType(f.ResourceType), f.ResourceName, kmsg.ACLResourcePatternType(f.PatternType), f.Principal,
		kmsg.ACLOperation(f.Operation), kmsg.ACLPermissionType(f.Permission)
}

// ListACLs prints the ACLs the filters match as a table.
func ListACLs(ctx context.Context, cl *kgo.Client, filters []security.Filter, w io.Writer) error {
	var all []security.ACL
	for _, f := range filters {
		req := kmsg.NewPtrDescribeACLsRequest()
		req.ResourceType, req.ResourceName, req.ResourcePatternType, req.Principal, req.Operation, req.PermissionType = toKmsgFilter(f)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return fmt.Errorf("describe ACLs: %w", err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return fmt.Errorf("describe ACLs: %w%s", err, detail(resp.ErrorMessage))
		}
		for _, r := range resp.Resources {
			for _, a := range r.ACLs {
				acl := security.ACL{ResourceType: security.ResourceType(r.ResourceType), ResourceName: r.ResourceName, PatternType: security.PatternType(r.ResourcePatternType),
					Principal: a.Principal, Host: a.Host, Operation: security.Operation(a.Operation), Permission: security.Permission(a.PermissionType)}
				if !slices.Contains(all, acl) {
					all = append(all, acl)
				}
			}
		}
	}
	printACLs(w, all)
	return nil
}

func printACLs(w io.Writer, acls []security.ACL) {
	slices.SortStableFunc(acls, func(a, b security.ACL) int {
		return strings.Compare(a.ResourceType.String()+a.ResourceName, b.ResourceType.String()+b.ResourceName)
	})
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "PRINCIPAL\tHOST\tOPERATION\tPERMISSION\tRESOURCE\tPATTERN\tNAME")
	for _, a := range acls {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Principal, a.Host, a.Operation, a.Permission, a.ResourceType, a.PatternType, a.ResourceName)
	}
	tw.Flush()
}

// DeleteACLs deletes the ACLs the filters match and prints them.
func DeleteACLs(ctx context.Context, cl *kgo.Client, filters []security.Filter, w io.Writer) error {
	req := kmsg.NewPtrDeleteACLsRequest()
	for _, f := range filters {
		df := kmsg.NewDeleteACLsRequestFilter()
		df.ResourceType, df.ResourceName, df.ResourcePatternType, df.Principal, df.Operation, df.PermissionType = toKmsgFilter(f)
		req.Filters = append(req.Filters, df)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("delete ACLs: %w", err)
	}
	var deleted []security.ACL
	var errs []error
	for _, r := range resp.Results {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			errs = append(errs, fmt.Errorf("delete ACLs: %w%s", err, detail(r.ErrorMessage)))
			continue
		}
		for _, m := range r.MatchingACLs {
			deleted = append(deleted, security.ACL{ResourceType: security.ResourceType(m.ResourceType), ResourceName: m.ResourceName, PatternType: security.PatternType(m.ResourcePatternType),
				Principal: m.Principal, Host: m.Host, Operation: security.Operation(m.Operation), Permission: security.Permission(m.PermissionType)})
		}
	}
	fmt.Fprintf(w, "Deleted %d ACLs\n", len(deleted))
	if len(deleted) > 0 {
		printACLs(w, deleted)
	}
	return errors.Join(errs...)
}
