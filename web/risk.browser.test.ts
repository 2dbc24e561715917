/**
 * The risk list in a real browser: Debian's Chromium (/usr/bin/chromium) driven by playwright-core,
 * against the real server on PGlite with a generated locality (web/test-locality.ts) plus a crafted
 * population whose admissions follow a known risk (analytics/risk/fixtures.ts), so that the model
 * has enough admissions to fit on. The model is fitted and the population scored twice (so there is
 * a tier history). Journeys: a GP opens the risk list from the navigation, sees their own
 * practice's people highest risk first with factors, eFI band and tier history, and opens a
 * person's record from it; the GP asking for another practice's list is refused; an analyst sees
 * the list pseudonymised, with no links to records. Every page is checked with axe-core, each step
 * screenshotted into out/screenshots/, and the console must stay free of errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import { addUser } from '../access/users.ts';
import { load, riskPopulation } from '../analytics/risk/fixtures.ts';
import { fitRiskModel, scoreRiskPopulation } from '../analytics/risk/model.ts';
import { WEB_DIST } from '../http/web.ts';
import { PASSWORD, startTestLocality, type TestLocality } from './test-locality.ts';

const CHROMIUM = process.env.BEVAN_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = join(import.meta.dirname, '..', 'out', 'screenshots');

async function axe(page: Page, what: string): Promise<void> {
  const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']).analyze();
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`),
    [],
    `axe on ${what}`,
  );
}

async function open(browser: Browser, base: string): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1366, height: 900 }, locale: 'en-GB', timezoneId: 'Europe/London' });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    // A 401/403/404 the page handles is logged by Chromium as a failed resource: not an application error.
    if (m.type() === 'error' && !/status of (401|403|404)/.test(m.text())) errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.setDefaultTimeout(20_000);
  return { context, page, errors };
}

async function signIn(page: Page, user: string): Promise<void> {
  await page.goto('/');
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('the risk list in Chromium: a GP’s own practice identified with factors and tier history, a record opened from it; an analyst pseudonymised', { skip: !existsSync(CHROMIUM) && `no Chromium at ${CHROMIUM} (apt-get install chromium)` }, async (t) => {
  assert.ok(existsSync(join(WEB_DIST, 'index.html')), 'the web application is built (npm run build:web)');
  mkdirSync(SHOTS, { recursive: true });
  const loc: TestLocality = await startTestLocality();
  const { db } = loc;
  await load(db, riskPopulation());
  // The crafted people are registered at P91001: a GP there sees them all.
  await addUser(db, { username: 'web-risk-gp', role: 'gp', organisation: 'P91001', password: PASSWORD });
  await addUser(db, { username: 'web-analyst', role: 'analyst', organisation: 'TRAFFORD-ICB', password: PASSWORD });
  await fitRiskModel(db, { validationIndexDate: '2025-01-01' });
  await scoreRiskPopulation(db, { asOf: '2025-07-01' });
  await scoreRiskPopulation(db, { asOf: '2026-01-01' });

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  try {
    const gp = await open(browser, loc.url);
    const page = gp.page;

    await t.test('a GP opens the risk list from the navigation: own practice, highest risk first, factors and tier history', async () => {
      await signIn(page, 'web-risk-gp');
      await page.getByRole('heading', { level: 1, name: 'Find a person' }).waitFor();
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Risk list' }).click();
      await page.getByRole('heading', { level: 1, name: 'Risk of emergency admission' }).waitFor();
      await page.getByTestId('risk-model').waitFor();
      assert.match(await page.getByTestId('risk-model').innerText(), /Model version 1, fitted .*c-statistic 0\.\d\d/);
      await page.getByLabel('Risk tier').selectOption('20');
      await page.getByRole('button', { name: 'Show list' }).click();
      await page.waitForURL(/tier=20/);
      await page.getByRole('heading', { level: 2, name: /Top 20%: \d+ people in practice P91001/ }).waitFor();
      const rows = page.getByTestId('risk-row');
      await rows.first().waitFor();
      assert.ok((await rows.count()) > 10);
      const risks = (await rows.getByTestId('risk-probability').allInnerTexts()).map((s) => Number(s.replace('%', '')));
      assert.ok(risks.every((r, i) => i === 0 || risks[i - 1]! >= r), `highest first: ${risks.join(', ')}`);
      const first = await rows.first().innerText();
      assert.match(first, /Top (0\.5|1|5|20)%/);
      assert.match(first, /Fit|Mild frailty|Moderate frailty|Severe frailty/);
      assert.match(first, /odds ×\d/);
      assert.match(first, /Jul 2025 (top \d+(\.5)?%|below top 20%), Jan 2026 top/);
      assert.ok(await rows.first().getByRole('img', { name: /Risk over time: Jul 2025 \d/ }).isVisible());
      await axe(page, 'risk list (GP)');
      await page.screenshot({ path: join(SHOTS, 'risk-01-gp-list.png'), fullPage: true });
    });

    await t.test("a person's record opens from the list", async () => {
      const link = page.getByTestId('risk-row').first().getByRole('link');
      const name = await link.innerText();
      await link.click();
      await page.waitForURL(/\/person\//);
      await page.getByRole('heading', { level: 1, name }).waitFor();
      await page.goBack();
      await page.getByTestId('risk-row').first().waitFor();
    });

    await t.test("another practice's list is refused, in plain words", async () => {
      await page.goto('/analytics/risk?practice=P91002');
      await page.getByRole('alert').waitFor();
      assert.match(await page.getByRole('alert').innerText(), /only their own practice's risk list, not P91002's/);
      await axe(page, 'risk list refused');
    });
    assert.deepEqual(gp.errors, [], 'no console errors (GP)');
    await gp.context.close();

    const an = await open(browser, loc.url);
    await t.test('an analyst reaches the risk list from the navigation and sees people pseudonymised, with no links to records', async () => {
      await signIn(an.page, 'web-analyst');
      await an.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Risk list' }).click();
      await an.page.getByRole('heading', { level: 1, name: 'Risk of emergency admission' }).waitFor();
      await an.page.getByLabel('Practice ODS code').fill('P91001');
      await an.page.getByLabel('Risk tier').selectOption('20');
      await an.page.getByRole('button', { name: 'Show list' }).click();
      await an.page.getByRole('heading', { level: 2, name: /Top 20%: \d+ people in practice P91001/ }).waitFor();
      const rows = an.page.getByTestId('risk-row');
      await rows.first().waitFor();
      assert.equal(await rows.getByRole('link').count(), 0, 'no record links for secondary use');
      assert.match(await rows.first().innerText(), /^[0-9a-f]{12}\s+aged \d+/);
      await axe(an.page, 'risk list (analyst)');
      await an.page.screenshot({ path: join(SHOTS, 'risk-02-analyst-list.png'), fullPage: true });
    });
    assert.deepEqual(an.errors, [], 'no console errors (analyst)');
    await an.context.close();
    const audit = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_log WHERE action = 'risk.cohort.person' AND actor = 'web-risk-gp'");
    assert.ok(audit.rows[0]!.n > 10, 'each person shown identified is audited');
  } finally {
    await browser.close();
    await loc.close();
  }
});
