// RabbitMQ through amqplib, independent of the relay.
//   node rabbitmq.js setup <url> <queue> <exchange> <binding-key> [x-max-length]
//       declares a durable classic queue and binds it to the exchange (which must exist).
//   node rabbitmq.js read <url> <queue> <at-least> <timeout-ms>
//       waits until the queue holds <at-least> messages (or the timeout), then prints every message
//       in queue order as {"id": <message-id>, "body": <body>, "routingKey", "properties"} without
//       consuming them: they are received unacknowledged and requeued in place when the channel closes.
//   node rabbitmq.js take <url> <queue>
//       removes (gets and acknowledges) every message now in the queue and prints them the same way.
//   node rabbitmq.js publish <url> <queue> <file>
//       publishes the messages of a JSON-lines file in order to <queue> through the default exchange,
//       persistent, on a confirm channel, each line {"body": ..., "id"?: message-id (none when empty),
//       "type"?: ..., "headers"?: {...}}; returns once the broker confirmed them all.
//   node rabbitmq.js fill <url> <queue> <count> <prefix>
//       publishes <count> small JSON messages without message-id
//       {"customer_id": "<prefix>-<i % 100>", "amount": 1.5, "n": i}, for benchmarks.
const fs = require('fs');
const amqp = require('amqplib');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function setup(conn, queue, exchange, bindingKey, maxLength) {
  const ch = await conn.createChannel();
  const args = {};
  if (maxLength) Object.assign(args, { 'x-max-length': Number(maxLength), 'x-overflow': 'reject-publish' });
  await ch.assertQueue(queue, { durable: true, arguments: args });
  if (exchange) await ch.bindQueue(queue, exchange, bindingKey);
  await ch.close();
}

async function read(conn, queue, atLeast, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  const ch = await conn.createChannel();
  let count = 0;
  for (;;) {
    count = (await ch.checkQueue(queue)).messageCount;
    if (count >= atLeast || Date.now() >= deadline) break;
    await sleep(100);
  }
  const out = [];
  if (count > 0) {
    await ch.prefetch(0);
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${out.length} of ${count} messages came`)), 30000);
      ch.consume(queue, (msg) => {
        if (!msg || out.length >= count) return;
        out.push(line(msg));
        if (out.length >= count) { clearTimeout(timer); resolve(); }
      }, { noAck: false }).catch(reject);
    });
  }
  await ch.close();  // unacknowledged: every message goes back to its place
  process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
}

function line(msg) {
  const p = msg.properties;
  return JSON.stringify({ id: p.messageId ?? '', body: msg.content.toString('utf8'), routingKey: msg.fields.routingKey,
                          properties: { contentType: p.contentType, deliveryMode: p.deliveryMode, appId: p.appId,
                                        timestamp: p.timestamp, headers: p.headers } });
}

async function take(conn, queue) {
  const ch = await conn.createChannel();
  const out = [];
  for (let msg; (msg = await ch.get(queue, { noAck: false })) !== false;) {
    out.push(line(msg));
    ch.ack(msg);
  }
  await ch.close();
  process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
}

async function publishAll(conn, queue, messages) {
  const ch = await conn.createConfirmChannel();
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    const options = { persistent: true, contentType: 'application/json' };
    if (m.id) options.messageId = m.id;
    if (m.type) options.type = m.type;
    if (m.headers) options.headers = m.headers;
    if (!ch.sendToQueue(queue, Buffer.from(m.body), options)) await new Promise((r) => ch.once('drain', r));
    if (i % 1000 === 999) await ch.waitForConfirms();
  }
  await ch.waitForConfirms();
  await ch.close();
  process.stdout.write(JSON.stringify({ published: messages.length }) + '\n');
}

async function main() {
  const [mode, url, queue, a, b, c] = process.argv.slice(2);
  const conn = await amqp.connect(url);
  try {
    if (mode === 'setup') await setup(conn, queue, a, b, c);
    else if (mode === 'take') await take(conn, queue);
    else if (mode === 'read') await read(conn, queue, Number(a || 0), Number(b || 10000));
    else if (mode === 'publish')
      await publishAll(conn, queue, fs.readFileSync(a, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l)));
    else if (mode === 'fill') {
      const messages = [];
      for (let i = 0; i < Number(a); i++) messages.push({ body: JSON.stringify({ customer_id: `${b}-${i % 100}`, amount: 1.5, n: i }) });
      await publishAll(conn, queue, messages);
    }
    else throw new Error(`unknown mode ${mode}`);
  } finally {
    await conn.close();
  }
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
