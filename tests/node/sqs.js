// Independent SQS client for the tests (AWS SDK v3), against the fauxqs emulator.
//   node sqs.js create <endpoint> <queue name> [attributes as JSON]   -> prints the queue URL
//   node sqs.js read <endpoint> <queue url> <at least> <timeout ms>   -> receives and deletes what is
//     there, one JSON line per message: {"id", "body", "group", "attributes"}; id is the
//     MessageDeduplicationId on FIFO queues, else the dedup_key message attribute.
//   node sqs.js publish <endpoint> <queue url> <file>  -> sends the JSON lines of the file, {"id", "body",
//     "group"?, "attributes"?}: on FIFO queues id is the MessageDeduplicationId (group the
//     MessageGroupId, default "g"), on standard queues the dedup_key message attribute (if not empty).
//     Batches of up to 10 messages and 200 KiB, several in flight; fails unless every message was accepted.
//   node sqs.js fill <endpoint> <queue url> <count> [prefix]  -> sends count small JSON messages
//     with ids <prefix><n> (the benchmark's backlog).
//   node sqs.js depth <endpoint> <queue url>  -> prints {"visible", "in_flight"}.
process.removeAllListeners('warning');  // the SDK's Node-version notice would mix with the output
const {
  SQSClient, CreateQueueCommand, ReceiveMessageCommand, DeleteMessageBatchCommand, SendMessageBatchCommand, GetQueueAttributesCommand,
} = require('@aws-sdk/client-sqs');

const [cmd, endpoint, target, arg3, arg4] = process.argv.slice(2);
const client = new SQSClient({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
});

async function create() {
  const attributes = arg3 ? JSON.parse(arg3) : {};
  const out = await client.send(new CreateQueueCommand({ QueueName: target, Attributes: attributes }));
  console.log(out.QueueUrl);
}

async function read() {
  const need = Number(arg3 || 0);
  const deadline = Date.now() + Number(arg4 || 5000);
  let got = 0;
  for (;;) {
    const r = await client.send(new ReceiveMessageCommand({
      QueueUrl: target,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 0,
      MessageAttributeNames: ['All'],
      MessageSystemAttributeNames: ['All'],
      AttributeNames: ['All'],
    }));
    const msgs = r.Messages || [];
    for (const m of msgs) {
      const attrs = {};
      for (const [k, v] of Object.entries(m.MessageAttributes || {})) attrs[k] = v.StringValue;
      const sys = m.Attributes || {};
      const id = sys.MessageDeduplicationId || attrs.dedup_key || '';
      console.log(JSON.stringify({ id, body: m.Body, group: sys.MessageGroupId || null, attributes: attrs }));
    }
    if (msgs.length) {
      await client.send(new DeleteMessageBatchCommand({
        QueueUrl: target,
        Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
      }));
      got += msgs.length;
      continue;
    }
    if (got >= need || Date.now() >= deadline) break;
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function sendAll(queueUrl, messages) {
  const fifo = queueUrl.endsWith('.fifo');
  const batches = [];
  let current = [], bytes = 0;
  for (const m of messages) {
    const size = Buffer.byteLength(m.body) + 100;
    if (current.length && (current.length === 10 || bytes + size > 200 * 1024)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += size;
  }
  if (current.length) batches.push(current);
  let next = 0;
  async function worker() {
    while (next < batches.length) {
      const batch = batches[next++];
      const entries = batch.map((m, i) => {
        const attrs = {};
        for (const [k, v] of Object.entries(m.attributes || {})) attrs[k] = { DataType: 'String', StringValue: String(v) };
        const e = { Id: String(i), MessageBody: m.body };
        if (fifo) {
          e.MessageDeduplicationId = m.id;
          e.MessageGroupId = m.group || 'g';
        } else if (m.id) {
          attrs.dedup_key = { DataType: 'String', StringValue: m.id };
        }
        if (Object.keys(attrs).length) e.MessageAttributes = attrs;
        return e;
      });
      const r = await client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
      if (r.Failed && r.Failed.length) throw new Error('SendMessageBatch refused: ' + JSON.stringify(r.Failed));
    }
  }
  // FIFO order matters within a group: one request at a time there.
  const workers = fifo ? 1 : 16;
  await Promise.all(Array.from({ length: workers }, worker));
}

async function publish() {
  const input = require('fs').readFileSync(arg3, 'utf8');
  const messages = input.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  await sendAll(target, messages);
  console.log(JSON.stringify({ sent: messages.length }));
}

async function fill() {
  const count = Number(arg3);
  const prefix = arg4 || 'm';
  const messages = [];
  for (let i = 0; i < count; i++) messages.push({ id: prefix + i, body: JSON.stringify({ n: i, note: 'bench' }) });
  await sendAll(target, messages);
  console.log(JSON.stringify({ sent: count }));
}

async function depth() {
  const r = await client.send(new GetQueueAttributesCommand({
    QueueUrl: target, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
  }));
  const a = r.Attributes || {};
  console.log(JSON.stringify({
    visible: Number(a.ApproximateNumberOfMessages || 0), in_flight: Number(a.ApproximateNumberOfMessagesNotVisible || 0),
  }));
}

const commands = { create, read, publish, fill, depth };
if (!commands[cmd]) {
  console.error('unknown command ' + cmd + '; expected one of ' + Object.keys(commands).join(', '));
  process.exit(2);
}
commands[cmd]().catch((e) => {
  console.error(e.name || 'Error', e.message);
  process.exit(1);
});
