package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
)

// QuotaEntityFlags name a client quota entity on the command line, as
// kafka-configs' --entity-type users/clients with --entity-name or
// --entity-default do.
type QuotaEntityFlags struct {
	User, ClientID               string
	UserDefault, ClientIDDefault bool
}

func (f QuotaEntityFlags) components() (user, client *kadm.ClientQuotaEntityComponent, err error) {
	if f.User != "" && f.UserDefault {
		return nil, nil, errors.New("give --user or --user-default, not both")
	}
	if f.ClientID != "" && f.ClientIDDefault {
		return nil, nil, errors.New("give --client-id or --client-id-default, not both")
	}
	switch {
	case f.User != "":
		user = &kadm.ClientQuotaEntityComponent{Type: "user", Name: &f.User}
	case f.UserDefault:
		user = &kadm.ClientQuotaEntityComponent{Type: "user"}
	}
	switch {
	case f.ClientID != "":
		client = &kadm.ClientQuotaEntityComponent{Type: "client-id", Name: &f.ClientID}
	case f.ClientIDDefault:
		client = &kadm.ClientQuotaEntityComponent{Type: "client-id"}
	}
	return user, client, nil
}

// Entity is the entity the flags name; at least one component is needed.
func (f QuotaEntityFlags) Entity() (kadm.ClientQuotaEntity, error) {
	u, c, err := f.components()
	if err != nil {
		return nil, err
	}
	var e kadm.ClientQuotaEntity
	if u != nil {
		e = append(e, *u)
	}
	if c != nil {
		e = append(e, *c)
	}
	if len(e) == 0 {
		return nil, errors.New("name the entity: --user NAME or --user-default, and/or --client-id NAME or --client-id-default")
	}
	return e, nil
}

// Filter is the describe filter the flags name (none: every quota).
func (f QuotaEntityFlags) Filter() ([]kadm.DescribeClientQuotaComponent, error) {
	u, c, err := f.components()
	if err != nil {
		return nil, err
	}
	var out []kadm.DescribeClientQuotaComponent
	for _, comp := range []*kadm.ClientQuotaEntityComponent{u, c} {
		if comp == nil {
			continue
		}
		d := kadm.DescribeClientQuotaComponent{Type: comp.Type, MatchName: comp.Name, MatchType: 0}
		if comp.Name == nil {
			d.MatchType = 1
		}
		out = append(out, d)
	}
	return out, nil
}

// ParseQuotaConfigs parses --add-config values: key=value pairs.
func ParseQuotaConfigs(pairs []string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--add-config %q: want key=value (producer_byte_rate, consumer_byte_rate, request_percentage)", p)
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("--add-config %s: %q is not a number", k, v)
		}
		out[k] = f
	}
	return out, nil
}

// AlterQuotas sets and removes quota values of one entity.
func AlterQuotas(ctx context.Context, adm *kadm.Client, e kadm.ClientQuotaEntity, set map[string]float64, remove []string, w io.Writer) error {
	if len(set)+len(remove) == 0 {
		return errors.New("nothing to change: give --add-config and/or --delete-config")
	}
	var ops []kadm.AlterClientQuotaOp
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Value: set[k]})
	}
	for _, k := range remove {
		ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Remove: true})
	}
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: e, Ops: ops}})
	if err != nil {
		return fmt.Errorf("alter quotas: %w", err)
	}
	for _, r := range res {
		if r.Err != nil {
			if r.ErrMessage != "" {
				return fmt.Errorf("alter quotas of %s: %w: %s", r.Entity, r.Err, r.ErrMessage)
			}
			return fmt.Errorf("alter quotas of %s: %w", r.Entity, r.Err)
		}
	}
	fmt.Fprintf(w, "Altered quotas of %s.\n", e)
	return nil
}

// DescribeQuotas prints the quotas matching filter, one line per value.
func DescribeQuotas(ctx context.Context, adm *kadm.Client, filter []kadm.DescribeClientQuotaComponent, strict bool, w io.Writer) error {
	qs, err := adm.DescribeClientQuotas(ctx, strict, filter)
	if err != nil {
		return fmt.Errorf("describe quotas: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTITY\tKEY\tVALUE")
	for _, q := range qs {
		for _, v := range q.Values {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", q.Entity, v.Key, strconv.FormatFloat(v.Value, 'f', -1, 64))
		}
	}
	return tw.Flush()
}
