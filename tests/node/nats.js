// Reads what a JetStream stream holds, with the official NATS client (independent of the relay).
//   node nats.js read <url> <stream> <subject filter> <at least> <timeout ms>
//     prints one JSON line per message: {"id": Nats-Msg-Id, "subject": ..., "body": ..., "headers": {...}}
//   node nats.js drop <url> <stream>      deletes the stream if it exists
//   node nats.js info <url> <stream>      prints the stream's configuration as JSON
const { connect, StringCodec } = require('nats');

async function main() {
  const [cmd, url, stream, filter, atLeastText, timeoutText] = process.argv.slice(2);
  const nc = await connect({ servers: url, token: process.env.NATS_TOKEN });
  const jsm = await nc.jetstreamManager();
  if (cmd === 'drop') {
    await jsm.streams.delete(stream).catch(() => {});
    return nc.close();
  }
  if (cmd === 'info') {
    process.stdout.write(JSON.stringify((await jsm.streams.info(stream)).config) + '\n');
    return nc.close();
  }
  if (cmd !== 'read') throw new Error('usage: nats.js read|drop|info <url> <stream> ...');
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
