package checker

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// produce sends n values from producer to partition part starting at
// offset base, acknowledges all of them and returns the values.
func produce(h *History, producer string, part int32, base int64, n int) []string {
	var vs []string
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("%s-%d-%d", producer, part, base+int64(i))
		h.Sent(producer, v)
		h.Ack(part, base+int64(i), v)
		vs = append(vs, v)
	}
	return vs
}

func readAll(h *History, part int32, base int64, vs []string) {
	for i, v := range vs {
		h.Read(part, base+int64(i), v)
	}
}

func TestCleanHistory(t *testing.T) {
	h := New()
	a := produce(h, "p1", 0, 0, 100)
	b := produce(h, "p1", 1, 0, 50)
	// A sent but unacknowledged record that made it to the log is fine.
	h.Sent("p1", "maybe")
	readAll(h, 0, 0, a)
	readAll(h, 1, 0, b)
	h.Read(1, 50, "maybe")
	// Re-reading after a consumer restart is fine.
	readAll(h, 0, 0, a[:10])
	r := h.Check()
	if !r.OK() {
		t.Fatalf("clean history flagged: %v", r)
	}
	if r.Acknowledged != 150 || r.Sent != 151 || r.Read != 151 {
		t.Fatalf("counts: %v", r)
	}
	if !strings.HasPrefix(r.String(), "sent=151 acknowledged=150 read=151 lost=0 duplicated=0") {
		t.Fatalf("String: %s", r)
	}
}

func TestLost(t *testing.T) {
	h := New()
	vs := produce(h, "p", 0, 0, 10)
	readAll(h, 0, 0, vs[:7])
	r := h.Check()
	if r.Lost != 3 || r.OK() {
		t.Fatalf("want 3 lost: %v", r)
	}
	if len(r.Examples) != 3 || !strings.HasPrefix(r.Examples[0], "lost: ") {
		t.Fatalf("examples: %q", r.Examples)
	}
}

func TestDuplicated(t *testing.T) {
	h := New()
	vs := produce(h, "p", 0, 0, 5)
	readAll(h, 0, 0, vs)
	// A retried batch appended a second time (idempotence broken).
	h.Read(0, 5, vs[3])
	h.Read(0, 6, vs[4])
	r := h.Check()
	if r.Duplicated != 2 || r.Lost != 0 || r.OK() {
		t.Fatalf("want 2 duplicated: %v", r)
	}
	// The copies come after later sends: also out of send order.
	if r.Reordered != 1 {
		t.Fatalf("want 1 reordered (vs[3] after vs[4]): %v", r)
	}
}

func TestMisplaced(t *testing.T) {
	h := New()
	h.Sent("p", "a")
	h.Sent("p", "b")
	h.Ack(0, 0, "a")
	h.Ack(0, 1, "b")
	h.Read(0, 0, "b") // b is where a was acknowledged
	h.Read(0, 1, "a")
	r := h.Check()
	if r.Misplaced != 2 || r.Reordered != 1 || r.OK() {
		t.Fatalf("want 2 misplaced, 1 reordered: %v", r)
	}
	h2 := New()
	h2.Sent("p", "a")
	h2.Ack(0, 0, "a")
	h2.Ack(0, 3, "a")
	h2.Read(0, 0, "a")
	if r := h2.Check(); r.Misplaced != 1 {
		t.Fatalf("acknowledged at two offsets: %v", r)
	}
}

func TestReorderedSendOrder(t *testing.T) {
	h := New()
	for i := 0; i < 4; i++ {
		h.Sent("p", fmt.Sprint(i))
	}
	// Offsets assigned 0,2,1,3 to sends 0..3: send order broken in the log.
	for i, off := range []int64{0, 2, 1, 3} {
		h.Ack(0, off, fmt.Sprint(i))
	}
	for i, off := range []int64{0, 2, 1, 3} {
		h.Read(0, off, fmt.Sprint(i))
	}
	r := h.Check()
	// Delivery order 0,2,1,3 (1 after 2) and send #2 at offset 1 before
	// send #1 at offset 2.
	if r.Reordered != 2 || r.Lost != 0 || r.Duplicated != 0 {
		t.Fatalf("want 2 reordered: %v", r)
	}
}

func TestIndependentProducersInterleave(t *testing.T) {
	h2 := New()
	// Producer b's sends land before a's in the log: fine.
	h2.Sent("a", "a0")
	h2.Sent("b", "b0")
	h2.Ack(0, 1, "a0")
	h2.Ack(0, 0, "b0")
	h2.Read(0, 0, "b0")
	h2.Read(0, 1, "a0")
	if r := h2.Check(); !r.OK() {
		t.Fatalf("independent producers flagged: %v", r)
	}
}

func TestPhantomAndDivergent(t *testing.T) {
	h := New()
	vs := produce(h, "p", 2, 10, 2)
	readAll(h, 2, 10, vs)
	h.Read(2, 12, "never-sent")
	h.Read(2, 11, "other") // a second consumer sees another value at 11
	r := h.Check()
	if r.Phantom != 1 || r.Divergent != 1 || r.OK() {
		t.Fatalf("want 1 phantom, 1 divergent: %v", r)
	}
}

func TestConcurrentUse(t *testing.T) {
	h := New()
	var wg sync.WaitGroup
	for p := 0; p < 4; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			vs := produce(h, fmt.Sprint("p", p), int32(p), 0, 500)
			readAll(h, int32(p), 0, vs)
		}(p)
	}
	wg.Wait()
	if r := h.Check(); !r.OK() || r.Acknowledged != 2000 || h.Acknowledged() != 2000 {
		t.Fatalf("%v", r)
	}
}

func TestGaps(t *testing.T) {
	h := New()
	t0 := time.Unix(1000, 0)
	ack := func(producer string, part int32, off int64, sec float64) {
		v := fmt.Sprintf("%s-%d-%d", producer, part, off)
		h.Sent(producer, v)
		h.AckAt(part, off, v, t0.Add(time.Duration(sec*float64(time.Second))))
	}
	// Producer a, partition 0: acks at 1, 2, then a 9 s stall, 11, 12.
	for i, s := range []float64{1, 2, 11, 12} {
		ack("a", 0, int64(i), s)
	}
	// Producer a, partition 1: acks at 1 and 3 only (nothing after).
	ack("a", 1, 0, 1)
	ack("a", 1, 1, 3)
	// Producer b acks all along in partition 0: it does not hide a's gap.
	for i := 0; i < 15; i++ {
		ack("b", 0, int64(10+i), float64(i))
	}
	// Acks outside the window are ignored; the window's ends bound gaps.
	ack("a", 0, 4, 30)
	got := h.Gaps("a", t0, t0.Add(15*time.Second))
	want := map[int32]time.Duration{0: 9 * time.Second, 1: 12 * time.Second}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("gaps of a = %v, want %v", got, want)
	}
	if g := h.Gaps("b", t0, t0.Add(15*time.Second)); g[0] != time.Second {
		t.Fatalf("gaps of b = %v, want partition 0: 1s", g)
	}
	if g := h.Gaps("nobody", t0, t0.Add(time.Second)); len(g) != 0 {
		t.Fatalf("gaps of an unknown producer = %v", g)
	}
}

func TestAckWithoutOffset(t *testing.T) {
	h := New()
	for i, v := range []string{"a", "b", "c"} {
		h.Sent("p", v)
		h.Read(0, int64(i), v)
	}
	h.Ack(0, -1001, "a") // librdkafka's RD_KAFKA_OFFSET_INVALID
	h.Ack(0, -1, "b")
	h.Ack(0, 1, "b")  // the offset learned later: no conflict
	h.Ack(1, -1, "c") // acknowledged in another partition than read
	r := h.Check()
	if r.Lost != 0 || r.Misplaced != 1 || r.Acknowledged != 3 {
		t.Fatalf("want only c misplaced: %v", r)
	}
}
