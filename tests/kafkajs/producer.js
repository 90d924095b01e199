// The seed's kafkajs producer example (shared/seeds/001): connect, send
// 'Hello Kafka World!' to test-topic, disconnect. $TOPIC and $MESSAGE
// override the defaults.
const { kafka, result, run } = require('./common');

const producer = kafka().producer();

const sendMessage = async () => {
  await producer.connect();
  const sent = await producer.send({
    topic: process.env.TOPIC || 'test-topic',
    messages: [{ value: process.env.MESSAGE || 'Hello Kafka World!' }],
  });
  result({ sent });
  await producer.disconnect();
};

run(sendMessage);
