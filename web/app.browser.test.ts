/**
 * The web application in a real browser: Debian's Chromium (/usr/bin/chromium) driven by
 * playwright-core, against the real server on PGlite with a generated locality (web/test-locality.ts).
 * Journeys: sign in (by keyboard); find by NHS number and by name; open a record with items from
 * three or more source systems; filter the timeline; sign out; the session expiry notice (a fake
 * clock); a GP at another practice denied,
 * then break-glass and the audit entry it leaves. Each step is screenshotted into
 * out/screenshots/, every page visited is checked with axe-core (no serious or critical
 * violations), and the browser console must stay free of errors (a CSP refusal is one). The time
 * from clicking a result to banner and summary on screen is measured with the Performance API and
 * printed (no assertion on it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { axe, launchChromium, NO_CHROMIUM, open, shot, signIn } from './browser-kit.ts';
import { PASSWORD, startTestLocality, type TestLocality } from './test-locality.ts';


function formatted(nhs: string): string {
  return `${nhs.slice(0, 3)} ${nhs.slice(3, 6)} ${nhs.slice(6)}`;
}





test('web application in Chromium: sign in, find, read, filter, sign out, denied, break-glass', { skip: NO_CHROMIUM }, async (t) => {
  const loc: TestLocality = await startTestLocality();
  console.log(`# locality: generated in ${loc.seconds.generate.toFixed(1)} s, ingested and matched in ${loc.seconds.ingest.toFixed(1)} s; person with ${loc.person.systems.length} sources: ${loc.person.systems.join(', ')}`);
  const browser = await launchChromium();
  const p = loc.person;
  try {
    const gp = await open(browser, loc.url);
    const page = gp.page;

    await t.test('sign in with the keyboard', async () => {
      await page.goto('/');
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      await axe(page, 'sign-in page');
      await shot(page, '01-sign-in');
      // A wrong password: the error summary, focused.
      await signIn(page, loc.users.gp.replace('gp', 'nobody'), { here: true });
      await page.getByRole('heading', { name: 'There is a problem' }).waitFor();
      await axe(page, 'sign-in error');
      await shot(page, '02-sign-in-error');
      await page.getByLabel('Username').fill('');
      await page.getByLabel('Username').focus();
      await page.keyboard.type(loc.users.gp);
      await page.keyboard.press('Tab');
      await page.keyboard.type(PASSWORD);
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { level: 1, name: 'Find a person' }).waitFor();
      assert.match(page.url(), /\/search$/);
      // A server with browser sessions sets an HttpOnly cookie (then a reload keeps the sign-in); otherwise a bearer token in memory.
      const cookie = (await gp.context.cookies()).find((c) => c.name === '__Host-bevan_session');
      console.log(`# signed in with ${cookie ? 'a browser session (HttpOnly cookie and CSRF token)' : 'a bearer token kept in memory'}`);
      if (cookie) {
        assert.equal(cookie.httpOnly, true);
        assert.equal(cookie.sameSite, 'Strict');
        await page.reload();
        await page.getByRole('heading', { level: 1, name: 'Find a person' }).waitFor();
      }
      await assert.doesNotReject(page.getByRole('button', { name: 'Sign out' }).waitFor());
    });

    await t.test('find a person by NHS number (with spaces) and by name', async () => {
      const box = page.getByRole('searchbox', { name: 'Find a person' });
      await box.fill(formatted(p.nhsNumber));
      await box.press('Enter');
      const link = page.getByRole('link', { name: new RegExp(p.family, 'i') });
      await link.first().waitFor();
      assert.equal(await page.getByRole('heading', { level: 2, name: /1 person found/ }).count(), 1);
      const text = await page.locator('.bevan-result').first().innerText();
      assert.ok(text.includes(formatted(p.nhsNumber)), `NHS number formatted 3 3 4 in the result: ${text}`);
      assert.match(text, /Born\s+\d{1,2} \w+ \d{4} \(\d+ years?\)/);
      assert.match(page.url(), /\/search\?q=/);
      await axe(page, 'search results');
      await shot(page, '03-found-by-nhs-number');
      await box.fill(p.family);
      await page.getByRole('button', { name: 'Search' }).click();
      await page.getByRole('heading', { level: 2, name: /found/ }).waitFor();
      await page.waitForURL(new RegExp(`q=${encodeURIComponent(p.family)}`));
      assert.ok((await page.getByRole('link', { name: new RegExp(`${p.given.split(' ')[0]}.*${p.family}`, 'i') }).count()) >= 1, 'the person is among the results by name');
      await shot(page, '04-found-by-name');
      // Nonsense says why, without a request.
      await box.fill('31/02/1950');
      await box.press('Enter');
      await page.getByText('is not a real date').waitFor();
      await axe(page, 'search input error');
    });

    await t.test('open the record: banner, summary, sources (three or more), usable within a second', async () => {
      const box = page.getByRole('searchbox', { name: 'Find a person' });
      await box.fill(p.nhsNumber);
      await box.press('Enter');
      const link = page.getByRole('link', { name: new RegExp(p.family, 'i') }).first();
      await link.waitFor();
      await page.evaluate(() => performance.mark('test:click'));
      await link.click();
      await page.getByRole('heading', { level: 1, name: new RegExp(p.family, 'i') }).waitFor();
      await page.waitForFunction(() => performance.getEntriesByName('bevan:record-usable').length > 0);
      const timing = await page.evaluate(() => {
        const click = performance.getEntriesByName('test:click')[0]!.startTime;
        const usable = performance.getEntriesByName('bevan:record-usable')[0]!.startTime;
        const inPage = performance.getEntriesByName('bevan:record')[0]?.duration ?? null;
        return { fromClick: usable - click, inPage };
      });
      console.log(`# record page usable (banner and summary on screen) ${timing.fromClick.toFixed(0)} ms after the click (${timing.inPage?.toFixed(0)} ms from the page's start); ${p.systems.length} sources`);
      assert.match(page.url(), new RegExp(`/person/${p.personId}$`));
      const banner = await page.getByRole('region', { name: 'Patient details' }).innerText();
      assert.ok(banner.includes(formatted(p.nhsNumber)), banner);
      assert.match(banner, /Born\s+\d{1,2} \w+ \d{4}/);
      for (const h of ['Problems', 'Medications', 'Allergies', 'Latest results', 'Admissions and attendances']) await page.getByRole('heading', { level: 2, name: new RegExp(`^${h}`) }).waitFor();
      const sources = page.getByRole('region', { name: 'Sources' }).getByRole('listitem');
      assert.equal(await sources.count(), p.systems.length, 'one item per source system');
      assert.ok((await sources.count()) >= 3);
      await shot(page, '05-record');
      // Charts load when scrolled to (their code is a chunk of its own).
      await page.getByRole('heading', { level: 2, name: 'Results over time' }).scrollIntoViewIfNeeded();
      await page.getByRole('heading', { level: 3, name: /HbA1c/ }).waitFor();
      await axe(page, 'record page');
      // Readable on a tablet too.
      await page.setViewportSize({ width: 768, height: 1024 });
      await shot(page, '06-record-tablet');
      await axe(page, 'record page on a tablet');
      await page.setViewportSize({ width: 1366, height: 768 });
    });

    await t.test('filter the timeline by setting, type and source; open an item', async () => {
      const count = page.getByTestId('timeline-count');
      const all = Number(/of (\d+)/.exec(await count.innerText())![1]);
      assert.ok(all > 10, `timeline items: ${all}`);
      const hospital = page.getByRole('group', { name: 'Setting' }).getByLabel(/^Hospital/);
      await hospital.check();
      await page.waitForURL(/setting=hospital/);
      const shown = Number(/Showing (\d+)/.exec(await count.innerText())![1]);
      assert.ok(shown > 0 && shown < all, `hospital items ${shown} of ${all}`);
      const rows = page.getByRole('region', { name: 'Timeline items' }).getByRole('listitem');
      const visible = await rows.allInnerTexts();
      assert.ok(visible.length > 0 && visible.every((r) => r.includes('(Hospital)')), visible.slice(0, 3).join(' | '));
      await page.getByRole('group', { name: 'Type' }).getByLabel(/^Results/).check();
      const results = Number(/Showing (\d+)/.exec(await count.innerText())![1]);
      assert.ok(results <= shown);
      for (const r of await rows.allInnerTexts()) assert.match(r, /Result/);
      // Open the first item's detail: it names the source and the date.
      await rows.first().getByRole('button').click();
      await page.getByText('As the source sent it (FHIR)').waitFor();
      await shot(page, '07-timeline-filtered');
      await axe(page, 'filtered timeline');
      await page.getByRole('button', { name: 'Clear filters' }).click();
      assert.equal(Number(/Showing (\d+)/.exec(await count.innerText())![1]), all);
      // By source system: the practice's own items only.
      await page.getByRole('group', { name: 'Source system' }).getByLabel(new RegExp(`^GP practice ${p.practice}`)).check();
      const fromGp = await rows.allInnerTexts();
      assert.ok(fromGp.length > 0 && fromGp.every((r) => r.includes(`GP practice ${p.practice}`)), fromGp.slice(0, 3).join(' | '));
      await page.getByRole('button', { name: 'Clear filters' }).click();
    });

    await t.test('sign out', async () => {
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      await page.getByText('You have signed out.').waitFor();
      await shot(page, '08-signed-out');
      // The token is gone: the record's address asks to sign in again.
      await page.goto(`/person/${p.personId}`);
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      assert.match(page.url(), /\?next=%2Fperson%2F/);
    });
    assert.deepEqual(gp.errors, [], 'no errors in the browser console');
    await gp.context.close();

    await t.test('the session expiry is shown before it strikes', async () => {
      const ex = await open(browser, loc.url);
      try {
        await ex.page.clock.install();
        await ex.page.goto('/');
        await signIn(ex.page, loc.users.gp, { here: true });
        await ex.page.getByRole('heading', { level: 1, name: 'Find a person' }).waitFor();
        const notice = ex.page.getByText(/You will be signed out at|Your session ends at/);
        assert.equal(await notice.count(), 0, 'no notice while the session has long to run');
        // A browser session's idle timeout (30 minutes) or a token's hour, five minutes before.
        const cookie = (await ex.context.cookies()).some((c) => c.name === '__Host-bevan_session');
        await ex.page.clock.fastForward(cookie ? '26:00' : '56:00');
        await notice.waitFor();
        assert.match(await notice.innerText(), /\d{2}:\d{2} \(in [1-4] minutes?\)/);
        await axe(ex.page, 'expiry notice');
        await shot(ex.page, '09-expiry-notice');
      } finally {
        await ex.context.close();
      }
      assert.deepEqual(ex.errors, [], 'no errors in the browser console');
    });

    const far = await open(browser, loc.url);
    await t.test('a GP at another practice opening the record is denied, in plain words', async () => {
      const fp = far.page;
      // A shared link: sign in first, then the record's address.
      await fp.goto(`/person/${p.personId}`);
      await fp.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      await signIn(fp, loc.users.farGp, { here: true });
      await fp.getByRole('heading', { level: 1, name: 'Access denied' }).waitFor();
      assert.match(fp.url(), new RegExp(`/person/${p.personId}$`));
      assert.match(await fp.getByTestId('denied-reason').innerText(), /You do not have a care relationship with this person/);
      assert.equal(await fp.getByRole('heading', { level: 1, name: new RegExp(p.family, 'i') }).count(), 0, 'nothing of the record is shown');
      await axe(fp, 'denied page');
      await shot(fp, '10-denied');
    });

    await t.test('break-glass: a reason, a warning that it is audited and alerted, the record, the audit entry', async () => {
      const fp = far.page;
      await fp.getByRole('button', { name: 'Break glass' }).click();
      await fp.getByText('Your access will be audited, and the privacy officer will be alerted').waitFor();
      const reason = fp.getByLabel('Reason for emergency access');
      await reason.fill('too short');
      await fp.getByRole('button', { name: 'Break glass and open the record' }).click();
      await fp.getByText('Enter a reason of at least 10 characters').first().waitFor();
      await axe(fp, 'break-glass form with an error');
      await shot(fp, '11-break-glass-reason');
      const why = 'Unconscious in A&E, no GP record reachable';
      await reason.fill(why);
      await fp.getByRole('button', { name: 'Break glass and open the record' }).click();
      await fp.getByRole('heading', { level: 1, name: new RegExp(p.family, 'i') }).waitFor();
      await fp.getByText('Emergency access (break glass).').waitFor();
      assert.equal(await fp.getByRole('region', { name: 'Sources' }).getByRole('listitem').count() > 0, true);
      await axe(fp, 'record under break-glass');
      await shot(fp, '12-break-glass-record');
      const audit = await loc.db.query<{ action: string; detail: { reason?: string; alert?: boolean } | null }>(
        `SELECT action, detail FROM audit_log WHERE actor = $1 AND person_id = $2 ORDER BY audit_id`,
        [loc.users.farGp, p.personId],
      );
      const actions = audit.rows.map((r) => r.action);
      assert.ok(actions.includes('break-glass.start'), `audit: ${actions.join(', ')}`);
      const start = audit.rows.find((r) => r.action === 'break-glass.start')!;
      assert.equal(start.detail?.alert, true, 'the break-glass entry raises an alert');
      const denied = await loc.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE actor = $1 AND person_id = $2 AND detail->>'decision' = 'deny'`, [loc.users.farGp, p.personId]);
      assert.ok(denied.rows[0]!.n >= 0);
    });
    assert.deepEqual(far.errors, [], 'no errors in the browser console');
    await far.context.close();
  } finally {
    await browser.close();
    await loc.close();
  }
});
