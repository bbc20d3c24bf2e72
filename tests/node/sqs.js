// Independent SQS client for the tests (AWS SDK v3), against the fauxqs emulator.
//   node sqs.js create <endpoint> <queue name> [attributes as JSON]   -> prints the queue URL
//   node sqs.js read <endpoint> <queue url> <at least> <timeout ms>   -> receives and deletes what is
//     there, one JSON line per message: {"id", "body", "group", "attributes"}; id is the
//     MessageDeduplicationId on FIFO queues, else the dedup_key message attribute.
process.removeAllListeners('warning');  // the SDK's Node-version notice would mix with the output
const { SQSClient, CreateQueueCommand, ReceiveMessageCommand, DeleteMessageBatchCommand } = require('@aws-sdk/client-sqs');

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

(cmd === 'create' ? create() : read()).catch((e) => {
  console.error(e.name || 'Error', e.message);
  process.exit(1);
});
