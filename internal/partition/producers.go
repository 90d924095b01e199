package partition

import "github.com/tributary/tributary/internal/record"

// producerBatches is how many recent batches per producer are remembered for
// duplicate detection; it equals the client's max in-flight requests (5).
const producerBatches = 5

type batchMeta struct {
	firstSeq, lastSeq int32
	baseOffset        int64
}

// producer is one idempotent producer's state in this partition.
type producer struct {
	epoch  int16
	recent []batchMeta // oldest first, at most producerBatches
	// coordinatorEpoch is the highest transaction coordinator epoch of the
	// markers applied for this producer (-1: none); txn.go.
	coordinatorEpoch int32
	// lastTimestamp is the max timestamp of its last stored batch or
	// marker (DescribeProducers).
	lastTimestamp int64
}

func nextSeq(s int32) int32 {
	if s == 0x7fffffff {
		return 0
	}
	return s + 1
}

// checkSequence applies Kafka's idempotence rules to b under p.mu, without
// changing any state (observe does, after the write). It returns the base
// offset of the stored batch that b duplicates, else -1.
//
//   - a producer unknown here (new, or its state expired) may start at any
//     sequence;
//   - an older epoch is fenced (INVALID_PRODUCER_EPOCH);
//   - a newer epoch must start at sequence 0;
//   - a batch equal to one of the last five is a duplicate;
//   - otherwise the first sequence must follow the last one.
func (p *Partition) checkSequence(b record.Batch) (int64, error) {
	pr := p.producers[b.ProducerID()]
	if pr == nil {
		return -1, nil
	}
	switch e := b.ProducerEpoch(); {
	case e < pr.epoch:
		return -1, ErrInvalidProducerEpoch
	case e > pr.epoch:
		if b.BaseSequence() != 0 {
			return -1, ErrOutOfOrderSequence
		}
		return -1, nil
	}
	first, last := b.BaseSequence(), b.LastSequence()
	for _, m := range pr.recent {
		if m.firstSeq == first && m.lastSeq == last {
			return m.baseOffset, nil
		}
	}
	if n := len(pr.recent); n > 0 && first != nextSeq(pr.recent[n-1].lastSeq) {
		return -1, ErrOutOfOrderSequence
	}
	return -1, nil
}

// record remembers a written batch.
func (pr *producer) record(b record.Batch, base int64) {
	if len(pr.recent) == producerBatches {
		copy(pr.recent, pr.recent[1:])
		pr.recent = pr.recent[:producerBatches-1]
	}
	pr.recent = append(pr.recent, batchMeta{firstSeq: b.BaseSequence(), lastSeq: b.LastSequence(), baseOffset: base})
}

// observe records a stored batch in its producer's state: after a leader's
// append, a follower's, and when state is rebuilt from the log.
func (p *Partition) observe(b record.Batch, base int64) {
	pr := p.producers[b.ProducerID()]
	if pr == nil || b.ProducerEpoch() > pr.epoch {
		pr = &producer{epoch: b.ProducerEpoch(), coordinatorEpoch: -1}
		p.producers[b.ProducerID()] = pr
	} else if b.ProducerEpoch() < pr.epoch {
		return
	}
	pr.record(b, base)
	pr.lastTimestamp = b.MaxTimestamp()
}
