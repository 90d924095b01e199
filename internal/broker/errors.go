package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/record"
	"github.com/tributary/tributary/internal/storage"
)

// errCode maps an internal error to its Kafka wire error code. It is the one
// place where domain errors meet wire codes; handlers that detect a protocol
// condition themselves use kerr values directly.
func errCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	switch {
	case errors.Is(err, record.ErrCorrupt), errors.Is(err, record.ErrTruncated):
		return kerr.CorruptMessage.Code
	case errors.Is(err, record.ErrMagic):
		return kerr.UnsupportedForMessageFormat.Code
	case errors.Is(err, record.ErrInvalid), errors.Is(err, record.ErrMultiBatches), errors.Is(err, partition.ErrControlBatch):
		return kerr.InvalidRecord.Code
	case errors.Is(err, partition.ErrMessageTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, partition.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, partition.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, partition.ErrNotLeader):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, partition.ErrNotEnoughReplicas):
		return kerr.NotEnoughReplicas.Code
	case errors.Is(err, metadata.ErrNoController), errors.Is(err, metadata.ErrNotController):
		return kerr.NotController.Code
	case errors.Is(err, metadata.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, storage.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, storage.ErrClosed):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, metadata.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, metadata.ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, metadata.ErrInvalidReplicaAssignment):
		return kerr.InvalidReplicaAssignment.Code
	case errors.Is(err, metadata.ErrInvalidReplicationFactor):
		return kerr.InvalidReplicationFactor.Code
	case errors.Is(err, metadata.ErrNoReassignment):
		return kerr.NoReassignmentInProgress.Code
	case errors.Is(err, metadata.ErrElectionNotNeeded):
		return kerr.ElectionNotNeeded.Code
	case errors.Is(err, metadata.ErrPreferredNotAvailable):
		return kerr.PreferredLeaderNotAvailable.Code
	case errors.Is(err, metadata.ErrEligibleNotAvailable):
		return kerr.EligibleLeadersNotAvailable.Code
	default:
		return kerr.KafkaStorageError.Code
	}
}

// errMsg returns a pointer to err's text for ErrorMessage fields.
func errMsg(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
