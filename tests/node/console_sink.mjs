// The console while a pipeline's sink is down and when it returns, in a real browser: the lag rises
// on the pipelines page, falls once the sink is back, and a message the sink refused is sent again
// from the pipeline's page. The sink is a webhook receiver this script runs itself, so that it is
// stopped and started as the browser watches. Prints what was seen as one JSON object; the C++ test
// (tests/integration/console_test.cpp) checks it.
//   node console_sink.mjs <console URL> <pipeline> <sink port> <sink-up file> <screenshot dir>
// The role and password come in the environment (CONSOLE_ADMIN, CONSOLE_ADMIN_PASSWORD).
import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import { launch, page, logIn, messageOf, pipelineRow } from './console_common.mjs';

const [base, pipeline, sinkPort, sinkUpFile, shots] = process.argv.slice(2);
const env = process.env;
const seen = { received: [] };

// The webhook sink: refuses (422) what holds "poison" until told otherwise, takes the rest.
let refusePoison = true;
const sink = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    const refused = refusePoison && body.includes('poison');
    seen.received.push({ status: refused ? 422 : 200, body });
    res.writeHead(refused ? 422 : 200, { 'Content-Type': 'application/json' });
    res.end(refused ? '{"error":"poison refused by the test sink"}' : '{"ok":true}');
  });
});

const lagOf = async (p) => Number(await pipelineRow(p, pipeline).locator('td.lag').textContent());

// Waits (within `ms`) until the row's lag satisfies `ok`; returns the last lag read.
async function lagUntil(p, ok, ms) {
  const end = Date.now() + ms;
  let lag = NaN;
  while (Date.now() < end) {
    lag = await lagOf(p).catch(() => NaN);
    if (ok(lag)) return lag;
    await p.waitForTimeout(500);
  }
  throw new Error(`the lag shown stayed at ${lag}`);
}

const browser = await launch(env);
try {
  const a = await page(browser, base);
  await logIn(a, env.CONSOLE_ADMIN, env.CONSOLE_ADMIN_PASSWORD);
  await pipelineRow(a, pipeline).waitFor();

  // The sink is down and rows keep coming: the lag shown rises.
  seen.lag_down_first = await lagUntil(a, (l) => l >= 3, 40000);
  seen.lag_down_later = await lagUntil(a, (l) => l > seen.lag_down_first, 40000);
  seen.state_down = await pipelineRow(a, pipeline).locator('.state').textContent();
  await a.screenshot({ path: `${shots}/console-lag.png`, fullPage: true });

  // The sink is back: the lag falls to nothing.
  await new Promise((resolve) => sink.listen(Number(sinkPort), '127.0.0.1', resolve));
  writeFileSync(sinkUpFile, 'up\n');
  seen.lag_back = await lagUntil(a, (l) => l === 0, 60000);

  // The message the sink refused meanwhile is a dead letter; fixed, it is sent again from its page.
  await pipelineRow(a, pipeline).getByRole('link', { name: pipeline }).click();
  await a.locator('#pipeline-view').waitFor({ state: 'visible' });
  const letter = a.locator('#p-dead-letters tbody tr').first();
  await letter.waitFor({ timeout: 40000 });
  seen.dead_letter = await letter.locator('td').allTextContents();
  refusePoison = false;
  await letter.getByRole('button', { name: 'Send again' }).click();
  seen.replay_message = await messageOf(a);
  await a.locator('#p-dl-none').waitFor({ state: 'visible', timeout: 40000 });
  seen.dead_letters_after = await a.$$eval('#p-dead-letters tbody tr', (rows) => rows.length);
} catch (e) {
  seen.failure = String(e && e.stack ? e.stack : e);
} finally {
  await browser.close();
  sink.close();
}
console.log(JSON.stringify(seen));
