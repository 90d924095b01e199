package tests

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/checker"
	"github.com/tributary/tributary/internal/client"
)

// TestMetadataAfterControllerKill9: the active controller is killed
// (kill -9) and restarted, then a fourth broker (not a voter) joins; every
// broker, the restarted one too, lists it in its Metadata responses.
//
// And a client that cached the cluster's metadata before all that (as the
// control plane's long-lived client has) still sees the new broker and the
// new controller through client.BrokerViews and client.Controller. kadm's
// BrokerMetadata on that client answers from its cache: the dead
// controller and three brokers, for minutes. The control plane's resize
// waited on that cache for good (1 in ~3 lifecycle runs), which looked
// like a broker whose metadata never listed the new broker.
func TestMetadataAfterControllerKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 4 broker processes")
	}
	c := startProcCluster(t, 3)
	admCl := c.client(kgo.MetadataMinAge(10 * time.Millisecond))
	defer admCl.Close()
	var ctl int32
	c.waitFor(30*time.Second, "a controller", func() bool {
		id, fenced, err := describeCluster(admCl)
		ctl = id
		return err == nil && id > 0 && len(fenced) == 3
	})
	warm := c.client()
	if md, err := kadm.NewClient(warm).BrokerMetadata(context.Background()); err != nil || len(md.Brokers) == 0 {
		t.Fatalf("warming a client's metadata: %v %v", md.Brokers, err)
	}
	adm := kadm.NewClient(admCl)
	if _, err := adm.CreateTopic(context.Background(), 6, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "events"); err != nil {
		t.Fatal(err)
	}
	h := checker.New()
	ld := startLoadWith(c, h, "events", "p", 1000)
	defer ld.stop(t, 30*time.Second)
	c.waitAcks(h, 300, 30*time.Second, "before the kill")
	c.kill9(ctl)
	c.restart(ctl)
	c.waitFor(30*time.Second, fmt.Sprintf("broker %d live again", ctl), func() bool {
		_, fenced, err := describeCluster(admCl)
		return err == nil && len(fenced) == 3 && !fenced[ctl]
	})
	c.waitFor(60*time.Second, "full ISRs", func() bool { return fullISR(describeTopic(adm, "events"), 6) })

	// A fourth broker, a non-voter of the quorum.
	dir := t.TempDir()
	nd := &procNode{id: 4, dir: dir, addr: freePort(t), logPath: filepath.Join(dir, "broker-4.log")}
	c.nodes = append(c.nodes, nd)
	c.spawn(nd)
	c.waitStarted(4)

	for id := int32(1); id <= 4; id++ {
		c.waitForWhy(30*time.Second, fmt.Sprintf("broker %d lists broker 4 (controller before: %d)", id, ctl), func() (bool, string) { return listsAll(c, id, 4) })
	}

	all := []int32{1, 2, 3, 4}
	c.waitForWhy(30*time.Second, "the warm client's views to show broker 4 and the current controller", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		views, errs := client.BrokerViews(ctx, warm, all)
		for _, id := range all {
			if errs[id] != nil {
				return false, fmt.Sprintf("broker %d: %v", id, errs[id])
			}
			if !views[id].Lists(4) {
				return false, fmt.Sprintf("broker %d lists %v", id, views[id].Listed)
			}
		}
		now, err := client.Controller(ctx, warm)
		live, _, err2 := describeCluster(admCl)
		if err != nil || err2 != nil || now != live {
			return false, fmt.Sprintf("controller %d (%v) through the warm client, %d (%v) through another", now, err, live, err2)
		}
		return true, ""
	})
	if md, err := kadm.NewClient(warm).BrokerMetadata(context.Background()); err == nil {
		t.Logf("kadm BrokerMetadata on the warm client (its cache): brokers %v, controller %d (killed: %d)", md.Brokers.NodeIDs(), md.Controller, ctl)
	}
}

// listsAll reports whether broker id's Metadata answer lists brokers 1
// to n, and if not, what it lists.
func listsAll(c *procCluster, id int32, n int32) (bool, string) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.node(id).addr)}, c.clientOpts...)...)
	if err != nil {
		return false, err.Error()
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return false, fmt.Sprintf("broker %d: %v", id, err)
	}
	listed := map[int32]bool{}
	var ids []string
	for _, b := range resp.(*kmsg.MetadataResponse).Brokers {
		listed[b.NodeID] = true
		ids = append(ids, fmt.Sprint(b.NodeID))
	}
	for want := int32(1); want <= n; want++ {
		if !listed[want] {
			return false, fmt.Sprintf("broker %d lists %s", id, strings.Join(ids, ","))
		}
	}
	return true, ""
}
