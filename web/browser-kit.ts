/**
 * For the browser tests (web/*.browser.test.ts): Debian's Chromium through playwright-core (never a
 * downloaded browser), a page whose console errors fail the test, sign-in, axe-core checks and
 * screenshots — the setup the three journeys share. The server and its data are test-locality.ts.
 * Not a test itself.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import { WEB_DIST } from '../http/web.ts';
import { PASSWORD } from './test-locality.ts';

export const CHROMIUM = process.env.BEVAN_CHROMIUM ?? '/usr/bin/chromium';
export const SHOTS = join(import.meta.dirname, '..', 'out', 'screenshots');

/** The `skip` of a browser test: a reason when this machine has no Chromium. */
export const NO_CHROMIUM: string | false = !existsSync(CHROMIUM) && `no Chromium at ${CHROMIUM} (apt-get install chromium)`;

/** Checks the web application is built, makes the screenshot folder and starts Chromium headless. */
export async function launchChromium(): Promise<Browser> {
  assert.ok(existsSync(join(WEB_DIST, 'index.html')), 'the web application is built (npm run build:web)');
  mkdirSync(SHOTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

/** No serious or critical axe-core violation (WCAG 2.2 AA and best practice) on the page as it is. */
export async function axe(page: Page, what: string): Promise<void> {
  const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']).analyze();
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`),
    [],
    `axe on ${what}`,
  );
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/**
 * A new browser context whose console errors and page errors are collected (a test asserts the
 * list stays empty). Chromium logs a failed request as a console error: the statuses the pages
 * handle themselves (401, 403, 404, and whatever `handled` adds) are not application errors.
 */
export async function open(browser: Browser, base: string, o: { viewport?: { width: number; height: number }; handled?: number[] } = {}): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ baseURL: base, viewport: o.viewport ?? { width: 1366, height: 768 }, locale: 'en-GB', timezoneId: 'Europe/London' });
  const page = await context.newPage();
  const errors: string[] = [];
  const handled = new RegExp(`status of (${[401, 403, 404, ...(o.handled ?? [])].join('|')})`);
  page.on('console', (m) => {
    if (m.type() === 'error' && !handled.test(m.text())) errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.setDefaultTimeout(15_000);
  return { context, page, errors };
}

/** Signs in on the sign-in page (from the start page unless `here`: the page already shows the form). */
export async function signIn(page: Page, user: string, o: { here?: boolean } = {}): Promise<void> {
  if (!o.here) await page.goto('/');
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
}
