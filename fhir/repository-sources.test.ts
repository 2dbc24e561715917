/** FhirRepository.recordSources and the break-glass expiry it reports, on the in-memory store. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BevanError, type Principal } from '../access/context.ts';
import { loadPolicy } from '../access/policy.ts';
import { COMMUNITY, GP, HOSPITAL, identities, NOW, PERSON_ID, person, practices, rows, SOCIAL } from '../record/test-fixtures.ts';
import { CARE_SETTING_TAG } from '../record/care-setting.ts';
import { MemoryFhirStore } from './memory-store.ts';
import { FhirRepository } from './repository.ts';

const policy = (() => {
  const r = loadPolicy();
  if (r.kind !== 'ok') throw new Error(r.problems.join('; '));
  return r.policy;
})();

const setup = (facts: Record<string, unknown> = {}) =>
  new MemoryFhirStore({
    persons: [person],
    identities,
    resources: rows,
    practices,
    facts: { [PERSON_ID]: { registeredPractices: ['P91001'], ...facts } },
    feeds: [{ source: HOSPITAL, lastMessageAt: '2025-10-04T11:56:00.000Z', lastAcceptedAt: '2025-10-04T11:56:00.000Z', lastQuarantinedAt: null, lastRunAt: null }],
  });
const repo = (store: MemoryFhirStore, principal: Principal, breakGlassReason?: string) => new FhirRepository({ principal, purpose: 'direct-care', from: '127.0.0.1', breakGlassReason }, store, policy, () => NOW);
const GP_USER: Principal = { user: 'dr.jones', role: 'gp', organisation: 'P91001' };
const FAR: Principal = { user: 'dr.far', role: 'gp', organisation: 'P99999' };

test('recordSources: permitted and audited as record.sources, with settings and freshness', async () => {
  const store = setup();
  const r = repo(store, GP_USER);
  const v = await r.recordSources(PERSON_ID);
  assert.deepEqual(v.sources.map((s) => s.system), [GP, HOSPITAL, COMMUNITY, SOCIAL]);
  assert.equal(v.sources.find((s) => s.system === HOSPITAL)!.feed.lastMessageAt, '2025-10-04T11:56:00.000Z');
  assert.equal(v.at, NOW.toISOString());
  assert.deepEqual(store.audit.map((a) => [a.action, a.decision, a.personId]), [['record.sources', 'permit', PERSON_ID]]);
  assert.equal(r.breakGlassExpiresAt, null);
});

test('recordSources: refused without a relationship, and the refusal audited', async () => {
  const store = setup();
  await assert.rejects(repo(store, FAR).recordSources(PERSON_ID), (e: unknown) => e instanceof BevanError && e.kind === 'forbidden');
  assert.deepEqual(store.audit.map((a) => [a.action, a.decision]), [['record.sources', 'deny']]);
});

test('recordSources: dissent from sharing shows only the user\'s organisation\'s sources', async () => {
  const v = await repo(setup({ dissentSharing: true }), GP_USER).recordSources(PERSON_ID);
  assert.deepEqual(v.sources.map((s) => s.system), [GP]);
  assert.deepEqual(v.identities.map((i) => i.system), [GP]);
  assert.equal(v.notShown, 3);
});

test('break-glass: the repository says when the session it started, or used, ends', async () => {
  const store = setup();
  const started = repo(store, FAR, 'Unconscious in A&E, no GP record reachable');
  await started.everything(PERSON_ID);
  assert.equal(started.breakGlassExpiresAt, new Date(NOW.getTime() + 60 * 60_000).toISOString());
  const later = repo(store, FAR);
  await later.recordSources(PERSON_ID);
  assert.equal(later.breakGlassExpiresAt, started.breakGlassExpiresAt);
});

test('$everything tags each item with its care setting', async () => {
  const b = await repo(setup(), GP_USER).everything(PERSON_ID);
  const settings = new Map((b.entry ?? []).filter((e) => e.resource?.meta?.source).map((e) => [e.resource!.meta!.source!, e.resource!.meta!.tag?.find((t) => t.system === CARE_SETTING_TAG)?.code]));
  assert.deepEqual(settings, new Map([[GP, 'gp'], [HOSPITAL, 'hospital'], [SOCIAL, 'social-care'], [COMMUNITY, 'community']]));
});
