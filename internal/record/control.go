package record

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Control record types (the key's type field) of the end-transaction
// markers, as Kafka defines them (KIP-98).
const (
	ControlAbort  int16 = 0
	ControlCommit int16 = 1
)

// Marker builds the control batch that ends a transaction of producer
// pid/epoch in one partition: one record whose key is {version 0, type
// commit or abort} and whose value is {version 0, coordinator epoch}, in an
// uncompressed batch with the transactional and control attributes and no
// sequence. Offsets are assigned by the leader's append.
func Marker(pid int64, epoch int16, commit bool, coordinatorEpoch int32, timestamp int64) (Batch, error) {
	typ := kmsg.ControlRecordKeyTypeAbort
	if commit {
		typ = kmsg.ControlRecordKeyTypeCommit
	}
	key := (&kmsg.ControlRecordKey{Version: 0, Type: typ}).AppendTo(nil)
	value := (&kmsg.EndTxnMarker{Version: 0, CoordinatorEpoch: coordinatorEpoch}).AppendTo(nil)
	return Build(Header{
		Attributes: AttrTransactional | AttrControl, FirstTimestamp: timestamp, MaxTimestamp: timestamp,
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: -1,
	}, []kmsg.Record{{Key: key, Value: value}})
}

// ControlType returns the control record type of a control batch
// (ControlAbort, ControlCommit, or another type Kafka defines) from its
// first record's key and, for a transaction marker, the coordinator epoch
// in its value (else -1). Control batches are small and uncompressed: this
// decodes them, a cold path.
func (b Batch) ControlType() (typ int16, coordinatorEpoch int32, err error) {
	if !b.IsControl() {
		return -1, -1, fmt.Errorf("%w: not a control batch", ErrInvalid)
	}
	recs, err := b.Records()
	if err != nil {
		return -1, -1, err
	}
	if len(recs) == 0 {
		return -1, -1, fmt.Errorf("%w: control batch without records", ErrInvalid)
	}
	var k kmsg.ControlRecordKey
	if err := k.ReadFrom(recs[0].Key); err != nil {
		return -1, -1, fmt.Errorf("%w: control record key: %v", ErrInvalid, err)
	}
	typ = int16(k.Type)
	if typ != ControlAbort && typ != ControlCommit {
		return typ, -1, nil
	}
	var v kmsg.EndTxnMarker
	if err := v.ReadFrom(recs[0].Value); err != nil {
		return -1, -1, fmt.Errorf("%w: transaction marker value: %v", ErrInvalid, err)
	}
	return typ, v.CoordinatorEpoch, nil
}
