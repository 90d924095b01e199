package connect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The connect group protocol's binary metadata and assignments, as Kafka
// Connect's workers write them (Kafka protocol types: int16-length
// strings, int32-count arrays, big-endian integers), so Java workers and
// these workers can share a group:
//
//	default (v0, eager):  metadata   = version int16, url string, config-offset int64
//	                      assignment = version, error int16, leader string, leader-url string,
//	                                   config-offset int64, assignment [connector string, tasks [int32]]
//	compatible (v1, KIP-415 incremental cooperative):
//	                      metadata   = v0 metadata + allocation nullable-bytes (the member's
//	                                   current assignment, encoded as a v1 assignment)
//	                      assignment = v0 assignment + revoked [connector assignment] + delay int32
//
// Metadata goes through kmsg.ConnectMemberMetadata. Assignments have
// their own codec here: kmsg.ConnectMemberAssignment declares task ids as
// int16, where Kafka's ConnectProtocol writes INT32, so it cannot read or
// write a Java worker's assignment.
//
// A task id of -1 in a connector's task list stands for the connector
// itself. In v1 the assignment lists only work new to the member; it keeps
// what it ran minus the revoked work.
//
//	sessioned (v2, KIP-507): v1's formats with version 2; it also means
//	                      internal REST requests are signed (session.go).

const (
	protocolEager      = "default"
	protocolCompatible = "compatible"
	protocolSessioned  = "sessioned"
	connectorTaskID    = -1
)

// protocolVersion is the version a sub-protocol writes in its headers.
func protocolVersion(name string) int16 {
	switch name {
	case protocolSessioned:
		return 2
	case protocolCompatible:
		return 1
	}
	return 0
}

// offeredProtocols are the sub-protocols a worker with connect.protocol =
// setting offers, in order of preference (Connect's
// ConnectProtocolCompatibility: each also offers the older ones).
func offeredProtocols(setting string) []string {
	switch setting {
	case "eager", protocolEager:
		return []string{protocolEager}
	case protocolCompatible:
		return []string{protocolCompatible, protocolEager}
	}
	return []string{protocolSessioned, protocolCompatible, protocolEager}
}

// workerMetadata is a member's JoinGroup metadata.
type workerMetadata struct {
	Version      int16
	URL          string
	ConfigOffset int64
	// Allocation is the member's current work (v1+; nil when it has none
	// or the metadata is v0).
	Allocation *wireAssignment
}

// wireAssignment is a SyncGroup assignment as the protocol carries it.
type wireAssignment struct {
	Version           int16
	Error             int16
	Leader, LeaderURL string
	ConfigOffset      int64
	Connectors        []string
	Tasks             []TaskID
	RevokedConnectors []string
	RevokedTasks      []TaskID
	DelayMs           int32
}

// Assignment error codes.
const (
	assignmentNoError        = 0
	assignmentConfigMismatch = 1
)

type protoWriter struct{ b []byte }

func (w *protoWriter) int16(v int16) { w.b = binary.BigEndian.AppendUint16(w.b, uint16(v)) }
func (w *protoWriter) int32(v int32) { w.b = binary.BigEndian.AppendUint32(w.b, uint32(v)) }
func (w *protoWriter) int64(v int64) { w.b = binary.BigEndian.AppendUint64(w.b, uint64(v)) }
func (w *protoWriter) string(s string) {
	w.int16(int16(len(s)))
	w.b = append(w.b, s...)
}

// connectorAssignments groups work by connector (the connector itself as
// task -1 first), connectors in name order.
func connectorAssignments(w *protoWriter, connectors []string, tasks []TaskID) {
	byConn := map[string][]int32{}
	for _, c := range connectors {
		byConn[c] = append(byConn[c], connectorTaskID)
	}
	for _, t := range tasks {
		byConn[t.Connector] = append(byConn[t.Connector], int32(t.Task))
	}
	names := make([]string, 0, len(byConn))
	for n := range byConn {
		names = append(names, n)
	}
	slices.Sort(names)
	w.int32(int32(len(names)))
	for _, n := range names {
		w.string(n)
		ids := byConn[n]
		slices.Sort(ids)
		w.int32(int32(len(ids)))
		for _, id := range ids {
			w.int32(id)
		}
	}
}

// encodeAssignment writes an assignment in a's version (0: no revoked
// and no delay).
func encodeAssignment(a wireAssignment) []byte {
	w := &protoWriter{}
	w.int16(a.Version)
	w.int16(a.Error)
	w.string(a.Leader)
	w.string(a.LeaderURL)
	w.int64(a.ConfigOffset)
	connectorAssignments(w, a.Connectors, a.Tasks)
	if a.Version >= 1 {
		connectorAssignments(w, a.RevokedConnectors, a.RevokedTasks)
		w.int32(a.DelayMs)
	}
	return w.b
}

// encodeMetadata writes a member's metadata in m's version (kmsg's
// ConnectMemberMetadata).
func encodeMetadata(m workerMetadata) []byte {
	k := kmsg.ConnectMemberMetadata{Version: m.Version, URL: m.URL, ConfigOffset: m.ConfigOffset}
	if m.Allocation != nil {
		k.CurrentAssignment = encodeAssignment(*m.Allocation)
	}
	return k.AppendTo(nil)
}

func (r *protoReader) array(what string) int {
	n := r.int32()
	if r.err == nil && (n < -1 || int(n) > len(r.b)) {
		r.err = fmt.Errorf("%s: invalid array length %d", what, n)
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

// readConnectorAssignments reads [connector string, tasks [int32]]; a
// null array (-1) is empty.
func (r *protoReader) connectorAssignments() ([]string, []TaskID) {
	var cs []string
	var ts []TaskID
	n := r.array("assignment")
	for range max(n, 0) {
		name := r.string()
		m := r.array("tasks")
		for range max(m, 0) {
			id := r.int32()
			if r.err != nil {
				return nil, nil
			}
			switch {
			case id == connectorTaskID:
				cs = append(cs, name)
			case id >= 0:
				ts = append(ts, TaskID{name, int(id)})
			default:
				r.err = fmt.Errorf("invalid task id %d", id)
				return nil, nil
			}
		}
		if r.err != nil {
			return nil, nil
		}
	}
	return cs, ts
}

// decodeAssignment reads an assignment of any version (fields a version
// lacks keep their defaults, as Connect tolerates).
func decodeAssignment(b []byte) (wireAssignment, error) {
	r := &protoReader{b: b}
	var a wireAssignment
	a.Version = r.int16()
	if r.err == nil && a.Version < 0 {
		return a, fmt.Errorf("unsupported connect protocol version %d", a.Version)
	}
	a.Error = r.int16()
	a.Leader = r.string()
	a.LeaderURL = r.string()
	a.ConfigOffset = r.int64()
	a.Connectors, a.Tasks = r.connectorAssignments()
	if a.Version >= 1 && r.err == nil && len(r.b) > 0 {
		a.RevokedConnectors, a.RevokedTasks = r.connectorAssignments()
		if r.err == nil && len(r.b) > 0 {
			a.DelayMs = r.int32()
		}
	}
	if r.err != nil {
		return wireAssignment{}, fmt.Errorf("undecodable connect assignment: %w", r.err)
	}
	return a, nil
}

// decodeMetadata reads a member's metadata of any version.
func decodeMetadata(b []byte) (workerMetadata, error) {
	var k kmsg.ConnectMemberMetadata
	if err := k.ReadFrom(b); err != nil {
		return workerMetadata{}, fmt.Errorf("undecodable connect member metadata: %w", err)
	}
	if k.Version < 0 {
		return workerMetadata{}, fmt.Errorf("unsupported connect protocol version %d", k.Version)
	}
	m := workerMetadata{Version: k.Version, URL: k.URL, ConfigOffset: k.ConfigOffset}
	if k.CurrentAssignment != nil {
		a, err := decodeAssignment(k.CurrentAssignment)
		if err != nil {
			return workerMetadata{}, err
		}
		m.Allocation = &a
	}
	return m, nil
}

// restURL is a member's URL without a trailing slash (Java workers
// advertise "http://host:port/").
func restURL(u string) string { return strings.TrimRight(u, "/") }

var errAssignmentFailed = errors.New("the group leader could not make an assignment (its config is behind a member's); reading the config topic and rejoining")
