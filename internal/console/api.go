package console

// The console is a client of the control plane's API: every read and write
// of clusters, topics and operations is a request to the API's handler,
// made in-process with the signed-in user's token, so the API's scopes,
// validation and audit log apply to the console exactly as to godo or
// doctl. Only what the API does not offer (partition leaders, messages,
// consumer groups) is read from the cluster directly as a Kafka client.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// apiClient calls the API handler in-process.
type apiClient struct{ h http.Handler }

// apiError is a refusal from the API, in DigitalOcean's error shape.
type apiError struct {
	Status  int
	ID      string `json:"id"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Message }

// recorder is the in-process response.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

// do sends method path with in as its JSON body (when not nil) and
// decodes the answer into out (when not nil).
func (c apiClient) do(ctx context.Context, token, method, path string, in, out any) error {
	var body io.Reader = http.NoBody
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "trib-console")
	req.RemoteAddr = "127.0.0.1:0"
	rec := &recorder{header: http.Header{}}
	c.h.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.status >= 300 {
		e := &apiError{Status: rec.status}
		if json.Unmarshal(rec.body.Bytes(), e) != nil || e.Message == "" {
			e.Message = fmt.Sprintf("the API answered %d %s", rec.status, http.StatusText(rec.status))
		}
		return e
	}
	if out != nil && rec.body.Len() > 0 {
		dec := json.NewDecoder(&rec.body)
		dec.UseNumber() // config values keep their integer form
		return dec.Decode(out)
	}
	return nil
}

// The API's JSON shapes the console reads (DigitalOcean's field names).

type connection struct {
	Protocol string `json:"protocol"`
	URI      string `json:"uri"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	User     string `json:"user"`
	Password string `json:"password"`
	SSL      bool   `json:"ssl"`
}

type database struct {
	ID               string      `json:"id"`
	Name             string      `json:"name"`
	Engine           string      `json:"engine"`
	Version          string      `json:"version"`
	Connection       *connection `json:"connection"`
	NumNodes         int         `json:"num_nodes"`
	Size             string      `json:"size"`
	Region           string      `json:"region"`
	Status           string      `json:"status"`
	CreatedAt        time.Time   `json:"created_at"`
	Tags             []string    `json:"tags"`
	StorageSizeMiB   uint64      `json:"storage_size_mib"`
	BootstrapServers []string    `json:"bootstrap_servers"`
	// CA is the cluster's CA certificate (PEM, from GET /ca) when its
	// connection is SSL; database fills it.
	CA []byte `json:"-"`
}

type layout struct {
	NumNodes int      `json:"num_nodes"`
	Sizes    []string `json:"sizes"`
}

type engineOptions struct {
	Regions  []string `json:"regions"`
	Versions []string `json:"versions"`
	Layouts  []layout `json:"layouts"`
}

type operation struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	FromNodes int       `json:"from_nodes"`
	ToNodes   int       `json:"to_nodes"`
	Step      string    `json:"step"`
	State     string    `json:"state"`
	Error     string    `json:"error"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type event struct {
	ID         string `json:"id"`
	EventType  string `json:"event_type"`
	CreateTime string `json:"create_time"`
}

type topicPartition struct {
	ID             uint32 `json:"id"`
	Size           uint64 `json:"size"`
	InSyncReplicas uint32 `json:"in_sync_replicas"`
	EarliestOffset uint64 `json:"earliest_offset"`
	ConsumerGroups []struct {
		Name   string `json:"name"`
		Offset uint64 `json:"offset"`
	} `json:"consumer_groups"`
}

type topic struct {
	Name              string           `json:"name"`
	Partitions        []topicPartition `json:"partitions"`
	ReplicationFactor uint32           `json:"replication_factor"`
	State             string           `json:"state"`
	Config            map[string]any   `json:"config"`
}

func (c apiClient) database(ctx context.Context, token, id string) (database, error) {
	var out struct {
		Database database `json:"database"`
	}
	err := c.do(ctx, token, http.MethodGet, "/v2/databases/"+pathEscape(id), nil, &out)
	if err == nil && out.Database.Connection != nil && out.Database.Connection.SSL {
		var ca struct {
			CA struct {
				Certificate []byte `json:"certificate"`
			} `json:"ca"`
		}
		if err := c.do(ctx, token, http.MethodGet, "/v2/databases/"+pathEscape(id)+"/ca", nil, &ca); err != nil {
			return out.Database, err
		}
		out.Database.CA = ca.CA.Certificate
	}
	return out.Database, err
}

func (c apiClient) databases(ctx context.Context, token string) ([]database, error) {
	var out struct {
		Databases []database `json:"databases"`
	}
	err := c.do(ctx, token, http.MethodGet, "/v2/databases", nil, &out)
	return out.Databases, err
}

func (c apiClient) options(ctx context.Context, token string) (engineOptions, error) {
	var out struct {
		Options map[string]engineOptions `json:"options"`
	}
	err := c.do(ctx, token, http.MethodGet, "/v2/databases/options", nil, &out)
	return out.Options["kafka"], err
}

func (c apiClient) operations(ctx context.Context, token, id string) ([]operation, error) {
	var out struct {
		Operations []operation `json:"operations"`
	}
	err := c.do(ctx, token, http.MethodGet, "/v2/databases/"+pathEscape(id)+"/operations", nil, &out)
	return out.Operations, err
}

func (c apiClient) events(ctx context.Context, token, id string) ([]event, error) {
	var out struct {
		Events []event `json:"events"`
	}
	err := c.do(ctx, token, http.MethodGet, "/v2/databases/"+pathEscape(id)+"/events", nil, &out)
	return out.Events, err
}

func (c apiClient) topics(ctx context.Context, token, id string) ([]topic, error) {
	var out struct {
		Topics []topic `json:"topics"`
	}
	err := c.do(ctx, token, http.MethodGet, "/v2/databases/"+pathEscape(id)+"/topics", nil, &out)
	return out.Topics, err
}

func (c apiClient) topic(ctx context.Context, token, id, name string) (topic, error) {
	var out struct {
		Topic topic `json:"topic"`
	}
	err := c.do(ctx, token, http.MethodGet, "/v2/databases/"+pathEscape(id)+"/topics/"+pathEscape(name), nil, &out)
	return out.Topic, err
}

// nodeStatus is a broker with its disk budget (GET /nodes, Tributary's).
type nodeStatus struct {
	NodeID            int32  `json:"node_id"`
	State             string `json:"state"`
	Voter             bool   `json:"voter"`
	StorageTotalBytes int64  `json:"storage_total_bytes"`
	StorageFreeBytes  int64  `json:"storage_free_bytes"`
	StorageFull       bool   `json:"storage_full"`
	Error             string `json:"error"`
}

func (c apiClient) nodes(ctx context.Context, token, id string) ([]nodeStatus, error) {
	var out struct {
		Nodes []nodeStatus `json:"nodes"`
	}
	err := c.do(ctx, token, http.MethodGet, "/v2/databases/"+pathEscape(id)+"/nodes", nil, &out)
	return out.Nodes, err
}
