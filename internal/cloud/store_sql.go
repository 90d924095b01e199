package cloud

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL, database/sql driver "pgx"
	_ "modernc.org/sqlite"             // the embedded default store
)

// migrations is the store's schema, one entry per version, applied in
// order and recorded in schema_migrations. Append only: a released entry
// never changes. The SQL is the subset SQLite and PostgreSQL share.
var migrations = []string{
	// 1: clusters, brokers, operations, events, tokens, audit log.
	`CREATE TABLE clusters (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		engine TEXT NOT NULL,
		version TEXT NOT NULL,
		size TEXT NOT NULL,
		region TEXT NOT NULL,
		num_nodes INTEGER NOT NULL,
		storage_size_mib BIGINT NOT NULL,
		tags TEXT NOT NULL,
		status TEXT NOT NULL,
		created_at TEXT NOT NULL
	);
	CREATE TABLE nodes (
		cluster_id TEXT NOT NULL,
		node_id INTEGER NOT NULL,
		listen TEXT NOT NULL,
		controller TEXT NOT NULL,
		admin TEXT NOT NULL,
		voter INTEGER NOT NULL,
		state TEXT NOT NULL,
		data_dir TEXT NOT NULL,
		PRIMARY KEY (cluster_id, node_id)
	);
	CREATE TABLE operations (
		id TEXT PRIMARY KEY,
		cluster_id TEXT NOT NULL,
		kind TEXT NOT NULL,
		from_nodes INTEGER NOT NULL,
		to_nodes INTEGER NOT NULL,
		step TEXT NOT NULL,
		state TEXT NOT NULL,
		error TEXT NOT NULL,
		created_at TEXT NOT NULL,
		updated_at TEXT NOT NULL
	);
	CREATE TABLE events (
		id {{serial}},
		cluster_id TEXT NOT NULL,
		event_type TEXT NOT NULL,
		created_at TEXT NOT NULL
	);
	CREATE TABLE tokens (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		hash TEXT NOT NULL UNIQUE,
		scopes TEXT NOT NULL,
		created_at TEXT NOT NULL
	);
	CREATE TABLE audit (
		id {{serial}},
		token_id TEXT NOT NULL,
		method TEXT NOT NULL,
		path TEXT NOT NULL,
		status INTEGER NOT NULL,
		at TEXT NOT NULL
	)`,
	// 2: a rolling restart's progress.
	`ALTER TABLE operations ADD COLUMN done_nodes TEXT NOT NULL DEFAULT ''`,
	// 3: security (each cluster's CA and the control plane's credential;
	// users with their ACLs), trusted sources, maintenance windows.
	`ALTER TABLE clusters ADD COLUMN ca_cert TEXT NOT NULL DEFAULT '';
	ALTER TABLE clusters ADD COLUMN ca_key TEXT NOT NULL DEFAULT '';
	ALTER TABLE clusters ADD COLUMN control_password TEXT NOT NULL DEFAULT '';
	ALTER TABLE clusters ADD COLUMN maintenance_day TEXT NOT NULL DEFAULT '';
	ALTER TABLE clusters ADD COLUMN maintenance_hour TEXT NOT NULL DEFAULT '';
	ALTER TABLE clusters ADD COLUMN pending_version TEXT NOT NULL DEFAULT '';
	CREATE TABLE users (
		cluster_id TEXT NOT NULL,
		name TEXT NOT NULL,
		role TEXT NOT NULL,
		password TEXT NOT NULL,
		acl TEXT NOT NULL,
		state TEXT NOT NULL,
		created_at TEXT NOT NULL,
		PRIMARY KEY (cluster_id, name)
	);
	CREATE TABLE firewall_rules (
		uuid TEXT PRIMARY KEY,
		cluster_id TEXT NOT NULL,
		type TEXT NOT NULL,
		value TEXT NOT NULL,
		created_at TEXT NOT NULL
	)`,
	// 4: metrics endpoints (one per broker) and installation-wide settings
	// (the metrics endpoints' basic-auth credentials).
	`ALTER TABLE nodes ADD COLUMN metrics TEXT NOT NULL DEFAULT '';
	CREATE TABLE settings (
		name TEXT PRIMARY KEY,
		value TEXT NOT NULL
	)`,
	// 5: each broker's mTLS listener (client certificates) and each
	// user's client certificate and key.
	`ALTER TABLE nodes ADD COLUMN mtls TEXT NOT NULL DEFAULT '';
	ALTER TABLE users ADD COLUMN access_cert TEXT NOT NULL DEFAULT '';
	ALTER TABLE users ADD COLUMN access_key TEXT NOT NULL DEFAULT ''`,
	// 6: tenants: each token's, each cluster's (its creator's); the rows
	// made before are the default tenant's.
	`ALTER TABLE tokens ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
	ALTER TABLE clusters ADD COLUMN tenant TEXT NOT NULL DEFAULT ''`,
	// 7: deletion protection.
	`ALTER TABLE clusters ADD COLUMN deletion_protection INTEGER NOT NULL DEFAULT 0`,
	// 8: broker configs applied at broker start (a JSON object).
	`ALTER TABLE clusters ADD COLUMN broker_config TEXT NOT NULL DEFAULT '{}'`,
	// 9: cluster names are unique per tenant, not per installation (a
	// tenant's duplicate-name 409 told it another tenant's cluster
	// existed): the table rebuilt with UNIQUE (tenant, name), as SQLite
	// cannot drop a column's UNIQUE in place (and the shared SQL does not
	// name PostgreSQL's constraint).
	`CREATE TABLE clusters_v9 (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		engine TEXT NOT NULL,
		version TEXT NOT NULL,
		size TEXT NOT NULL,
		region TEXT NOT NULL,
		num_nodes INTEGER NOT NULL,
		storage_size_mib BIGINT NOT NULL,
		tags TEXT NOT NULL,
		status TEXT NOT NULL,
		created_at TEXT NOT NULL,
		ca_cert TEXT NOT NULL DEFAULT '',
		ca_key TEXT NOT NULL DEFAULT '',
		control_password TEXT NOT NULL DEFAULT '',
		maintenance_day TEXT NOT NULL DEFAULT '',
		maintenance_hour TEXT NOT NULL DEFAULT '',
		pending_version TEXT NOT NULL DEFAULT '',
		tenant TEXT NOT NULL DEFAULT '',
		deletion_protection INTEGER NOT NULL DEFAULT 0,
		broker_config TEXT NOT NULL DEFAULT '{}',
		UNIQUE (tenant, name)
	);
	INSERT INTO clusters_v9 (id, name, engine, version, size, region, num_nodes, storage_size_mib, tags, status, created_at, ca_cert, ca_key,
		control_password, maintenance_day, maintenance_hour, pending_version, tenant, deletion_protection, broker_config)
		SELECT id, name, engine, version, size, region, num_nodes, storage_size_mib, tags, status, created_at, ca_cert, ca_key,
		control_password, maintenance_day, maintenance_hour, pending_version, tenant, deletion_protection, broker_config FROM clusters;
	DROP TABLE clusters;
	ALTER TABLE clusters_v9 RENAME TO clusters`,
}

// sqlStore is the Store over database/sql. Placeholders are written as
// "?" and rebound for the driver.
type sqlStore struct {
	db       *sql.DB
	now      func() time.Time
	postgres bool
}

// querier is a *sql.DB or *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *sqlStore) exec(ctx context.Context, qr querier, query string, args ...any) (sql.Result, error) {
	res, err := qr.ExecContext(ctx, s.q(query), args...)
	if err != nil && isUniqueViolation(err) {
		return res, errorf(KindConflict, "already exists: %v", err)
	}
	return res, err
}

func (s *sqlStore) query(ctx context.Context, qr querier, query string, args ...any) (*sql.Rows, error) {
	return qr.QueryContext(ctx, s.q(query), args...)
}

func (s *sqlStore) queryRow(ctx context.Context, qr querier, query string, args ...any) *sql.Row {
	return qr.QueryRowContext(ctx, s.q(query), args...)
}

// isUniqueViolation recognises a unique-constraint failure of either
// database (a race the transaction's own check did not see).
func isUniqueViolation(err error) bool {
	m := err.Error()
	return strings.Contains(m, "UNIQUE constraint failed") || strings.Contains(m, "SQLSTATE 23505")
}

// q rebinds a query's "?" placeholders ($1, $2, ... for PostgreSQL).
func (s *sqlStore) q(query string) string {
	if !s.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// lockCluster takes the cluster row's lock for the rest of tx, so that
// concurrent operations on one cluster serialise (SQLite serialises every
// write transaction already).
func (s *sqlStore) lockCluster(ctx context.Context, tx *sql.Tx, id string) error {
	if !s.postgres {
		return nil
	}
	_, err := s.exec(ctx, tx, `SELECT id FROM clusters WHERE id = $1 FOR UPDATE`, id)
	return err
}

// OpenPostgres opens the PostgreSQL store at dsn (postgres://...) through
// pgx and migrates it to the current schema.
func OpenPostgres(ctx context.Context, dsn string) (Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &sqlStore{db: db, now: time.Now, postgres: true}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// OpenStore opens the store named by spec: a postgres:// or
// postgresql:// URL, else the SQLite file in dataDir.
func OpenStore(ctx context.Context, spec, dataDir string) (Store, error) {
	if strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://") {
		return OpenPostgres(ctx, spec)
	}
	if spec != "" && spec != "sqlite" {
		return nil, fmt.Errorf("unknown --store %q: sqlite or a postgres:// URL", spec)
	}
	return OpenSQLite(ctx, StorePath(dataDir))
}

// OpenSQLite opens (creating if needed) the SQLite store at path and
// migrates it to the current schema.
func OpenSQLite(ctx context.Context, path string) (Store, error) {
	// One connection: SQLite serialises writers anyway, and a single
	// connection keeps transactions from failing with SQLITE_BUSY.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	s := &sqlStore{db: db, now: time.Now}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *sqlStore) migrate(ctx context.Context) error {
	if _, err := s.exec(ctx, s.db, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	var have int
	if err := s.queryRow(ctx, s.db, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("store: schema version %d is newer than this trib (%d): upgrade trib", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			serial := "INTEGER PRIMARY KEY"
			if s.postgres {
				serial = "BIGSERIAL PRIMARY KEY"
			}
			for _, stmt := range strings.Split(strings.ReplaceAll(migrations[v-1], "{{serial}}", serial), ";\n") {
				if _, err := s.exec(ctx, tx, stmt); err != nil {
					return err
				}
			}
			_, err := s.exec(ctx, tx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, s.stamp())
			return err
		})
		if err != nil {
			return fmt.Errorf("store: migration %d: %w", v, err)
		}
	}
	return nil
}

func (s *sqlStore) stamp() string { return s.now().UTC().Format(time.RFC3339Nano) }

func parseStamp(v string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, v)
	return t
}

func (s *sqlStore) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (s *sqlStore) Close() error { return s.db.Close() }

const clusterCols = `id, name, engine, version, size, region, num_nodes, storage_size_mib, tags, status, created_at, ca_cert, ca_key, control_password, maintenance_day, maintenance_hour, pending_version, tenant, deletion_protection, broker_config`

type scanner interface{ Scan(...any) error }

func scanCluster(r scanner) (Cluster, error) {
	var c Cluster
	var tags, created, brokerConfig string
	var protected int
	if err := r.Scan(&c.ID, &c.Name, &c.Engine, &c.Version, &c.Size, &c.Region, &c.NumNodes, &c.StorageSizeMiB, &tags, &c.Status, &created,
		&c.CACert, &c.CAKey, &c.ControlPassword, &c.MaintenanceDay, &c.MaintenanceHour, &c.PendingVersion, &c.Tenant, &protected, &brokerConfig); err != nil {
		return c, err
	}
	json.Unmarshal([]byte(brokerConfig), &c.BrokerConfig)
	c.DeletionProtection = protected != 0
	json.Unmarshal([]byte(tags), &c.Tags)
	c.CreatedAt = parseStamp(created)
	return c, nil
}

func (s *sqlStore) insertNodes(ctx context.Context, tx *sql.Tx, nodes []Node) error {
	for _, n := range nodes {
		if _, err := s.exec(ctx, tx, `INSERT INTO nodes (cluster_id, node_id, listen, controller, admin, voter, state, data_dir, metrics, mtls) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			n.ClusterID, n.NodeID, n.Listen, n.Controller, n.Admin, boolInt(n.Voter), n.State, n.DataDir, n.Metrics, n.MTLS); err != nil {
			return err
		}
	}
	return nil
}

// brokerConfigJSON is a cluster's broker_config column.
func brokerConfigJSON(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *sqlStore) insertOp(ctx context.Context, tx *sql.Tx, op Operation) error {
	_, err := s.exec(ctx, tx, `INSERT INTO operations (id, cluster_id, kind, from_nodes, to_nodes, step, state, error, done_nodes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		op.ID, op.ClusterID, op.Kind, op.From, op.To, op.Step, op.State, op.Error, op.Done, s.stamp(), s.stamp())
	return err
}

func (s *sqlStore) CreateCluster(ctx context.Context, c Cluster, nodes []Node, op Operation, users []User, rules []FirewallRule) error {
	tags, _ := json.Marshal(c.Tags)
	if c.Tags == nil {
		tags = []byte("[]")
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := s.queryRow(ctx, tx, `SELECT COUNT(*) FROM clusters WHERE name = ? AND tenant = ?`, c.Name, c.Tenant).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errorf(KindConflict, "a database cluster named %q already exists", c.Name)
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO clusters (`+clusterCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.Name, c.Engine, c.Version, c.Size, c.Region, c.NumNodes, c.StorageSizeMiB, string(tags), c.Status, c.CreatedAt.UTC().Format(time.RFC3339Nano),
			c.CACert, c.CAKey, c.ControlPassword, c.MaintenanceDay, c.MaintenanceHour, c.PendingVersion, c.Tenant, boolInt(c.DeletionProtection), brokerConfigJSON(c.BrokerConfig)); err != nil {
			return err
		}
		if err := s.insertNodes(ctx, tx, nodes); err != nil {
			return err
		}
		for _, u := range users {
			if err := s.insertUser(ctx, tx, u); err != nil {
				return err
			}
		}
		if err := s.insertFirewallRules(ctx, tx, c.ID, rules); err != nil {
			return err
		}
		return s.insertOp(ctx, tx, op)
	})
}

func (s *sqlStore) Cluster(ctx context.Context, id string) (Cluster, error) {
	c, err := scanCluster(s.queryRow(ctx, s.db, `SELECT `+clusterCols+` FROM clusters WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, errNoRow
	}
	return c, err
}

func (s *sqlStore) Clusters(ctx context.Context) ([]Cluster, error) {
	rows, err := s.query(ctx, s.db, `SELECT `+clusterCols+` FROM clusters ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Cluster
	for rows.Next() {
		c, err := scanCluster(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *sqlStore) queryNodes(ctx context.Context, where string, args ...any) ([]Node, error) {
	rows, err := s.query(ctx, s.db, `SELECT cluster_id, node_id, listen, controller, admin, voter, state, data_dir, metrics, mtls FROM nodes `+where+` ORDER BY cluster_id, node_id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Node
	for rows.Next() {
		var n Node
		var voter int
		if err := rows.Scan(&n.ClusterID, &n.NodeID, &n.Listen, &n.Controller, &n.Admin, &voter, &n.State, &n.DataDir, &n.Metrics, &n.MTLS); err != nil {
			return nil, err
		}
		n.Voter = voter != 0
		out = append(out, n)
	}
	return out, rows.Err()
}

func (s *sqlStore) Nodes(ctx context.Context, clusterID string) ([]Node, error) {
	return s.queryNodes(ctx, `WHERE cluster_id = ?`, clusterID)
}

func (s *sqlStore) AllNodes(ctx context.Context) ([]Node, error) { return s.queryNodes(ctx, ``) }

func (s *sqlStore) StartOperation(ctx context.Context, op Operation, status string, numNodes int, newNodes []Node) error {
	return s.StartOperationChange(ctx, op, Change{Status: status, NumNodes: numNodes, NewNodes: newNodes})
}

func (s *sqlStore) StartOperationChange(ctx context.Context, op Operation, ch Change) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockCluster(ctx, tx, op.ClusterID); err != nil {
			return err
		}
		var running int
		if err := s.queryRow(ctx, tx, `SELECT COUNT(*) FROM operations WHERE cluster_id = ? AND state = ?`, op.ClusterID, OpRunning).Scan(&running); err != nil {
			return err
		}
		if running > 0 {
			return errorf(KindConflict, "the database cluster has an operation in progress; retry when it is online")
		}
		if op.Kind == OpDelete {
			// Checked under the cluster's lock: a concurrent change of the
			// flag is either before the delete or after it.
			var protected int
			if err := s.queryRow(ctx, tx, `SELECT deletion_protection FROM clusters WHERE id = ?`, op.ClusterID).Scan(&protected); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return errNoRow
				}
				return err
			}
			if protected != 0 {
				return errDeletionProtected
			}
		}
		res, err := s.exec(ctx, tx, `UPDATE clusters SET status = ?, num_nodes = ? WHERE id = ?`, ch.Status, ch.NumNodes, op.ClusterID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNoRow
		}
		if ch.Version != "" {
			if _, err := s.exec(ctx, tx, `UPDATE clusters SET version = ?, pending_version = '' WHERE id = ?`, ch.Version, op.ClusterID); err != nil {
				return err
			}
		}
		if ch.StorageSizeMiB != 0 {
			if _, err := s.exec(ctx, tx, `UPDATE clusters SET storage_size_mib = ? WHERE id = ?`, ch.StorageSizeMiB, op.ClusterID); err != nil {
				return err
			}
		}
		if ch.BrokerConfig != nil {
			if _, err := s.exec(ctx, tx, `UPDATE clusters SET broker_config = ? WHERE id = ?`, brokerConfigJSON(ch.BrokerConfig), op.ClusterID); err != nil {
				return err
			}
		}
		if err := s.insertNodes(ctx, tx, ch.NewNodes); err != nil {
			return err
		}
		return s.insertOp(ctx, tx, op)
	})
}

func (s *sqlStore) UpdateOperation(ctx context.Context, op Operation) error {
	_, err := s.exec(ctx, s.db, `UPDATE operations SET step = ?, state = ?, error = ?, to_nodes = ?, done_nodes = ?, updated_at = ? WHERE id = ?`,
		op.Step, op.State, op.Error, op.To, op.Done, s.stamp(), op.ID)
	return err
}

func (s *sqlStore) SetNodeState(ctx context.Context, clusterID string, nodeID int32, state string) error {
	_, err := s.exec(ctx, s.db, `UPDATE nodes SET state = ? WHERE cluster_id = ? AND node_id = ?`, state, clusterID, nodeID)
	return err
}

func (s *sqlStore) FinishOperation(ctx context.Context, op Operation, status string, numNodes int) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `UPDATE operations SET step = ?, state = ?, error = ?, updated_at = ? WHERE id = ?`,
			op.Step, op.State, op.Error, s.stamp(), op.ID); err != nil {
			return err
		}
		if numNodes > 0 {
			_, err := s.exec(ctx, tx, `UPDATE clusters SET status = ?, num_nodes = ? WHERE id = ?`, status, numNodes, op.ClusterID)
			return err
		}
		_, err := s.exec(ctx, tx, `UPDATE clusters SET status = ? WHERE id = ?`, status, op.ClusterID)
		return err
	})
}

func (s *sqlStore) DeleteCluster(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{`DELETE FROM nodes WHERE cluster_id = ?`, `DELETE FROM operations WHERE cluster_id = ?`,
			`DELETE FROM users WHERE cluster_id = ?`, `DELETE FROM firewall_rules WHERE cluster_id = ?`, `DELETE FROM clusters WHERE id = ?`} {
			if _, err := s.exec(ctx, tx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *sqlStore) Operations(ctx context.Context, clusterID string) ([]Operation, error) {
	q, arg := `WHERE cluster_id = ?`, clusterID
	if clusterID == "" {
		q, arg = `WHERE state = ?`, OpRunning
	}
	rows, err := s.query(ctx, s.db, `SELECT id, cluster_id, kind, from_nodes, to_nodes, step, state, error, done_nodes, created_at, updated_at FROM operations `+q+` ORDER BY created_at, id`, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Operation
	for rows.Next() {
		var op Operation
		var created, updated string
		if err := rows.Scan(&op.ID, &op.ClusterID, &op.Kind, &op.From, &op.To, &op.Step, &op.State, &op.Error, &op.Done, &created, &updated); err != nil {
			return nil, err
		}
		op.CreatedAt, op.UpdatedAt = parseStamp(created), parseStamp(updated)
		out = append(out, op)
	}
	return out, rows.Err()
}

func (s *sqlStore) AddEvent(ctx context.Context, clusterID, typ string) error {
	_, err := s.exec(ctx, s.db, `INSERT INTO events (cluster_id, event_type, created_at) VALUES (?, ?, ?)`, clusterID, typ, s.stamp())
	return err
}

func (s *sqlStore) Events(ctx context.Context, clusterID string) ([]Event, error) {
	rows, err := s.query(ctx, s.db, `SELECT id, cluster_id, event_type, created_at FROM events WHERE cluster_id = ? ORDER BY id`, clusterID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at string
		if err := rows.Scan(&e.ID, &e.ClusterID, &e.Type, &at); err != nil {
			return nil, err
		}
		e.Time = parseStamp(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *sqlStore) CreateToken(ctx context.Context, t Token) error {
	_, err := s.exec(ctx, s.db, `INSERT INTO tokens (id, name, hash, scopes, tenant, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		t.ID, t.Name, t.Hash, strings.Join(t.Scopes, " "), t.Tenant, s.stamp())
	return err
}

func (s *sqlStore) TokenByHash(ctx context.Context, hash string) (Token, error) {
	var t Token
	var scopes, created string
	err := s.queryRow(ctx, s.db, `SELECT id, name, hash, scopes, tenant, created_at FROM tokens WHERE hash = ?`, hash).Scan(&t.ID, &t.Name, &t.Hash, &scopes, &t.Tenant, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return t, errNoRow
	}
	t.Scopes = strings.Fields(scopes)
	t.CreatedAt = parseStamp(created)
	return t, err
}

func (s *sqlStore) TokenCount(ctx context.Context) (int, error) {
	var n int
	err := s.queryRow(ctx, s.db, `SELECT COUNT(*) FROM tokens`).Scan(&n)
	return n, err
}

func (s *sqlStore) AuditLog(ctx context.Context, limit int) ([]AuditRecord, error) {
	rows, err := s.query(ctx, s.db, `SELECT a.id, a.token_id, COALESCE(t.name, ''), a.method, a.path, a.status, a.at
		FROM audit a LEFT JOIN tokens t ON t.id = a.token_id ORDER BY a.id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditRecord
	for rows.Next() {
		var r AuditRecord
		var at string
		if err := rows.Scan(&r.ID, &r.TokenID, &r.TokenName, &r.Method, &r.Path, &r.Status, &at); err != nil {
			return nil, err
		}
		r.Time = parseStamp(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *sqlStore) Audit(ctx context.Context, tokenID, method, path string, status int) error {
	_, err := s.exec(ctx, s.db, `INSERT INTO audit (token_id, method, path, status, at) VALUES (?, ?, ?, ?, ?)`, tokenID, method, path, status, s.stamp())
	return err
}

func (s *sqlStore) insertUser(ctx context.Context, qr querier, u User) error {
	acl, err := json.Marshal(u.ACL)
	if err != nil {
		return err
	}
	if u.State == "" {
		u.State = UserActive
	}
	_, err = s.exec(ctx, qr, `INSERT INTO users (cluster_id, name, role, password, acl, state, created_at, access_cert, access_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ClusterID, u.Name, u.Role, u.Password, string(acl), u.State, s.stamp(), u.AccessCert, u.AccessKey)
	return err
}

func (s *sqlStore) Users(ctx context.Context, clusterID string) ([]User, error) {
	rows, err := s.query(ctx, s.db, `SELECT cluster_id, name, role, password, acl, state, created_at, access_cert, access_key FROM users WHERE cluster_id = ? ORDER BY created_at, name`, clusterID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		var acl, created string
		if err := rows.Scan(&u.ClusterID, &u.Name, &u.Role, &u.Password, &acl, &u.State, &created, &u.AccessCert, &u.AccessKey); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(acl), &u.ACL); err != nil {
			return nil, fmt.Errorf("store: user %s: acl: %w", u.Name, err)
		}
		u.CreatedAt = parseStamp(created)
		out = append(out, u)
	}
	return out, rows.Err()
}

func (s *sqlStore) CreateUser(ctx context.Context, u User) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockCluster(ctx, tx, u.ClusterID); err != nil {
			return err
		}
		var n int
		if err := s.queryRow(ctx, tx, `SELECT COUNT(*) FROM clusters WHERE id = ?`, u.ClusterID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return errNoRow
		}
		if err := s.queryRow(ctx, tx, `SELECT COUNT(*) FROM users WHERE cluster_id = ? AND name = ?`, u.ClusterID, u.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errorf(KindConflict, "a user named %q already exists (or is still being deleted)", u.Name)
		}
		return s.insertUser(ctx, tx, u)
	})
}

func (s *sqlStore) UpdateUser(ctx context.Context, u User) error {
	acl, err := json.Marshal(u.ACL)
	if err != nil {
		return err
	}
	res, err := s.exec(ctx, s.db, `UPDATE users SET password = ?, acl = ?, state = ?, access_cert = ?, access_key = ? WHERE cluster_id = ? AND name = ?`,
		u.Password, string(acl), u.State, u.AccessCert, u.AccessKey, u.ClusterID, u.Name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errNoRow
	}
	return nil
}

func (s *sqlStore) RemoveUser(ctx context.Context, clusterID, name string) error {
	_, err := s.exec(ctx, s.db, `DELETE FROM users WHERE cluster_id = ? AND name = ? AND state = ?`, clusterID, name, UserDeleting)
	return err
}

func (s *sqlStore) FirewallRules(ctx context.Context, clusterID string) ([]FirewallRule, error) {
	rows, err := s.query(ctx, s.db, `SELECT uuid, cluster_id, type, value, created_at FROM firewall_rules WHERE cluster_id = ? ORDER BY created_at, uuid`, clusterID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []FirewallRule
	for rows.Next() {
		var r FirewallRule
		var created string
		if err := rows.Scan(&r.UUID, &r.ClusterID, &r.Type, &r.Value, &created); err != nil {
			return nil, err
		}
		r.CreatedAt = parseStamp(created)
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *sqlStore) SetFirewallRules(ctx context.Context, clusterID string, rules []FirewallRule) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockCluster(ctx, tx, clusterID); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM firewall_rules WHERE cluster_id = ?`, clusterID); err != nil {
			return err
		}
		return s.insertFirewallRules(ctx, tx, clusterID, rules)
	})
}

func (s *sqlStore) insertFirewallRules(ctx context.Context, tx *sql.Tx, clusterID string, rules []FirewallRule) error {
	for _, r := range rules {
		created := r.CreatedAt
		if created.IsZero() {
			created = s.now()
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO firewall_rules (uuid, cluster_id, type, value, created_at) VALUES (?, ?, ?, ?, ?)`,
			r.UUID, clusterID, r.Type, r.Value, created.UTC().Format(time.RFC3339Nano)); err != nil {
			return err
		}
	}
	return nil
}

func (s *sqlStore) SetDeletionProtection(ctx context.Context, clusterID string, on bool) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockCluster(ctx, tx, clusterID); err != nil {
			return err
		}
		res, err := s.exec(ctx, tx, `UPDATE clusters SET deletion_protection = ? WHERE id = ?`, boolInt(on), clusterID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNoRow
		}
		return nil
	})
}

func (s *sqlStore) SetMaintenance(ctx context.Context, clusterID, day, hour, pendingVersion string) error {
	res, err := s.exec(ctx, s.db, `UPDATE clusters SET maintenance_day = ?, maintenance_hour = ?, pending_version = ? WHERE id = ?`, day, hour, pendingVersion, clusterID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errNoRow
	}
	return nil
}

func (s *sqlStore) Setting(ctx context.Context, name string) (string, error) {
	var v string
	err := s.queryRow(ctx, s.db, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errNoRow
	}
	return v, err
}

func (s *sqlStore) SetSetting(ctx context.Context, name, value string, onlyIfMissing bool) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := s.queryRow(ctx, tx, `SELECT COUNT(*) FROM settings WHERE name = ?`, name).Scan(&n); err != nil {
			return err
		}
		switch {
		case n > 0 && onlyIfMissing:
			return nil
		case n > 0:
			_, err := s.exec(ctx, tx, `UPDATE settings SET value = ? WHERE name = ?`, value, name)
			return err
		}
		_, err := s.exec(ctx, tx, `INSERT INTO settings (name, value) VALUES (?, ?)`, name, value)
		if onlyIfMissing {
			var e *Error
			if errors.As(err, &e) && e.Kind == KindConflict {
				return nil // another control plane made it first
			}
		}
		return err
	})
}
