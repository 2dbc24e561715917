/**
 * The dashboards in a real browser: Debian's Chromium (/usr/bin/chromium) driven by playwright-core,
 * against the real server on PGlite with a generated locality (web/test-locality.ts) whose
 * dashboards' summary has been built (bevan analytics refresh). Journeys: a GP opens the clinical
 * panels from the navigation, sees the diabetes panel for their own practice (aims with progress,
 * registers with counts, SPC charts with special causes marked and a table of the values), drills
 * down to the register's people and on to a person's record; an analyst lands on the commissioner
 * dashboard (cost by month, the shift out of hospital, freshness per source), groups by cohort and
 * drills down to a pseudonymised list with no way to a record; the analyst's panel figures are under
 * disclosure control. Every page is checked with axe-core (no serious or critical violations), each
 * step is screenshotted into out/screenshots/, and the browser console must stay free of errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import { addUser } from '../access/users.ts';
import { refreshDashboards } from '../analytics/dashboards/refresh.ts';
import { WEB_DIST } from '../http/web.ts';
import { PASSWORD, startTestLocality, type TestLocality } from './test-locality.ts';

const CHROMIUM = process.env.BEVAN_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = join(import.meta.dirname, '..', 'out', 'screenshots');
const ANALYST = 'web-analyst';

async function axe(page: Page, what: string): Promise<void> {
  const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']).analyze();
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`),
    [],
    `axe on ${what}`,
  );
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function open(browser: Browser, base: string): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1366, height: 900 }, locale: 'en-GB', timezoneId: 'Europe/London' });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of (401|403|404|409)/.test(m.text())) errors.push(m.text());
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

test('the dashboards in Chromium: a clinical panel, the commissioner dashboard, drill-down to people', { skip: !existsSync(CHROMIUM) && `no Chromium at ${CHROMIUM} (apt-get install chromium)` }, async (t) => {
  assert.ok(existsSync(join(WEB_DIST, 'index.html')), 'the web application is built (npm run build:web)');
  mkdirSync(SHOTS, { recursive: true });
  const loc: TestLocality = await startTestLocality({ people: 300 });
  const { db } = loc;
  await addUser(db, { username: ANALYST, role: 'analyst', organisation: 'TRAFFORD', password: PASSWORD });
  await refreshDashboards(db, { months: 24, actor: 'browser test' });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  try {
    const gp = await open(browser, loc.url);
    await t.test("a GP: the diabetes panel for their own practice, the register's people, a record", async () => {
      const page = gp.page;
      await signIn(page, loc.users.gp);
      await page.getByRole('heading', { level: 1, name: 'Find a person' }).waitFor();
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Clinical panels' }).click();
      await page.getByRole('heading', { level: 1, name: 'Diabetes panel' }).waitFor();
      assert.match(await page.getByTestId('panel-place').innerText(), /exact \(direct care\)/);
      assert.match(await page.getByTestId('freshness').innerText(), /Figures built (just now|\d+ min ago)/);
      const count = await page.getByTestId('register-count-diabetes').innerText();
      assert.match(count, /^(\d[\d,]*|fewer than 8)$/, 'the diabetes register has a count');
      await page.getByTestId('aim-diabetes-hba1c-75-care-plan').waitFor();
      assert.match(await page.getByTestId('aim-diabetes-hba1c-75-care-plan').innerText(), /Target 25 people by 31 March 2027/);
      await page.getByTestId('spc-chart').first().waitFor();
      assert.ok((await page.getByTestId('spc-chart').count()) >= 2, 'an SPC chart per measure');
      assert.ok((await page.locator('[data-testid="spc-chart"] circle').count()) > 10, 'the points are drawn');
      await page.getByText('Show the values').first().click();
      await page.getByRole('region', { name: /, as a table$/ }).first().waitFor();
      await axe(page, 'the diabetes panel (GP)');
      await shot(page, 'analytics-01-gp-diabetes-panel');

      await page.getByRole('navigation', { name: 'Clinical panels' }).getByRole('link', { name: 'Urgent care' }).click();
      await page.getByRole('heading', { level: 1, name: 'Urgent care panel' }).waitFor();
      await page.getByTestId('spc-chart').first().waitFor();
      await shot(page, 'analytics-02-gp-urgent-care-panel');

      await page.getByRole('navigation', { name: 'Clinical panels' }).getByRole('link', { name: 'Diabetes' }).click();
      await page.getByRole('link', { name: 'See the people on Diabetes register' }).click();
      await page.getByRole('heading', { level: 1, name: 'Diabetes register' }).waitFor();
      const members = page.getByTestId('cohort-members').getByRole('link');
      await members.first().waitFor();
      await axe(page, "the diabetes register's people (GP)");
      await shot(page, 'analytics-03-gp-register-people');
      await members.first().click();
      await page.waitForURL(/\/person\//);
      await page.getByRole('region', { name: 'Patient details' }).waitFor();
      await shot(page, 'analytics-04-gp-record-from-register');
      const listed = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE actor = $1 AND action = 'cohort.list.person'`, [loc.users.gp]);
      assert.ok(listed.rows[0]!.n >= 1, 'each person shown identified is audited');
    });
    await gp.context.close();
    assert.deepEqual(gp.errors, [], 'no errors in the browser console (GP)');

    const an = await open(browser, loc.url);
    await t.test('an analyst: use and cost by month, the shift out of hospital, freshness; a cohort, pseudonymised', async () => {
      const page = an.page;
      await signIn(page, ANALYST);
      await page.getByRole('heading', { level: 1, name: 'Use and cost of care' }).waitFor();
      assert.match(page.url(), /\/analytics\/commissioning$/, 'an analyst lands on the commissioner dashboard');
      assert.deepEqual(await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allInnerTexts(), ['Commissioning', 'Clinical panels', 'Risk list']);
      await page.getByTestId('use-chart').waitFor();
      await page.getByTestId('shift-chart').waitFor();
      assert.match(await page.getByTestId('use-summary').innerText(), /£/);
      assert.match(await page.getByTestId('shift-summary').innerText(), /Share of contacts out of hospital: \d/);
      assert.ok((await page.getByTestId('use-chart').locator('.recharts-bar-rectangle').count()) > 0, 'bars are drawn');
      const sources = await page.getByTestId('sources-table').locator('tbody tr').allInnerTexts();
      assert.ok(sources.some((s) => /Hospital/.test(s)) && sources.some((s) => /Primary care/.test(s)), 'each source with its setting and freshness');
      await axe(page, 'the commissioner dashboard');
      await shot(page, 'analytics-05-commissioner-by-setting');

      await page.getByLabel('Group by').selectOption('cohort');
      await page.getByRole('button', { name: 'Show' }).click();
      await page.waitForURL(/by=cohort/);
      await page.getByTestId('use-table').getByRole('link').first().waitFor();
      await shot(page, 'analytics-06-commissioner-by-cohort');
      await page.getByTestId('use-table').getByRole('link', { name: 'Diabetes register' }).first().click();
      await page.getByRole('heading', { level: 1, name: 'Diabetes register' }).waitFor();
      assert.match(await page.getByTestId('cohort-count').innerText(), /pseudonymised/);
      assert.equal(await page.getByTestId('cohort-members').getByRole('link').count(), 0, 'no way from a pseudonym to a record');
      assert.ok((await page.getByTestId('cohort-members').locator('tbody tr').count()) > 0);
      await axe(page, 'a pseudonymised register (analyst)');
      await shot(page, 'analytics-07-analyst-pseudonymised-register');

      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Clinical panels' }).click();
      await page.getByRole('heading', { level: 1, name: 'Diabetes panel' }).waitFor();
      assert.match(await page.getByTestId('panel-place').innerText(), /The whole locality\. Counts from 1 to 7 are suppressed/);
      await page.getByTestId('spc-chart').first().waitFor();
      await axe(page, 'the diabetes panel (analyst)');
      await shot(page, 'analytics-08-analyst-diabetes-panel');
    });
    await an.context.close();
    assert.deepEqual(an.errors, [], 'no errors in the browser console (analyst)');
  } finally {
    await browser.close();
    await loc.close();
  }
});
