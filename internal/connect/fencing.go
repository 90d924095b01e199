package connect

// Zombie fencing for exactly-once source connectors (KIP-618).
//
// Every new set of task configs of an exactly-once source connector is a
// new task generation. Before any task of it starts, the leader fences
// the transactional producers of every task id of the earlier
// generations (InitProducerId on "<group>-<connector>-<task>" bumps the
// producer epoch and aborts an open transaction, so a zombie task on a
// partitioned or slow worker can no longer commit), then writes
// tasks-fencing-<connector> {"task-count":N} to the config topic. Workers
// start an exactly-once source connector's tasks only when that record
// follows the connector's last commit record (configState.fencePending).
//
// Only the leader fences, under writeMu, so the record never overtakes a
// later commit. The leader fences right after writing task configs and,
// on every reconcile, for any commit still pending (a leader that died
// in between, a commit written by a worker without exactly-once
// support). The worker running the connector also asks the leader with
// Connect's internal PUT /connectors/{c}/fence (signed under
// "sessioned"), which a Java leader waits for; the leader answers it
// with the same fenceZombies, a no-op once the record is written.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// eosSource reports whether a connector's tasks run with exactly-once
// support: this worker enables it and the connector is a source.
func (h *Herder) eosSource(cfg map[string]string) bool {
	if !h.cfg.ExactlyOnceSource || cfg == nil {
		return false
	}
	p, ok := h.plugins.Lookup(cfg["connector.class"])
	return ok && p.Type == TypeSource
}

// fencePending reports whether name's tasks must wait for a zombie fencing.
func (h *Herder) fencePending(name string, cfg map[string]string) bool {
	if !h.eosSource(cfg) {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.config.fencePending[name]
}

// fenceZombies fences the earlier task generations of name, if its last
// commit is still pending, and writes the task-count record. Leader only.
func (h *Herder) fenceZombies(ctx context.Context, name string) error {
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	if err := h.configLog.ReadToEnd(ctx); err != nil {
		return err
	}
	h.mu.Lock()
	cfg := h.config.connectors[name]
	pending := h.config.fencePending[name]
	count := h.config.fenceCount[name]
	tasks := len(h.config.tasks[name])
	h.mu.Unlock()
	if !pending || !h.eosSource(cfg) {
		return nil
	}
	for i := 0; i < count; i++ {
		if err := h.fenceProducer(ctx, h.transactionalID(TaskID{name, i})); err != nil {
			return fmt.Errorf("fencing the producer of task %d of %s: %w", i, name, err)
		}
	}
	b, _ := json.Marshal(taskCountValue{TaskCount: tasks})
	if err := h.configLog.Send(ctx, taskCountKey(name), b); err != nil {
		return err
	}
	h.log.Info("fenced the zombie tasks of an exactly-once source connector", "connector", name, "fenced_tasks", count, "task_count", tasks)
	return h.configLog.ReadToEnd(ctx)
}

// fenceProducer bumps the epoch of a transactional id (Admin's
// fenceProducers): InitProducerId without a producer id, retried while
// the coordinator completes the zombie's open transaction.
func (h *Herder) fenceProducer(ctx context.Context, txnID string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = kmsg.StringPtr(txnID)
		req.TransactionTimeoutMillis = 60000
		req.ProducerID, req.ProducerEpoch = -1, -1
		resp, err := req.RequestWith(ctx, h.deps.Group)
		if err == nil {
			err = kerrFor(resp.ErrorCode)
		}
		if err == nil {
			return nil
		}
		var ke *kerr.Error
		if !errors.As(err, &ke) || !ke.Retriable {
			return err
		}
		if sleepCtx(ctx, 100*time.Millisecond); ctx.Err() != nil {
			return err
		}
	}
}

// FenceZombies serves the internal PUT /connectors/{c}/fence: the leader
// fences the connector's earlier task generations if its last commit is
// pending. body and sig are the request's body and signature.
func (h *Herder) FenceZombies(ctx context.Context, name string, body []byte, sig *RequestSignature) error {
	if err := h.internalAtLeader(name, body, sig); err != nil {
		return err
	}
	return h.fenceZombies(ctx, name)
}

// requestFencing asks the leader to fence name's zombies (signed under
// "sessioned").
func (h *Herder) requestFencing(ctx context.Context, name string) error {
	h.mu.Lock()
	url := h.leaderURL
	h.mu.Unlock()
	if url == "" || h.deps.Forward == nil {
		return ErrNoLeader
	}
	header, err := h.signInternal(nil)
	if err != nil {
		return err
	}
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return h.deps.Forward(fctx, "PUT", url+"/connectors/"+pathEscape(name)+"/fence?forward=false", nil, header)
}
