package tests

// The managed service's disk size per broker (issue 13): storage_size_mib
// is each broker's disk budget, enforced by the broker (writes refused
// with KAFKA_STORAGE_ERROR before it is exceeded, the log intact) and
// reported by GET /nodes; a storage resize restarts the brokers onto the
// new size and writes resume; a shrink below the data plus the reserve is
// refused.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/godo"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

type cloudNode struct {
	NodeID            int32  `json:"node_id"`
	StorageTotalBytes int64  `json:"storage_total_bytes"`
	StorageFreeBytes  int64  `json:"storage_free_bytes"`
	StorageFull       bool   `json:"storage_full"`
	Error             string `json:"error"`
}

// cloudNodes reads GET /v2/databases/{id}/nodes (Tributary's; godo has
// no call for it).
func cloudNodes(t *testing.T, cl *godo.Client, id string) []cloudNode {
	t.Helper()
	req, err := cl.NewRequest(context.Background(), http.MethodGet, "/v2/databases/"+id+"/nodes", nil)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Nodes []cloudNode `json:"nodes"`
	}
	if _, err := cl.Do(context.Background(), req, &out); err != nil {
		t.Fatalf("GET nodes: %v", err)
	}
	return out.Nodes
}

func TestCloudStorage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and a broker process")
	}
	dir := t.TempDir()
	t.Cleanup(func() { killBrokers(dir) })
	// The brokers keep 1012 MiB of their disk free, so a 1024 MiB disk
	// takes ~12 MiB of writes (the smallest disk offered is 1024 MiB).
	const reserve = 1012 << 20
	cp := startCloud(t, dir, "sqlite", fmt.Sprintf("log.dir.min.free.bytes=%d", reserve))
	cl := godoClient(t, cp.URL, adminToken(t, dir))
	ctx := context.Background()
	if _, _, err := cl.Databases.Create(ctx, &godo.DatabaseCreateRequest{Name: "small-disk", EngineSlug: "kafka", SizeSlug: "local",
		NumNodes: 1, StorageSizeMib: 512}); apiStatus(err) != 422 {
		t.Errorf("storage_size_mib 512: %v, want 422", err)
	}
	db, _, err := cl.Databases.Create(ctx, &godo.DatabaseCreateRequest{Name: "small-disk", EngineSlug: "kafka", SizeSlug: "local",
		NumNodes: 1, StorageSizeMib: 1024})
	if err != nil {
		t.Fatal(err)
	}
	db = waitStatus(t, cl, db.ID, "online", 90*time.Second)
	start := time.Now()
	nodes := cloudNodes(t, cl, db.ID)
	if len(nodes) != 1 || nodes[0].StorageTotalBytes != 1024<<20 || nodes[0].StorageFreeBytes <= reserve || nodes[0].StorageFull {
		t.Fatalf("nodes of a new 1024 MiB cluster: %+v", nodes)
	}
	one := uint32(1)
	if _, _, err := cl.Databases.CreateTopic(ctx, db.ID, &godo.DatabaseCreateTopicRequest{Name: "fill", PartitionCount: &one, ReplicationFactor: &one}); err != nil {
		t.Fatal(err)
	}
	bootstrap := fmt.Sprintf("%s:%d", db.Connection.Host, db.Connection.Port)
	opts := cloudClientOpts(t, cl, db.ID, db.Connection.User, db.Connection.Password)
	prod, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(bootstrap), kgo.DefaultProduceTopic("fill"),
		kgo.ProducerBatchMaxBytes(1100 << 10), kgo.RecordDeliveryTimeout(3 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	value := make([]byte, 900<<10)
	rand.Read(value) // incompressible: each record takes ~0.9 MiB of disk (under message.max.bytes)
	acked := 0
	var full error
	for i := 0; i < 200 && full == nil; i++ {
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := prod.ProduceSync(pctx, &kgo.Record{Value: value}).FirstErr()
		cancel()
		switch {
		case err == nil:
			acked++
		// KAFKA_STORAGE_ERROR is retriable: the client retries it until
		// the record's delivery timeout.
		case errors.Is(err, kerr.KafkaStorageError) || errors.Is(err, kgo.ErrRecordTimeout):
			full = err
		default:
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	if full == nil || acked == 0 || acked > 16 {
		t.Fatalf("%d records of 900 KiB acknowledged on a 1024 MiB disk keeping %d MiB free (last error %v)", acked, reserve>>20, full)
	}
	t.Logf("%d records of 900 KiB acknowledged before the disk budget refused writes: %v", acked, full)
	nodes = cloudNodes(t, cl, db.ID)
	if len(nodes) != 1 || !nodes[0].StorageFull || nodes[0].StorageFreeBytes >= reserve {
		t.Errorf("nodes after filling the disk: %+v", nodes)
	}

	// The control plane reports it as an event.
	hasEvent := func(typ string) error {
		evs, _, err := cl.Databases.ListDatabaseEvents(ctx, db.ID, nil)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if e.EventType == typ {
				return nil
			}
		}
		return fmt.Errorf("no %s event among %d", typ, len(evs))
	}
	eventually(t, "the event broker_1_disk_full", func() error { return hasEvent("broker_1_disk_full") })
	t.Logf("filled in %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	// Grow the disk: the broker restarts onto 2048 MiB and takes writes.
	if _, err := cl.Databases.Resize(ctx, db.ID, &godo.DatabaseResizeRequest{StorageSizeMib: 2048}); err != nil {
		t.Fatalf("storage resize: %v", err)
	}
	db = waitStatus(t, cl, db.ID, "online", 90*time.Second)
	if db.StorageSizeMib != 2048 {
		t.Errorf("storage_size_mib %d after the resize, want 2048", db.StorageSizeMib)
	}
	nodes = cloudNodes(t, cl, db.ID)
	if len(nodes) != 1 || nodes[0].StorageTotalBytes != 2048<<20 || nodes[0].StorageFull {
		t.Errorf("nodes after the storage resize: %+v", nodes)
	}
	eventually(t, "a write after the storage resize", func() error {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return prod.ProduceSync(pctx, &kgo.Record{Value: value}).FirstErr()
	})
	eventually(t, "the event broker_1_disk_ok", func() error { return hasEvent("broker_1_disk_ok") })
	t.Logf("storage resize and a write in %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	// Every acknowledged record is still there.
	cons, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(bootstrap), kgo.ConsumeTopics("fill"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(4 << 20)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	read := 0
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for read < acked+1 {
		fs := cons.PollFetches(cctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("read back after %d of %d records: %v", read, acked+1, err)
		}
		read += fs.NumRecords()
	}
	t.Logf("read back in %v", time.Since(start).Round(time.Millisecond))
	// Shrinking the disk below the data it holds plus the brokers' reserve
	// (this installation's 1012 MiB, which the broker reports) is refused,
	// the cluster unchanged; a smaller disk that holds them is not.
	if _, err := cl.Databases.Resize(ctx, db.ID, &godo.DatabaseResizeRequest{StorageSizeMib: 1024}); apiStatus(err) != 422 ||
		!strings.Contains(err.Error(), "cannot hold broker") {
		t.Errorf("shrink to 1024 MiB holding %d records of 900 KiB with a 1012 MiB reserve: %v, want 422", acked+1, err)
	}
	if d, _, err := cl.Databases.Get(ctx, db.ID); err != nil || d.Status != "online" || d.StorageSizeMib != 2048 {
		t.Errorf("after the refused shrink: %+v %v, want online with 2048 MiB", d, err)
	}
	if _, err := cl.Databases.Resize(ctx, db.ID, &godo.DatabaseResizeRequest{StorageSizeMib: 1536}); err != nil {
		t.Fatalf("shrink to 1536 MiB: %v", err)
	}
	db = waitStatus(t, cl, db.ID, "online", 90*time.Second)
	if nodes = cloudNodes(t, cl, db.ID); db.StorageSizeMib != 1536 || len(nodes) != 1 || nodes[0].StorageTotalBytes != 1536<<20 || nodes[0].StorageFull {
		t.Errorf("after the shrink to 1536 MiB: %d MiB, nodes %+v", db.StorageSizeMib, nodes)
	}
	// A disk change together with a node count change is refused.
	if _, err := cl.Databases.Resize(ctx, db.ID, &godo.DatabaseResizeRequest{NumNodes: 2, StorageSizeMib: 4096}); apiStatus(err) != 422 {
		t.Errorf("resize of nodes and disk at once: %v, want 422", err)
	}
	b, _ := json.Marshal(nodes)
	t.Logf("nodes: %s", b)
}
