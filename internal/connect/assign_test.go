package connect

import (
	"fmt"
	"testing"
)

func tid(c string, n int) TaskID { return TaskID{c, n} }

func TestAssign(t *testing.T) {
	cases := []struct {
		name       string
		members    []memberWork
		connectors []string
		tasks      []TaskID
		holdC      map[string]bool
		holdT      map[TaskID]bool
		want       []string // per member: connectors|tasks|revokedC|revokedT
	}{
		{
			name:       "new work spreads over idle members",
			members:    []memberWork{{ID: "a"}, {ID: "b"}},
			connectors: []string{"c1", "c2"},
			tasks:      []TaskID{tid("c1", 0), tid("c1", 1), tid("c2", 0)},
			want:       []string{"[c1] [c1-0 c1-1] [] []", "[c2] [c2-0] [] []"},
		},
		{
			name:       "a joining member: the holder gives up its surplus, nothing moves in the same round",
			members:    []memberWork{{ID: "a", Connectors: []string{"c1", "c2"}, Tasks: []TaskID{tid("c1", 0), tid("c2", 0)}}, {ID: "b"}},
			connectors: []string{"c1", "c2"},
			tasks:      []TaskID{tid("c1", 0), tid("c2", 0)},
			want:       []string{"[c1] [c1-0] [c2] [c2-0]", "[] [] [] []"},
		},
		{
			name:       "next round: the revoked work goes to the member below its share",
			members:    []memberWork{{ID: "a", Connectors: []string{"c1"}, Tasks: []TaskID{tid("c1", 0)}}, {ID: "b"}},
			connectors: []string{"c1", "c2"},
			tasks:      []TaskID{tid("c1", 0), tid("c2", 0)},
			want:       []string{"[c1] [c1-0] [] []", "[c2] [c2-0] [] []"},
		},
		{
			name:       "a departed member's work is free at once without a hold",
			members:    []memberWork{{ID: "b", Connectors: []string{"c2"}, Tasks: []TaskID{tid("c2", 0)}}},
			connectors: []string{"c1", "c2"},
			tasks:      []TaskID{tid("c1", 0), tid("c2", 0)},
			want:       []string{"[c1 c2] [c1-0 c2-0] [] []"},
		},
		{
			name:       "held lost work waits",
			members:    []memberWork{{ID: "b", Connectors: []string{"c2"}, Tasks: []TaskID{tid("c2", 0)}}},
			connectors: []string{"c1", "c2"},
			tasks:      []TaskID{tid("c1", 0), tid("c2", 0)},
			holdC:      map[string]bool{"c1": true},
			holdT:      map[TaskID]bool{tid("c1", 0): true},
			want:       []string{"[c2] [c2-0] [] []"},
		},
		{
			name:       "deleted work and work held twice are revoked",
			members:    []memberWork{{ID: "a", Connectors: []string{"gone", "c1"}, Tasks: []TaskID{tid("c1", 0)}}, {ID: "b", Tasks: []TaskID{tid("c1", 0)}}},
			connectors: []string{"c1"},
			tasks:      []TaskID{tid("c1", 0)},
			want:       []string{"[c1] [c1-0] [gone] []", "[] [] [] [c1-0]"},
		},
		{
			name:       "no members",
			connectors: []string{"c1"},
			want:       []string{},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := assign(c.members, c.connectors, c.tasks, c.holdC, c.holdT)
			if len(got) != len(c.want) {
				t.Fatalf("%d assignments, want %d", len(got), len(c.want))
			}
			for i, a := range got {
				s := fmt.Sprintf("%v %v %v %v", a.Connectors, a.Tasks, nonNil(a.RevokedConnectors), nonNil(a.RevokedTasks))
				if s != c.want[i] {
					t.Errorf("member %s: %s, want %s", c.members[i].ID, s, c.want[i])
				}
			}
		})
	}
}

// TestAssignConverges plays rounds (members stop what is revoked and
// rejoin) until nothing moves: every piece of work is run exactly once and
// the counts differ by at most one.
func TestAssignConverges(t *testing.T) {
	var conns []string
	var tasks []TaskID
	for i := range 5 {
		c := fmt.Sprintf("c%d", i)
		conns = append(conns, c)
		for j := range i + 1 {
			tasks = append(tasks, tid(c, j))
		}
	}
	members := []memberWork{{ID: "a"}}
	for round := 0; round < 20; round++ {
		if round == 2 {
			members = append(members, memberWork{ID: "b"}, memberWork{ID: "c"})
		}
		if round == 8 {
			members = members[1:] // a leaves
		}
		got := assign(members, conns, tasks, nil, nil)
		moved := false
		for i := range members {
			members[i].Connectors, members[i].Tasks = got[i].Connectors, got[i].Tasks
			moved = moved || len(got[i].RevokedConnectors)+len(got[i].RevokedTasks) > 0
		}
		if round > 10 && !moved {
			break
		}
	}
	seen := map[TaskID]int{}
	min, max := 1<<30, 0
	for _, m := range members {
		for _, t := range m.Tasks {
			seen[t]++
		}
		min, max = mini(min, len(m.Tasks)), maxi(max, len(m.Tasks))
	}
	for _, task := range tasks {
		if seen[task] != 1 {
			t.Errorf("task %s runs %d times", task, seen[task])
		}
	}
	if max-min > 1 {
		t.Errorf("unbalanced: %d..%d tasks per member", min, max)
	}
}

func mini(a, b int) int {
	if a < b {
		return a
	}
	return b
}

func maxi(a, b int) int {
	if a > b {
		return a
	}
	return b
}
