package connect

import (
	"cmp"
	"slices"
)

// The assignor run by the group leader: incremental and cooperative, as
// Connect's IncrementalCooperativeAssignor. Work stays where it runs; a
// member holding more than its share gives the surplus up ("revoked") and
// rejoins once it stopped it, and the next round hands the freed work to
// the members below their share. Work that no member holds (new, or from
// a member that left) is assigned at once, or, when the lost member may
// come back, after a delay (see herder.lostWork).

// memberWork is one member's metadata as the leader sees it.
type memberWork struct {
	ID         string
	URL        string
	Connectors []string
	Tasks      []TaskID
}

// assignment is what one member receives; Connectors and Tasks are what
// it should run after this round (its holdings minus the revoked plus the
// new).
type assignment struct {
	Error             int16    `json:"error"`
	Leader            string   `json:"leader"`
	LeaderURL         string   `json:"leader_url"`
	ConfigOffset      int64    `json:"config_offset"`
	Connectors        []string `json:"connectors"`
	Tasks             []TaskID `json:"tasks"`
	RevokedConnectors []string `json:"revoked_connectors,omitempty"`
	RevokedTasks      []TaskID `json:"revoked_tasks,omitempty"`
	// Delay is how long (ms) lost work is held before it is reassigned.
	Delay int64 `json:"delay,omitempty"`
}

func compareTask(a, b TaskID) int {
	if c := cmp.Compare(a.Connector, b.Connector); c != 0 {
		return c
	}
	return cmp.Compare(a.Task, b.Task)
}

// balance is the assignor for one kind of work. held is each member's
// current work (index as members), all is the work that exists, hold is
// work not to be assigned this round. It returns per member the work to
// run and the work revoked.
func balance[T comparable](n int, held [][]T, all []T, hold map[T]bool, less func(a, b T) int) (run, revoked [][]T) {
	run, revoked = make([][]T, n), make([][]T, n)
	exists := map[T]bool{}
	for _, w := range all {
		exists[w] = true
	}
	owner := map[T]int{}
	for m := range n {
		for _, w := range held[m] {
			if _, dup := owner[w]; dup || !exists[w] {
				revoked[m] = append(revoked[m], w) // deleted, or held twice
				continue
			}
			owner[w] = m
			run[m] = append(run[m], w)
		}
	}
	var free []T
	for _, w := range all {
		if _, ok := owner[w]; !ok && !hold[w] {
			free = append(free, w)
		}
	}
	if n == 0 {
		return run, revoked
	}
	// Shares: the members holding most get the larger shares, so the
	// fewest moves are needed.
	total := len(owner) + len(free)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(len(run[b]), len(run[a])) })
	share := make([]int, n)
	for rank, m := range order {
		share[m] = total / n
		if rank < total%n {
			share[m]++
		}
	}
	for m := range n {
		if extra := len(run[m]) - share[m]; extra > 0 {
			slices.SortFunc(run[m], less)
			revoked[m] = append(revoked[m], run[m][len(run[m])-extra:]...)
			run[m] = run[m][:len(run[m])-extra]
		}
	}
	// Free work goes to the member furthest below its share.
	slices.SortFunc(free, less)
	for _, w := range free {
		best := 0
		for m := 1; m < n; m++ {
			if share[m]-len(run[m]) > share[best]-len(run[best]) {
				best = m
			}
		}
		run[best] = append(run[best], w)
	}
	for m := range n {
		slices.SortFunc(run[m], less)
		slices.SortFunc(revoked[m], less)
	}
	return run, revoked
}

// assign computes every member's assignment from their metadata and the
// config state's connectors and tasks. hold is lost work kept back.
func assign(members []memberWork, connectors []string, tasks []TaskID, holdConnectors map[string]bool, holdTasks map[TaskID]bool) []assignment {
	n := len(members)
	hc, ht := make([][]string, n), make([][]TaskID, n)
	for i, m := range members {
		hc[i], ht[i] = m.Connectors, m.Tasks
	}
	rc, vc := balance(n, hc, connectors, holdConnectors, cmp.Compare[string])
	rt, vt := balance(n, ht, tasks, holdTasks, compareTask)
	out := make([]assignment, n)
	for i := range members {
		out[i] = assignment{Connectors: nonNil(rc[i]), Tasks: nonNil(rt[i]), RevokedConnectors: vc[i], RevokedTasks: vt[i]}
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
