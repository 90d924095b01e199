package cloud

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/tributary/tributary/internal/client"
)

// The resize's reassignment throttle (Config.ReassignThrottle, KIP-73):
// before the moves start, every moved topic gets
// leader.replication.throttled.replicas=* and the cluster-wide default of
// leader.replication.throttled.rate is set, so each leader sends new
// replicas at most that many bytes/s (in-sync followers are never
// throttled: clients keep their throughput). Once every move is done,
// the rate is deleted and the "*" lists are removed. Both steps are
// idempotent, as every step of an operation. Off (0), nothing is set or
// cleared. Brokers that refuse the keys (a version without the throttle:
// INVALID_REQUEST or INVALID_CONFIG) get their moves unthrottled; other
// errors are retried at the next poll.

const (
	throttleRateKey     = "leader.replication.throttled.rate"
	throttleReplicasKey = "leader.replication.throttled.replicas"
)

// setReassignThrottle throttles the topics of moves.
func (s *Service) setReassignThrottle(ctx context.Context, adm *kadm.Client, moves []client.Move) error {
	if s.cfg.ReassignThrottle <= 0 {
		return nil
	}
	var topics []string
	for _, m := range moves {
		if !slices.Contains(topics, m.Topic) {
			topics = append(topics, m.Topic)
		}
	}
	star := "*"
	res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: throttleReplicasKey, Value: &star}}, topics...)
	if err = alterErr(res, err); refused(err) {
		s.log.Warn("reassignment throttle refused; the moves run unthrottled", "err", err)
		return nil
	} else if err != nil {
		return fmt.Errorf("throttle the moved topics: %w", err)
	}
	rate := strconv.FormatInt(s.cfg.ReassignThrottle, 10)
	res, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: throttleRateKey, Value: &rate}})
	if err = alterErr(res, err); refused(err) {
		s.log.Warn("reassignment throttle refused; the moves run unthrottled", "err", err)
	} else if err != nil {
		return fmt.Errorf("set %s: %w", throttleRateKey, err)
	}
	return nil
}

// clearReassignThrottle removes what setReassignThrottle set.
func (s *Service) clearReassignThrottle(ctx context.Context, adm *kadm.Client) error {
	if s.cfg.ReassignThrottle <= 0 {
		return nil
	}
	res, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: throttleRateKey}})
	if err = alterErr(res, err); err != nil && !refused(err) {
		return fmt.Errorf("delete %s: %w", throttleRateKey, err)
	}
	names, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		return err
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, names.Names()...)
	if err != nil {
		return err
	}
	var throttled []string
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Key == throttleReplicasKey && c.Value != nil && *c.Value == "*" {
				throttled = append(throttled, rc.Name)
			}
		}
	}
	if len(throttled) == 0 {
		return nil
	}
	res, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: throttleReplicasKey}}, throttled...)
	if err = alterErr(res, err); err != nil {
		return fmt.Errorf("unthrottle the moved topics: %w", err)
	}
	return nil
}

// refused reports whether err is a broker refusing the throttle's keys.
func refused(err error) bool {
	return errors.Is(err, kerr.InvalidRequest) || errors.Is(err, kerr.InvalidConfig)
}

func alterErr(res kadm.AlterConfigsResponses, err error) error {
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range res {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w %s", r.Name, r.Err, r.ErrMessage))
		}
	}
	return errors.Join(errs...)
}
