package share

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

var lim = Limits{MaxLocks: 10, LockDuration: 30 * time.Second, DeliveryLimit: 3}

var t0 = time.Unix(1_700_000_000, 0)

// step is one operation on a share-partition and what it must give.
type step struct {
	op     string // acquire, ack, expire, release, logstart
	member string
	from   int64 // acquire: first offset read; logstart: the new log start
	to     int64 // acquire: end of the data read
	max    int
	acks   []AckBatch
	at     time.Duration // clock offset from t0
	want   []Range       // acquire
	err    error         // ack
	start  int64         // the start offset after the step
	next   int64         // NextFetchOffset(hw=100) after the step
}

func ack(first, last int64, types ...int8) AckBatch {
	return AckBatch{First: first, Last: last, Types: types}
}

func TestPartitionSteps(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"acquire within the window and accept", []step{
			{op: "acquire", member: "a", from: 0, to: 100, max: 100, want: []Range{{0, 9, 1}}, start: 0, next: -1},
			{op: "ack", member: "a", acks: []AckBatch{ack(0, 4, AckAccept)}, start: 5, next: 10},
			{op: "acquire", member: "b", from: 10, to: 100, max: 3, want: []Range{{10, 12, 1}}, start: 5, next: 13},
		}},
		{"release redelivers with a higher count, then the limit archives", []step{
			{op: "acquire", member: "a", from: 0, to: 2, max: 10, want: []Range{{0, 1, 1}}, next: 2},
			{op: "ack", member: "a", acks: []AckBatch{ack(0, 1, AckRelease)}, next: 0},
			{op: "acquire", member: "b", from: 0, to: 2, max: 10, want: []Range{{0, 1, 2}}, next: 2},
			{op: "ack", member: "b", acks: []AckBatch{ack(0, 1, AckRelease)}, next: 0},
			{op: "acquire", member: "a", from: 0, to: 2, max: 10, want: []Range{{0, 1, 3}}, next: 2},
			{op: "ack", member: "a", acks: []AckBatch{ack(0, 1, AckRelease)}, start: 2, next: 2},
		}},
		{"reject and gap archive; per-offset types", []step{
			{op: "acquire", member: "a", from: 0, to: 4, max: 10, want: []Range{{0, 3, 1}}, next: 4},
			{op: "ack", member: "a", acks: []AckBatch{ack(0, 3, AckGap, AckReject, AckRelease, AckAccept)}, start: 2, next: 2},
			{op: "acquire", member: "a", from: 2, to: 4, max: 10, want: []Range{{2, 2, 2}}, start: 2, next: 4},
		}},
		{"acknowledging another member's records changes nothing", []step{
			{op: "acquire", member: "a", from: 0, to: 3, max: 10, want: []Range{{0, 2, 1}}, next: 3},
			{op: "ack", member: "b", acks: []AckBatch{ack(0, 0, AckAccept)}, err: ErrInvalidRecordState, next: 3},
			{op: "ack", member: "a", acks: []AckBatch{ack(0, 0, AckAccept), ack(2, 5, AckAccept)}, err: ErrInvalidRecordState, next: 3},
			{op: "ack", member: "a", acks: []AckBatch{ack(0, 2, AckAccept)}, start: 3, next: 3},
			{op: "ack", member: "a", acks: []AckBatch{ack(0, 0, AckAccept)}, err: ErrInvalidRecordState, start: 3, next: 3},
		}},
		{"locks expire: available again, then archived at the limit", []step{
			{op: "acquire", member: "a", from: 0, to: 1, max: 10, want: []Range{{0, 0, 1}}, next: 1},
			{op: "expire", at: 29 * time.Second, next: 1},
			{op: "expire", at: 30 * time.Second, next: 0},
			{op: "acquire", member: "b", from: 0, to: 1, max: 10, at: 30 * time.Second, want: []Range{{0, 0, 2}}, next: 1},
			{op: "ack", member: "b", acks: []AckBatch{ack(0, 0, AckRenew)}, at: 50 * time.Second, next: 1},
			{op: "expire", at: 61 * time.Second, next: 1},
			{op: "expire", at: 80 * time.Second, next: 0},
			{op: "acquire", member: "c", from: 0, to: 1, max: 10, at: 80 * time.Second, want: []Range{{0, 0, 3}}, next: 1},
			{op: "expire", at: 200 * time.Second, start: 1, next: 1},
		}},
		{"a closed session releases the member's records", []step{
			{op: "acquire", member: "a", from: 0, to: 2, max: 10, want: []Range{{0, 1, 1}}, next: 2},
			{op: "acquire", member: "b", from: 2, to: 3, max: 10, want: []Range{{2, 2, 1}}, next: 3},
			{op: "release", member: "a", next: 0},
			{op: "acquire", member: "b", from: 0, to: 3, max: 10, want: []Range{{0, 1, 2}}, next: 3},
		}},
		{"the log start moves past records in flight", []step{
			{op: "acquire", member: "a", from: 0, to: 5, max: 10, want: []Range{{0, 4, 1}}, next: 5},
			{op: "logstart", from: 3, start: 3, next: 5},
			{op: "ack", member: "a", acks: []AckBatch{ack(1, 1, AckAccept)}, err: ErrInvalidRecordState, start: 3, next: 5},
			{op: "logstart", from: 50, start: 50, next: 50},
		}},
		{"acquired records skip holes already taken", []step{
			{op: "acquire", member: "a", from: 0, to: 3, max: 10, want: []Range{{0, 2, 1}}, next: 3},
			{op: "ack", member: "a", acks: []AckBatch{ack(1, 1, AckRelease)}, next: 1},
			{op: "acquire", member: "b", from: 1, to: 5, max: 10, want: []Range{{1, 1, 2}, {3, 4, 1}}, next: 5},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPartition(lim, 0)
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				switch s.op {
				case "acquire":
					if got := p.Acquire(s.member, s.from, s.to, s.max, now); !reflect.DeepEqual(got, s.want) {
						t.Fatalf("step %d: acquired %v, want %v", i, got, s.want)
					}
				case "ack":
					if err := ValidateAcks(s.acks, true); err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					if _, err := p.Acknowledge(s.member, s.acks, now); !errors.Is(err, s.err) || (err == nil) != (s.err == nil) {
						t.Fatalf("step %d: ack error %v, want %v", i, err, s.err)
					}
				case "expire":
					p.Expire(now)
				case "release":
					p.ReleaseMember(s.member)
				case "logstart":
					p.SetLogStart(s.from)
				}
				if p.Start() != s.start {
					t.Fatalf("step %d: start %d, want %d", i, p.Start(), s.start)
				}
				if got := p.NextFetchOffset(100); got != s.next {
					t.Fatalf("step %d: next fetch offset %d, want %d", i, got, s.next)
				}
			}
		})
	}
}

// TestSkip: skipped (aborted) records are archived whether in flight and
// available or not yet read, acquired ones are left alone, and the start
// moves past a skipped prefix.
func TestSkip(t *testing.T) {
	p := NewPartition(lim, 0)
	p.Acquire("a", 0, 2, 10, t0) // 0-1 acquired
	p.Skip(1, 4)                 // 1 stays acquired; 2-4 archived
	if got := p.Acquire("b", 0, 6, 10, t0); !reflect.DeepEqual(got, []Range{{5, 5, 1}}) {
		t.Fatalf("after skip acquired %v", got)
	}
	p.Acknowledge("a", []AckBatch{ack(0, 1, AckAccept)}, t0)
	if p.Start() != 5 {
		t.Fatalf("start %d, want 5", p.Start())
	}
	p.Skip(100, 200) // beyond the window: nothing
	if p.End() > p.Start()+int64(lim.MaxLocks) {
		t.Fatalf("skip grew the window to %d-%d", p.Start(), p.End())
	}
}

func TestValidateAcks(t *testing.T) {
	for _, tc := range []struct {
		acks  []AckBatch
		renew bool
		ok    bool
	}{
		{[]AckBatch{ack(0, 3, 1), ack(4, 4, 2)}, false, true},
		{[]AckBatch{ack(0, 3, 1), ack(3, 4, 2)}, false, false},     // overlap
		{[]AckBatch{ack(5, 6, 1), ack(0, 1, 1)}, false, false},     // out of order
		{[]AckBatch{ack(2, 1, 1)}, false, false},                   // first > last
		{[]AckBatch{ack(-1, 1, 1)}, false, false},                  // negative
		{[]AckBatch{ack(0, 2, 1, 2)}, false, false},                // types count
		{[]AckBatch{ack(0, 1, 1, 2)}, false, true},                 // per offset
		{[]AckBatch{ack(0, 0, 5)}, false, false},                   // unknown type
		{[]AckBatch{ack(0, 0, AckRenew)}, false, false},            // renew not allowed
		{[]AckBatch{ack(0, 0, AckRenew)}, true, true},              // renew allowed
		{[]AckBatch{{First: 0, Last: 0, Types: nil}}, true, false}, // no type
	} {
		if err := ValidateAcks(tc.acks, tc.renew); (err == nil) != tc.ok {
			t.Errorf("%v renew=%v: %v", tc.acks, tc.renew, err)
		}
	}
}

// TestSnapshotRestore: the persisted state brings back acknowledged and
// archived records as done, acquired ones as available with their count.
func TestSnapshotRestore(t *testing.T) {
	p := NewPartition(lim, 10)
	p.Acquire("a", 10, 16, 10, t0)
	if _, err := p.Acknowledge("a", []AckBatch{ack(11, 11, AckAccept), ack(12, 12, AckReject), ack(13, 13, AckRelease)}, t0); err != nil {
		t.Fatal(err)
	}
	start, batches := p.Snapshot()
	want := []StateBatch{{10, 10, Available, 1}, {11, 11, Acknowledged, 1}, {12, 12, Archived, 1}, {13, 15, Available, 1}}
	if start != 10 || !reflect.DeepEqual(batches, want) {
		t.Fatalf("snapshot %d %v, want 10 %v", start, batches, want)
	}
	q := Restore(lim, start, batches)
	if got := q.Acquire("b", 10, 20, 20, t0); !reflect.DeepEqual(got, []Range{{10, 10, 2}, {13, 15, 2}, {16, 19, 1}}) {
		t.Fatalf("after restore acquired %v", got)
	}
	// A hostile snapshot cannot make Restore allocate unbounded memory.
	r := Restore(lim, 0, []StateBatch{{0, 1 << 40, Acknowledged, 1}})
	if r.End()-r.Start() > int64(lim.MaxLocks)*4 {
		t.Fatalf("restore of a huge batch kept %d offsets", r.End()-r.Start())
	}
}

func TestMergeBatches(t *testing.T) {
	old := []StateBatch{{0, 9, Available, 1}, {10, 19, Acknowledged, 1}}
	in := []StateBatch{{5, 12, Archived, 3}}
	want := []StateBatch{{0, 4, Available, 1}, {5, 12, Archived, 3}, {13, 19, Acknowledged, 1}}
	if got := MergeBatches(old, in); !reflect.DeepEqual(got, want) {
		t.Fatalf("merge %v, want %v", got, want)
	}
	if got := TrimBatches(want, 7); !reflect.DeepEqual(got, []StateBatch{{7, 12, Archived, 3}, {13, 19, Acknowledged, 1}}) {
		t.Fatalf("trim %v", got)
	}
}
