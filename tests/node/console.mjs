// Drives the relay's console in a real browser (Debian's Chromium, driven by playwright-core) as
// its users would, and prints what they would see as one JSON object; the C++ test
// (tests/integration/console_test.cpp) checks it.
//   node console.mjs <console URL> <pipeline> <screenshot dir>
// The roles and passwords come in the environment (CONSOLE_ADMIN, CONSOLE_ADMIN_PASSWORD,
// CONSOLE_PLAIN, CONSOLE_PLAIN_PASSWORD), never on a command line.
import { launch, page as openPage, logIn, messageOf, pipelineRow } from './console_common.mjs';

const [base, pipeline, shots] = process.argv.slice(2);
const env = process.env;
const seen = {};

const browser = await launch(env);
const page = () => openPage(browser, base);
const row = (p) => pipelineRow(p, pipeline);

try {
  // A wrong password: refused, and the page says so.
  const a = await page();
  await logIn(a, env.CONSOLE_ADMIN, 'not-the-password');
  seen.wrong_password = await messageOf(a);
  await a.screenshot({ path: `${shots}/console-login.png` });

  // The administrator: the pipelines, then one disabled from the page.
  await logIn(a, env.CONSOLE_ADMIN, env.CONSOLE_ADMIN_PASSWORD);
  await row(a).waitFor();
  seen.admin_who = await a.textContent('#who');
  seen.admin_pipelines = await a.$$eval('#pipelines tbody tr', (rows) => rows.map((r) => r.dataset.pipeline));
  seen.admin_sink = await row(a).locator('td').nth(3).textContent();
  seen.password_in_page = (await a.content()).includes(env.CONSOLE_ADMIN_PASSWORD);
  await a.screenshot({ path: `${shots}/console-pipelines.png`, fullPage: true });

  // A pipeline's page: its dead letter discarded, a backfill started and followed to its end.
  await row(a).getByRole('link', { name: pipeline }).click();
  await a.locator('#pipeline-view').waitFor({ state: 'visible' });
  await a.locator('#p-dead-letters tbody tr').first().waitFor();
  seen.dead_letters = await a.$$eval('#p-dead-letters tbody tr', (rows) => rows.map((r) => [...r.cells].slice(0, 4).map((c) => c.textContent)));
  seen.config_shown = JSON.parse(await a.textContent('#p-config'));
  await a.click('#p-backfill-start');
  await a.locator('#p-backfill', { hasText: /^done:/ }).waitFor({ timeout: 60000 });
  seen.backfill = await a.textContent('#p-backfill');
  await a.screenshot({ path: `${shots}/console-pipeline.png`, fullPage: true });
  await a.locator('#p-dead-letters tbody tr').first().getByRole('button', { name: 'Discard' }).click();
  await a.locator('#p-dl-none').waitFor({ state: 'visible' });
  seen.after_discard = await a.textContent('#message');
  // Another pipeline's secret stays masked.
  await a.goto(`${base}/#/pipeline/${encodeURIComponent(env.CONSOLE_SECRET_PIPELINE)}`);
  await a.locator('#p-config', { hasText: '/hook' }).waitFor();
  seen.secret_config = await a.textContent('#p-config');
  // The relays: this one owns both pipelines.
  await a.click('#nav-relays');
  await a.locator('#relays tbody tr').first().waitFor();
  seen.relays = await a.$$eval('#relays tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  await a.screenshot({ path: `${shots}/console-relays.png` });
  await a.click('#nav-pipelines');
  await row(a).waitFor();

  await row(a).getByRole('button', { name: 'Disable' }).click();
  await row(a).locator('.state', { hasText: 'disabled' }).waitFor();
  seen.after_disable = await row(a).locator('.state').textContent();

  // An action without the session's form token (a script of another page of the same site).
  seen.forged = await a.evaluate(async (name) => {
    const r = await fetch(`/api/pipelines/${encodeURIComponent(name)}/enable`, { method: 'POST' });
    return { status: r.status, error: (await r.json()).error };
  }, pipeline);
  // A form another site posts: the session's cookie does not go with it (SameSite=Strict).
  const other = await a.context().newPage();
  await other.setContent(`<form method="post" action="${base}/api/pipelines/${encodeURIComponent(pipeline)}/enable"></form>`);
  await Promise.all([other.waitForNavigation(), other.evaluate(() => document.forms[0].submit())]);
  seen.cross_site = JSON.parse(await other.textContent('body'));
  seen.still_disabled = await a.evaluate(async () => (await (await fetch('/api/pipelines')).json()).pipelines.map((p) => [p.name, p.state]));

  // A role without pgtrickle_relay_admin: logged in, and told what it may not read.
  const b = await page();
  await logIn(b, env.CONSOLE_PLAIN, env.CONSOLE_PLAIN_PASSWORD);
  await b.locator('#pipelines-view').waitFor({ state: 'visible' });
  seen.plain_message = await messageOf(b);
  seen.plain_rows = await b.$$eval('#pipelines tbody tr', (rows) => rows.length);

  // A session left unused past --console-session-timeout: the next action asks for a login again.
  const c = await page();
  await logIn(c, env.CONSOLE_ADMIN, env.CONSOLE_ADMIN_PASSWORD);
  await row(c).waitFor();
  await c.evaluate(() => clearInterval(state.timer));  // no refresh keeps it alive meanwhile
  await c.waitForTimeout(Number(env.CONSOLE_IDLE_WAIT_MS || 0));
  await row(c).getByRole('button').click();
  await c.locator('#login-view').waitFor({ state: 'visible' });
  seen.expired = await messageOf(c);

  // The inboxes: what waits in each.
  await a.click('#nav-inboxes');
  const inbox = a.locator(`#inboxes tbody tr[data-inbox="${env.CONSOLE_INBOX}"]`);
  await inbox.waitFor();
  seen.inbox = await inbox.locator('td').allTextContents();
  await a.screenshot({ path: `${shots}/console-inboxes.png` });

  // The last hour's plot of a pipeline, once the console sampled its status (every 30 s).
  await a.goto(`${base}/#/pipeline/${encodeURIComponent(env.CONSOLE_SECRET_PIPELINE)}`);
  await a.locator('#p-plot-lag path').waitFor({ state: 'attached', timeout: 60000 });  // one point draws nothing visible
  seen.plot = await a.getAttribute('#p-plot-lag path', 'd');

  // Logging out ends the session on the server too: its cookie no longer reads anything.
  const cookies = await a.context().cookies();
  await a.click('#logout');
  await a.locator('#login-view').waitFor({ state: 'visible' });
  await a.context().addCookies(cookies);  // the old session's cookie, kept by someone
  seen.after_logout = await a.evaluate(async () => (await fetch('/api/pipelines')).status);
} catch (e) {
  seen.failure = String(e && e.stack ? e.stack : e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
