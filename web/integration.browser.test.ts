/**
 * The integration team's screens in a real browser: Debian's Chromium (/usr/bin/chromium) driven
 * by playwright-core, against the real server on PGlite with a generated locality
 * (web/test-locality.ts). Journeys, as a user with role `integration`: the feeds page shows every
 * source system and the messages-per-hour chart; a broken HL7 message (ingested into the
 * locality for the test) is viewed in the quarantine, repaired and replayed, and is then gone
 * from the open items; an MPI review pair (two identities the matcher marks possible) is linked
 * and undone. A GP sees none of these screens and is refused (and audited) at their addresses.
 * Every page is checked with axe-core (no serious or critical violations), each step is
 * screenshotted into out/screenshots/, and the browser console must stay free of errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addUser } from '../access/users.ts';
import { msh, seg } from '../ingest/hl7v2/fixtures/samples.ts';
import { parseText } from '../ingest/quarantine.ts';
import { writeBatch } from '../ingest/writer.ts';
import type { SourceIdentity } from '../mpi/identity.ts';
import { resolveIdentities } from '../mpi/link.ts';
import { runMatcher } from '../mpi/matcher.ts';
import { axe, launchChromium, NO_CHROMIUM, open, shot, signIn } from './browser-kit.ts';
import { PASSWORD, startTestLocality, type TestLocality } from './test-locality.ts';

const INTEGRATION_USER = 'web-integration';





/** An HL7 ADT A08 about a hospital identity of the locality, with its date of birth as given. */
function a08(system: string, mrn: string, nhs: string | null, family: string, given: string, sex: string | null, dob: string): string {
  const facility = system.slice('hl7:'.length);
  const pid = seg('PID', { 1: '1', 3: `${mrn}^^^${facility}^MR${nhs ? `~${nhs}^^^NHS^NH` : ''}`, 5: `${family}^${given}`, 7: dob, 8: sex === 'female' ? 'F' : sex === 'male' ? 'M' : 'U' });
  return [msh({ type: 'ADT^A08^ADT_A01', id: 'WEB-QUARANTINE-1', time: '20250301120000', facility }), seg('EVN', { 1: 'A08', 2: '20250301120000' }), pid].join('\r') + '\r';
}

// Two records of one woman the matcher is unsure about: community services with a day of birth
// mistyped, social care with another postcode. (A surname the generator does not use.)
const PAIR: SourceIdentity[] = [
  { system: 'csv:community', id: 'WEB-PAIR-C', family: 'Featherstone', given: 'Doris', birthDate: '1950-03-11', sex: 'female', postcode: 'M14 9ZZ' },
  { system: 'csv:socialcare', id: 'WEB-PAIR-S', family: 'Featherstone', given: 'Doris', birthDate: '1950-03-01', sex: 'female', postcode: 'M20 3QQ' },
];

test("the integration team's screens in Chromium: feeds, quarantine repair and replay, MPI link and undo", { skip: NO_CHROMIUM }, async (t) => {
  const loc: TestLocality = await startTestLocality();
  const { db } = loc;
  await addUser(db, { username: INTEGRATION_USER, role: 'integration', organisation: 'TRAFFORD', password: PASSWORD });

  // A broken message: a hospital's A08 about someone it knows, with an impossible date of birth.
  const hosp = (
    await db.query<{ source_system: string; source_id: string; nhs_number: string | null; family: string; given: string; sex: string | null; birth_date: string }>(
      `SELECT source_system, source_id, nhs_number, family, given, sex, replace(birth_date::text, '-', '') AS birth_date
         FROM source_identity WHERE source_system LIKE 'hl7:%' AND family IS NOT NULL AND given IS NOT NULL AND birth_date IS NOT NULL
        ORDER BY (person_id = $1) DESC, source_system, source_id LIMIT 1`,
      [loc.person.personId],
    )
  ).rows[0]!;
  const badDob = `${hosp.birth_date.slice(0, 4)}13${hosp.birth_date.slice(6)}`;
  const broken = await writeBatch(db, await parseText(a08(hosp.source_system, hosp.source_id, hosp.nhs_number, hosp.family, hosp.given, hosp.sex, badDob), 'web-test.hl7'));
  assert.equal(broken.quarantined, 1, 'the broken message is quarantined');
  const quarantineId = (await db.query<{ id: number }>(`SELECT quarantine_id::int AS id FROM quarantine WHERE message_id = 'WEB-QUARANTINE-1'`)).rows[0]!.id;

  // A pair for review.
  await db.transaction((tx) => resolveIdentities(tx, PAIR));
  await runMatcher(db);
  const review = (await db.query<{ id: number }>(`SELECT review_id::int AS id FROM mpi_review WHERE status = 'open' AND source_id = 'WEB-PAIR-C' AND candidate_id = 'WEB-PAIR-S'`)).rows[0];
  assert.ok(review, 'the matcher queued the pair for review');
  const personOf = async (id: string) => (await db.query<{ p: string }>(`SELECT person_id::text AS p FROM source_identity WHERE source_id = $1`, [id])).rows[0]!.p;
  const before = { c: await personOf('WEB-PAIR-C'), s: await personOf('WEB-PAIR-S') };
  assert.notEqual(before.c, before.s);
  const sources = (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM (SELECT source_system FROM ingest_message UNION SELECT source_system FROM quarantine) x`)).rows[0]!.n;
  const audit = (action: string) => db.query<{ decision: string | null; person_id: string | null; detail: Record<string, unknown> | null }>(`SELECT decision, person_id::text AS person_id, detail FROM audit_log WHERE actor = $1 AND action = $2 ORDER BY audit_id`, [INTEGRATION_USER, action]);

  const browser = await launchChromium();
  try {
    const it = await open(browser, loc.url, { handled: [409] });
    const page = it.page;

    await t.test('the feeds: every source with its last message and counts, and messages per hour', async () => {
      await signIn(page, INTEGRATION_USER);
      await page.getByRole('heading', { level: 1, name: 'Feeds' }).waitFor();
      assert.match(page.url(), /\/integration\/feeds$/, 'the integration team lands on the feeds');
      const nav = page.getByRole('navigation', { name: 'Main' });
      assert.deepEqual(await nav.getByRole('link').allInnerTexts(), ['Feeds', 'Quarantine', 'MPI review']);
      const rows = page.getByTestId('feed-row');
      await rows.first().waitFor();
      assert.equal(await rows.count(), sources, 'one row per source system');
      const facility = hosp.source_system.slice(4);
      const hospitalRow = rows.filter({ hasText: `Hospital ${facility}` });
      const text = await hospitalRow.innerText();
      assert.match(text, /just now|\d+ min ago/, text);
      assert.match(text, /\(1 open\)/, 'the quarantined message is counted');
      // The chart (its code loads on demand), then the last 7 days of one source.
      await page.getByTestId('feed-chart').locator('svg').first().waitFor();
      assert.match(await page.getByTestId('feed-chart-summary').innerText(), /messages in the last 24 hours: \d+ accepted/);
      await axe(page, 'feeds page');
      await shot(page, 'int-01-feeds');
      await page.getByLabel('Source system', { exact: true }).selectOption(hosp.source_system);
      // click, not check: the radio is controlled by the URL, so its state changes only once the router has replaced it (check() can look too soon on a busy machine).
      await page.getByLabel('Last 7 days').click();
      await page.waitForURL(/range=7d/);
      await page.getByRole('heading', { level: 3, name: new RegExp(`Hospital ${facility}, last 7 days`) }).waitFor();
      await page.getByTestId('feed-chart').locator('svg').first().waitFor();
      await page.getByTestId('feed-chart-summary').filter({ hasText: /in the last 7 days: \d+ accepted, \d+ ignored, 1 quarantined/ }).waitFor();
      await shot(page, 'int-02-feeds-7-days');
    });

    await t.test('a quarantined message: viewed (audited), repaired and replayed, then gone from the open items', async () => {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Quarantine' }).click();
      await page.getByRole('heading', { level: 1, name: 'Quarantine' }).waitFor();
      const item = page.getByRole('link', { name: `Item ${quarantineId}`, exact: true });
      await item.waitFor();
      assert.match(await page.getByTestId('quarantine-items').innerText(), /PID-7/);
      await axe(page, 'quarantine list');
      await shot(page, 'int-03-quarantine');
      await item.click();
      await page.getByRole('heading', { level: 1, name: `Quarantined item ${quarantineId}` }).waitFor();
      const raw = await page.getByTestId('quarantine-raw').innerText();
      assert.ok(raw.includes(badDob) && raw.includes('PID|'), raw);
      const reads = await audit('quarantine.read');
      assert.ok(reads.rows.some((r) => r.decision === 'permit' && r.detail?.id === quarantineId), 'the view of the raw item is audited');
      await axe(page, 'quarantined item');
      // Repair with the keyboard: the date of birth, then Replay.
      const area = page.getByLabel('Repaired text');
      const original = await area.inputValue();
      assert.ok(original.split('\n').length >= 3, 'one segment a line');
      await area.fill(original.replace(badDob, hosp.birth_date));
      await shot(page, 'int-04-quarantine-repair');
      await page.getByRole('button', { name: 'Replay', exact: true }).focus();
      await page.keyboard.press('Enter');
      await page.getByRole('status').getByRole('heading', { name: 'Replayed' }).waitFor();
      assert.match(await page.getByRole('status').innerText(), new RegExp(`Item ${quarantineId} replayed: 1 accepted`));
      await page.locator('.nhsuk-summary-list').getByText('Replayed', { exact: true }).waitFor();
      assert.equal(await page.getByLabel('Repaired text').count(), 0, 'no repair once replayed');
      await axe(page, 'replayed item');
      await shot(page, 'int-05-quarantine-replayed');
      const row = (await db.query<{ status: string; resolution: string }>(`SELECT status, resolution FROM quarantine WHERE quarantine_id = $1`, [quarantineId])).rows[0]!;
      assert.equal(row.status, 'replayed');
      assert.match(row.resolution, new RegExp(`replayed by ${INTEGRATION_USER} with a repaired text`));
      assert.ok((await audit('quarantine.replay')).rows.some((r) => r.decision === 'permit'));
      await page.getByRole('link', { name: 'Back to the open items' }).click();
      await page.getByRole('heading', { level: 1, name: 'Quarantine' }).waitFor();
      await page.getByRole('heading', { level: 2, name: /item|No items/ }).waitFor();
      assert.equal(await page.getByRole('link', { name: `Item ${quarantineId}`, exact: true }).count(), 0, 'gone from the open items');
      await axe(page, 'quarantine after the replay');
    });

    await t.test('an MPI review pair: side by side with the evidence, linked, then undone', async () => {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'MPI review' }).click();
      await page.getByRole('heading', { level: 1, name: 'MPI review' }).waitFor();
      const pairLink = page.getByRole('link', { name: `Pair ${review!.id}`, exact: true });
      await pairLink.waitFor();
      assert.ok(!(await page.getByTestId('review-queue').innerText()).includes('Featherstone'), 'no names in the queue');
      await axe(page, 'MPI review queue');
      await shot(page, 'int-06-mpi-queue');
      await pairLink.click();
      await page.getByRole('heading', { level: 1, name: new RegExp(`Pair ${review!.id}`) }).waitFor();
      const table = await page.getByRole('region', { name: 'The two records, as a table' }).innerText();
      for (const want of ['Doris FEATHERSTONE', '11 March 1950', '1 March 1950', 'M14 9ZZ', 'M20 3QQ', 'Community services', 'Social care', 'WEB-PAIR-C', 'WEB-PAIR-S']) assert.ok(table.includes(want), `${want} in ${table}`);
      assert.match(await page.getByRole('list', { name: 'Evidence for one person' }).innerText(), /Family name: the same/);
      assert.match(await page.getByRole('list', { name: 'Evidence against' }).innerText(), /Postcode: different/);
      assert.match(await page.getByTestId('review-probability').innerText(), /Chance they are one person: \d+%/);
      assert.equal((await audit('mpi.review.read')).rows.filter((r) => r.decision === 'permit' && r.detail?.id === review!.id).length, 2, 'the view is audited for each person');
      await axe(page, 'MPI review pair');
      await shot(page, 'int-07-mpi-pair');
      // Usable on a tablet too.
      await page.setViewportSize({ width: 768, height: 1024 });
      await axe(page, 'MPI review pair on a tablet');
      await shot(page, 'int-07-mpi-pair-tablet');
      await page.setViewportSize({ width: 1366, height: 768 });

      await page.getByRole('button', { name: 'Link', exact: true }).click();
      const notice = page.getByTestId('review-notice');
      await notice.getByText('Linked: the two records are now one person.').waitFor();
      assert.equal(await personOf('WEB-PAIR-C'), await personOf('WEB-PAIR-S'), 'one person now');
      assert.ok((await audit('mpi.review.decide')).rows.some((r) => r.decision === 'permit' && r.detail?.status === 'linked'));
      await axe(page, 'MPI pair linked');
      await shot(page, 'int-08-mpi-linked');
      // Undo with the keyboard: focus is on the notice; the next stop is Undo.
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'review-notice');
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Undo');
      await page.keyboard.press('Enter');
      await notice.getByText('The decision is undone').waitFor();
      await page.getByRole('button', { name: 'Link', exact: true }).waitFor();
      assert.deepEqual({ c: await personOf('WEB-PAIR-C'), s: await personOf('WEB-PAIR-S') }, before, 'both records back where they were');
      const status = (await db.query<{ status: string }>(`SELECT status FROM mpi_review WHERE review_id = $1`, [review!.id])).rows[0]!.status;
      assert.equal(status, 'open', 'the pair is waiting again');
      assert.ok((await audit('mpi.review.undo')).rows.some((r) => r.decision === 'permit'));
      await axe(page, 'MPI pair undone');
      await shot(page, 'int-09-mpi-undone');
    });
    assert.deepEqual(it.errors, [], 'no errors in the browser console');
    await it.context.close();

    await t.test("a GP sees none of the integration team's screens and is refused at their addresses (audited)", async () => {
      const gp = await open(browser, loc.url, { handled: [409] });
      try {
        await signIn(gp.page, loc.users.gp);
        await gp.page.getByRole('heading', { level: 1, name: 'Find a person' }).waitFor();
        assert.deepEqual(await gp.page.getByRole('navigation', { name: 'Main' }).getByRole('link').allInnerTexts(), ['Find a person', 'Clinical panels', 'Risk list']);
        await gp.page.goto(`/integration/mpi-review/${review!.id}`);
        await gp.page.getByText('You cannot see this pair').waitFor();
        assert.equal(await gp.page.getByText('FEATHERSTONE').count(), 0, 'nothing of the pair is shown');
        await axe(gp.page, 'MPI pair refused to a GP');
        await shot(gp.page, 'int-10-gp-refused');
        const denied = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE actor = $1 AND action = 'mpi.review.read' AND decision = 'deny'`, [loc.users.gp]);
        assert.ok(denied.rows[0]!.n >= 1, 'the refusal is audited');
        await gp.page.goto('/integration/feeds');
        await gp.page.getByText("You cannot see the feeds' status").waitFor();
      } finally {
        await gp.context.close();
      }
      assert.deepEqual(gp.errors, [], 'no errors in the browser console');
    });
  } finally {
    await browser.close();
    await loc.close();
  }
});
