package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary/tributary/internal/client"
	"github.com/tributary/tributary/internal/config"
)

// topicConfigDoc is one topic config the API accepts (godo's TopicConfig
// keys, by Kafka's name) with a line of documentation for the forms.
type topicConfigDoc struct {
	Name, Type, Default, Doc string
}

// topicConfigDocs are the configs a topic can be created or edited with
// through the API, with what each one does.
var topicConfigDocs = func() []topicConfigDoc {
	docs := map[string]string{
		"cleanup.policy":                "delete (drop old segments), compact (keep the last record per key) or compact,delete",
		"compression.type":              "codec the broker stores batches in; producer keeps the producer's",
		"delete.retention.ms":           "how long a compacted topic keeps tombstones (null values)",
		"file.delete.delay.ms":          "delay before a deleted segment's files are removed from disk",
		"flush.messages":                "fsync after this many records (the default leaves it to acks=all and the background flush)",
		"flush.ms":                      "fsync at least this often",
		"index.interval.bytes":          "bytes between offset-index entries",
		"max.compaction.lag.ms":         "longest a record may stay uncompacted",
		"max.message.bytes":             "largest record batch the topic accepts",
		"message.downconversion.enable": "serve old (v0-3) fetches by converting batches",
		"message.timestamp.type":        "CreateTime (the producer's) or LogAppendTime (the broker's)",
		"min.cleanable.dirty.ratio":     "share of uncompacted log that triggers compaction",
		"min.compaction.lag.ms":         "shortest a record stays uncompacted",
		"min.insync.replicas":           "replicas that must have a record before acks=all is answered",
		"preallocate":                   "preallocate segment files",
		"retention.bytes":               "size a partition is trimmed to (-1: no limit)",
		"retention.ms":                  "age after which segments are deleted (-1: forever)",
		"segment.bytes":                 "size at which a segment is rolled",
		"segment.index.bytes":           "size of a segment's offset index",
		"segment.jitter.ms":             "random jitter subtracted from segment.ms",
		"segment.ms":                    "age at which a segment is rolled",
	}
	var out []topicConfigDoc
	for name, doc := range docs {
		d := config.TopicDefs[name]
		out = append(out, topicConfigDoc{Name: name, Type: typeName(d.Type), Default: d.Default, Doc: doc})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}()

func typeName(t config.Type) string {
	switch t {
	case config.TypeBoolean:
		return "boolean"
	case config.TypeInt, config.TypeShort, config.TypeLong:
		return "integer"
	case config.TypeDouble:
		return "number"
	case config.TypeList:
		return "list"
	}
	return "string"
}

// parseTopicConfig reads "key=value" lines (Kafka's names), validates each
// with the broker's own rules and returns the API's config object
// (godo's TopicConfig field names and JSON types).
func parseTopicConfig(text string) (map[string]any, error) {
	out := map[string]any{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Errorf("config line %d: want key=value, got %q", i+1, line)
		}
		known := false
		for _, d := range topicConfigDocs {
			known = known || d.Name == k
		}
		if !known {
			return nil, fmt.Errorf("config line %d: %q is not a topic config this service sets (see the list below the form)", i+1, k)
		}
		if err := config.ValidateTopic(k, v); err != nil {
			return nil, fmt.Errorf("config line %d: %v", i+1, err)
		}
		api := strings.ReplaceAll(k, ".", "_")
		if k == "message.downconversion.enable" {
			api = "message_down_conversion_enable"
		}
		switch typeName(config.TopicDefs[k].Type) {
		case "boolean":
			out[api] = v == "true"
		case "integer":
			n, _ := strconv.ParseInt(v, 10, 64)
			out[api] = n
		case "number":
			f, _ := strconv.ParseFloat(v, 64)
			out[api] = f
		default:
			if k == "cleanup.policy" && (v == "compact,delete" || v == "delete,compact") {
				v = "compact_delete"
			}
			out[api] = v
		}
	}
	return out, nil
}

type topicRow struct {
	Name              string
	Partitions        int
	ReplicationFactor uint32
	UnderReplicated   int
	// MessagesIn is the topic's produce rate from the brokers' metrics
	// ("" until two samples are taken).
	MessagesIn string
	// Size is the sum of the partitions' sizes on their leaders (-1 when
	// the brokers could not be asked).
	Size int64
}

type topicsData struct {
	Topics []topicRow
	Docs   []topicConfigDoc
	Filter string
	Err    string
}

func (c *Console) topicsPage(w http.ResponseWriter, r *http.Request, s *session) {
	db, ok := c.loadCluster(w, r, s)
	if !ok {
		return
	}
	d := topicsData{Docs: topicConfigDocs, Filter: r.URL.Query().Get("q")}
	ts, err := c.api.topics(r.Context(), s.token, db.ID)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
			c.fail(w, r, s, err)
			return
		}
		d.Err = err.Error()
	}
	var rates map[string]float64
	if admins := c.admins(r.Context(), db.ID); len(admins) > 0 {
		rates = c.stats.watch(db.ID, slices.Sorted(maps.Values(admins))).topicRates()
	}
	var sizes map[string]int64
	if len(ts) > 0 {
		if kc, err := c.kafka.get(db); err == nil {
			sizes, _ = topicSizes(r.Context(), kc)
		}
	}
	for _, t := range ts {
		if d.Filter != "" && !strings.Contains(t.Name, d.Filter) {
			continue
		}
		row := topicRow{Name: t.Name, Partitions: len(t.Partitions), ReplicationFactor: t.ReplicationFactor, Size: -1}
		if sizes != nil {
			row.Size = sizes[t.Name]
		}
		if rates != nil {
			row.MessagesIn = formatValue(rates[t.Name], "/s")
		}
		for _, p := range t.Partitions {
			if p.InSyncReplicas < t.ReplicationFactor {
				row.UnderReplicated++
			}
		}
		d.Topics = append(d.Topics, row)
	}
	c.render(w, r, s, http.StatusOK, "topics", &db, d)
}

func (c *Console) createTopic(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	name := strings.TrimSpace(r.PostFormValue("name"))
	req := map[string]any{"name": name}
	if v := strings.TrimSpace(r.PostFormValue("partitions")); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			back(w, r, clusterPath(id, "topics"), "", fmt.Errorf("partitions must be a number, not %q", v))
			return
		}
		req["partition_count"] = n
	}
	if v := strings.TrimSpace(r.PostFormValue("replication_factor")); v != "" {
		n, err := strconv.ParseInt(v, 10, 16)
		if err != nil {
			back(w, r, clusterPath(id, "topics"), "", fmt.Errorf("replication factor must be a number, not %q", v))
			return
		}
		req["replication_factor"] = n
	}
	cfg, err := parseTopicConfig(r.PostFormValue("config"))
	if err != nil {
		back(w, r, clusterPath(id, "topics"), "", err)
		return
	}
	if len(cfg) > 0 {
		req["config"] = cfg
	}
	if err := c.api.do(r.Context(), s.token, http.MethodPost, clusterAPI(id, "topics"), req, nil); err != nil {
		back(w, r, clusterPath(id, "topics"), "", err)
		return
	}
	back(w, r, clusterPath(id, "topics", pathEscape(name)), "Topic "+name+" created.", nil)
}

type topicData struct {
	Topic      topic
	Partitions []partitionView
	Config     []configRow
	Docs       []topicConfigDoc
	Err        string
}

type configRow struct{ Name, Value string }

func (c *Console) topicPage(w http.ResponseWriter, r *http.Request, s *session) {
	db, ok := c.loadCluster(w, r, s)
	if !ok {
		return
	}
	name := r.PathValue("name")
	t, err := c.api.topic(r.Context(), s.token, db.ID, name)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d := topicData{Topic: t, Docs: topicConfigDocs}
	for k, v := range t.Config {
		name := strings.ReplaceAll(k, "_", ".")
		if k == "message_down_conversion_enable" {
			name = "message.downconversion.enable"
		}
		d.Config = append(d.Config, configRow{Name: name, Value: fmt.Sprint(v)})
	}
	sort.Slice(d.Config, func(i, j int) bool { return d.Config[i].Name < d.Config[j].Name })
	if kc, err := c.kafka.get(db); err != nil {
		d.Err = err.Error()
	} else if ps, err := readPartitions(r.Context(), kc, name); err != nil {
		d.Err = errKafka("describe partitions", err).Error()
	} else {
		d.Partitions = ps
	}
	c.render(w, r, s, http.StatusOK, "topic", &db, d)
}

func (c *Console) addPartitions(w http.ResponseWriter, r *http.Request, s *session) {
	id, name := r.PathValue("id"), r.PathValue("name")
	to := clusterPath(id, "topics", pathEscape(name))
	n, err := strconv.ParseInt(strings.TrimSpace(r.PostFormValue("partition_count")), 10, 32)
	if err != nil {
		back(w, r, to, "", errors.New("the new partition count must be a number"))
		return
	}
	err = c.api.do(r.Context(), s.token, http.MethodPut, clusterAPI(id, "topics", pathEscape(name)), map[string]any{"partition_count": n}, nil)
	back(w, r, to, fmt.Sprintf("Topic %s has %d partitions.", name, n), err)
}

func (c *Console) alterTopicConfig(w http.ResponseWriter, r *http.Request, s *session) {
	id, name := r.PathValue("id"), r.PathValue("name")
	to := clusterPath(id, "topics", pathEscape(name))
	cfg, err := parseTopicConfig(r.PostFormValue("config"))
	if err == nil && len(cfg) == 0 {
		err = errors.New("no config given: write key=value lines")
	}
	if err != nil {
		back(w, r, to, "", err)
		return
	}
	err = c.api.do(r.Context(), s.token, http.MethodPut, clusterAPI(id, "topics", pathEscape(name)), map[string]any{"config": cfg}, nil)
	back(w, r, to, "Configuration of "+name+" updated.", err)
}

func (c *Console) deleteTopic(w http.ResponseWriter, r *http.Request, s *session) {
	id, name := r.PathValue("id"), r.PathValue("name")
	if r.PostFormValue("confirm") != name {
		back(w, r, clusterPath(id, "topics", pathEscape(name)), "", fmt.Errorf("type the topic's name, %s, to confirm its deletion", name))
		return
	}
	if err := c.api.do(r.Context(), s.token, http.MethodDelete, clusterAPI(id, "topics", pathEscape(name)), nil, nil); err != nil {
		back(w, r, clusterPath(id, "topics", pathEscape(name)), "", err)
		return
	}
	back(w, r, clusterPath(id, "topics"), "Topic "+name+" deleted.", nil)
}

// Messages.

type messagesData struct {
	Topic      string
	Partitions []int32
	Partition  int32
	From       string
	Offset     string
	Time       string
	Limit      int
	Records    []recordView
	Shown      bool
	TimedOut   bool
	Err        string
	Searches   []searchStatus
	// ExportQuery is the browse's query string for the export link.
	ExportQuery template.URL
}

// browseForm reads the browse form's query: the URL holds the whole
// state, so a browse can be shared as a link.
func browseForm(r *http.Request) (d messagesData, from startFrom, err error) {
	q := r.URL.Query()
	d.Topic = r.PathValue("name")
	d.Partition = -1
	if p := q.Get("partition"); p != "" && p != "all" {
		n, perr := strconv.ParseInt(p, 10, 32)
		if perr != nil || n < 0 {
			return d, from, fmt.Errorf("partition %q is not a partition number", p)
		}
		d.Partition = int32(n)
	}
	d.From, d.Offset, d.Time = q.Get("from"), q.Get("offset"), q.Get("time")
	if d.From == "" {
		d.From = "end"
	}
	d.Limit = 50
	if l := q.Get("limit"); l != "" {
		n, lerr := strconv.Atoi(l)
		if lerr != nil || n < 1 {
			return d, from, fmt.Errorf("limit %q is not a positive number", l)
		}
		d.Limit = min(n, maxBrowse)
	}
	from.Mode = d.From
	switch d.From {
	case "beginning", "end":
	case "offset":
		n, oerr := strconv.ParseInt(strings.TrimSpace(d.Offset), 10, 64)
		if oerr != nil || n < 0 {
			return d, from, fmt.Errorf("offset %q is not an offset", d.Offset)
		}
		from.Offset = n
	case "timestamp":
		ms, terr := parseTime(d.Time)
		if terr != nil {
			return d, from, terr
		}
		from.Timestamp = ms
	default:
		return d, from, fmt.Errorf("from %q: beginning, offset, timestamp or end", d.From)
	}
	return d, from, nil
}

func (c *Console) messagesPage(w http.ResponseWriter, r *http.Request, s *session) {
	db, ok := c.loadCluster(w, r, s)
	if !ok {
		return
	}
	d, from, ferr := browseForm(r)
	for _, j := range s.searches.list(db.ID, d.Topic) {
		d.Searches = append(d.Searches, j.status())
	}
	kc, err := c.kafka.get(db)
	if err != nil {
		d.Err = err.Error()
		c.render(w, r, s, http.StatusOK, "messages", &db, d)
		return
	}
	ps, err := readPartitions(r.Context(), kc, d.Topic)
	if err != nil {
		d.Err = errKafka("describe topic", err).Error()
		c.render(w, r, s, http.StatusOK, "messages", &db, d)
		return
	}
	for _, p := range ps {
		d.Partitions = append(d.Partitions, p.Partition)
	}
	if ferr != nil {
		d.Err = ferr.Error()
	} else if r.URL.Query().Has("from") || r.URL.Query().Has("partition") {
		q := r.URL.Query()
		q.Del("limit")
		d.ExportQuery = template.URL(q.Encode()) // our own query, re-encoded
		recs, timedOut, err := browse(r.Context(), kc, c.schemas, d.Topic, d.Partition, from, d.Limit)
		if err != nil {
			d.Err = err.Error()
		}
		d.Records, d.TimedOut, d.Shown = recs, timedOut, true
	}
	c.render(w, r, s, http.StatusOK, "messages", &db, d)
}

func (c *Console) startSearch(w http.ResponseWriter, r *http.Request, s *session) {
	db, ok := c.loadCluster(w, r, s)
	if !ok {
		return
	}
	name := r.PathValue("name")
	to := clusterPath(db.ID, "topics", pathEscape(name), "messages")
	q := r.PostFormValue("q")
	if q == "" {
		back(w, r, to, "", errors.New("enter the text to search for"))
		return
	}
	j := &searchJob{ID: randomHex(8), ClusterID: db.ID, Topic: name, Query: q, Fields: r.PostForm["field"],
		Fold: r.PostFormValue("fold") != "", MaxScan: defaultScan, Started: time.Now(), From: startFrom{Mode: "beginning"}}
	if v := strings.TrimSpace(r.PostFormValue("max_scan")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > maxScanLimit {
			back(w, r, to, "", fmt.Errorf("records to read must be 1 to %d", maxScanLimit))
			return
		}
		j.MaxScan = n
	}
	if v := strings.TrimSpace(r.PostFormValue("since")); v != "" {
		ms, err := parseTime(v)
		if err != nil {
			back(w, r, to, "", err)
			return
		}
		j.From = startFrom{Mode: "timestamp", Timestamp: ms}
	}
	if err := c.startSearchJob(s, db, j); err != nil {
		back(w, r, to, "", err)
		return
	}
	http.Redirect(w, r, clusterPath(db.ID, "search", j.ID), http.StatusSeeOther)
}

func (c *Console) searchJobOf(w http.ResponseWriter, r *http.Request, s *session) *searchJob {
	j := s.searches.get(r.PathValue("job"))
	if j == nil || j.ClusterID != r.PathValue("id") {
		c.renderStatus(w, r, s, http.StatusNotFound, "No such search", "This search is not in your session (searches are kept while you are signed in).")
		return nil
	}
	return j
}

func (c *Console) searchPage(w http.ResponseWriter, r *http.Request, s *session) {
	db, ok := c.loadCluster(w, r, s)
	if !ok {
		return
	}
	if j := c.searchJobOf(w, r, s); j != nil {
		c.render(w, r, s, http.StatusOK, "search", &db, j.status())
	}
}

func (c *Console) searchLive(w http.ResponseWriter, r *http.Request, s *session) {
	if j := c.searchJobOf(w, r, s); j != nil {
		c.fragment(w, r, s, "search", "live", nil, j.status())
	}
}

func (c *Console) cancelSearch(w http.ResponseWriter, r *http.Request, s *session) {
	if j := c.searchJobOf(w, r, s); j != nil {
		j.cancel()
		j.finish(searchCancelled, "cancelled")
		http.Redirect(w, r, clusterPath(j.ClusterID, "search", j.ID), http.StatusSeeOther)
	}
}

// resetGroup commits new offsets for an empty group (or shows them, with
// dry run), by the same rules as `trib group seek`.
func (c *Console) resetGroup(w http.ResponseWriter, r *http.Request, s *session) {
	db, ok := c.loadCluster(w, r, s)
	if !ok {
		return
	}
	group := r.PathValue("group")
	d := groupData{DryRun: r.PostFormValue("dry_run") != "", To: strings.TrimSpace(r.PostFormValue("to")), Topic: r.PostFormValue("topic")}
	to := d.To
	if to == "timestamp" {
		ms, err := parseTime(r.PostFormValue("time"))
		if err != nil {
			d.Result = err.Error()
			c.renderGroup(w, r, s, db, d)
			return
		}
		to = "@" + strconv.FormatInt(ms, 10)
	} else if to == "offset" {
		to = strings.TrimSpace(r.PostFormValue("offset"))
	}
	opts := client.SeekOptions{Topic: d.Topic, To: to, DryRun: d.DryRun}
	if d.To == "shift" {
		n, err := strconv.ParseInt(strings.TrimSpace(r.PostFormValue("shift_by")), 10, 64)
		if err != nil {
			d.Result = "Shift by: want a whole number of records (negative moves back)"
			c.renderGroup(w, r, s, db, d)
			return
		}
		opts.Shift, opts.ShiftBy = true, n
	}
	kc, err := c.kafka.get(db)
	if err != nil {
		d.Result = err.Error()
		c.renderGroup(w, r, s, db, d)
		return
	}
	var out strings.Builder
	err = client.SeekGroup(r.Context(), kc.adm, group, opts, &out)
	if err != nil {
		fmt.Fprintf(&out, "Refused: %v\n", err)
	}
	d.Result = out.String()
	if !d.DryRun && c.cfg.Audit != nil {
		status := http.StatusOK
		if err != nil {
			status = http.StatusConflict
		}
		c.cfg.Audit(r.Context(), s.token, http.MethodPost, r.URL.Path, status)
	}
	c.renderGroup(w, r, s, db, d)
}

// exportMessages streams the records the browse form selects (up to
// maxExport, read within browseTimeout×6) as a JSON Lines download.
func (c *Console) exportMessages(w http.ResponseWriter, r *http.Request, s *session) {
	db, ok := c.loadCluster(w, r, s)
	if !ok {
		return
	}
	d, from, err := browseForm(r)
	limit := maxExport
	if l := r.URL.Query().Get("limit"); l != "" && err == nil {
		n, lerr := strconv.Atoi(l)
		if lerr != nil || n < 1 {
			err = fmt.Errorf("limit %q is not a positive number", l)
		}
		limit = min(n, maxExport)
	}
	if err != nil {
		c.renderStatus(w, r, s, http.StatusBadRequest, "Cannot export", err.Error())
		return
	}
	kc, err := c.kafka.get(db)
	if err != nil {
		c.renderStatus(w, r, s, http.StatusBadGateway, "Cannot export", err.Error())
		return
	}
	from.Last = int64(limit)
	rs, err := ranges(r.Context(), kc, d.Topic, d.Partition, from)
	if err != nil {
		c.renderStatus(w, r, s, http.StatusBadGateway, "Cannot export", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 6*browseTimeout)
	defer cancel()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.jsonl"`, strings.NewReplacer(`"`, "", "/", "").Replace(d.Topic)))
	enc := json.NewEncoder(w)
	n := 0
	err = scan(ctx, kc, d.Topic, rs, func(rec *kgo.Record) bool {
		if rec.Attrs.IsControl() {
			return true
		}
		if enc.Encode(toExport(rec)) != nil {
			return false
		}
		n++
		return n < limit
	})
	if err != nil {
		// The download is under way: the last line says why it stopped.
		enc.Encode(map[string]string{"error": "the export stopped early: " + err.Error()})
	}
}

// produceMessage produces one record from the messages page's form.
func (c *Console) produceMessage(w http.ResponseWriter, r *http.Request, s *session) {
	db, ok := c.loadCluster(w, r, s)
	if !ok {
		return
	}
	name := r.PathValue("name")
	to := clusterPath(db.ID, "topics", pathEscape(name), "messages") + "?from=end"
	rec := &kgo.Record{Topic: name, Value: []byte(r.PostFormValue("value")), Partition: -1}
	if k := r.PostFormValue("key"); k != "" {
		rec.Key = []byte(k)
	}
	for i, line := range strings.Split(r.PostFormValue("headers"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			back(w, r, to, "", fmt.Errorf("header line %d: want key=value, got %q", i+1, line))
			return
		}
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: strings.TrimSpace(k), Value: []byte(v)})
	}
	if p := strings.TrimSpace(r.PostFormValue("partition")); p != "" && p != "any" {
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil || n < 0 {
			back(w, r, to, "", fmt.Errorf("partition %q is not a partition number", p))
			return
		}
		rec.Partition = int32(n)
	}
	kc, err := c.kafka.get(db)
	if err == nil {
		err = c.kafka.produce(r.Context(), db, kc, rec)
	}
	if c.cfg.Audit != nil {
		status := http.StatusOK
		if err != nil {
			status = http.StatusBadGateway
		}
		c.cfg.Audit(r.Context(), s.token, http.MethodPost, r.URL.Path, status)
	}
	if err != nil {
		back(w, r, to, "", errKafka("produce", err))
		return
	}
	back(w, r, to, fmt.Sprintf("Produced to partition %d at offset %d.", rec.Partition, rec.Offset), nil)
}
