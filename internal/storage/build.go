package storage

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/record"
)

// batchHeader and buildBatch are the cleaner's names for record.Header and
// record.Build.
type batchHeader = record.Header

func headerOf(b record.Batch) batchHeader { return record.HeaderOf(b) }

func buildBatch(h batchHeader, recs []kmsg.Record) (record.Batch, error) {
	return record.Build(h, recs)
}
