package group

// EachCommitted calls fn with every committed offset of the groups loaded
// here (the offsets partitions this broker leads), for the broker's lag
// tracker. It holds the coordinator's lock while it runs: fn must be quick
// and must not call back into the coordinator.
func (c *Coordinator) EachCommitted(fn func(group, topic string, partition int32, offset, commitMs int64)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, g := range c.groups {
		for topic, parts := range g.offsets {
			for p, o := range parts {
				fn(id, topic, p, o.offset, o.commitMs)
			}
		}
	}
}
