// A kafkajs transactional producer (transactionalId $TXN_ID, idempotent,
// maxInFlightRequests 1 as kafkajs requires): one transaction of
// "commit-0..2" committed, one of "abort-0..2" aborted, one of
// "last-0..2" committed, each spread over the partitions of $TOPIC. A
// second producer with the same transactional id then fences the first:
// its next send fails. Prints what it did.
const { kafka, result, run } = require('./common');

const topic = process.env.TOPIC || 'kafkajs-txn';
const txnId = process.env.TXN_ID || 'kafkajs-txn';

const main = async () => {
  const k = kafka();
  const producer = k.producer({ transactionalId: txnId, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const ends = [];
  for (const [prefix, commit] of [['commit', true], ['abort', false], ['last', true]]) {
    const txn = await producer.transaction();
    await txn.send({
      topic,
      messages: [0, 1, 2].map((i) => ({ partition: i % 3, value: `${prefix}-${i}` })),
    });
    if (commit) {
      await txn.commit();
    } else {
      await txn.abort();
    }
    ends.push({ prefix, commit });
  }
  // A second producer with the same id fences the first.
  const second = k.producer({ transactionalId: txnId, idempotent: true, maxInFlightRequests: 1 });
  await second.connect();
  const t2 = await second.transaction(); // InitProducerId: the epoch bump fences the first
  await t2.abort();
  let fenced = null;
  try {
    const txn = await producer.transaction();
    await txn.send({ topic, messages: [{ partition: 0, value: 'zombie' }] });
    await txn.commit();
  } catch (err) {
    fenced = err.type || err.name;
  }
  await second.disconnect();
  await producer.disconnect().catch(() => {});
  result({ ends, fenced });
};

run(main);
