// The CloudEvents SDK's own receivers reading what the relay sent (independent of the relay).
//   node cloudevents.js kafka <brokers> <topic> <count> <timeout ms>
//       Reads <count> records of <topic> with kafkajs and turns each into an event with the SDK's
//       Kafka.toEvent; prints one JSON line per record: {"event": {...attributes, "data"}} or
//       {"error": message}.
//   node cloudevents.js http <file>
//       <file> holds JSON lines {"headers": {...}, "body": text}, requests as an HTTP server received
//       them; each goes through the SDK's HTTP.toEvent; prints one line per request as above.
const fs = require('fs');
const { HTTP, Kafka } = require('cloudevents');
const { Kafka: KafkaClient, logLevel } = require('kafkajs');

function print(toEvent) {
  try {
    const event = toEvent();
    process.stdout.write(JSON.stringify({ event: event.toJSON() }) + '\n');
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: String(e && (e.message || e)), errors: e && e.errors }) + '\n');
  }
}

async function readKafka(brokers, topic, count, timeoutMs) {
  const kafka = new KafkaClient({ clientId: 'pgtrickle-test-cloudevents', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `cloudevents-${process.pid}-${Date.now()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = [];
  let done;
  const finished = new Promise((r) => { done = r; });
  const limit = setTimeout(() => done(), timeoutMs);
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const headers = {};
      for (const [k, v] of Object.entries(message.headers || {})) headers[k] = v === null ? null : v.toString();
      got.push({ partition, offset: Number(message.offset), key: message.key === null ? null : message.key.toString(),
                 value: message.value, headers,
                 timestamp: message.timestamp });
      if (got.length >= count) done();
    },
  });
  await finished;
  clearTimeout(limit);
  await consumer.disconnect();
  got.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  for (const m of got) print(() => Kafka.toEvent(m));
}

async function main() {
  const mode = process.argv[2];
  if (mode === 'kafka') {
    const [brokers, topic, count, timeout] = process.argv.slice(3);
    return readKafka(brokers, topic, Number(count), Number(timeout));
  }
  if (mode === 'http') {
    const lines = fs.readFileSync(process.argv[3], 'utf8').split('\n').filter((l) => l.trim() !== '');
    for (const line of lines) {
      const r = JSON.parse(line);
      print(() => HTTP.toEvent({ headers: r.headers, body: r.body }));
    }
    return;
  }
  throw new Error('usage: cloudevents.js kafka <brokers> <topic> <count> <timeout ms> | http <file>');
}

main().catch((e) => { console.error(e); process.exit(1); });
