import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { verifyAuditChain } from '../access/audit.ts';
import { issueToken } from '../access/tokens.ts';
import type { Queryable } from '../db/database.ts';
import type { SourceIdentity } from '../mpi/identity.ts';
import { applyMerge, resolveIdentities } from '../mpi/link.ts';
import { runMatcher } from '../mpi/matcher.ts';
import { testDatabases } from '../test/databases.ts';
import { bevanApi, registerOpenApi } from './app.ts';

// The matcher's own test population (mpi/matcher.int.test.ts): Anne's community record has a
// wrong day of birth (a pair to review), and Chidi's twin sister shares his surname, birthday
// and address (another). Two GP records with different valid NHS numbers that a feed says are
// one person (an HL7 A24) are queued with the conflict.
const people: SourceIdentity[] = [
  { system: 'gp:P91001', id: 'A1', nhsNumber: '9434765919', family: 'Thompson', given: 'Anne', birthDate: '1950-03-01', sex: 'female', postcode: 'M14 5AB', practice: 'P91001', address: '4 Oak Road', town: 'Manchester' },
  { system: 'hl7:RM2', id: 'A2', nhsNumber: '9434765919', family: 'Thompson', given: 'Anne', birthDate: '1950-03-01', sex: 'female', postcode: 'M14 5AB' },
  { system: 'gp:P91001', id: 'P1', nhsNumber: '4010232137', family: 'Thompson', given: 'Peter', birthDate: '1950-03-01', sex: 'male', postcode: 'M20 1AA' },
  { system: 'csv:socialcare', id: 's1', family: 'Thomson', given: 'Anne', birthDate: '1950-03-01', sex: 'female', postcode: 'M14 5AB' },
  { system: 'csv:community', id: 'c1', family: 'Thompson', given: 'Anne', birthDate: '1950-03-11', sex: 'female', postcode: 'M14 9ZZ' },
  { system: 'csv:socialcare', id: 's2', family: 'Patel', given: 'Ravi', birthDate: '1972-08-19', sex: 'male', postcode: 'M13 9PL' },
  { system: 'csv:socialcare', id: 's10', family: 'Okafor', given: 'Chidi', birthDate: '1988-05-05', sex: 'male', postcode: 'M15 5AA' },
  { system: 'csv:community', id: 'c10', family: 'Okafor', given: 'Chidi', birthDate: '1988-05-05', sex: 'male', postcode: 'M15 5AA' },
  { system: 'csv:socialcare', id: 's11', family: 'Okafor', given: 'Chioma', birthDate: '1988-05-05', sex: 'female', postcode: 'M15 5AA' },
  { system: 'gp:P91002', id: 'K1', nhsNumber: '4010232145', family: 'Khan', given: 'Amir', birthDate: '1961-07-07', sex: 'male', postcode: 'M16 0QQ' },
  { system: 'gp:P91003', id: 'K2', nhsNumber: '4010232153', family: 'Khan', given: 'Amir', birthDate: '1961-07-07', sex: 'male', postcode: 'M16 0QQ' },
];

interface Queue {
  total: number;
  items: { reviewId: number; status: string; origin: string; systems: string[]; withheld: boolean; moved: boolean; probability: number | null; conflict: string | null }[];
}
interface Side {
  system: string;
  id: string;
  personId: string | null;
  family: string | null;
  given: string | null;
  birthDate: string | null;
  nhsNumber: string | null;
  postcode: string | null;
  address: string | null;
  practice: string | null;
  matchStatus: string;
}
interface Pair {
  reviewId: number;
  status: string;
  origin: string;
  identity: Side;
  candidate: Side;
  evidence: { fields: { field: string; level: string; weight: number; verdict: string }[]; total: number; probability: number; conflict: string | null; feed: { kind: string } | null; parameters: string };
  decisionEventId: number | null;
}

async function personOf(db: Queryable, system: string, id: string): Promise<string> {
  return (await db.query<{ person_id: string }>('SELECT person_id::text AS person_id FROM source_identity WHERE source_system = $1 AND source_id = $2', [system, id])).rows[0]!.person_id;
}

for (const target of await testDatabases()) {
  test(`MPI review routes on ${target.name}: the integration team works a pair (link, undo, reject, undo), audited; a GP is refused (audited); a restricted person's pair withheld`, async () => {
    const db = await target.open();
    let app: FastifyInstance | undefined;
    try {
      await db.transaction((tx) => resolveIdentities(tx, people));
      await runMatcher(db);
      await db.transaction((tx) => applyMerge(tx, { kind: 'link', system: 'gp:P91002', survivorId: 'K1', retiredSystem: 'gp:P91003', retiredId: 'K2', event: 'ADT^A24' }, 'feed:gp'));
      const reviewOf = async (id: string) => (await db.query<{ review_id: number }>(`SELECT review_id::int AS review_id FROM mpi_review WHERE source_id = $1 OR candidate_id = $1`, [id])).rows[0]!.review_id;
      const anneReview = await reviewOf('c1');
      const twinReview = await reviewOf('s11');
      const feedReview = await reviewOf('K1');

      app = Fastify({ logger: false });
      await registerOpenApi(app);
      await app.register(bevanApi, { db });
      await app.ready();
      const a = app;
      const integration = `Bearer ${await issueToken(db, { user: 'int.lee', role: 'integration', organisation: 'TRAFFORD' })}`;
      const gp = `Bearer ${await issueToken(db, { user: 'dr.jones', role: 'gp', organisation: 'P91001' })}`;
      const call = (method: 'GET' | 'POST', url: string, auth: string, payload?: unknown, headers: Record<string, string> = {}) =>
        a.inject({ method, url, headers: { authorization: auth, ...headers }, ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}) });
      const audit = (actor: string, action: string) =>
        db.query<{ person_id: string | null; decision: string | null; reason: string | null; detail: Record<string, unknown> | null }>(
          `SELECT person_id::text AS person_id, decision, reason, detail FROM audit_log WHERE actor = $1 AND action = $2 ORDER BY audit_id`,
          [actor, action],
        );

      // The queue: three open pairs, the feed's first; no demographics in it.
      const list = await call('GET', '/mpi/review', integration);
      assert.equal(list.statusCode, 200, list.body);
      const queue = list.json() as Queue;
      assert.equal(queue.total, 3);
      assert.equal(queue.items[0]!.reviewId, feedReview, 'feed proposals first');
      assert.equal(queue.items[0]!.origin, 'feed');
      assert.ok(!/Thompson|Okafor|Khan|9434765919/.test(list.body), 'no names or numbers in the queue');
      assert.deepEqual(queue.items.find((i) => i.reviewId === anneReview)!.systems, ['csv:community', 'gp:P91001']);
      assert.ok(queue.items.every((i) => !i.withheld && !i.moved));
      assert.equal(((await call('GET', '/mpi/review?limit=1&offset=1', integration)).json() as Queue).items.length, 1);
      assert.equal(((await call('GET', '/mpi/review?status=linked', integration)).json() as Queue).total, 0);
      assert.equal((await call('GET', '/mpi/review?status=maybe', integration)).statusCode, 400);
      assert.equal((await call('GET', '/mpi/review?limit=0', integration)).statusCode, 400);
      const listed = await audit('int.lee', 'mpi.review.list');
      assert.equal(listed.rows[0]!.decision, 'permit');
      assert.equal(listed.rows[0]!.person_id, null, 'one entry for the call: the queue names nobody');

      // One pair side by side, with the evidence; audited for each person.
      const annePerson = await personOf(db, 'gp:P91001', 'A1');
      const c1Person = await personOf(db, 'csv:community', 'c1');
      const shown = await call('GET', `/mpi/review/${anneReview}`, integration);
      assert.equal(shown.statusCode, 200, shown.body);
      const pair = shown.json() as Pair;
      assert.deepEqual([pair.identity.id, pair.identity.birthDate, pair.candidate.id, pair.candidate.nhsNumber, pair.candidate.practice], ['c1', '1950-03-11', 'A1', '9434765919', 'P91001']);
      assert.equal(pair.candidate.address, '4 Oak Road');
      const field = (name: string) => pair.evidence.fields.find((f) => f.field === name)!;
      assert.equal(field('family').level, 'exact');
      assert.equal(field('family').verdict, 'for');
      assert.equal(field('birth_date').level, 'one-digit');
      assert.equal(field('nhs_number').level, 'missing');
      assert.equal(field('nhs_number').verdict, 'none');
      assert.equal(field('postcode').level, 'district');
      assert.ok(pair.evidence.probability > 0 && pair.evidence.probability < 1);
      assert.equal(pair.evidence.parameters, 'estimated');
      assert.equal(pair.decisionEventId, null);
      const reads = await audit('int.lee', 'mpi.review.read');
      assert.deepEqual(reads.rows.map((r) => [r.person_id, r.decision, r.detail?.id]).sort(), [[annePerson, 'permit', anneReview], [c1Person, 'permit', anneReview]].sort());
      assert.equal((await call('GET', '/mpi/review/999999', integration)).statusCode, 404);
      assert.equal((await call('GET', '/mpi/review/abc', integration)).statusCode, 400);

      // Link, then undo: c1 joins Anne and comes back; the pair is open again.
      assert.equal((await call('POST', `/mpi/review/${anneReview}/decide`, integration, { decision: 'maybe' })).statusCode, 400);
      const linked = await call('POST', `/mpi/review/${anneReview}/decide`, integration, { decision: 'link' });
      assert.equal(linked.statusCode, 200, linked.body);
      const link = linked.json() as { status: string; eventId: number };
      assert.equal(link.status, 'linked');
      assert.ok(link.eventId > 0);
      assert.equal(await personOf(db, 'csv:community', 'c1'), annePerson);
      assert.equal(((await call('GET', `/mpi/review/${anneReview}`, integration)).json() as Pair).decisionEventId, link.eventId);
      const decided = await audit('int.lee', 'mpi.review.decide');
      assert.ok(decided.rows.some((r) => r.person_id === annePerson && r.decision === 'permit' && r.detail?.status === 'linked' && r.detail?.eventId === link.eventId), JSON.stringify(decided.rows));
      // Deciding again is refused by the MPI (nothing changes) and the refusal is audited.
      const again = await call('POST', `/mpi/review/${anneReview}/decide`, integration, { decision: 'reject' });
      assert.equal(again.statusCode, 409);
      assert.match((again.json() as OperationOutcome).issue[0]!.diagnostics!, /already decided/);
      assert.ok((await audit('int.lee', 'mpi.review.decide')).rows.some((r) => /^refused: .*already decided/.test(r.reason ?? '')));
      assert.equal(((await call('GET', '/mpi/review?status=linked', integration)).json() as Queue).total, 1);
      const undone = await call('POST', `/mpi/review/${anneReview}/undo`, integration);
      assert.equal(undone.statusCode, 200, undone.body);
      assert.equal((undone.json() as { status: string; undoneEventId: number }).undoneEventId, link.eventId);
      assert.equal(await personOf(db, 'csv:community', 'c1'), c1Person, 'c1 is back in its own person');
      assert.equal(((await call('GET', `/mpi/review/${anneReview}`, integration)).json() as Pair).status, 'open');
      assert.equal((await call('POST', `/mpi/review/${anneReview}/undo`, integration, {})).statusCode, 409, 'an open pair has nothing to undo');
      assert.ok((await audit('int.lee', 'mpi.review.undo')).rows.some((r) => r.person_id === annePerson && r.decision === 'permit' && r.detail?.undoneEventId === link.eventId));

      // Reject the twins, then undo: her identity is a possible match again.
      const rejected = await call('POST', `/mpi/review/${twinReview}/decide`, integration, { decision: 'reject' });
      assert.equal(rejected.statusCode, 200, rejected.body);
      assert.equal((rejected.json() as { status: string }).status, 'rejected');
      const status = async () => (await db.query<{ match_status: string }>(`SELECT match_status FROM source_identity WHERE source_id = 's11'`)).rows[0]!.match_status;
      assert.equal(await status(), 'NO_MATCH');
      assert.equal((await call('POST', `/mpi/review/${twinReview}/undo`, integration, { reason: 'rejected the wrong pair' })).statusCode, 200);
      assert.equal(await status(), 'POSSIBLE_MATCH');
      // Dismiss and undo: no event, the pair simply reopens.
      assert.equal(((await call('POST', `/mpi/review/${twinReview}/decide`, integration, { decision: 'dismiss' })).json() as { eventId: number | null }).eventId, null);
      assert.equal(((await call('POST', `/mpi/review/${twinReview}/undo`, integration)).json() as { undoneEventId: number | null }).undoneEventId, null);
      assert.equal(((await call('GET', '/mpi/review', integration)).json() as Queue).total, 3);

      // The feed's pair carries different valid NHS numbers: a link needs the person's say-so.
      const feedPair = (await call('GET', `/mpi/review/${feedReview}`, integration)).json() as Pair;
      assert.equal(feedPair.origin, 'feed');
      assert.equal(feedPair.evidence.feed?.kind, 'link');
      assert.match(feedPair.evidence.conflict ?? '', /different valid NHS numbers/);
      assert.equal(feedPair.evidence.fields.find((f) => f.field === 'nhs_number')!.verdict, 'against');
      const refused = await call('POST', `/mpi/review/${feedReview}/decide`, integration, { decision: 'link' });
      assert.equal(refused.statusCode, 409);
      assert.match((refused.json() as OperationOutcome).issue[0]!.diagnostics!, /despiteDifferentNhsNumbers/);
      assert.notEqual(await personOf(db, 'gp:P91002', 'K1'), await personOf(db, 'gp:P91003', 'K2'), 'nothing changed');
      const forced = await call('POST', `/mpi/review/${feedReview}/decide`, integration, { decision: 'link', despiteDifferentNhsNumbers: true });
      assert.equal(forced.statusCode, 200, forced.body);
      assert.equal(await personOf(db, 'gp:P91002', 'K1'), await personOf(db, 'gp:P91003', 'K2'));
      assert.equal((await call('POST', `/mpi/review/${feedReview}/undo`, integration)).statusCode, 200);
      assert.notEqual(await personOf(db, 'gp:P91002', 'K1'), await personOf(db, 'gp:P91003', 'K2'));

      // A GP, and the integration team for another purpose: refused and audited.
      for (const [method, url, body] of [
        ['GET', '/mpi/review', undefined],
        ['GET', `/mpi/review/${anneReview}`, undefined],
        ['POST', `/mpi/review/${anneReview}/decide`, { decision: 'link' }],
        ['POST', `/mpi/review/${anneReview}/undo`, {}],
      ] as const) {
        const r = await call(method, url, gp, body);
        assert.equal(r.statusCode, 403, `${method} ${url}`);
        assert.match((r.json() as OperationOutcome).issue[0]!.diagnostics!, /integration team/);
      }
      const gpDenials = await db.query<{ action: string }>(`SELECT action FROM audit_log WHERE actor = 'dr.jones' AND decision = 'deny' ORDER BY audit_id`);
      assert.deepEqual(gpDenials.rows.map((r) => r.action), ['mpi.review.list', 'mpi.review.read', 'mpi.review.decide', 'mpi.review.undo']);
      assert.equal(await personOf(db, 'csv:community', 'c1'), c1Person, "the GP's link changed nothing");
      assert.equal((await call('GET', `/mpi/review/${anneReview}`, integration, undefined, { 'x-bevan-purpose': 'direct-care' })).statusCode, 403);
      assert.equal((await call('GET', '/mpi/review', 'Bearer nope')).statusCode, 401);

      // A restricted person's pair: marked in the queue, never opened, never decided here.
      await db.query(`INSERT INTO person_restriction (person_id, reason) VALUES ($1, 'test: protected record')`, [annePerson]);
      const withheld = (await call('GET', '/mpi/review', integration)).json() as Queue;
      assert.equal(withheld.items.find((i) => i.reviewId === anneReview)!.withheld, true);
      assert.equal(withheld.items.find((i) => i.reviewId === twinReview)!.withheld, false);
      for (const [method, url, body] of [['GET', `/mpi/review/${anneReview}`, undefined], ['POST', `/mpi/review/${anneReview}/decide`, { decision: 'link' }]] as const) {
        const r = await call(method, url, integration, body);
        assert.equal(r.statusCode, 403, `${method} ${url}`);
        assert.match((r.json() as OperationOutcome).issue[0]!.diagnostics!, /restricted/);
        assert.ok(!r.body.includes('Thompson'));
      }
      assert.ok((await audit('int.lee', 'mpi.review.read')).rows.some((r) => r.person_id === annePerson && r.decision === 'deny'));

      // The OpenAPI document describes the routes.
      const openapi = (await a.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
      for (const p of ['/mpi/review', '/mpi/review/{id}', '/mpi/review/{id}/decide', '/mpi/review/{id}/undo']) assert.ok(openapi.paths[p], p);
      assert.ok((openapi.paths['/mpi/review/{id}/decide']!.post as { responses: Record<string, unknown> }).responses['409']);
      const v = await verifyAuditChain(db);
      assert.equal(v.ok, true, v.reason);
    } finally {
      await app?.close();
      await db.drop();
    }
  });
}
