// What the console's browser tests share: Debian's Chromium (driven by playwright-core, no browser
// download), a page at the console's login, and logging in as a user would.
import { chromium } from 'playwright-core';

export const timeout = 20000;

export function launch(env) {
  return chromium.launch({
    executablePath: env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage'],  // root in a container has no user namespace for the sandbox
  });
}

export async function page(browser, base) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const p = await context.newPage();
  p.setDefaultTimeout(timeout);
  await p.goto(base);
  await p.locator('#login-view').waitFor({ state: 'visible' });
  return p;
}

export async function logIn(p, role, password) {
  await p.fill('#role', role);
  await p.fill('#password', password);
  await p.click('#login-form button[type=submit]');
}

export async function messageOf(p) {
  await p.locator('#message').waitFor({ state: 'visible' });
  return p.textContent('#message');
}

// A pipeline's row of the pipelines page.
export const pipelineRow = (p, name) => p.locator(`#pipelines tbody tr[data-pipeline="${name}"]`);
