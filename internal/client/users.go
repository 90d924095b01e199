package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
)

// ScramMechanisms parses --mechanism values (empty: both SCRAM ones).
func ScramMechanisms(names []string) ([]kadm.ScramMechanism, error) {
	if len(names) == 0 {
		return []kadm.ScramMechanism{kadm.ScramSha256, kadm.ScramSha512}, nil
	}
	var out []kadm.ScramMechanism
	for _, n := range names {
		switch n {
		case "SCRAM-SHA-256":
			out = append(out, kadm.ScramSha256)
		case "SCRAM-SHA-512":
			out = append(out, kadm.ScramSha512)
		default:
			return nil, fmt.Errorf("--mechanism %q: use SCRAM-SHA-256 or SCRAM-SHA-512", n)
		}
	}
	return out, nil
}

// CreateUser stores SCRAM credentials for user (the broker keeps only the
// salted keys); an existing user's credentials are replaced.
func CreateUser(ctx context.Context, adm *kadm.Client, user, password string, mechs []kadm.ScramMechanism, iterations int32, w io.Writer) error {
	if password == "" {
		return errors.New("the password is empty")
	}
	var ups []kadm.UpsertSCRAM
	for _, m := range mechs {
		ups = append(ups, kadm.UpsertSCRAM{User: user, Mechanism: m, Iterations: iterations, Password: password})
	}
	res, err := adm.AlterUserSCRAMs(ctx, nil, ups)
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	if err := res.Error(); err != nil {
		return fmt.Errorf("create user %s: %w", user, err)
	}
	fmt.Fprintf(w, "Created user %s (%v, %d iterations).\n", user, mechs, iterations)
	return nil
}

// DeleteUser deletes user's SCRAM credentials (every mechanism it has
// when mechs is empty).
func DeleteUser(ctx context.Context, adm *kadm.Client, user string, mechs []kadm.ScramMechanism, w io.Writer) error {
	if len(mechs) == 0 {
		d, err := adm.DescribeUserSCRAMs(ctx, user)
		if err != nil {
			return fmt.Errorf("describe user: %w", err)
		}
		if err := d[user].Err; err != nil {
			return fmt.Errorf("user %s: %w", user, err)
		}
		for _, c := range d[user].CredInfos {
			mechs = append(mechs, c.Mechanism)
		}
	}
	var dels []kadm.DeleteSCRAM
	for _, m := range mechs {
		dels = append(dels, kadm.DeleteSCRAM{User: user, Mechanism: m})
	}
	res, err := adm.AlterUserSCRAMs(ctx, dels, nil)
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	if err := res.Error(); err != nil {
		return fmt.Errorf("delete user %s: %w", user, err)
	}
	fmt.Fprintf(w, "Deleted user %s.\n", user)
	return nil
}

// ListUsers prints every user with SCRAM credentials, one line per
// mechanism.
func ListUsers(ctx context.Context, adm *kadm.Client, w io.Writer) error {
	d, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		return fmt.Errorf("describe users: %w", err)
	}
	users := make([]string, 0, len(d))
	for u := range d {
		users = append(users, u)
	}
	sort.Strings(users)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tMECHANISM\tITERATIONS")
	for _, u := range users {
		if err := d[u].Err; err != nil {
			return fmt.Errorf("user %s: %w", u, err)
		}
		for _, c := range d[u].CredInfos {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", u, c.Mechanism, c.Iterations)
		}
	}
	return tw.Flush()
}
