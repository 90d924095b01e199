package cloud

import "testing"

func TestWouldAffectAvailability(t *testing.T) {
	p := func(replicas, isr []int32, minISR int) partitionView {
		return partitionView{Topic: "t", Replicas: replicas, ISR: isr, MinISR: minISR}
	}
	for _, c := range []struct {
		name  string
		b     int32
		parts []partitionView
		want  bool
	}{
		{"full ISR above min", 1, []partitionView{p([]int32{1, 2, 3}, []int32{1, 2, 3}, 2)}, false},
		{"at min with b in ISR", 1, []partitionView{p([]int32{1, 2, 3}, []int32{1, 2}, 2)}, true},
		{"at min with b out of ISR", 3, []partitionView{p([]int32{1, 2, 3}, []int32{1, 2}, 2)}, false},
		{"below min", 3, []partitionView{p([]int32{1, 2, 3}, []int32{1}, 2)}, true},
		{"not a replica", 4, []partitionView{p([]int32{1, 2, 3}, []int32{1}, 2)}, false},
		{"replicas not above min are ignored", 1, []partitionView{p([]int32{1, 2}, []int32{1, 2}, 2)}, false},
		{"rf 1 ignored", 1, []partitionView{p([]int32{1}, []int32{1}, 1)}, false},
		{"one blocking partition of many", 2, []partitionView{p([]int32{1, 2, 3}, []int32{1, 2, 3}, 2), p([]int32{2, 3, 1}, []int32{2, 3}, 2)}, true},
	} {
		if got, why := wouldAffectAvailability(c.b, c.parts); got != c.want {
			t.Errorf("%s: %v (%s), want %v", c.name, got, why, c.want)
		}
	}
}

func TestNextToRoll(t *testing.T) {
	full := []partitionView{{Topic: "t", Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, MinISR: 2}}
	atMin := []partitionView{{Topic: "t", Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}, MinISR: 2}}
	for _, c := range []struct {
		name       string
		todo       []int32
		controller int32
		parts      []partitionView
		want       int32
	}{
		{"lowest first", []int32{3, 1, 2}, 2, full, 1},
		{"controller last", []int32{1, 2}, 1, full, 2},
		{"controller when alone", []int32{1}, 1, full, 1},
		{"one out of ISR: only it may go", []int32{2, 3, 1}, 3, atMin, 1},
		{"none may go", []int32{2, 3}, 3, atMin, -1},
	} {
		if got, why := nextToRoll(c.todo, c.controller, c.parts); got != c.want {
			t.Errorf("%s: %d (%v), want %d", c.name, got, why, c.want)
		}
	}
}
