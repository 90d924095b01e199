// Shared setup for the kafkajs scripts: the broker list comes from $BROKERS
// (comma separated, default localhost:9092); results are printed as
// "RESULT <json>" lines for tests/kafkajs_test.go to parse.
// Silence kafkajs 2's one-time notice about its default partitioner.
process.env.KAFKAJS_NO_PARTITIONER_WARNING = process.env.KAFKAJS_NO_PARTITIONER_WARNING || '1';
const { Kafka, logLevel } = require('kafkajs');

const brokers = (process.env.BROKERS || 'localhost:9092').split(',');

// Optional security from the environment: $SSL_CA (a PEM CA file) turns
// TLS on; $SASL_MECHANISM (plain, scram-sha-256, scram-sha-512) with
// $SASL_USERNAME and $SASL_PASSWORD turns SASL on.
function security() {
  const out = {};
  if (process.env.SSL_CA) {
    out.ssl = { ca: [require('fs').readFileSync(process.env.SSL_CA, 'utf-8')] };
  }
  if (process.env.SASL_MECHANISM) {
    out.sasl = {
      mechanism: process.env.SASL_MECHANISM,
      username: process.env.SASL_USERNAME,
      password: process.env.SASL_PASSWORD,
    };
  }
  return out;
}

function kafka() {
  return new Kafka({
    clientId: 'my-app',
    brokers,
    logLevel: logLevel[process.env.KAFKAJS_LOG_LEVEL || 'WARN'],
    ...security(),
  });
}

function result(obj) {
  console.log('RESULT ' + JSON.stringify(obj));
}

// run executes main, exiting 1 with the error on failure.
function run(main) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}

module.exports = { kafka, result, run };
