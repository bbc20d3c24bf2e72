// Kafka with kafkajs (independent of the relay and of librdkafka).
//   node kafka.js <brokers> <topic> <at least> <timeout ms>
//       Waits until the topic holds at least <at least> records or the timeout passes, then reads every
//       record present and prints one JSON line per record, partition by partition in offset order:
//       {"id": header dedup_key, "body": value, "tombstone": value is null, "key": ..., "topic", "partition",
//        "offset", "headers": {...}, "raw_key", "raw_value": the key's and the value's bytes in base64, or null}.
//   node kafka.js publish <brokers> <topic> <file>
//       Produces (acks = all) the records of a JSON-lines file, in file order, each line
//       {"body": value, "id"?: header dedup_key, "key"?: ..., "partition"?: n, "headers"?: {...}};
//       returns once the brokers acknowledged them all and prints {"published": n}.
//   node kafka.js fill <brokers> <topic> <count> <prefix>
//       Produces <count> small JSON records (no key, no header: identity topic:partition:offset)
//       {"customer_id": "<prefix>-<i % 100>", "amount": 1.5, "n": i}, for benchmarks.
//   node kafka.js create <brokers> <topic> <partitions>
//       Creates the topic (replication factor 1) and returns once every partition has a leader; an
//       existing topic is left as it is. Prints {"created": true|false}.
//   node kafka.js offsets <brokers> <group> <topic>
//       Prints the group's committed offset and the end of each partition of <topic>, one JSON line
//       per partition: {"partition": n, "committed": offset (-1: none), "end": high watermark}.
//   node kafka.js committed <brokers> <topic> <expected> <timeout ms>
//       Reads the topic from the beginning as a consumer with isolation.level=read_committed (records
//       of aborted transactions are never seen) until it got <expected> records and then nothing more
//       for 3 s, or the timeout passes; prints {"id", "key", "partition", "offset", "body"} per record.
//   node kafka.js avro <registry url> <brokers> <topic> <at least> <timeout ms>
//       As the first form, for records in the Confluent wire format (a zero byte, a schema id, Avro's
//       binary encoding): each key and value decoded with avsc against its schema, fetched from the
//       registry by id, and printed as JSON text, as Kafka Connect's JsonConverter writes the payload
//       (bytes in base64); "key_schema_id" and "value_schema_id" say which schemas.
const fs = require('fs');
const avsc = require('avsc');
const { Kafka, logLevel } = require('kafkajs');

const client = (brokers, id) =>
  new Kafka({ clientId: id, brokers: brokers.split(','), logLevel: logLevel.NOTHING, retry: { retries: 10 } });

async function produce(brokers, topic, records) {
  const producer = client(brokers, 'pgtrickle-test-publisher').producer({ allowAutoTopicCreation: true });
  await producer.connect();
  // One request per chunk keeps each under the broker's size limits; chunks go in order.
  for (let i = 0; i < records.length; i += 1000) {
    await producer.send({ topic, acks: -1, messages: records.slice(i, i + 1000) });
  }
  await producer.disconnect();
  process.stdout.write(JSON.stringify({ published: records.length }) + '\n');
}

function recordOf(line) {
  const m = JSON.parse(line);
  const headers = Object.assign({}, m.headers || {});
  if (m.id !== undefined && m.id !== null && m.id !== '') headers.dedup_key = m.id;
  const r = { value: m.body, headers };
  if (m.key !== undefined && m.key !== null) r.key = m.key;
  if (m.partition !== undefined && m.partition !== null) r.partition = m.partition;
  return r;
}

// Avro's longs as BigInt: a timestamp in nanoseconds is past what a double holds exactly.
const exactLong = avsc.types.LongType.__with({
  fromBuffer: (buf) => buf.readBigInt64LE(),
  toBuffer: (n) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(BigInt(n));
    return buf;
  },
  fromJSON: BigInt,
  toJSON: Number,
  isValid: (n) => typeof n === 'bigint',
  compare: (a, b) => (a === b ? 0 : a < b ? -1 : 1),
});

// Avro types by schema id, fetched once from the registry's Confluent API.
const avroTypes = new Map();
async function avroType(registry, id) {
  if (!avroTypes.has(id)) {
    const res = await fetch(`${registry.replace(/\/$/, '')}/schemas/ids/${id}`);
    if (!res.ok) throw new Error(`the registry answered ${res.status} for schema ${id}: ${await res.text()}`);
    avroTypes.set(id, avsc.Type.forSchema(JSON.parse((await res.json()).schema), { wrapUnions: false, registry: { long: exactLong } }));
  }
  return avroTypes.get(id);
}

// A decoded Avro value as JsonConverter writes its payload: bytes in base64, longs as numbers (a
// marked string here, made a number's digits by connectJsonText).
function asConnectJson(v) {
  if (typeof v === 'bigint') return `\u0000long:${v}`;
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (Array.isArray(v)) return v.map(asConnectJson);
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = asConnectJson(x);
    return o;
  }
  return v;
}

async function decodeAvro(registry, r) {
  for (const [raw, text, idField] of [[r.rawKey, 'key', 'key_schema_id'], [r.rawValue, 'body', 'value_schema_id']]) {
    if (raw === null) continue;
    if (raw.length < 5 || raw[0] !== 0) throw new Error(`offset ${r.offset}: the ${text} is not in the Confluent wire format`);
    const id = raw.readUInt32BE(1);
    const type = await avroType(registry, id);
    r[idField] = id;
    r[text] = JSON.stringify(asConnectJson(type.fromBuffer(raw.subarray(5)))).replace(/"\\u0000long:(-?[0-9]+)"/g, '$1');
  }
}

async function main() {
  const mode = process.argv[2];
  if (mode === 'publish') {
    const [brokers, topic, file] = process.argv.slice(3);
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
    return produce(brokers, topic, lines.map(recordOf));
  }
  if (mode === 'fill') {
    const [brokers, topic, countText, prefix] = process.argv.slice(3);
    const records = [];
    for (let i = 0; i < Number(countText); i++)
      records.push({ value: JSON.stringify({ customer_id: `${prefix}-${i % 100}`, amount: 1.5, n: i }) });
    return produce(brokers, topic, records);
  }
  if (mode === 'create') {
    const [brokers, topic, partitions] = process.argv.slice(3);
    const admin = client(brokers, 'pgtrickle-test-admin').admin();
    await admin.connect();
    const created = await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: Number(partitions), replicationFactor: 1 }],
    });
    await admin.disconnect();
    process.stdout.write(JSON.stringify({ created }) + '\n');
    return;
  }
  if (mode === 'offsets') {
    const [brokers, group, topic] = process.argv.slice(3);
    const admin = client(brokers, 'pgtrickle-test-offsets').admin();
    await admin.connect();
    const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.high)]));
    await admin.disconnect();
    for (const p of committed.partitions.sort((a, b) => a.partition - b.partition))
      process.stdout.write(JSON.stringify({ partition: p.partition, committed: Number(p.offset), end: ends.get(p.partition) }) + '\n');
    return;
  }
  if (mode === 'committed') {
    const [brokers, topic, expectedText, timeoutText] = process.argv.slice(3);
    const expected = Number(expectedText), deadline = Date.now() + Number(timeoutText);
    const consumer = client(brokers, 'pgtrickle-test-committed-reader').consumer({
      groupId: `committed-${process.pid}-${Date.now()}`, maxWaitTimeInMs: 100, readUncommitted: false,
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const out = [];
    const seen = new Set();
    let last = Date.now();
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        if (seen.has(`${partition}:${message.offset}`)) return;  // redelivered after a rebalance
        seen.add(`${partition}:${message.offset}`);
        last = Date.now();
        const id = message.headers && message.headers.dedup_key ? message.headers.dedup_key.toString() : '';
        out.push({ id, key: message.key === null ? null : message.key.toString(), partition, offset: Number(message.offset),
                   body: message.value ? message.value.toString() : '' });
      },
    });
    while (Date.now() < deadline && !(out.length >= expected && Date.now() - last > 3000))
      await new Promise((r) => setTimeout(r, 100));
    await consumer.disconnect();
    process.stdout.write(out.map((r) => JSON.stringify(r) + '\n').join(''));
    return;
  }
  const registry = mode === 'avro' ? process.argv[3] : null;
  const [brokers, topic, atLeastText, timeoutText] = process.argv.slice(registry ? 4 : 2);
  if (!timeoutText) throw new Error('usage: kafka.js [avro <registry url>] <brokers> <topic> <at least> <timeout ms>');
  const atLeast = Number(atLeastText), deadline = Date.now() + Number(timeoutText);
  const kafka = new Kafka({ clientId: 'pgtrickle-test-reader', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  // The end of each partition; an absent topic holds nothing.
  const ends = async () => {
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      return offsets.map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }));
    } catch (e) {
      return [];
    }
  };
  const total = (parts) => parts.reduce((a, p) => a + p.high - p.low, 0);
  let parts = await ends();
  while (total(parts) < atLeast && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    parts = await ends();
  }
  await admin.disconnect();
  const want = total(parts);
  const byPartition = new Map(parts.map((p) => [p.partition, []]));
  if (want > 0) {
    const consumer = kafka.consumer({ groupId: `reader-${process.pid}-${Date.now()}`, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    let got = 0;
    const seen = new Set();
    let done;
    const finished = new Promise((r) => { done = r; });
    const limit = setTimeout(() => done(), Math.max(20000, Number(timeoutText)));
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const p = parts.find((x) => x.partition === partition);
        if (!p || Number(message.offset) >= p.high) return;  // arrived after we looked
        if (seen.has(`${partition}:${message.offset}`)) return;  // redelivered after a rebalance
        seen.add(`${partition}:${message.offset}`);
        const headers = {};
        for (const [k, v] of Object.entries(message.headers || {})) headers[k] = v === null ? null : v.toString();
        byPartition.get(partition).push({
          rawKey: message.key,
          rawValue: message.value,
          id: headers.dedup_key || '',
          body: message.value ? message.value.toString() : '',
          tombstone: message.value === null,
          key: message.key === null ? null : message.key.toString(),
          topic,
          partition,
          offset: Number(message.offset),
          headers,
        });
        if (++got >= want) done();
      },
    });
    await finished;
    clearTimeout(limit);
    await consumer.disconnect();
  }
  const out = [];
  for (const p of [...byPartition.keys()].sort((a, b) => a - b)) {
    for (const r of byPartition.get(p).sort((a, b) => a.offset - b.offset)) {
      if (registry) await decodeAvro(registry, r);
      r.raw_key = r.rawKey === null ? null : r.rawKey.toString('base64');
      r.raw_value = r.rawValue === null ? null : r.rawValue.toString('base64');
      delete r.rawKey;
      delete r.rawValue;
      out.push(JSON.stringify(r));
    }
  }
  process.stdout.write(out.map((l) => l + '\n').join(''));
}

main().catch((e) => { console.error(e); process.exit(1); });
