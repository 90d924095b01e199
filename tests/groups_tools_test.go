package tests

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// describeLags parses `trib group describe` output into partition -> "current end lag".
func describeLags(t *testing.T, out string) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && f[0] == "orders" {
			got[f[1]] = strings.Join(f[2:5], " ")
		}
	}
	return got
}

// TestToolsGroup drives `trib group list|describe|seek|delete` against a
// group with committed offsets, across a broker restart.
func TestToolsGroup(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, groupSettings())
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := newAdmin(t, n.Addr())
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	prod := newClient(t, n.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceN(t, prod, "orders", 30)
	commit := kadm.Offsets{}
	for p, at := range []int64{4, 6, 10} {
		commit.Add(kadm.Offset{Topic: "orders", Partition: int32(p), At: at, LeaderEpoch: -1})
	}
	if err := adm.CommitAllOffsets(ctx, "billing", commit); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"0": "4 10 6", "1": "6 10 4", "2": "10 10 0"}

	out := mustTrib(t, n.Addr(), "", "group", "list")
	if !regexp.MustCompile(`(?m)^billing\s+Empty\s`).MatchString(out) {
		t.Fatalf("group list:\n%s", out)
	}
	out = mustTrib(t, n.Addr(), "", "group", "describe", "billing")
	if got := describeLags(t, out); len(got) != 3 || got["0"] != want["0"] || got["1"] != want["1"] || got["2"] != want["2"] {
		t.Fatalf("describe before restart: %v\n%s", got, out)
	}

	n.Close()
	n = startNode(t, dir, groupSettings())
	addr := n.Addr()
	out = mustTrib(t, addr, "", "group", "describe", "billing")
	if got := describeLags(t, out); len(got) != 3 || got["0"] != want["0"] || got["1"] != want["1"] || got["2"] != want["2"] {
		t.Fatalf("describe after restart: %v\n%s", got, out)
	}
	if !strings.Contains(out, "STATE Empty") {
		t.Fatalf("describe header:\n%s", out)
	}

	// Seek is refused while the group has members.
	member := newClient(t, addr, kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"), kgo.ClientID("lagcheck"),
		kgo.SessionTimeout(1500*time.Millisecond), kgo.HeartbeatInterval(100*time.Millisecond), kgo.DisableAutoCommit())
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, err := newAdmin(t, addr).DescribeGroups(ctx, "billing")
		if err == nil && d["billing"].State == "Stable" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group never became stable: %v", err)
		}
		member.PollRecords(ctxTimeout(ctx, 100*time.Millisecond), 1)
	}
	out = mustTrib(t, addr, "", "group", "describe", "billing")
	if !strings.Contains(out, "lagcheck") || !strings.Contains(out, "/127.0.0.1") {
		t.Fatalf("describe with a member shows no owner:\n%s", out)
	}
	if _, errOut, err := trib(t, addr, "", "group", "seek", "billing", "--topic", "orders", "--to", "earliest"); err == nil || !strings.Contains(errOut, "active members") {
		t.Fatalf("seek with members: err %v, stderr %s", err, errOut)
	}
	if _, errOut, err := trib(t, addr, "", "group", "delete", "billing"); err == nil || !strings.Contains(strings.ToLower(errOut), "non_empty_group") && !strings.Contains(strings.ToLower(errOut), "not empty") {
		t.Fatalf("delete with members: err %v, stderr %s", err, errOut)
	}
	member.Close()

	out = mustTrib(t, addr, "", "group", "seek", "billing", "--topic", "orders", "--to", "earliest", "--dry-run")
	if !strings.Contains(out, "Dry run") {
		t.Fatalf("dry run output:\n%s", out)
	}
	if got := describeLags(t, mustTrib(t, addr, "", "group", "describe", "billing")); got["0"] != want["0"] {
		t.Fatalf("dry run committed: %v", got)
	}
	mustTrib(t, addr, "", "group", "seek", "billing", "--topic", "orders", "--to", "earliest")
	if got := describeLags(t, mustTrib(t, addr, "", "group", "describe", "billing")); got["0"] != "0 10 10" || got["2"] != "0 10 10" {
		t.Fatalf("after seek to earliest: %v", got)
	}
	mustTrib(t, addr, "", "group", "seek", "billing", "--topic", "orders", "--to", "7", "--partitions", "1")
	mustTrib(t, addr, "", "group", "seek", "billing", "--topic", "orders", "--to", "latest", "--partitions", "2")
	if got := describeLags(t, mustTrib(t, addr, "", "group", "describe", "billing")); got["0"] != "0 10 10" || got["1"] != "7 10 3" || got["2"] != "10 10 0" {
		t.Fatalf("after partition seeks: %v", got)
	}
	// --shift-by moves the committed offsets, clamped to the log: 0-3 stays
	// at the start, 7-3 and 10-3 move back; a dry run commits nothing.
	out = mustTrib(t, addr, "", "group", "seek", "billing", "--topic", "orders", "--shift-by", "-3", "--dry-run")
	if !regexp.MustCompile(`(?m)^orders\s+0\s+0\s+0\s*$`).MatchString(out) || !regexp.MustCompile(`(?m)^orders\s+1\s+7\s+4\s*$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^orders\s+2\s+10\s+7\s*$`).MatchString(out) || !strings.Contains(out, "Dry run") {
		t.Fatalf("shift-by dry run:\n%s", out)
	}
	if got := describeLags(t, mustTrib(t, addr, "", "group", "describe", "billing")); got["1"] != "7 10 3" {
		t.Fatalf("shift-by dry run committed: %v", got)
	}
	mustTrib(t, addr, "", "group", "seek", "billing", "--topic", "orders", "--shift-by", "-3")
	mustTrib(t, addr, "", "group", "seek", "billing", "--topic", "orders", "--shift-by", "100", "--partitions", "2")
	if got := describeLags(t, mustTrib(t, addr, "", "group", "describe", "billing")); got["0"] != "0 10 10" || got["1"] != "4 10 6" || got["2"] != "10 10 0" {
		t.Fatalf("after shift-by: %v", got)
	}
	if _, errOut, err := trib(t, addr, "", "group", "seek", "billing", "--topic", "orders", "--to", "earliest", "--shift-by", "1"); err == nil || !strings.Contains(errOut, "shift-by") {
		t.Fatalf("--to with --shift-by: err %v, stderr %s", err, errOut)
	}
	future := "@" + strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)
	mustTrib(t, addr, "", "group", "seek", "billing", "--topic", "orders", "--to", future)
	if got := describeLags(t, mustTrib(t, addr, "", "group", "describe", "billing")); got["0"] != "10 10 0" {
		t.Fatalf("after seek to a future time: %v", got)
	}

	out = mustTrib(t, addr, "", "group", "delete", "billing")
	if out != "Deleted group billing.\n" {
		t.Fatalf("delete output %q", out)
	}
	if _, errOut, err := trib(t, addr, "", "group", "describe", "billing"); err == nil || !strings.Contains(errOut, "does not exist") {
		t.Fatalf("describe deleted group: err %v, stderr %s", err, errOut)
	}
}

func ctxTimeout(ctx context.Context, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(ctx, d)
	time.AfterFunc(d, cancel)
	return c
}
