package console

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tributary/tributary/internal/client"
	"github.com/tributary/tributary/internal/safe"
)

// loadCluster reads the page's cluster through the API; on failure it
// has answered the request and returns false.
func (c *Console) loadCluster(w http.ResponseWriter, r *http.Request, s *session) (database, bool) {
	db, err := c.api.database(r.Context(), s.token, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, s, err)
		return db, false
	}
	return db, true
}

func clusterPath(id string, rest ...string) string {
	p := "/clusters/" + pathEscape(id)
	for _, x := range rest {
		p += "/" + x
	}
	return p
}

// Clusters list.

type clustersData struct {
	Clusters []database
	Err      string
}

func (c *Console) readClusters(ctx context.Context, s *session) (clustersData, error) {
	dbs, err := c.api.databases(ctx, s.token)
	return clustersData{Clusters: dbs}, err
}

func (c *Console) clustersPage(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.readClusters(r.Context(), s)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusOK, "clusters", nil, d)
}

func (c *Console) clustersLive(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.readClusters(r.Context(), s)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.fragment(w, r, s, "clusters", "live", nil, d)
}

// Create wizard.

type newClusterData struct {
	Options engineOptions
	Min     int
	Max     int
	Sizes   []string
}

func (c *Console) newClusterPage(w http.ResponseWriter, r *http.Request, s *session) {
	o, err := c.api.options(r.Context(), s.token)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d := newClusterData{Options: o}
	for _, l := range o.Layouts {
		if d.Min == 0 || l.NumNodes < d.Min {
			d.Min = l.NumNodes
		}
		d.Max = max(d.Max, l.NumNodes)
		for _, sz := range l.Sizes {
			if !slices.Contains(d.Sizes, sz) {
				d.Sizes = append(d.Sizes, sz)
			}
		}
	}
	c.render(w, r, s, http.StatusOK, "new", nil, d)
}

func (c *Console) createCluster(w http.ResponseWriter, r *http.Request, s *session) {
	nodes, _ := strconv.Atoi(r.PostFormValue("num_nodes"))
	disk, _ := strconv.ParseUint(r.PostFormValue("storage_gib"), 10, 32)
	req := map[string]any{"name": strings.TrimSpace(r.PostFormValue("name")), "engine": "kafka",
		"version": r.PostFormValue("version"), "size": r.PostFormValue("size"), "region": r.PostFormValue("region"),
		"num_nodes": nodes, "storage_size_mib": disk * 1024}
	if tags := strings.Fields(strings.ReplaceAll(r.PostFormValue("tags"), ",", " ")); len(tags) > 0 {
		req["tags"] = tags
	}
	var out struct {
		Database database `json:"database"`
	}
	if err := c.api.do(r.Context(), s.token, http.MethodPost, "/v2/databases", req, &out); err != nil {
		back(w, r, "/clusters/new", "", err)
		return
	}
	back(w, r, clusterPath(out.Database.ID), "Cluster "+out.Database.Name+" is being created.", nil)
}

// Overview: the cluster, its running operation and its brokers' health,
// refreshed live.

type overviewData struct {
	DB       database
	Op       *operation
	Steps    []stepView
	Events   []event
	Health   *overview
	Charts   []chart
	ChartErr string
	Err      string
	Final    bool
}

type stepView struct {
	Name  string
	State string // "done", "current", "todo"
}

// stepsOf lists an operation's steps (reconcile.go's order) with their
// progress.
func stepsOf(op operation) []stepView {
	var names []string
	switch {
	case op.Kind == "create":
		names = []string{"start_brokers", "wait_ready", "done"}
	case op.Kind == "resize" && op.ToNodes > op.FromNodes:
		names = []string{"start_brokers", "wait_ready", "rebalance", "wait_reassignments", "elect_leaders", "done"}
	case op.Kind == "resize":
		names = []string{"start_brokers", "wait_ready", "rebalance", "wait_reassignments", "elect_leaders", "stop_brokers", "done"}
	case op.Kind == "delete":
		names = []string{"stop_brokers", "done"}
	case op.Kind == "restart":
		names = []string{"roll", "wait_rolled", "done"}
	}
	if !slices.Contains(names, op.Step) {
		return []stepView{{Name: op.Step, State: "current"}}
	}
	var out []stepView
	state := "done"
	for _, n := range names {
		if n == op.Step {
			state = "current"
			if op.State == "done" {
				state = "done"
			}
		}
		out = append(out, stepView{Name: n, State: state})
		if state == "current" {
			state = "todo"
		}
	}
	return out
}

func (c *Console) readOverview(ctx context.Context, s *session, db database) overviewData {
	d := overviewData{DB: db}
	if ops, err := c.api.operations(ctx, s.token, db.ID); err == nil && len(ops) > 0 {
		op := ops[len(ops)-1]
		d.Op = &op
		d.Steps = stepsOf(op)
	}
	if evs, err := c.api.events(ctx, s.token, db.ID); err == nil {
		if len(evs) > 8 {
			evs = evs[len(evs)-8:]
		}
		slices.Reverse(evs)
		d.Events = evs
	}
	if db.Status != "creating" && db.Status != "deleting" {
		kc, err := c.kafka.get(db)
		if err != nil {
			d.Err = err.Error()
		} else {
			o := readOverview(ctx, kc, db.BootstrapServers)
			d.Health = &o
			if ns, err := c.api.nodes(ctx, s.token, db.ID); err == nil {
				for _, n := range ns {
					for i := range o.Brokers {
						if b := &o.Brokers[i]; b.NodeID == n.NodeID {
							b.DiskBudget, b.DiskFree, b.DiskFull, b.Voter = n.StorageTotalBytes, n.StorageFreeBytes, n.StorageFull, n.Voter
							if n.StorageFull {
								o.Healthy = false
							}
						}
					}
				}
			}
			if admins := c.admins(ctx, db.ID); len(admins) > 0 {
				c.readiness(ctx, &o, admins)
				d.Charts, d.ChartErr = c.stats.watch(db.ID, slices.Sorted(maps.Values(admins))).charts()
			}
		}
	}
	d.Final = db.Status == "online" && (d.Op == nil || d.Op.State != "running")
	return d
}

func (c *Console) overviewPage(w http.ResponseWriter, r *http.Request, s *session) {
	db, ok := c.loadCluster(w, r, s)
	if !ok {
		return
	}
	c.render(w, r, s, http.StatusOK, "overview", &db, c.readOverview(r.Context(), s, db))
}

func (c *Console) overviewLive(w http.ResponseWriter, r *http.Request, s *session) {
	db, err := c.api.database(r.Context(), s.token, r.PathValue("id"))
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			c.fragment(w, r, s, "overview", "gone", nil, nil)
			return
		}
		c.fail(w, r, s, err)
		return
	}
	c.fragment(w, r, s, "overview", "live", &db, c.readOverview(r.Context(), s, db))
}

// admins returns a cluster's brokers' admin listeners by node id (none
// without a Nodes hook).
func (c *Console) admins(ctx context.Context, id string) map[int32]string {
	if c.cfg.Nodes == nil {
		return nil
	}
	nodes, err := c.cfg.Nodes(ctx, id)
	if err != nil {
		c.log.Warn("console: cannot list a cluster's brokers", "cluster", id, "err", err)
		return nil
	}
	out := map[int32]string{}
	for _, n := range nodes {
		if n.Admin != "" {
			out[n.ID] = n.Admin
		}
	}
	return out
}

// readiness asks each broker's admin listener whether it is ready.
func (c *Console) readiness(ctx context.Context, o *overview, admins map[int32]string) {
	var wg sync.WaitGroup
	for i := range o.Brokers {
		a, ok := admins[o.Brokers[i].NodeID]
		if !ok {
			continue
		}
		wg.Add(1)
		b := &o.Brokers[i]
		safe.Go(c.log, "console readiness probe", func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			b.Ready = "not ready"
			req, _ := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+a+"/readyz", nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					b.Ready = "ready"
				}
			}
		})
	}
	wg.Wait()
	for _, b := range o.Brokers {
		if b.Ready == "not ready" {
			o.Healthy = false
		}
	}
}

// Connection details.

type connectionData struct {
	DB         database
	Bootstrap  string
	Properties string
}

func clientPropertiesOf(db database) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Kafka client configuration for cluster %s (%s)\n", db.Name, db.ID)
	fmt.Fprintf(&b, "bootstrap.servers=%s\n", strings.Join(db.BootstrapServers, ","))
	switch {
	case db.Connection != nil && db.Connection.SSL && db.Connection.User != "":
		b.WriteString("security.protocol=SASL_SSL\n")
	case db.Connection != nil && db.Connection.SSL:
		b.WriteString("security.protocol=SSL\n")
	case db.Connection != nil && db.Connection.User != "":
		b.WriteString("security.protocol=SASL_PLAINTEXT\n")
	default:
		b.WriteString("security.protocol=PLAINTEXT\n")
	}
	if db.Connection != nil && db.Connection.SSL {
		b.WriteString("# the cluster's CA certificate, downloaded beside this file\n")
		b.WriteString("ssl.truststore.type=PEM\nssl.truststore.location=ca.pem\n")
	}
	if db.Connection != nil && db.Connection.User != "" {
		b.WriteString("sasl.mechanism=SCRAM-SHA-512\n")
		fmt.Fprintf(&b, "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=%q password=%q;\n",
			db.Connection.User, db.Connection.Password)
	}
	return b.String()
}

func (c *Console) connectionPage(w http.ResponseWriter, r *http.Request, s *session) {
	db, ok := c.loadCluster(w, r, s)
	if !ok {
		return
	}
	c.render(w, r, s, http.StatusOK, "connection", &db, connectionData{DB: db, Bootstrap: strings.Join(db.BootstrapServers, ","),
		Properties: clientPropertiesOf(db)})
}

func (c *Console) clientProperties(w http.ResponseWriter, r *http.Request, s *session) {
	db, ok := c.loadCluster(w, r, s)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="client.properties"`)
	w.Write([]byte(clientPropertiesOf(db)))
}

// Operations: resize, upgrade, rolling restart, delete; the operations,
// events and this console's view of them, live.

type operationsData struct {
	DB       database
	Audit    []AuditEntry
	Ops      []operation
	Running  *operation
	Steps    []stepView
	Events   []event
	Versions []string
	Min, Max int
}

func (c *Console) readOperations(ctx context.Context, s *session, db database) (operationsData, error) {
	d := operationsData{DB: db}
	ops, err := c.api.operations(ctx, s.token, db.ID)
	if err != nil {
		return d, err
	}
	slices.Reverse(ops)
	d.Ops = ops
	for i := range ops {
		if ops[i].State == "running" {
			d.Running = &ops[i]
			d.Steps = stepsOf(ops[i])
			break
		}
	}
	evs, err := c.api.events(ctx, s.token, db.ID)
	if err != nil {
		return d, err
	}
	slices.Reverse(evs)
	d.Events = evs
	if s.identity.Write && c.cfg.AuditLog != nil {
		if all, err := c.cfg.AuditLog(ctx, maxAudit); err == nil {
			for _, a := range all {
				if strings.Contains(a.Path, "/"+db.ID) && len(d.Audit) < 20 {
					d.Audit = append(d.Audit, a)
				}
			}
		}
	}
	if o, err := c.api.options(ctx, s.token); err == nil {
		d.Versions = o.Versions
		for _, l := range o.Layouts {
			if d.Min == 0 || l.NumNodes < d.Min {
				d.Min = l.NumNodes
			}
			d.Max = max(d.Max, l.NumNodes)
		}
	}
	return d, nil
}

func (c *Console) operationsPage(w http.ResponseWriter, r *http.Request, s *session) {
	db, ok := c.loadCluster(w, r, s)
	if !ok {
		return
	}
	d, err := c.readOperations(r.Context(), s, db)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusOK, "operations", &db, d)
}

func (c *Console) operationsLive(w http.ResponseWriter, r *http.Request, s *session) {
	db, err := c.api.database(r.Context(), s.token, r.PathValue("id"))
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			c.fragment(w, r, s, "overview", "gone", nil, nil)
			return
		}
		c.fail(w, r, s, err)
		return
	}
	d, err := c.readOperations(r.Context(), s, db)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.fragment(w, r, s, "operations", "live", &db, d)
}

func (c *Console) resize(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	n, err := strconv.Atoi(r.PostFormValue("num_nodes"))
	if err != nil {
		back(w, r, clusterPath(id, "operations"), "", errors.New("num_nodes must be a number"))
		return
	}
	err = c.api.do(r.Context(), s.token, http.MethodPut, clusterAPI(id, "resize"), map[string]any{"num_nodes": n}, nil)
	back(w, r, clusterPath(id, "operations"), fmt.Sprintf("Resizing to %d brokers.", n), err)
}

func clusterAPI(id string, rest ...string) string {
	p := "/v2/databases/" + pathEscape(id)
	for _, x := range rest {
		p += "/" + x
	}
	return p
}

func (c *Console) upgrade(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	v := r.PostFormValue("version")
	err := c.api.do(r.Context(), s.token, http.MethodPut, clusterAPI(id, "upgrade"), map[string]any{"version": v}, nil)
	back(w, r, clusterPath(id, "operations"), "Upgrading to version "+v+", one broker at a time.", err)
}

func (c *Console) restart(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	err := c.api.do(r.Context(), s.token, http.MethodPut, clusterAPI(id, "install_update"), struct{}{}, nil)
	back(w, r, clusterPath(id, "operations"), "Rolling restart started.", err)
}

func (c *Console) deleteCluster(w http.ResponseWriter, r *http.Request, s *session) {
	db, ok := c.loadCluster(w, r, s)
	if !ok {
		return
	}
	if r.PostFormValue("confirm") != db.Name {
		back(w, r, clusterPath(db.ID, "operations"), "", fmt.Errorf("type the cluster's name, %s, to confirm its deletion", db.Name))
		return
	}
	if err := c.api.do(r.Context(), s.token, http.MethodDelete, clusterAPI(db.ID), nil, nil); err != nil {
		back(w, r, clusterPath(db.ID, "operations"), "", err)
		return
	}
	back(w, r, "/clusters", "Cluster "+db.Name+" is being deleted.", nil)
}

// maxAudit bounds the audit records a page reads.
const maxAudit = 500

type auditData struct {
	Entries []AuditEntry
	Filter  string
	Err     string
}

// auditPage shows the audit log: every write through the API (the
// console's included) and the console's own writes to clusters, newest
// first; ?q= keeps the entries whose path or token contains it.
func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, s *session) {
	d := auditData{Filter: r.URL.Query().Get("q")}
	if c.cfg.AuditLog == nil {
		d.Err = "this control plane keeps no audit log"
	} else if all, err := c.cfg.AuditLog(r.Context(), maxAudit); err != nil {
		d.Err = err.Error()
	} else {
		for _, a := range all {
			if d.Filter == "" || strings.Contains(a.Path, d.Filter) || strings.Contains(a.Token, d.Filter) {
				d.Entries = append(d.Entries, a)
			}
		}
	}
	c.render(w, r, s, http.StatusOK, "audit", nil, d)
}

// Consumer groups.

type groupsData struct {
	Groups []groupSummary
	Err    string
}

func (c *Console) groupsPage(w http.ResponseWriter, r *http.Request, s *session) {
	db, ok := c.loadCluster(w, r, s)
	if !ok {
		return
	}
	d := groupsData{}
	if kc, err := c.kafka.get(db); err != nil {
		d.Err = err.Error()
	} else if gs, err := readGroups(r.Context(), kc); err != nil {
		d.Err = errKafka("list groups", err).Error()
	} else {
		d.Groups = gs
	}
	c.render(w, r, s, http.StatusOK, "groups", &db, d)
}

type groupData struct {
	G      groupDetail
	Err    string
	Result string
	DryRun bool
	To     string
	Topic  string
}

func (c *Console) groupPage(w http.ResponseWriter, r *http.Request, s *session) {
	db, ok := c.loadCluster(w, r, s)
	if !ok {
		return
	}
	c.renderGroup(w, r, s, db, groupData{})
}

func (c *Console) renderGroup(w http.ResponseWriter, r *http.Request, s *session, db database, d groupData) {
	kc, err := c.kafka.get(db)
	if err != nil {
		d.Err = err.Error()
	} else if g, err := readGroup(r.Context(), kc, r.PathValue("group")); err != nil {
		d.Err = errKafka("describe group", err).Error()
		d.G.Name = r.PathValue("group")
	} else {
		d.G = g
		c.lagStatus(r.Context(), db.ID, &d.G)
	}
	c.render(w, r, s, http.StatusOK, "group", &db, d)
}

// maxLagCharts bounds the lag charts a group's page draws.
const maxLagCharts = 12

// lagStatus adds Burrow-style statuses (computed by the group's
// coordinator over its window of commits) from the brokers' admin
// listeners, when the control plane gives their addresses.
func (c *Console) lagStatus(ctx context.Context, id string, g *groupDetail) {
	admins := c.admins(ctx, id)
	if len(admins) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, kafkaTimeout)
	defer cancel()
	rep, answered, err := client.FetchGroupLag(ctx, &http.Client{Timeout: 2 * time.Second}, slices.Sorted(maps.Values(admins)), g.Name)
	if answered == 0 {
		if err != nil {
			g.StatusErr = err.Error()
		}
		return
	}
	g.Status = rep.Groups[g.Name]
	if g.Status == "" {
		g.Status = "NOTFOUND"
	}
	for _, p := range rep.Partitions {
		for i := range g.Lags {
			if l := &g.Lags[i]; l.Topic == p.Topic && l.Partition == p.Partition {
				l.Status, l.LagSeconds = p.Status, p.LagSeconds
			}
		}
		// The coordinator's window of commits is the lag over time.
		if len(p.Window) >= 2 && len(g.LagCharts) < maxLagCharts {
			ch := chart{Title: fmt.Sprintf("%s [%d] lag", p.Topic, p.Partition), Unit: " records"}
			for _, c := range p.Window {
				ch.Points = append(ch.Points, chartPoint{at: time.UnixMilli(c.TimeMs), v: float64(c.Lag)})
			}
			ch.Last = formatValue(ch.Points[len(ch.Points)-1].v, ch.Unit)
			g.LagCharts = append(g.LagCharts, ch)
		}
	}
}

// startSearchJob registers and starts a search for the session.
func (c *Console) startSearchJob(s *session, db database, j *searchJob) error {
	kc, err := c.kafka.get(db)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), maxSearchTime)
	j.cancel = cancel
	j.state = searchRunning
	if err := s.searches.add(j); err != nil {
		cancel()
		return err
	}
	safe.Go(c.log, "console search", func() { j.run(ctx, kc, c.schemas) })
	return nil
}

func parseTime(v string) (int64, error) {
	v = strings.TrimSpace(v)
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return ms, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("%q is not a time: use 2006-01-02T15:04:05Z (UTC unless a zone is given) or Unix milliseconds", v)
}
