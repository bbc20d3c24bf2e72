// Reads what a Kafka topic holds, with kafkajs (independent of the relay and of librdkafka).
//   node kafka.js <brokers> <topic> <at least> <timeout ms>
// Waits until the topic holds at least <at least> records or the timeout passes, then reads every
// record present and prints one JSON line per record, partition by partition in offset order:
// {"id": header dedup_key, "body": value, "key": ..., "topic", "partition", "offset", "headers": {...}}.
const { Kafka, logLevel } = require('kafkajs');

async function main() {
  const [brokers, topic, atLeastText, timeoutText] = process.argv.slice(2);
  if (!timeoutText) throw new Error('usage: kafka.js <brokers> <topic> <at least> <timeout ms>');
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
          id: headers.dedup_key || '',
          body: message.value ? message.value.toString() : '',
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
    for (const r of byPartition.get(p).sort((a, b) => a.offset - b.offset)) out.push(JSON.stringify(r));
  }
  process.stdout.write(out.map((l) => l + '\n').join(''));
}

main().catch((e) => { console.error(e); process.exit(1); });
