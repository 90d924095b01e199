package config

// GroupDefs are the dynamic group configs served on the GROUP config
// resource (DescribeConfigs/IncrementalAlterConfigs with resource type
// 32, KIP-848/KIP-932), stored in the metadata quorum. Other Kafka group
// configs are refused with INVALID_CONFIG.
var GroupDefs = map[string]Def{
	"group.share.record.lock.duration.ms": {Name: "group.share.record.lock.duration.ms", Type: TypeInt, Check: atLeast(1000),
		Doc: "The group's acquisition lock duration, overriding the broker's; bounded by the broker's group.share.min.record.lock.duration.ms and group.share.max.record.lock.duration.ms."},
	"group.share.delivery.count.limit": {Name: "group.share.delivery.count.limit", Type: TypeInt, Check: atLeast(2),
		Doc: "The group's delivery count limit, overriding the broker's; bounded by the broker's group.share.min.delivery.count.limit and group.share.max.delivery.count.limit."},
	"share.auto.offset.reset": {Name: "share.auto.offset.reset", Type: TypeString, Default: "latest", Check: oneOf("latest", "earliest"),
		Doc: "Where a share group starts on a partition it has no state for: the high watermark (latest) or the log start (earliest). Kafka's by_duration is not served."},
	"share.isolation.level": {Name: "share.isolation.level", Type: TypeString, Default: "read_uncommitted", Check: oneOf("read_uncommitted", "read_committed"),
		Doc: "read_uncommitted: share groups read up to the high watermark; read_committed: up to the last stable offset, with the records of aborted transactions and the transaction markers archived, never delivered."},
}
