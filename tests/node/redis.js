// Reads a Redis stream with ioredis (independent of the relay) and prints one JSON line per entry:
// {"id": <field dedup_key>, "body": <field payload>, "entry": <entry id>, "fields": {...}}.
//   node redis.js <redis-url> <stream-key> <at-least> <timeout-ms>
// Waits until the stream holds at least <at-least> entries or the timeout passes.
//   node redis.js publish <redis-url> <stream-key> <file>
//     XADDs each JSON line of <file>: {"id", "body"} as the fields event_id and payload (an empty id
//     is left out), or {"fields": {...}} as given; prints {"published": n}
//   node redis.js info <redis-url> <stream-key>
//     prints the stream's groups as JSON: [{"name", "pending", "lag", "last-delivered-id",
//     "consumers": [{"name", "pending"}]}] ([] when the key does not exist)
//   node redis.js read-group <redis-url> <stream-key> <group> <consumer> <count>
//     XREADGROUP ... > as that consumer and never acks (a consumer that dies); prints the entry ids
const fs = require('fs');
const Redis = require('ioredis');

function pairs(flat) {
  const out = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]] = flat[i + 1];
  return out;
}

async function command(cmd, [url, key, ...rest]) {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  if (cmd === 'publish') {
    const lines = fs.readFileSync(rest[0], 'utf8').split('\n').filter((l) => l.length > 0);
    for (let i = 0; i < lines.length; i += 1000) {
      const p = redis.pipeline();
      for (const line of lines.slice(i, i + 1000)) {
        const m = JSON.parse(line);
        const fields = m.fields ? Object.entries(m.fields).flat() : [...(m.id ? ['event_id', m.id] : []), 'payload', m.body];
        p.xadd(key, '*', ...fields);
      }
      for (const [err] of await p.exec()) if (err) throw err;
    }
    process.stdout.write(JSON.stringify({ published: lines.length }) + '\n');
  } else if (cmd === 'info') {
    const groups = (await redis.xinfo('GROUPS', key).catch(() => [])).map(pairs);
    for (const g of groups) g.consumers = (await redis.xinfo('CONSUMERS', key, g.name)).map(pairs);
    process.stdout.write(JSON.stringify(groups) + '\n');
  } else if (cmd === 'read-group') {
    const [group, consumer, count] = rest;
    const r = await redis.xreadgroup('GROUP', group, consumer, 'COUNT', count, 'STREAMS', key, '>');
    const ids = r ? r[0][1].map(([id]) => id) : [];
    process.stdout.write(JSON.stringify(ids) + '\n');
  }
  redis.disconnect();
}

async function main() {
  if (['publish', 'info', 'read-group'].includes(process.argv[2])) return command(process.argv[2], process.argv.slice(3));
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
