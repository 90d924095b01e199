// Confluent Schema Registry round trip with @kafkajs/confluent-schema-registry
// (an independent registry client and serializer) against $REGISTRY, and
// kafkajs against $BROKERS: register an Avro, a JSON Schema and a Protobuf
// schema, produce records encoded in the Confluent wire format (magic byte,
// schema id), consume and decode them, and try an incompatible change.
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry');
const { kafka, result, run } = require('./common');

const registry = new SchemaRegistry({ host: process.env.REGISTRY || 'http://localhost:8081' });
const topic = process.env.TOPIC || 'registry-orders';

const avroSchema = {
  type: 'record',
  name: 'Order',
  namespace: 'shop',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'item', type: 'string' },
  ],
};
const jsonSchema = {
  type: 'object',
  properties: { id: { type: 'integer' }, item: { type: 'string' } },
  required: ['id'],
  additionalProperties: false,
};
const protoSchema = 'syntax = "proto3";\npackage shop;\nmessage Order { int64 id = 1; string item = 2; }\n';

run(async () => {
  const avro = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(avroSchema) }, { subject: `${topic}-value` });
  const json = await registry.register({ type: SchemaType.JSON, schema: JSON.stringify(jsonSchema) }, { subject: `${topic}-json` });
  const proto = await registry.register({ type: SchemaType.PROTOBUF, schema: protoSchema }, { subject: `${topic}-proto` });
  const again = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(avroSchema) }, { subject: `${topic}-value` });
  const latest = await registry.getLatestSchemaId(`${topic}-value`);
  const byVersion = await registry.getRegistryId(`${topic}-value`, 1);

  const values = [];
  for (let i = 0; i < 5; i++) {
    values.push(await registry.encode(avro.id, { id: i, item: `item-${i}` }));
  }
  values.push(await registry.encode(json.id, { id: 5, item: 'json' }));
  values.push(await registry.encode(proto.id, { id: 6, item: 'proto' }));

  const k = kafka();
  const producer = k.producer();
  await producer.connect();
  await producer.send({ topic, messages: values.map((value) => ({ value })) });
  await producer.disconnect();

  // A fresh registry client decodes, so schemas are fetched by id.
  const reader = new SchemaRegistry({ host: process.env.REGISTRY || 'http://localhost:8081' });
  const consumer = k.consumer({ groupId: `${topic}-reader` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const decoded = [];
  const headers = [];
  await new Promise((resolve, reject) => {
    consumer
      .run({
        eachMessage: async ({ message }) => {
          headers.push([message.value[0], message.value.readUInt32BE(1)]);
          const v = await reader.decode(message.value);
          decoded.push({ id: Number(v.id), item: v.item });
          if (decoded.length === values.length) resolve();
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();

  let incompatibleStatus = 0;
  try {
    const bad = { ...avroSchema, fields: [...avroSchema.fields, { name: 'qty', type: 'int' }] };
    await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(bad) }, { subject: `${topic}-value` });
  } catch (err) {
    incompatibleStatus = err.status || -1;
  }
  result({ avroId: avro.id, jsonId: json.id, protoId: proto.id, againId: again.id, latest, byVersion, headers, decoded, incompatibleStatus });
});
