// Reads a Redis stream with ioredis (independent of the relay) and prints one JSON line per entry:
// {"id": <field dedup_key>, "body": <field payload>, "entry": <entry id>, "fields": {...}}.
//   node redis.js <redis-url> <stream-key> <at-least> <timeout-ms>
// Waits until the stream holds at least <at-least> entries or the timeout passes.
const Redis = require('ioredis');

async function main() {
  const [url, key, atLeastArg, timeoutArg] = process.argv.slice(2);
  const atLeast = Number(atLeastArg || 0);
  const deadline = Date.now() + Number(timeoutArg || 10000);
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let entries = [];
  for (;;) {
    entries = await redis.xrange(key, '-', '+');
    if (entries.length >= atLeast || Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const out = [];
  for (const [entry, flat] of entries) {
    const fields = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]] = flat[i + 1];
    out.push(JSON.stringify({ id: fields.dedup_key ?? '', body: fields.payload ?? '', entry, fields }));
  }
  process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
  redis.disconnect();
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
