// Reads what a JetStream stream holds, with the official NATS client (independent of the relay).
//   node nats.js read <url> <stream> <subject filter> <at least> <timeout ms>
// Prints one JSON line per message: {"id": Nats-Msg-Id, "subject": ..., "body": ...}.
const { connect, StringCodec } = require('nats');

async function main() {
  const [cmd, url, stream, filter, atLeastText, timeoutText] = process.argv.slice(2);
  if (cmd !== 'read') throw new Error('usage: nats.js read <url> <stream> <subject> <at least> <timeout ms>');
  const atLeast = Number(atLeastText), deadline = Date.now() + Number(timeoutText);
  const nc = await connect({ servers: url });
  const jsm = await nc.jetstreamManager();
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
        out.push(JSON.stringify({ id: m.headers ? m.headers.get('Nats-Msg-Id') : '', subject: m.subject, body: sc.decode(m.data) }));
      }
      if (got === 0) break;
    }
  }
  process.stdout.write(out.map((l) => l + '\n').join(''));
  await nc.close();
}

main().catch((e) => { console.error(e); process.exit(1); });
