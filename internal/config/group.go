package config

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func checkShareReset(v string) error {
	if v == "latest" || v == "earliest" {
		return nil
	}
	if d, ok := strings.CutPrefix(v, "by_duration:"); ok {
		_, err := ParseISODuration(d)
		return err
	}
	return errors.New("must be latest, earliest or by_duration:<ISO-8601 duration>")
}

var isoDuration = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d{1,9})?)S)?)?$`)

// ParseISODuration parses a non-negative ISO-8601 duration of days,
// hours, minutes and seconds (PnDTnHnMn.nS, the form Kafka's
// share.auto.offset.reset=by_duration takes).
func ParseISODuration(s string) (time.Duration, error) {
	m := isoDuration.FindStringSubmatch(strings.ToUpper(s))
	if m == nil || s == "P" || strings.HasSuffix(strings.ToUpper(s), "T") {
		return 0, errors.New("not an ISO-8601 duration (PnDTnHnMn.nS)")
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.ParseInt(m[i+1], 10, 64)
		if err != nil || n > int64(1<<62)/int64(unit) {
			return 0, errors.New("duration out of range")
		}
		d += time.Duration(n) * unit
	}
	if m[4] != "" {
		f, err := strconv.ParseFloat(m[4], 64)
		if err != nil || f > float64(1<<62)/float64(time.Second) {
			return 0, errors.New("duration out of range")
		}
		d += time.Duration(f * float64(time.Second))
	}
	if d < 0 {
		return 0, errors.New("duration out of range")
	}
	return d, nil
}

// GroupDefs are the dynamic group configs served on the GROUP config
// resource (DescribeConfigs/IncrementalAlterConfigs with resource type
// 32, KIP-848/KIP-932), stored in the metadata quorum. Other Kafka group
// configs are refused with INVALID_CONFIG.
var GroupDefs = map[string]Def{
	"group.share.record.lock.duration.ms": {Name: "group.share.record.lock.duration.ms", Type: TypeInt, Check: atLeast(1000),
		Doc: "The group's acquisition lock duration, overriding the broker's; bounded by the broker's group.share.min.record.lock.duration.ms and group.share.max.record.lock.duration.ms."},
	"group.share.delivery.count.limit": {Name: "group.share.delivery.count.limit", Type: TypeInt, Check: atLeast(2),
		Doc: "The group's delivery count limit, overriding the broker's; bounded by the broker's group.share.min.delivery.count.limit and group.share.max.delivery.count.limit."},
	"share.auto.offset.reset": {Name: "share.auto.offset.reset", Type: TypeString, Default: "latest", Check: checkShareReset,
		Doc: "Where a share group starts on a partition it has no state for: the high watermark (latest), the log start (earliest), or by_duration:<ISO-8601 duration> (PnDTnHnMn.nS), the first record whose timestamp is at or after now minus the duration (the high watermark if there is none)."},
	"share.isolation.level": {Name: "share.isolation.level", Type: TypeString, Default: "read_uncommitted", Check: oneOf("read_uncommitted", "read_committed"),
		Doc: "read_uncommitted: share groups read up to the high watermark; read_committed: up to the last stable offset, with the records of aborted transactions and the transaction markers archived, never delivered."},
}
