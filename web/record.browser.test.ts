/**
 * The record page's identity, freshness, care team, alerts, audit and break-glass expiry in a
 * real browser: Debian's Chromium (/usr/bin/chromium) driven by playwright-core against the real
 * server on PGlite with a generated locality (web/test-locality.ts). Journeys: the identity view
 * lists the person's source records and where they disagree; each source's feed freshness; the
 * care team after a member is added through the API; the timeline's settings as the server says
 * them; "who has looked at this record" listing the user's own earlier read; "who has looked at
 * my record" for the person; break-glass with its countdown, and the denied page when the
 * emergency session ends. Every page is checked with axe-core (no serious or critical
 * violations); the console must stay free of errors; screenshots go to out/screenshots/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { issueToken } from '../access/tokens.ts';
import { addUser } from '../access/users.ts';
import { insertResource } from '../record/test-fixtures.ts';
import { axe, launchChromium, NO_CHROMIUM, open, shot, signIn } from './browser-kit.ts';
import { PASSWORD, startTestLocality, type TestLocality } from './test-locality.ts';






interface Chosen {
  personId: string;
  nhsNumber: string;
  practice: string;
  family: string;
  systems: string[];
  identities: number;
  familyDiffers: boolean;
  birthDiffers: boolean;
  postcodeDiffers: boolean;
}

/** Someone registered at a practice, known to three or more sources that disagree on something (the mental health trust among them if possible). */
async function choosePerson(loc: TestLocality): Promise<Chosen> {
  const r = await loc.db.query<{ person_id: string; nhs_number: string; practice: string; family: string; systems: string[]; identities: number; family_differs: boolean; birth_differs: boolean; postcode_differs: boolean }>(
    `SELECT p.person_id::text AS person_id, p.nhs_number,
            max(substr(s.source_system, 4)) FILTER (WHERE s.source_system LIKE 'gp:%') AS practice,
            max(s.family) FILTER (WHERE s.source_system LIKE 'gp:%') AS family,
            array_agg(DISTINCT s.source_system ORDER BY s.source_system) AS systems, count(*)::int AS identities,
            count(DISTINCT lower(s.family)) > 1 AS family_differs, count(DISTINCT s.birth_date) > 1 AS birth_differs,
            count(DISTINCT upper(replace(s.postcode, ' ', ''))) > 1 AS postcode_differs
       FROM person p JOIN source_identity s ON s.person_id = p.person_id
      WHERE p.status = 'active' AND p.nhs_number IS NOT NULL
      GROUP BY p.person_id, p.nhs_number
     HAVING count(DISTINCT s.source_system) >= 3 AND bool_or(s.source_system LIKE 'gp:%')
        AND (count(DISTINCT lower(s.family)) > 1 OR count(DISTINCT s.birth_date) > 1 OR count(DISTINCT upper(replace(s.postcode, ' ', ''))) > 1)
      ORDER BY bool_or(s.source_system = 'hl7:RXV') DESC, count(DISTINCT s.source_system) DESC, p.nhs_number LIMIT 1`,
  );
  const x = r.rows[0];
  if (!x) throw new Error('the generated locality has nobody whose sources disagree');
  return { personId: x.person_id, nhsNumber: x.nhs_number, practice: x.practice, family: x.family, systems: x.systems, identities: x.identities, familyDiffers: x.family_differs, birthDiffers: x.birth_differs, postcodeDiffers: x.postcode_differs };
}

test('record page in Chromium: identity, freshness, care team, who has looked, break-glass countdown', { skip: NO_CHROMIUM }, async (t) => {
  const loc = await startTestLocality();
  const browser = await launchChromium();
  try {
    const p = await choosePerson(loc);
    console.log(`# person with ${p.identities} source records from ${p.systems.join(', ')}; differs on ${[p.familyDiffers && 'surname', p.birthDiffers && 'date of birth', p.postcodeDiffers && 'postcode'].filter(Boolean).join(', ')}`);
    const users = { gp: 'rec-gp', far: 'rec-far-gp', patient: 'rec-patient' };
    await addUser(loc.db, { username: users.gp, role: 'gp', organisation: p.practice, password: PASSWORD });
    await addUser(loc.db, { username: users.far, role: 'gp', organisation: 'P99998', password: PASSWORD });
    await addUser(loc.db, { username: users.patient, role: 'patient', nhsNumber: p.nhsNumber, password: PASSWORD });

    // The care team, through the API (as the GP's own system or another client would).
    const addMember = async (personId: string, token: string, body: { member: string; role?: string }) => {
      const res = await fetch(`${loc.url}/care-team/${personId}/members`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(res.status, 200, await res.text());
    };
    const token = await issueToken(loc.db, { user: users.gp, role: 'gp', organisation: p.practice });
    await addMember(p.personId, token, { member: 'nurse.khan', role: 'lead-nurse' });
    await addMember(p.personId, token, { member: 'org:RM3' });
    // Someone the mental health trust knows (its HL7 v2 feed hl7:RXV if the locality has an inpatient stay, else its community
    // extract): the GP is put on their care team by an administrator.
    const mh = (
      await loc.db.query<{ person_id: string; family: string; rxv: boolean }>(
        `SELECT p.person_id::text AS person_id, max(s.family) FILTER (WHERE s.source_system LIKE 'gp:%') AS family, bool_or(s.source_system = 'hl7:RXV') AS rxv
           FROM person p JOIN source_identity s ON s.person_id = p.person_id
          WHERE p.status = 'active' GROUP BY p.person_id
         HAVING bool_or(s.source_system IN ('hl7:RXV', 'csv:mentalhealth')) AND max(s.family) FILTER (WHERE s.source_system LIKE 'gp:%') IS NOT NULL
          ORDER BY bool_or(s.source_system = 'hl7:RXV') DESC, count(DISTINCT s.source_system) DESC, p.person_id LIMIT 1`,
      )
    ).rows[0];
    assert.ok(mh, 'someone in the locality is known to the mental health trust');
    console.log(`# mental health sources: ${mh.rxv ? 'hl7:RXV (the trust\'s HL7 v2 feed)' : 'csv:mentalhealth only (no inpatient stay in this locality)'}`);
    if (mh.person_id !== p.personId) await addMember(mh.person_id, await issueToken(loc.db, { user: 'rec-admin', role: 'admin', organisation: null }), { member: users.gp, role: 'named-gp' });

    // Two alerts the generator does not make, as the GP system would send them: a high-criticality allergy and a Flag.
    const gpKey = `gp:${p.practice}`;
    const gpSubject = (await loc.db.query<{ source_id: string }>(`SELECT source_id FROM source_identity WHERE person_id = $1 AND source_system = $2`, [p.personId, gpKey])).rows[0]!.source_id;
    const now = new Date().toISOString();
    const item = (content: Record<string, unknown> & { resourceType: string; id: string }) =>
      insertResource(loc.db, { source_system: gpKey, resource_type: content.resourceType, source_id: content.id, person_id: p.personId, subject_id: gpSubject, version: 1, source_time: now, received_at: now, content: content as never });
    await item({ resourceType: 'AllergyIntolerance', id: 'rec-test-a1', patient: { reference: `Patient/${gpSubject}` }, code: { text: 'Peanut' }, criticality: 'high', clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] }, reaction: [{ manifestation: [{ text: 'Anaphylaxis' }] }] });
    await item({ resourceType: 'Flag', id: 'rec-test-f1', subject: { reference: `Patient/${gpSubject}` }, status: 'active', code: { text: 'Lives alone: key safe by the back door' } });

    const gp = await open(browser, loc.url);
    const page = gp.page;
    await t.test('the banner: alerts, care team, practice and neighbourhood, address', async () => {
      await signIn(page, users.gp);
      await page.getByRole('heading', { level: 1, name: 'Find a person' }).waitFor();
      await page.goto(`/person/${p.personId}`);
      await page.getByRole('heading', { level: 1, name: new RegExp(p.family, 'i') }).waitFor();
      const team = page.getByTestId('care-team');
      await team.getByText('nurse.khan').waitFor();
      assert.match(await team.innerText(), /nurse\.khan \(lead nurse\)/);
      assert.match(await team.innerText(), /Trafford Synthetic Community Services \(RM3\), whole team/);
      const alerts = await page.getByRole('list', { name: 'Alerts' }).getByRole('listitem').allInnerTexts();
      assert.ok(alerts.some((a) => /Allergy: Peanut — high criticality, Anaphylaxis/.test(a)), alerts.join(' | '));
      assert.ok(alerts.some((a) => /Lives alone: key safe by the back door/.test(a)), alerts.join(' | '));
      const banner = await page.getByRole('region', { name: 'Patient details' }).innerText();
      assert.match(banner, /Neighbourhood\s+\S+/);
      assert.match(banner, new RegExp(p.practice));
      assert.match(banner, /Address\s+\S+/);
      // How long the record's requests took (Resource Timing), for the report; no assertion.
      const times = await page.evaluate(() =>
        performance
          .getEntriesByType('resource')
          .filter((e) => /\/fhir\/Patient\/[^/]+\/\$everything|\/record\/[^/]+\/sources|\/care-team\//.test(e.name))
          .map((e) => `${new URL(e.name).pathname.split('/').slice(-1)[0]} ${Math.round(e.duration)} ms`),
      );
      console.log(`# requests: ${times.join(', ')}`);
      await shot(page, 'r01-record-banner');
    });

    await t.test('sources: each feed\'s freshness; the timeline\'s settings as the server says them', async () => {
      const sources = page.getByRole('region', { name: 'Sources' });
      await sources.getByTestId('freshness').first().waitFor();
      const texts = await sources.getByTestId('freshness').allInnerTexts();
      assert.ok(texts.length >= 3, texts.join(' | '));
      // The locality was ingested minutes ago.
      assert.ok(texts.every((x) => /feed: last message (just now|\d+ min ago)/.test(x)), texts.join(' | '));
      assert.ok(texts.some((x) => /^Hospital feed: last message/.test(x)), texts.join(' | '));
      {
        // The mental health trust's HL7 v2 feed: mental health because the server says so, not hospital.
        if (mh.person_id !== p.personId) {
          await page.goto(`/person/${mh.person_id}`);
          await page.getByRole('heading', { level: 1, name: new RegExp(mh.family, 'i') }).waitFor();
          await sources.getByTestId('freshness').first().waitFor();
        }
        const mhTexts = await sources.getByTestId('freshness').allInnerTexts();
        assert.ok(mhTexts.some((x) => /^Mental health feed/.test(x)), mhTexts.join(' | '));
        const setting = page.getByRole('group', { name: 'Setting' }).getByLabel(/^Mental health/);
        await setting.check();
        await page.waitForURL(/setting=mental-health/);
        const rows = await page.getByRole('region', { name: 'Timeline items' }).getByRole('listitem').allInnerTexts();
        assert.ok(rows.length > 0 && rows.every((r) => r.includes('(Mental health)')), rows.slice(0, 3).join(' | '));
        if (mh.rxv) assert.ok(rows.some((r) => r.includes('Mental health trust RXV')), rows.slice(0, 3).join(' | '));
        await shot(page, 'r02-timeline-mental-health');
        await page.getByRole('button', { name: 'Clear filters' }).click();
        if (mh.person_id !== p.personId) {
          await page.goto(`/person/${p.personId}`);
          await page.getByRole('heading', { level: 1, name: new RegExp(p.family, 'i') }).waitFor();
        }
      }
    });

    await t.test('identity: the source records that make up the person, and where they disagree', async () => {
      const identity = page.getByRole('region', { name: 'Identity' });
      await identity.scrollIntoViewIfNeeded();
      const cards = identity.getByRole('list', { name: 'Source records' }).getByRole('listitem');
      await cards.first().waitFor();
      assert.equal(await cards.count(), p.identities, 'one card per source record');
      const all = (await cards.allInnerTexts()).join('\n');
      for (const s of p.systems) assert.ok(all.includes(s), `${s} is named`);
      assert.match(all, /Local id/);
      assert.match(all, /Linked by\s+(NHS number|Matched on demographics|Linked by a person|First record)/);
      const disagreements = await identity.getByTestId('disagreements').allInnerTexts();
      const words = disagreements.join('\n');
      if (p.familyDiffers) assert.match(words, /Surname: /);
      if (p.birthDiffers) assert.match(words, /Date of birth: /);
      if (p.postcodeDiffers) assert.match(words, /Postcode: /);
      assert.ok((await identity.locator('.bevan-differs').count()) > 0, 'differing values are highlighted');
      assert.ok((await identity.getByText('(differs from other sources)').count()) > 0, 'and said in words');
      await shot(page, 'r03-identity');
    });

    await t.test("who has looked at this record: the user's own earlier read", async () => {
      const section = page.getByRole('region', { name: 'Who has looked at this record', exact: true });
      await page.getByRole('heading', { level: 2, name: 'Who has looked at this record' }).scrollIntoViewIfNeeded();
      const table = section.getByTestId('audit-table');
      await table.waitFor();
      const rows = await table.locator('tbody tr').allInnerTexts();
      const mine = rows.find((r) => r.startsWith(users.gp) && /opened the whole record/i.test(r));
      assert.ok(mine, rows.slice(0, 4).join(' | '));
      assert.match(mine!, /GP/);
      assert.match(mine!, new RegExp(p.practice));
      assert.match(mine!, /Direct care/);
      // The care team was added through the API before: listed too.
      assert.ok(rows.some((r) => r.startsWith(users.gp) && /Added a care team member/.test(r)), rows.slice(0, 4).join(' | '));
      for (const h of ['Who', 'Role', 'Organisation', 'When', 'What', 'Purpose']) assert.equal(await table.getByRole('columnheader', { name: h }).count(), 1);
      await axe(page, 'record page with identity, freshness, care team and audit');
      await shot(page, 'r04-who-has-looked');
    });
    assert.deepEqual(gp.errors, [], 'no errors in the browser console');
    await gp.context.close();

    await t.test('who has looked at my record, for the person', async () => {
      const me = await open(browser, loc.url);
      try {
        await signIn(me.page, users.patient);
        await me.page.getByRole('heading', { level: 1, name: 'Who has looked at my record' }).waitFor();
        assert.match(me.page.url(), /\/my-audit$/);
        const rows = await me.page.getByTestId('audit-table').locator('tbody tr').allInnerTexts();
        assert.ok(rows.some((r) => r.startsWith(users.gp) && /opened the whole record/i.test(r)), rows.slice(0, 4).join(' | '));
        await axe(me.page, 'my record audit');
        await shot(me.page, 'r05-my-audit');
      } finally {
        await me.context.close();
      }
      assert.deepEqual(me.errors, [], 'no errors in the browser console');
    });

    await t.test('break-glass: a countdown to its end, then the denied page again', async () => {
      const far = await open(browser, loc.url);
      try {
        const fp = far.page;
        await signIn(fp, users.far);
        await fp.getByRole('heading', { level: 1, name: 'Find a person' }).waitFor();
        await fp.goto(`/person/${p.personId}`);
        await fp.getByRole('heading', { level: 1, name: 'Access denied' }).waitFor();
        await fp.getByRole('button', { name: 'Break glass' }).click();
        await fp.getByLabel('Reason for emergency access').fill('Collapsed at home, paramedics need the medication list');
        await fp.getByRole('button', { name: 'Break glass and open the record' }).click();
        await fp.getByRole('heading', { level: 1, name: new RegExp(p.family, 'i') }).waitFor();
        const timer = fp.getByTestId('break-glass-countdown');
        await timer.waitFor();
        assert.match(await timer.innerText(), /Emergency access ends in (59|60|1):\d{2}/);
        assert.equal(await fp.getByRole('timer').count(), 1);
        await axe(fp, 'record under break-glass with its countdown');
        await shot(fp, 'r06-break-glass-countdown');
        // The session's end, brought forward on the server: a reload reads the new expiry from the answer.
        await loc.db.query(`UPDATE break_glass SET expires_at = now() + interval '12 seconds' WHERE username = $1 AND person_id = $2`, [users.far, p.personId]);
        await fp.reload();
        await fp.getByRole('heading', { level: 1, name: new RegExp(p.family, 'i') }).waitFor();
        assert.match(await timer.innerText(), /Emergency access ends in 0:(0\d|1[0-3])/);
        // At the end the record leaves the screen and the server, asked again, refuses.
        await fp.getByRole('heading', { level: 1, name: 'Access denied' }).waitFor({ timeout: 30_000 });
        await fp.getByTestId('denied-notice').getByText('Your emergency access to this record has ended.').waitFor();
        assert.equal(await fp.getByRole('heading', { level: 1, name: new RegExp(p.family, 'i') }).count(), 0, 'nothing of the record is left');
        assert.equal(await fp.getByRole('button', { name: 'Break glass' }).count(), 1, 'break-glass can be asked for again');
        await axe(fp, 'denied after break-glass ended');
        await shot(fp, 'r07-break-glass-ended');
      } finally {
        await far.context.close();
      }
      assert.deepEqual(far.errors, [], 'no errors in the browser console');
    });
  } finally {
    await browser.close();
    await loc.close();
  }
});
