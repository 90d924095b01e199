package connect

import (
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
)

// Golden bytes written from the connect protocol's documented layout
// (ConnectProtocol / IncrementalCooperativeConnectProtocol, KIP-415):
// int16 version header, int16-length strings, int64 config offset, int32
// array counts, -1 for the connector itself in a task list, nullable
// bytes (int32 length, -1 null) for the v1 allocation.
func hexOf(parts ...string) string { return strings.Join(parts, "") }

func TestConnectProtocolGolden(t *testing.T) {
	url := hex.EncodeToString([]byte("http://a:8083/"))
	v1 := wireAssignment{Version: 1, Leader: "m1", LeaderURL: "http://a/", ConfigOffset: 7,
		Connectors: []string{"c"}, Tasks: []TaskID{{"c", 0}}, RevokedTasks: []TaskID{{"d", 1}}, DelayMs: 1000}
	v1hex := hexOf("0001", "0000", "0002"+hex.EncodeToString([]byte("m1")), "0009"+hex.EncodeToString([]byte("http://a/")), "0000000000000007",
		"00000001", "000163", "00000002", "ffffffff", "00000000", // assignment: c → [-1, 0]
		"00000001", "000164", "00000001", "00000001", // revoked: d → [1]
		"000003e8") // delay 1000 ms
	for _, c := range []struct {
		name string
		got  []byte
		want string
	}{
		{"v0 metadata", encodeMetadata(workerMetadata{Version: 0, URL: "http://a:8083/", ConfigOffset: 5}),
			hexOf("0000", "000e"+url, "0000000000000005")},
		{"v1 metadata without allocation", encodeMetadata(workerMetadata{Version: 1, URL: "http://a:8083/", ConfigOffset: 5}),
			hexOf("0001", "000e"+url, "0000000000000005", "ffffffff")},
		{"v1 assignment", encodeAssignment(v1), v1hex},
		{"v1 metadata with allocation", encodeMetadata(workerMetadata{Version: 1, URL: "http://a:8083/", ConfigOffset: 5, Allocation: &v1}),
			hexOf("0001", "000e"+url, "0000000000000005", "00000041", v1hex)},
		// sessioned (v2) writes v1's layout under version 2.
		{"v2 metadata", encodeMetadata(workerMetadata{Version: 2, URL: "http://a:8083/", ConfigOffset: 5}),
			hexOf("0002", "000e"+url, "0000000000000005", "ffffffff")},
		{"v2 assignment", encodeAssignment(wireAssignment{Version: 2, Leader: "m1", LeaderURL: "u", ConfigOffset: 1, Connectors: []string{"c"}, DelayMs: 5}),
			hexOf("0002", "0000", "00026d31", "000175", "0000000000000001",
				"00000001", "000163", "00000001", "ffffffff", // assignment: c → [-1]
				"00000000", "00000005")}, // no revoked; delay 5 ms
		{"v0 assignment", encodeAssignment(wireAssignment{Version: 0, Leader: "m1", LeaderURL: "u", ConfigOffset: 1, Tasks: []TaskID{{"b", 2}, {"a", 0}}}),
			hexOf("0000", "0000", "00026d31", "000175", "0000000000000001",
				"00000002", "000161", "00000001", "00000000", "000162", "00000001", "00000002")},
	} {
		if h := hex.EncodeToString(c.got); h != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, h, c.want)
		}
	}

	b, _ := hex.DecodeString(v1hex)
	a, err := decodeAssignment(b)
	if err != nil || !reflect.DeepEqual(a, v1) {
		t.Errorf("decode v1: %+v %v", a, err)
	}
	md, err := decodeMetadata(encodeMetadata(workerMetadata{Version: 1, URL: "u", ConfigOffset: 3, Allocation: &v1}))
	if err != nil || md.Allocation == nil || !reflect.DeepEqual(*md.Allocation, v1) || md.URL != "u" || md.ConfigOffset != 3 {
		t.Errorf("decode metadata: %+v %v", md, err)
	}
	// A v1 assignment with null arrays and no delay (fields a writer may
	// leave out are tolerated).
	b, _ = hex.DecodeString(hexOf("0001", "0000", "0000", "0000", "0000000000000000", "ffffffff"))
	if a, err := decodeAssignment(b); err != nil || len(a.Connectors)+len(a.Tasks)+len(a.RevokedTasks) != 0 || a.DelayMs != 0 {
		t.Errorf("decode minimal v1: %+v %v", a, err)
	}
	// Bad input: errors, never a panic.
	for _, bad := range []string{"", "00", "ffff", "0001000000", "00010000000000000000000000000000" + "7fffffff", "0000" + "0000" + "0000" + "0000" + "0000000000000000" + "00000001" + "000163" + "00000001" + "fffffffe"} {
		b, _ := hex.DecodeString(bad)
		if _, err := decodeAssignment(b); err == nil {
			t.Errorf("decodeAssignment(%s) succeeded", bad)
		}
	}
	if _, err := decodeMetadata([]byte{0, 1, 0, 1, 'u', 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0, 0, 0}); err == nil {
		t.Error("metadata with an allocation longer than the input decoded")
	}
}

func TestOfferedProtocols(t *testing.T) {
	for setting, want := range map[string][]string{
		"sessioned":  {"sessioned", "compatible", "default"},
		"":           {"sessioned", "compatible", "default"},
		"compatible": {"compatible", "default"},
		"eager":      {"default"},
	} {
		if got := offeredProtocols(setting); !reflect.DeepEqual(got, want) {
			t.Errorf("connect.protocol=%q offers %v, want %v", setting, got, want)
		}
	}
	for name, v := range map[string]int16{"sessioned": 2, "compatible": 1, "default": 0} {
		if protocolVersion(name) != v {
			t.Errorf("version of %s = %d, want %d", name, protocolVersion(name), v)
		}
	}
}

func TestMergeWork(t *testing.T) {
	got := mergeWork([]string{"a", "b"}, []string{"c", "a"}, []string{"b"}, strings.Compare)
	if !reflect.DeepEqual(got, []string{"a", "c"}) {
		t.Errorf("mergeWork = %v", got)
	}
}

func FuzzConnectProtocol(f *testing.F) {
	v1 := wireAssignment{Version: 1, Leader: "m1", LeaderURL: "http://a/", ConfigOffset: 7,
		Connectors: []string{"c"}, Tasks: []TaskID{{"c", 0}}, RevokedTasks: []TaskID{{"d", 1}}, DelayMs: 1000}
	f.Add(encodeAssignment(v1))
	f.Add(encodeMetadata(workerMetadata{Version: 1, URL: "u", ConfigOffset: 3, Allocation: &v1}))
	f.Add(encodeMetadata(workerMetadata{Version: 0, URL: "u", ConfigOffset: 3}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := decodeAssignment(b); err == nil {
			again, err := decodeAssignment(encodeAssignment(a))
			if err != nil || !sameAssignment(a, again) {
				t.Fatalf("assignment %+v re-decodes as %+v (%v)", a, again, err)
			}
		}
		if m, err := decodeMetadata(b); err == nil {
			again, err := decodeMetadata(encodeMetadata(m))
			if err != nil || again.URL != m.URL || again.ConfigOffset != m.ConfigOffset || (again.Allocation == nil) != (m.Allocation == nil) {
				t.Fatalf("metadata %+v re-decodes as %+v (%v)", m, again, err)
			}
		}
	})
}

// sameAssignment compares as sets per field (encoding groups and sorts).
func sameAssignment(a, b wireAssignment) bool {
	norm := func(w wireAssignment) wireAssignment {
		w.Connectors = mergeWork(nil, w.Connectors, nil, strings.Compare)
		w.Tasks = mergeWork(nil, w.Tasks, nil, compareTask)
		w.RevokedConnectors = mergeWork(nil, w.RevokedConnectors, nil, strings.Compare)
		w.RevokedTasks = mergeWork(nil, w.RevokedTasks, nil, compareTask)
		if w.Version < 1 {
			w.RevokedConnectors, w.RevokedTasks, w.DelayMs = []string{}, []TaskID{}, 0
		}
		return w
	}
	return reflect.DeepEqual(norm(a), norm(b))
}
