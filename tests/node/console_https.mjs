// The console over HTTPS in a real browser, at a phone's width: a login, the session's cookie as
// the browser keeps it (Secure, HttpOnly, SameSite=Strict, out of the page's reach), and the relays
// page. Prints what was seen as one JSON object; tests/integration/console_test.cpp checks it.
//   node console_https.mjs <console URL> <screenshot dir>
// The role and password come in the environment (CONSOLE_ADMIN, CONSOLE_ADMIN_PASSWORD). The test's
// certificate is signed by the test's own CA, which the browser is told to accept.
import { launch, logIn, messageOf, timeout } from './console_common.mjs';

const [base, shots] = process.argv.slice(2);
const env = process.env;
const seen = {};

const browser = await launch(env);
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 }, isMobile: true });
  const p = await context.newPage();
  p.setDefaultTimeout(timeout);
  await p.goto(base);
  await p.locator('#login-view').waitFor({ state: 'visible' });
  await logIn(p, env.CONSOLE_ADMIN, env.CONSOLE_ADMIN_PASSWORD);
  await p.locator('#pipelines-view').waitFor({ state: 'visible' });
  seen.who = await p.textContent('#who');
  seen.cookie = (await context.cookies()).find((c) => c.name === 'pgtrickle_console');
  seen.script_sees_cookie = await p.evaluate(() => document.cookie.includes('pgtrickle_console'));
  await p.click('#nav-relays');
  await p.locator('#relays tbody tr').nth(1).waitFor();
  seen.relays = await p.$$eval('#relays tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  seen.page_width = await p.evaluate(() => document.documentElement.scrollWidth);
  await p.screenshot({ path: `${shots}/console-phone.png`, fullPage: true });
  seen.message = await p.locator('#message').isVisible() ? await messageOf(p) : '';
} catch (e) {
  seen.failure = String(e && e.stack ? e.stack : e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
