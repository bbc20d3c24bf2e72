// Fills a broker with a backlog for the reverse benchmark, with the official clients (the same
// packages as tests/node/; run with NODE_PATH=tests/node/node_modules).
//   node bench/publish.js <nats|kafka|redis|rabbitmq|sqs> <address> <name> <count>
// Messages are small JSON events {"n", "customer_id", "amount"}, each with a broker-level identity
// "b-<n>" (Nats-Msg-Id, Kafka header dedup_key, Redis field event_id, AMQP message-id, SQS attribute).
// Prints "<count> <seconds>" once the broker holds them all. For sqs, prints the queue URL first.
process.removeAllListeners('warning');

const [kind, address, name, countText] = process.argv.slice(2);
const count = Number(countText);
const body = (n) => JSON.stringify({ n, customer_id: n % 100, amount: 1.5 });

async function nats() {
  const { connect } = require('nats');
  const nc = await connect({ servers: address });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.delete(name).catch(() => {});
  await jsm.streams.add({ name, subjects: [name + '.>'] });
  const js = nc.jetstream();
  const enc = new TextEncoder();
  let pending = [];
  for (let n = 1; n <= count; n++) {
    pending.push(js.publish(name + '.event', enc.encode(body(n)), { msgID: 'b-' + n }));
    if (pending.length >= 2000) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
  await nc.close();
}

async function kafka() {
  const { Kafka, logLevel } = require('kafkajs');
  const client = new Kafka({ brokers: address.split(','), logLevel: logLevel.NOTHING });
  const admin = client.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: name, numPartitions: 1 }] }).catch(() => {});
  await admin.disconnect();
  const producer = client.producer();
  await producer.connect();
  for (let n = 1; n <= count; n += 1000) {
    const messages = [];
    for (let k = n; k < Math.min(n + 1000, count + 1); k++) messages.push({ value: body(k), headers: { dedup_key: 'b-' + k } });
    await producer.send({ topic: name, messages, acks: -1 });
  }
  await producer.disconnect();
}

async function redis() {
  const Redis = require('ioredis');
  const r = new Redis(address);
  await r.del(name);
  for (let n = 1; n <= count; n += 1000) {
    const p = r.pipeline();
    for (let k = n; k < Math.min(n + 1000, count + 1); k++) p.xadd(name, '*', 'payload', body(k), 'event_id', 'b-' + k);
    await p.exec();
  }
  r.disconnect();
}

async function rabbitmq() {
  const amqp = require('amqplib');
  const conn = await amqp.connect(address);
  const ch = await conn.createConfirmChannel();
  await ch.deleteQueue(name).catch(() => {});
  await ch.assertQueue(name, { durable: true });
  for (let n = 1; n <= count; n++) {
    ch.sendToQueue(name, Buffer.from(body(n)), { persistent: true, messageId: 'b-' + n, contentType: 'application/json' });
    if (n % 1000 === 0) await ch.waitForConfirms();
  }
  await ch.waitForConfirms();
  await conn.close();
}

async function sqs() {
  const { SQSClient, CreateQueueCommand, SendMessageBatchCommand } = require('@aws-sdk/client-sqs');
  const client = new SQSClient({ endpoint: address, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: name }));
  console.log(QueueUrl);
  const batches = [];
  for (let n = 1; n <= count; n += 10) {
    const entries = [];
    for (let k = n; k < Math.min(n + 10, count + 1); k++)
      entries.push({ Id: 'm' + k, MessageBody: body(k), MessageAttributes: { dedup_key: { DataType: 'String', StringValue: 'b-' + k } } });
    batches.push(entries);
  }
  // Several requests in flight, as a real producer fleet would send.
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const entries = batches[next++];
      await client.send(new SendMessageBatchCommand({ QueueUrl, Entries: entries }));
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

const started = Date.now();
({ nats, kafka, redis, rabbitmq, sqs })[kind]()
  .then(() => console.log(`${count} ${(Date.now() - started) / 1000}`))
  .catch((e) => { console.error(e); process.exit(1); });
