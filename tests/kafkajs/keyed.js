// kafkajs keyed producer: $COUNT messages (default 1000) over $KEYS keys
// (default 10) to $TOPIC, value "keyK-SEQ" with SEQ counting per key, sent
// in batches of 100 by an idempotent producer (acks all). The test reads
// them back to check that each key lands in one partition, in order.
const { kafka, result, run } = require('./common');

const count = parseInt(process.env.COUNT || '1000', 10);
const keys = parseInt(process.env.KEYS || '10', 10);
const topic = process.env.TOPIC || 'keyed-topic';
const producer = kafka().producer({ idempotent: true, maxInFlightRequests: 1 });

run(async () => {
  await producer.connect();
  const seq = new Array(keys).fill(0);
  let acked = 0;
  for (let i = 0; i < count; ) {
    const messages = [];
    for (; i < count && messages.length < 100; i++) {
      const k = i % keys;
      messages.push({ key: `key${k}`, value: `key${k}-${seq[k]++}` });
    }
    const res = await producer.send({ topic, acks: -1, messages });
    acked += messages.length;
    for (const r of res) {
      if (r.errorCode !== 0) throw new Error(`produce error ${JSON.stringify(r)}`);
    }
  }
  result({ acked });
  await producer.disconnect();
});
