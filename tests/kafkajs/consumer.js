// The seed's kafkajs consumer example (shared/seeds/001): consumer group
// 'test-group' subscribed to test-topic from the beginning, printing every
// message. With $EXPECT=N it disconnects and exits after N messages (the
// seed's version runs forever). $TOPIC and $GROUP override the defaults.
const { kafka, result, run } = require('./common');

const consumer = kafka().consumer({ groupId: process.env.GROUP || 'test-group' });
const expect = parseInt(process.env.EXPECT || '0', 10);

const receiveMessage = async () => {
  await consumer.connect();
  await consumer.subscribe({ topic: process.env.TOPIC || 'test-topic', fromBeginning: true });
  let seen = 0;
  await new Promise((resolve, reject) => {
    consumer.on(consumer.events.CRASH, (e) => reject(e.payload.error));
    consumer
      .run({
        eachMessage: async ({ topic, partition, message }) => {
          result({ topic, partition, offset: message.offset, value: message.value.toString() });
          seen++;
          if (expect > 0 && seen >= expect) {
            resolve();
          }
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
};

run(receiveMessage);
