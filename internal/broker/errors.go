package broker

// The error tables: the one place where domain errors meet Kafka wire codes.
// Each package that detects a condition declares a sentinel (`ErrX`) or
// wraps one; each domain has a table below mapping its sentinels to the
// code Kafka answers for that condition, with a description of when it
// happens. errCode looks an error up in every table; an error no table
// knows is UNKNOWN_SERVER_ERROR, never a code a client would retry or act
// on by mistake. TestEveryErrorMapped (errors_test.go) fails when an
// exported Err* sentinel of an internal package is missing here.
//
// Handlers that detect a protocol condition themselves use kerr values
// directly (or wrap one, see cerr); errCode passes those through.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/tributary/tributary/internal/controller"
	"github.com/tributary/tributary/internal/metadata"
	"github.com/tributary/tributary/internal/partition"
	"github.com/tributary/tributary/internal/record"
	"github.com/tributary/tributary/internal/security"
	"github.com/tributary/tributary/internal/share"
	"github.com/tributary/tributary/internal/storage"
	"github.com/tributary/tributary/internal/txn"
)

// wireError is one row of an error table: err (matched with errors.Is, or
// by match when set) answers code.
type wireError struct {
	err   error
	match func(error) bool // instead of errors.Is(_, err), for error types
	code  *kerr.Error
	desc  string
}

func (w wireError) matches(err error) bool {
	if w.match != nil {
		return w.match(err)
	}
	return errors.Is(err, w.err)
}

// recordErrors: a batch sent by a client fails validation (internal/record).
var recordErrors = []wireError{
	{err: record.ErrCorrupt, code: kerr.CorruptMessage, desc: "a batch's CRC, record count or compressed payload does not check out (from a client, or read back from disk)"},
	{err: record.ErrTruncated, code: kerr.CorruptMessage, desc: "a batch is shorter than its length field says"},
	{err: record.ErrMagic, code: kerr.UnsupportedForMessageFormat, desc: "a batch is not magic v2"},
	{err: record.ErrInvalid, code: kerr.InvalidRecord, desc: "a batch header is inconsistent (offsets, attributes, producer fields)"},
	{err: record.ErrMultiBatches, code: kerr.InvalidRecord, desc: "a produce partition carries more than one batch"},
	{err: record.ErrUnsupportedCompression, code: kerr.UnsupportedCompressionType, desc: "zstd before KIP-110: in a message set or a Produce v3-6 batch, or a zstd batch down-converted for Fetch v0-3"},
}

// storageErrors: the local log (internal/storage) and the disk under it.
var storageErrors = []wireError{
	{err: storage.ErrOffsetOutOfRange, code: kerr.OffsetOutOfRange, desc: "a fetch or lookup offset is outside [log start, log end]"},
	{err: storage.ErrClosed, code: kerr.NotLeaderForPartition, desc: "the replica's log was closed (partition moved or deleted) while serving the request; the client refreshes metadata"},
	{err: storage.ErrKeylessRecord, code: kerr.InvalidRecord, desc: "a record without a key sent to a compacted topic"},
	{err: storage.ErrBadOffset, code: kerr.KafkaStorageError, desc: "a replica append does not follow the log end (follower path; never a client request)"},
	{err: storage.ErrCorruptLog, code: kerr.KafkaStorageError, desc: "a segment failed validation while being read; the replica is offline until repaired"},
	{err: storage.ErrLogOffline, code: kerr.KafkaStorageError, desc: "the replica's log went offline after corrupt data or an I/O error (Kafka's offline log dir); the client refreshes metadata and finds the new leader"},
	{err: storage.ErrDiskFull, code: kerr.KafkaStorageError, desc: "the data dir has less free space than log.dir.min.free.bytes, or a write hit ENOSPC; writes resume once space is freed"},
	{err: storage.ErrIndexCorrupt, code: kerr.KafkaStorageError, desc: "an offset or time index failed validation"},
	{err: storage.ErrTxnIndexCorrupt, code: kerr.KafkaStorageError, desc: "a .txnindex file is not a whole number of version 0 entries (tool path: trib log dump)"},
	{err: storage.ErrDumpFailed, code: kerr.KafkaStorageError, desc: "trib log dump found a bad file (tool path; never a client request)"},
	{err: storage.ErrBadKEK, code: kerr.KafkaStorageError, desc: "log.encryption.key.file/command gave no valid 256-bit key (start-up or tool path; never a client request)"},
	{err: storage.ErrWrongKEK, code: kerr.KafkaStorageError, desc: "an encrypted segment's data key cannot be unwrapped with the configured key: the log stays offline, nothing is served or deleted"},
	{err: storage.ErrNoKEK, code: kerr.KafkaStorageError, desc: "an encrypted segment found while log encryption is off: the log stays offline"},
	{err: storage.ErrKeyFileCorrupt, code: kerr.KafkaStorageError, desc: "a segment's .key file fails validation: the log stays offline"},
	{err: storage.ErrMissingKeyFile, code: kerr.KafkaStorageError, desc: "a segment without its .key file whose data is not plaintext: the log stays offline"},
	{match: isIOError, code: kerr.KafkaStorageError, desc: "an I/O error from a file operation (*fs.PathError, errno): disk full, EIO, a missing file"},
}

// partitionErrors: a replica refuses an operation (internal/partition).
var partitionErrors = []wireError{
	{err: partition.ErrNotLeader, code: kerr.NotLeaderForPartition, desc: "this broker does not lead the partition (any more)"},
	{err: partition.ErrNotFollowing, code: kerr.FencedLeaderEpoch, desc: "a follower fetcher's write for a leader epoch the replica no longer follows (never reaches a client)"},
	{err: partition.ErrNotEnoughReplicas, code: kerr.NotEnoughReplicas, desc: "acks=all append with fewer in-sync replicas than min.insync.replicas"},
	{err: partition.ErrMessageTooLarge, code: kerr.MessageTooLarge, desc: "a batch larger than max.message.bytes"},
	{err: partition.ErrOutOfOrderSequence, code: kerr.OutOfOrderSequenceNumber, desc: "an idempotent producer's sequence skips ahead"},
	{err: partition.ErrInvalidProducerEpoch, code: kerr.InvalidProducerEpoch, desc: "an idempotent producer's epoch is older than the one stored"},
	{err: partition.ErrControlBatch, code: kerr.InvalidRecord, desc: "a client sent a control batch"},
	{err: partition.ErrTxnNotVerified, code: kerr.InvalidTxnState, desc: "a transactional batch would open a transaction in a partition the transaction coordinator did not confirm is in the producer's transaction (KIP-890), or a marker ended it after the coordinator confirmed"},
	{err: partition.ErrCoordinatorFenced, code: kerr.TransactionCoordinatorFenced, desc: "a transaction marker from an older coordinator epoch than one the partition applied for the producer (a deposed coordinator)"},
	{err: partition.ErrOffline, code: kerr.UnknownServerError, desc: "the partition's replica here is offline (corrupt data or an I/O error) and no in-sync replica can lead: " +
		"a non-retriable answer, so consumers see an error instead of retrying KAFKA_STORAGE_ERROR forever (franz-go and librdkafka surface it; the Java consumer logs it)"},
}

// metadataErrors: a metadata command is refused by the state machine or the
// quorum (internal/metadata).
var metadataErrors = []wireError{
	{err: metadata.ErrNoController, code: kerr.NotController, desc: "no active controller answered in time, or the command could not be committed; the client retries"},
	{err: metadata.ErrNotController, code: kerr.NotController, desc: "this node stopped being (or never was) the active controller"},
	{err: metadata.ErrTopicExists, code: kerr.TopicAlreadyExists, desc: "creating a topic whose name is taken"},
	{err: metadata.ErrUnknownTopic, code: kerr.UnknownTopicOrPartition, desc: "a command names a topic or partition that does not exist"},
	{err: metadata.ErrUnknownBroker, code: kerr.BrokerNotAvailable, desc: "fencing a broker that never registered"},
	{err: metadata.ErrInvalidPartitions, code: kerr.InvalidPartitions, desc: "a topic without partitions"},
	{err: metadata.ErrConfigConflict, code: kerr.RequestTimedOut, desc: "a config change kept meeting changes made through other brokers at the same time (retried 5 times); the client retries"},
	{err: metadata.ErrInvalidCommand, code: kerr.InvalidRequest, desc: "a malformed metadata command (none set, a bad count, undecodable)"},
	{match: func(err error) bool { return errors.As(err, new(*metadata.NotVisibleError)) }, code: kerr.RequestTimedOut, desc: "an admin change was committed, but some live broker had not applied it within the request's timeout"},
}

// controllerErrors: a controller policy refuses a command
// (internal/controller).
var controllerErrors = []wireError{
	{err: controller.ErrStaleEpoch, code: kerr.FencedLeaderEpoch, desc: "an ISR change from a leader, leader epoch or partition epoch that is no longer current"},
	{err: controller.ErrInvalidISR, code: kerr.InvalidRequest, desc: "an ISR change whose ISR does not contain the leader"},
	{err: controller.ErrIneligible, code: kerr.IneligibleReplica, desc: "an ISR change adds a broker that is not a replica or is fenced"},
	{err: controller.ErrInvalidReplicaAssignment, code: kerr.InvalidReplicaAssignment, desc: "a replica list with duplicates or unregistered brokers, or a cancel that leaves no in-sync replica"},
	{err: controller.ErrInvalidReplicationFactor, code: kerr.InvalidReplicationFactor, desc: "a reassignment that would change the replication factor"},
	{err: controller.ErrNoReassignment, code: kerr.NoReassignmentInProgress, desc: "cancelling a reassignment when none is in progress"},
	{err: controller.ErrElectionNotNeeded, code: kerr.ElectionNotNeeded, desc: "the requested leader already leads"},
	{err: controller.ErrPreferredNotAvailable, code: kerr.PreferredLeaderNotAvailable, desc: "the preferred replica is fenced or out of the ISR"},
	{err: controller.ErrEligibleNotAvailable, code: kerr.EligibleLeadersNotAvailable, desc: "an unclean election found no live replica"},
	{err: controller.ErrBrokerCapacity, code: kerr.InvalidPartitions, desc: "creating partitions that would make a broker host more replicas than max.broker.partitions (refused whole, as Redpanda refuses beyond its per-core limit)"},
	{err: controller.ErrNoBrokers, code: kerr.InvalidReplicationFactor, desc: "placing replicas with no live broker to place them on"},
	{err: controller.ErrUnacceptableCredential, code: kerr.UnacceptableCredential, desc: "a SCRAM upsertion with an empty user, salt or salted password, or iterations outside 4096-16384"},
	{err: controller.ErrScramMechanism, code: kerr.UnsupportedSaslMechanism, desc: "a SCRAM alteration names a mechanism other than SCRAM-SHA-256/512"},
	{err: controller.ErrNoScramCredential, code: kerr.ResourceNotFound, desc: "deleting a SCRAM credential that does not exist"},
	{err: controller.ErrDuplicateScramUser, code: kerr.DuplicateResource, desc: "a user named more than once in one SCRAM request"},
}

// securityErrors: authentication (internal/security). They close the
// connection (a failed TLS handshake has no Kafka response) or stop the
// broker at start-up; the code is what a client reports for them.
var securityErrors = []wireError{
	{err: security.ErrTLSConfig, code: kerr.InvalidConfig, desc: "a listener's or client's TLS settings do not load (start-up only, never on the wire)"},
	{err: security.ErrAuthenticationFailed, code: kerr.SaslAuthenticationFailed, desc: "a wrong password, an unknown user, a bad SCRAM proof or a malformed SASL message; the connection is closed after connection.failed.authentication.delay.ms"},
	{err: security.ErrUnsupportedMechanism, code: kerr.UnsupportedSaslMechanism, desc: "SaslHandshake names a mechanism the listener does not enable (sasl.enabled.mechanisms)"},
	{err: security.ErrIllegalSASLState, code: kerr.IllegalSaslState, desc: "a SASL token after the exchange ended"},
	{err: security.ErrInvalidQuota, code: kerr.InvalidRequest, desc: "a client quota alteration with an unknown or repeated entity type, an ip entity, an unknown or unsupported key, a value that is not positive (or not whole, for byte rates), or an entity named twice"},
	{err: security.ErrInvalidACL, code: kerr.InvalidRequest, desc: "an ACL to create with an ANY/MATCH/unknown enum, an empty name or host, a principal that is not Type:name, or a filter with an unknown enum"},
	{err: security.ErrPrincipalMapping, code: kerr.SaslAuthenticationFailed, desc: "no ssl.principal.mapping.rules rule maps the client certificate's subject; the connection is closed without a response (kerr has no SSL_AUTHENTICATION_FAILED; this is the authentication failure code clients know)"},
}

// txnErrors: the transaction coordinator refuses a request (internal/txn).
// A kerr inside one (the state topic's adapter answers NOT_COORDINATOR
// when leadership moved) wins, as for every error.
var txnErrors = []wireError{
	{err: txn.ErrNotCoordinator, code: kerr.NotCoordinator, desc: "the transactional id's __transaction_state partition is not led here (any more); the client looks the coordinator up again"},
	{err: txn.ErrLoadInProgress, code: kerr.CoordinatorLoadInProgress, desc: "the transactional id's state partition is being replayed after this broker became its leader"},
	{err: txn.ErrCoordinatorUnavailable, code: kerr.CoordinatorNotAvailable, desc: "a __transaction_state record could not be written or replicated; the client retries"},
	{err: txn.ErrConcurrentTransactions, code: kerr.ConcurrentTransactions, desc: "the transaction is being ended (markers in flight) or another request for it is being written; the client retries"},
	{err: txn.ErrProducerFenced, code: kerr.ProducerFenced, desc: "a request from an older epoch of the transactional id's producer (a zombie), or a KIP-360 InitProducerId with an epoch that is neither the current nor the previous one"},
	{err: txn.ErrInvalidProducerEpoch, code: kerr.InvalidProducerEpoch, desc: "a transactional request with an epoch newer than the coordinator's"},
	{err: txn.ErrInvalidProducerIDMap, code: kerr.InvalidProducerIDMapping, desc: "the producer id is not the one the transactional id holds, or the id was never initialized"},
	{err: txn.ErrInvalidTxnState, code: kerr.InvalidTxnState, desc: "EndTxn without a transaction (no AddPartitionsToTxn), or a commit of an aborted one and the reverse"},
	{err: txn.ErrNotInTransaction, code: kerr.TransactionAbortable, desc: "a KIP-890 verification names a partition the producer's transaction does not hold (never added, or no transaction open): the producer must abort; INVALID_TXN_STATE to requests that predate TRANSACTION_ABORTABLE (abortableCode)"},
	{err: txn.ErrInvalidTimeout, code: kerr.InvalidTransactionTimeout, desc: "transaction.timeout.ms not positive or above transaction.max.timeout.ms"},
	{err: txn.ErrUnknownTransactionalID, code: kerr.TransactionalIDNotFound, desc: "DescribeTransactions of an id this coordinator does not know"},
	{err: txn.ErrEmptyTransactionalID, code: kerr.InvalidRequest, desc: "an empty transactional id"},
}

// shareErrors: a share-partition refuses acknowledgements (internal/share).
var shareErrors = []wireError{
	{err: share.ErrInvalidRecordState, code: kerr.InvalidRecordState, desc: "an acknowledgement names a record this member has not acquired (never delivered, acquired by another member, already acknowledged, lock expired, outside the in-flight window); no batch of that partition applies"},
	{err: share.ErrInvalidAck, code: kerr.InvalidRequest, desc: "acknowledgement batches out of order or overlapping, first offset after last, a wrong number of acknowledge types, or an unknown type; no batch of that partition applies"},
	{err: share.ErrStateReloaded, code: kerr.NotLeaderForPartition, desc: "the share-partition's state was reloaded (leadership moved, an admin altered it, or a write failed) between an acknowledgement and its write; the acknowledgement did not persist and the client retries"},
}

// runtimeErrors: the standard library's conditions.
var runtimeErrors = []wireError{
	{err: context.DeadlineExceeded, code: kerr.RequestTimedOut, desc: "waiting for the controller or for this broker to apply a change timed out"},
}

// errorTables is searched in order; the first matching row wins.
var errorTables = [][]wireError{recordErrors, storageErrors, partitionErrors, metadataErrors, controllerErrors, securityErrors, txnErrors, shareErrors, runtimeErrors}

// isIOError reports an error from a file operation. Network errors do not
// reach the tables (the controller RPC retries them), but a *net.OpError
// also wraps an errno, so only file errors and bare errnos count.
func isIOError(err error) bool {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return true
	}
	var errno syscall.Errno
	var ne *net.OpError
	return errors.As(err, &errno) && !errors.As(err, &ne)
}

// errCode maps an error to its Kafka wire error code (0 for nil).
func errCode(err error) int16 {
	if err == nil {
		return 0
	}
	return wireErr(err).Code
}

// wireErr is errCode's *kerr.Error.
func wireErr(err error) *kerr.Error {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke
	}
	for _, t := range errorTables {
		for _, w := range t {
			if w.matches(err) {
				return w.code
			}
		}
	}
	return kerr.UnknownServerError
}

// coordinatorErrors: a group coordinator's write to __consumer_offsets
// failed (see coordinatorLog). Kafka's coordinator answers a lost leadership
// with NOT_COORDINATOR (the client looks the coordinator up again) and
// anything else with COORDINATOR_NOT_AVAILABLE.
var coordinatorErrors = []wireError{
	{err: partition.ErrNotLeader, code: kerr.NotCoordinator, desc: "the offsets partition's leadership moved away during the write"},
}

// coordinatorErr maps an offsets write error as coordinatorErrors says,
// keeping the original error's text; kerr errors pass through.
func coordinatorErr(err error) error {
	if err == nil {
		return nil
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return err
	}
	for _, w := range coordinatorErrors {
		if w.matches(err) {
			return fmt.Errorf("%w: %v", w.code, err)
		}
	}
	return fmt.Errorf("%w: %v", kerr.CoordinatorNotAvailable, err)
}

// abortableCode answers TRANSACTION_ABORTABLE (KIP-890) as
// INVALID_TXN_STATE to requests that predate it, as Kafka does: it is
// new in Produce v11, TxnOffsetCommit v4, AddPartitionsToTxn v5,
// AddOffsetsToTxn v4, EndTxn v4 and InitProducerId v5 (knowsAbortable).
// Clients that know it abort the transaction and go on with the same
// producer; older ones read INVALID_TXN_STATE (most also abort).
func abortableCode(code int16, knowsAbortable bool) int16 {
	if code == kerr.TransactionAbortable.Code && !knowsAbortable {
		return kerr.InvalidTxnState.Code
	}
	return code
}

// verifyCode is the produce answer for a failed KIP-890 verification of a
// partition (txn_verify.go), as Kafka's partition leaders answer: the
// coordinator could not be asked or is moving (NOT_COORDINATOR,
// COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS, a timeout or a
// network error) is NOT_ENOUGH_REPLICAS, which producers retry; a
// transaction being ended is CONCURRENT_TRANSACTIONS for Produce v12+
// (transaction version 2 clients retry it) and NOT_ENOUGH_REPLICAS
// before; a fenced producer is INVALID_PRODUCER_EPOCH; a producer id the
// transactional id does not hold is INVALID_PRODUCER_ID_MAPPING; a
// partition not in the producer's transaction is TRANSACTION_ABORTABLE
// for Produce v11+ and INVALID_TXN_STATE before (abortableCode); any
// other refusal INVALID_TXN_STATE.
func verifyCode(err error, produceVersion int16) int16 {
	if err == nil {
		return 0
	}
	switch e := wireErr(err); e {
	case kerr.NotCoordinator, kerr.CoordinatorNotAvailable, kerr.CoordinatorLoadInProgress, kerr.RequestTimedOut, kerr.UnknownServerError:
		return kerr.NotEnoughReplicas.Code
	case kerr.ConcurrentTransactions:
		if produceVersion >= 12 {
			return e.Code
		}
		return kerr.NotEnoughReplicas.Code
	case kerr.ProducerFenced, kerr.InvalidProducerEpoch:
		return kerr.InvalidProducerEpoch.Code
	case kerr.InvalidProducerIDMapping:
		return e.Code
	case kerr.TransactionAbortable:
		return abortableCode(e.Code, produceVersion >= 11)
	}
	return kerr.InvalidTxnState.Code
}

// txnOffsetVerifyCode is the TxnOffsetCommit v0-4 answer for a failed
// KIP-890 verification of the group's offsets partition, as Kafka's group
// coordinator answers: a partition not in the transaction is
// TRANSACTION_ABORTABLE to v4 and INVALID_TXN_STATE before
// (abortableCode); a fenced producer INVALID_PRODUCER_EPOCH; the
// coordinator's CONCURRENT_TRANSACTIONS, INVALID_PRODUCER_ID_MAPPING,
// INVALID_TXN_STATE, NOT_COORDINATOR and COORDINATOR_LOAD_IN_PROGRESS as
// they are; anything else (the coordinator could not be asked)
// COORDINATOR_NOT_AVAILABLE, which clients retry.
func txnOffsetVerifyCode(err error, version int16) int16 {
	switch e := wireErr(err); e {
	case kerr.TransactionAbortable:
		return abortableCode(e.Code, version >= 4)
	case kerr.ProducerFenced, kerr.InvalidProducerEpoch:
		return kerr.InvalidProducerEpoch.Code
	case kerr.ConcurrentTransactions, kerr.InvalidProducerIDMapping, kerr.InvalidTxnState, kerr.NotCoordinator, kerr.CoordinatorLoadInProgress:
		return e.Code
	}
	return kerr.CoordinatorNotAvailable.Code
}

// errMsg returns a pointer to err's text for ErrorMessage fields.
func errMsg(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
