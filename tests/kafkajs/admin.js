// kafkajs admin: create $TOPIC (default admin-topic) with 6 partitions,
// try again (must report it already exists), fetch its metadata, list
// topics, describe the cluster and fetch the topic's offsets.
const { kafka, result, run } = require('./common');

const admin = kafka().admin();
const topic = process.env.TOPIC || 'admin-topic';

run(async () => {
  await admin.connect();
  const created = await admin.createTopics({
    topics: [{ topic, numPartitions: 6, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '86400000' }] }],
    waitForLeaders: true,
  });
  const createdAgain = await admin.createTopics({ topics: [{ topic, numPartitions: 6 }], waitForLeaders: true });
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
  const topics = await admin.listTopics();
  const cluster = await admin.describeCluster();
  const offsets = await admin.fetchTopicOffsets(topic);
  const configs = await admin.describeConfigs({ resources: [{ type: 2, name: topic, configNames: ['retention.ms'] }], includeSynonyms: false });
  result({ created, createdAgain, metadata, topics, cluster, offsets, configs });
  await admin.disconnect();
});
