package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// GroupLagReport is the body of a broker's /v1/consumer-groups/lag
// (internal/metrics.LagReport): each group's status and its partitions'.
type GroupLagReport struct {
	Groups     map[string]string `json:"groups"`
	Partitions []struct {
		Group      string  `json:"group"`
		Topic      string  `json:"topic"`
		Partition  int32   `json:"partition"`
		Offset     int64   `json:"current_offset"`
		EndOffset  int64   `json:"end_offset"`
		Lag        int64   `json:"lag"`
		LagSeconds float64 `json:"lag_seconds"`
		Status     string  `json:"status"`
		Window     []struct {
			Offset int64 `json:"Offset"`
			TimeMs int64 `json:"TimeMs"`
			Lag    int64 `json:"Lag"`
		} `json:"window"`
	} `json:"partitions"`
}

// GroupLagStatus prints the lag status of groups (Burrow's rules, computed
// by each group's coordinator) from the brokers' admin listeners (their
// admin.listen addresses): one line per group with its status, then per
// partition the committed offset, end offset, lag, lag in seconds, status
// and the offsets of the commits in the status window. Every broker is
// asked; the group's coordinator answers for it.
func GroupLagStatus(ctx context.Context, admins []string, groups []string, w io.Writer) error {
	if len(admins) == 0 {
		return errors.New("--status needs the brokers' admin listeners: --admin HOST:PORT,... or TRIB_ADMIN (trib dev prints them)")
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	var errs []error
	for i, g := range groups {
		if i > 0 {
			fmt.Fprintln(w)
		}
		rep, answered, err := FetchGroupLag(ctx, hc, admins, g)
		if err != nil {
			errs = append(errs, err)
		}
		if answered == 0 {
			continue
		}
		status, ok := rep.Groups[g]
		if !ok {
			fmt.Fprintf(w, "GROUP %s  STATUS NOTFOUND (no broker asked coordinates it, or it has no committed offsets yet)\n", g)
			continue
		}
		fmt.Fprintf(w, "GROUP %s  STATUS %s\n", g, status)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tLAG-SECONDS\tSTATUS\tWINDOW (COMMITTED OFFSETS)")
		for _, p := range rep.Partitions {
			end, lag, secs := "-", "-", "-"
			if p.EndOffset >= 0 {
				end, lag, secs = strconv.FormatInt(p.EndOffset, 10), strconv.FormatInt(p.Lag, 10), strconv.FormatFloat(p.LagSeconds, 'f', 1, 64)
			}
			var win []string
			for _, c := range p.Window {
				win = append(win, strconv.FormatInt(c.Offset, 10))
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", p.Topic, p.Partition, p.Offset, end, lag, secs, p.Status, strings.Join(win, " "))
		}
		tw.Flush()
	}
	return errors.Join(errs...)
}

// FetchGroupLag asks every broker's admin listener for group's lag
// status; the group's coordinator answers for it. answered counts the
// brokers that answered; err joins the others' failures.
func FetchGroupLag(ctx context.Context, hc *http.Client, admins []string, group string) (rep GroupLagReport, answered int, err error) {
	var errs []error
	for _, a := range admins {
		r, err := fetchLag(ctx, hc, a, group)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		answered++
		if s, ok := r.Groups[group]; ok {
			rep.Groups = map[string]string{group: s}
			rep.Partitions = append(rep.Partitions, r.Partitions...)
		}
	}
	return rep, answered, errors.Join(errs...)
}

func fetchLag(ctx context.Context, hc *http.Client, admin, group string) (*GroupLagReport, error) {
	base := admin
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/v1/consumer-groups/lag?group="+url.QueryEscape(group), nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin listener %s: %w", admin, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("admin listener %s: HTTP %s", admin, resp.Status)
	}
	var r GroupLagReport
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&r); err != nil {
		return nil, fmt.Errorf("admin listener %s: %w", admin, err)
	}
	return &r, nil
}
