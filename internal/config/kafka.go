package config

import "strings"

// NotApplicable are Kafka broker configs that Tributary accepts and
// ignores, because they tune something Tributary does not have (a JVM
// thread pool, a Java plugin, ZooKeeper-era bookkeeping, a feature whose
// config only sizes internal topics that do not exist yet). The value is
// the reason, shown by docs/CONFIG.md and `trib broker --print-config`.
// A config that changes what clients observe is never here: it is
// honoured (BrokerDefs) or refused (Refused).
var NotApplicable = map[string]string{
	"num.network.threads":                              "thread pool size; Tributary serves each connection on its own goroutines",
	"num.io.threads":                                   "thread pool size; requests run on the connection's goroutine",
	"num.replica.fetchers":                             "thread pool size; one follower fetcher per source broker",
	"num.recovery.threads.per.data.dir":                "thread pool size; recovery runs per partition on goroutines",
	"num.replica.alter.log.dirs.threads":               "thread pool size; there is one log directory (JBOD is refused)",
	"background.threads":                               "thread pool size; background work runs on goroutines",
	"log.cleaner.threads":                              "thread pool size; the cleaner runs on goroutines",
	"log.cleaner.io.buffer.size":                       "JVM buffer sizing for the cleaner",
	"log.cleaner.io.buffer.load.factor":                "JVM hash-map load factor for the cleaner",
	"log.cleaner.dedupe.buffer.size":                   "JVM memory bound for the cleaner's offset map; the cleaner indexes keys per segment",
	"queued.max.requests":                              "request queue between Kafka's network and I/O threads, which Tributary does not have",
	"queued.max.request.bytes":                         "request queue between Kafka's network and I/O threads, which Tributary does not have",
	"socket.send.buffer.bytes":                         "SO_SNDBUF; Tributary leaves socket buffers to the kernel's autotuning",
	"socket.receive.buffer.bytes":                      "SO_RCVBUF; Tributary leaves socket buffers to the kernel's autotuning",
	"socket.listen.backlog.size":                       "listen backlog; Go uses the kernel's somaxconn",
	"replica.socket.receive.buffer.bytes":              "SO_RCVBUF of follower connections; left to the kernel",
	"fetch.purgatory.purge.interval.requests":          "JVM purgatory housekeeping",
	"producer.purgatory.purge.interval.requests":       "JVM purgatory housekeeping",
	"delete.records.purgatory.purge.interval.requests": "JVM purgatory housekeeping",
	"metric.reporters":                                 "Java metrics plugins; Tributary's metrics are Prometheus",
	"metrics.num.samples":                              "Java metrics sampling",
	"metrics.recording.level":                          "Java metrics sampling",
	"metrics.sample.window.ms":                         "Java metrics sampling",
	"kafka.metrics.reporters":                          "Java (Yammer) metrics plugins",
	"kafka.metrics.polling.interval.secs":              "Java (Yammer) metrics plugins",
	"auto.include.jmx.reporter":                        "JMX",
	"broker.id.generation.enable":                      "ZooKeeper-era broker id generation; node.id is required",
	"reserved.broker.max.id":                           "ZooKeeper-era broker id generation; node.id is required",
	"inter.broker.protocol.version":                    "inter-broker protocol pinning for rolling upgrades of Kafka; every Tributary node speaks one protocol",
	"log.message.format.version":                       "on-disk format pinning for Kafka upgrades; Tributary writes record batch v2",
	"unstable.api.versions.enable":                     "Kafka development switch; Tributary advertises only the versions it implements",
	"unstable.feature.versions.enable":                 "Kafka development switch",
	"early.start.listeners":                            "listener start ordering inside the JVM; Tributary opens its listeners once the node is ready",
	"initial.broker.registration.timeout.ms":           "registration wait of Kafka's broker; a Tributary node waits for the quorum without a limit",
	"metadata.log.segment.bytes":                       "segment size of Kafka's metadata log; the Raft log is a bolt database",
	"metadata.log.segment.ms":                          "segment roll of Kafka's metadata log; the Raft log is a bolt database",
	"metadata.max.retention.bytes":                     "retention of Kafka's metadata log; Raft snapshots truncate it",
	"metadata.max.retention.ms":                        "retention of Kafka's metadata log; Raft snapshots truncate it",
	"metadata.log.max.record.bytes.between.snapshots":  "snapshot trigger of Kafka's metadata log; Raft snapshots every 2048 entries",
	"metadata.log.max.snapshot.interval.ms":            "snapshot trigger of Kafka's metadata log; Raft snapshots every 2048 entries",
	"metadata.max.idle.interval.ms":                    "no-op records of Kafka's metadata log",
	"controller.quorum.election.timeout.ms":            "Raft timing is fixed (hashicorp/raft, 500 ms election timeout)",
	"controller.quorum.election.backoff.max.ms":        "Raft timing is fixed (hashicorp/raft)",
	"controller.quorum.fetch.timeout.ms":               "Raft timing is fixed (hashicorp/raft)",
	"controller.quorum.append.linger.ms":               "Raft batching is fixed (hashicorp/raft)",
	"controller.quorum.request.timeout.ms":             "Raft timing is fixed (hashicorp/raft)",
	"controller.quorum.retry.backoff.ms":               "Raft timing is fixed (hashicorp/raft)",
	"controller.socket.timeout.ms":                     "controller RPC timeouts are fixed",
	"transaction.state.log.segment.bytes":              "__transaction_state takes the broker's log.segment.bytes",
	"transaction.state.log.load.buffer.size":           "JVM buffer for loading __transaction_state",
	"offsets.load.buffer.size":                         "JVM buffer for loading __consumer_offsets",
	"share.coordinator.state.topic.segment.bytes":      "__share_group_state takes the broker's log.segment.bytes",
	"group.share.enable":                               "share groups (KIP-932) are always served (Kafka 4.2 gates them on the share.version feature, which Tributary finalizes at 1)",
	"group.coordinator.threads":                        "thread pool size of Kafka's group coordinator",
	"log.flush.scheduler.interval.ms":                  "Kafka's flush scheduler tick; Tributary flushes by log.flush.interval.* and acks=all",
	"log.flush.start.offset.checkpoint.interval.ms":    "written with the recovery point checkpoint (log.flush.offset.checkpoint.interval.ms)",
	"log.initial.task.delay.ms":                        "start-up delay of Kafka's log tasks",
	"replica.fetch.max.bytes":                          "follower fetch sizing is fixed (4 MiB per partition, 16 MiB per request, always at least one whole batch)",
	"replica.fetch.response.max.bytes":                 "follower fetch sizing is fixed (4 MiB per partition, 16 MiB per request, always at least one whole batch)",
	"replica.fetch.min.bytes":                          "followers long-poll with a fixed minimum of 1 byte (replica.fetch.wait.max.ms is honoured)",
	"replica.fetch.backoff.ms":                         "follower fetch retry timing is fixed",
	"replica.socket.timeout.ms":                        "follower fetch socket timeouts are fixed",
	"controlled.shutdown.max.retries":                  "SIGTERM always does a controlled shutdown, bounded by 10 s",
	"controlled.shutdown.retry.backoff.ms":             "SIGTERM always does a controlled shutdown, bounded by 10 s",
}

// Refused are Kafka broker configs that Tributary refuses at start-up
// because it cannot honour them yet; the value is the reason. Families of
// keys are refused by prefix (refusedPrefixes).
var Refused = map[string]string{
	"zookeeper.connect":                      "ZooKeeper mode is gone; Tributary's metadata quorum is built in (use process.roles and controller.quorum.voters)",
	"principal.builder.class":                "authentication is not built yet",
	"max.connections":                        "connection limits are not enforced yet",
	"max.connections.per.ip":                 "connection limits are not enforced yet",
	"max.connections.per.ip.overrides":       "connection limits are not enforced yet",
	"max.connection.creation.rate":           "connection limits are not enforced yet",
	"connections.max.idle.ms":                "idle connections are not closed yet",
	"replica.selector.class":                 "fetching from followers (KIP-392) is not supported",
	"create.topic.policy.class.name":         "Java policy plugins cannot run in Tributary",
	"alter.config.policy.class.name":         "Java policy plugins cannot run in Tributary",
	"client.quota.callback.class":            "Java quota callbacks cannot run in Tributary (quotas are Kafka's default user/client-id ones)",
	"eligible.leader.replicas.enable":        "eligible leader replicas (KIP-966) are not supported",
	"delegation.token.secret.key":            "delegation tokens are not supported",
	"delegation.token.master.key":            "delegation tokens are not supported",
	"log.dir.failure.timeout.ms":             "there is one log directory (JBOD is refused)",
	"remote.log.storage.system.enable":       "tiered storage (KIP-405) is not supported",
	"log.cleaner.io.max.bytes.per.second":    "the cleaner's I/O is not throttled",
	"leader.imbalance.per.broker.percentage": "Tributary's leader rebalance (auto.leader.rebalance.enable) has no imbalance threshold",
}

// refusedPrefixes refuse whole families of keys.
var refusedPrefixes = []struct{ prefix, reason string }{
	{"ssl.", "Tributary reads PEM key and trust stores (ssl.keystore.location, ssl.truststore.location); this TLS setting is not offered"},
	{"sasl.", "Tributary serves SASL PLAIN and SCRAM-SHA-256/512 (sasl.enabled.mechanisms); this SASL setting is not offered (JAAS configs are per listener: listener.name.<listener>.<mechanism>.sasl.jaas.config)"},
	{"listener.name.", "per-listener settings take the listener's TLS and SASL keys (listener.name.<listener>.ssl.*, .sasl.enabled.mechanisms, .connections.max.reauth.ms, .<mechanism>.sasl.jaas.config); this one is not offered"},
	{"zookeeper.", "ZooKeeper mode is gone; Tributary's metadata quorum is built in"},
	{"remote.log.", "tiered storage (KIP-405) is not supported"},
	{"log.local.retention.", "tiered storage (KIP-405) is not supported"},
	{"quota.", "this quota setting is not offered (quota.window.num and quota.window.size.seconds are)"},
	{"replication.quota.", "the replication throttle's window is not configurable (leader.replication.throttled.rate is a token bucket holding one second of the rate)"},
	{"alter.log.dirs.replication.quota.", "there is one log directory (JBOD is refused)"},
	{"delegation.token.", "delegation tokens are not supported"},
	{"group.share.", "this share group setting is not honoured (the honoured ones are listed above)"},
	{"share.", "this share coordinator setting is not honoured (the honoured ones are listed above)"},
	{"transaction.", "this transaction setting is not honoured yet (the honoured ones are listed above)"},
	{"confluent.", "Confluent Platform configs are not supported"},
}

// refusedReason says why key is refused, if it is.
func refusedReason(key string) (string, bool) {
	if r, ok := Refused[key]; ok {
		return r, true
	}
	for _, p := range refusedPrefixes {
		if strings.HasPrefix(key, p.prefix) {
			return p.reason, true
		}
	}
	return "", false
}
