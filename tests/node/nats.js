// Reads what a JetStream stream holds, with the official NATS client (independent of the relay).
//   node nats.js read <url> <stream> <subject filter> <at least> <timeout ms>
//     prints one JSON line per message: {"id": Nats-Msg-Id, "subject": ..., "body": ..., "headers": {...}}
//   node nats.js drop <url> <stream>      deletes the stream if it exists
//   node nats.js info <url> <stream>      prints the stream's configuration as JSON
//   node nats.js add-stream <url> <stream> <subjects, comma-separated>   creates the stream (or keeps it)
//   node nats.js publish <url> <file>
//     publishes each JSON line of <file> {"subject", "body", "id" (Nats-Msg-Id, optional),
//     "headers" (optional)} and waits for every PubAck; prints {"published": n, "duplicates": d}
//   node nats.js consumer <url> <stream> <consumer>   prints the consumer's info as JSON ({} if none)
const fs = require('fs');
const { connect, headers: natsHeaders, StringCodec } = require('nats');

async function publish(nc, file) {
  const js = nc.jetstream();
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0);
  let published = 0, duplicates = 0;
  // A window of publishes in flight, each awaited for its PubAck.
  for (let i = 0; i < lines.length; i += 1000) {
    const acks = lines.slice(i, i + 1000).map((line) => {
      const m = JSON.parse(line);
      const opts = {};
      if (m.id) opts.msgID = m.id;
      if (m.headers) {
        opts.headers = natsHeaders();
        for (const [k, v] of Object.entries(m.headers)) opts.headers.append(k, v);
      }
      return js.publish(m.subject, Buffer.from(m.body, 'utf8'), opts);
    });
    for (const pa of await Promise.all(acks)) {
      published++;
      if (pa.duplicate) duplicates++;
    }
  }
  process.stdout.write(JSON.stringify({ published, duplicates }) + '\n');
}

async function main() {
  const [cmd, url, stream, filter, atLeastText, timeoutText] = process.argv.slice(2);
  const nc = await connect({ servers: url, token: process.env.NATS_TOKEN });
  if (cmd === 'publish') {
    await publish(nc, stream);
    return nc.close();
  }
  const jsm = await nc.jetstreamManager();
  if (cmd === 'add-stream') {
    await jsm.streams.info(stream).catch(() => jsm.streams.add({ name: stream, subjects: filter.split(',') }));
    return nc.close();
  }
  if (cmd === 'consumer') {
    const info = await jsm.consumers.info(stream, filter).catch(() => ({}));
    process.stdout.write(JSON.stringify(info) + '\n');
    return nc.close();
  }
  if (cmd === 'drop') {
    await jsm.streams.delete(stream).catch(() => {});
    return nc.close();
  }
  if (cmd === 'info') {
    process.stdout.write(JSON.stringify((await jsm.streams.info(stream)).config) + '\n');
    return nc.close();
  }
  if (cmd !== 'read') throw new Error('usage: nats.js read|drop|info|add-stream|publish|consumer <url> ...');
  const atLeast = Number(atLeastText), deadline = Date.now() + Number(timeoutText);
  const count = async () => {
    try {
      const info = await jsm.streams.info(stream, { subjects_filter: filter });
      return Object.values(info.state.subjects || {}).reduce((a, b) => a + b, 0);
    } catch (e) {
      if (String(e.message).includes('stream not found')) return 0;
      throw e;
    }
  };
  let n = await count();
  while (n < atLeast && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    n = await count();
  }
  const sc = StringCodec();
  const out = [];
  if (n > 0) {
    const consumer = await nc.jetstream().consumers.get(stream, { filterSubjects: filter });
    while (out.length < n) {
      const batch = await consumer.fetch({ max_messages: Math.min(1000, n - out.length), expires: 5000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        const headers = {};
        for (const [k, v] of m.headers || []) headers[k] = v.join(',');
        out.push(JSON.stringify({ id: m.headers ? m.headers.get('Nats-Msg-Id') : '', subject: m.subject, body: sc.decode(m.data), headers }));
      }
      if (got === 0) break;
    }
  }
  process.stdout.write(out.map((l) => l + '\n').join(''));
  await nc.close();
}

main().catch((e) => { console.error(e); process.exit(1); });
