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
)

// TestMetadataAfterControllerKill9: the active controller is killed
// (kill -9) and restarted, then a fourth broker (not a voter) joins; every
// broker, the restarted one too, lists it in its Metadata responses.
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

	lists := func(id int32) (bool, string) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.node(id).addr))
		if err != nil {
			return false, err.Error()
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		req := kmsg.NewPtrMetadataRequest()
		req.Topics = []kmsg.MetadataRequestTopic{}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return false, err.Error()
		}
		var ids []string
		for _, b := range resp.Brokers {
			if b.NodeID == 4 {
				return true, ""
			}
			ids = append(ids, fmt.Sprint(b.NodeID))
		}
		return false, fmt.Sprintf("broker %d lists %s", id, strings.Join(ids, ","))
	}
	for id := int32(1); id <= 4; id++ {
		c.waitForWhy(30*time.Second, fmt.Sprintf("broker %d lists broker 4 (controller before: %d)", id, ctl), func() (bool, string) { return lists(id) })
	}
}
