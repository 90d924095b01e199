package group

import "sort"

// Server-side assignors of consumer groups (KIP-848). Both are
// deterministic: members are taken in member id order.
//
// uniform: balanced and sticky. Each member keeps the partitions of its
// previous target that it still subscribes to; the rest go one by one to
// the subscribed member holding the fewest; then partitions move from a
// member to a subscribed one holding at least two fewer until no such move
// exists. With identical subscriptions every member ends with floor or
// ceil of partitions/members, moving as few partitions as needed.
//
// range: per topic, the subscribed members in member id order get
// contiguous ranges; the first partitions%members members get one more.
// Unlike Kafka's server-side range assignor it is not sticky.

// assignUniform returns the target assignment of members (sorted), each
// subscribed to subs[member], keeping what prev assigned where possible.
func assignUniform(members []string, subs map[string][]topicInfo, prev map[string]tpset) map[string]tpset {
	out := map[string]tpset{}
	count := map[string]int{}
	eligible := map[[16]byte][]string{} // topic -> subscribed members, sorted
	topics := map[[16]byte]topicInfo{}
	for _, m := range members {
		out[m] = tpset{}
		for _, t := range subs[m] {
			eligible[t.id] = append(eligible[t.id], m)
			topics[t.id] = t
		}
	}
	taken := map[tpKey]bool{}
	// Stickiness: keep the previous target where still valid.
	for _, m := range members {
		for id, ps := range prev[m] {
			t, ok := topics[id]
			if !ok || !subscribed(eligible[id], m) {
				continue
			}
			for p := range ps {
				k := tpKey{id, p}
				if p < t.parts && !taken[k] {
					taken[k] = true
					out[m].add(id, p, 0)
					count[m]++
				}
			}
		}
	}
	// Unassigned partitions, the most constrained topics first.
	ids := make([][16]byte, 0, len(topics))
	for id := range topics {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := ids[i], ids[j]
		if len(eligible[a]) != len(eligible[b]) {
			return len(eligible[a]) < len(eligible[b])
		}
		return topics[a].name < topics[b].name
	})
	for _, id := range ids {
		for p := int32(0); p < topics[id].parts; p++ {
			if taken[tpKey{id, p}] {
				continue
			}
			best := ""
			for _, m := range eligible[id] {
				if best == "" || count[m] < count[best] {
					best = m
				}
			}
			out[best].add(id, p, 0)
			count[best]++
		}
	}
	// Balance: move from heavy members to eligible light ones.
	for moved := true; moved; {
		moved = false
		order := append([]string(nil), members...)
		sort.SliceStable(order, func(i, j int) bool { return count[order[i]] > count[order[j]] })
	search:
		for _, a := range order {
			for _, id := range out[a].topicIDs() {
				ps := out[a].partitions(id)
				for i := len(ps) - 1; i >= 0; i-- {
					best := ""
					for _, b := range eligible[id] {
						if count[b] <= count[a]-2 && (best == "" || count[b] < count[best]) {
							best = b
						}
					}
					if best != "" {
						out[a].remove(id, ps[i])
						out[best].add(id, ps[i], 0)
						count[a]--
						count[best]++
						moved = true
						break search
					}
				}
			}
		}
	}
	return out
}

func subscribed(members []string, m string) bool {
	i := sort.SearchStrings(members, m)
	return i < len(members) && members[i] == m
}

// assignRange returns a range assignment of members (sorted).
func assignRange(members []string, subs map[string][]topicInfo) map[string]tpset {
	out := map[string]tpset{}
	byTopic := map[[16]byte][]string{}
	topics := map[[16]byte]topicInfo{}
	for _, m := range members {
		out[m] = tpset{}
		for _, t := range subs[m] {
			byTopic[t.id] = append(byTopic[t.id], m)
			topics[t.id] = t
		}
	}
	for id, ms := range byTopic {
		n := topics[id].parts
		k := int32(len(ms))
		per, extra := n/k, n%k
		p := int32(0)
		for i, m := range ms {
			size := per
			if int32(i) < extra {
				size++
			}
			for j := int32(0); j < size; j++ {
				out[m].add(id, p, 0)
				p++
			}
		}
	}
	return out
}
