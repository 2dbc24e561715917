/**
 * `bevan mpi review|decide|merge|unmerge` as a script calls them (a child process on a PGlite
 * folder): a named user, the access policy, exit codes. The services are tested on both databases
 * in mpi/ (merge-access.int.test.ts) and through HTTP (http/mpi-routes.int.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CSV_CONTRACTS } from '../../ingest/csv/contracts.ts';
import { bevanIn } from '../../test/bevan-cli.ts';

const dir = await mkdtemp(join(tmpdir(), 'bevan-cli-mpi-'));
test.after(() => rm(dir, { recursive: true, force: true }));
const bevan = bevanIn(dir);

const COLUMNS = CSV_CONTRACTS.find((c) => c.name === 'community-contact')!.columns.map((c) => c.name);
const row = (id: string, family: string) => COLUMNS.map((c) => ({ contact_id: id, client_id: `CLI-${id}`, date_of_birth: '1950-01-02', family_name: family, contact_date: '2025-01-02' })[c] ?? '').join(',');

test('bevan mpi merge and unmerge need a user the policy lets review the MPI; the CLI and HTTP share the service', async () => {
  await writeFile(join(dir, 'contacts.csv'), `${COLUMNS.join(',')}\n${row('M1', 'Cole')}\n${row('M2', 'Crane')}\n`);
  assert.equal(bevan('ingest', '--source', 'csv:community', 'contacts.csv', '--no-match', '--json').code, 0);
  assert.equal(bevan('user', 'add', 'int1', '--role', 'integration').code, 0);
  assert.equal(bevan('user', 'add', 'dr.jones', '--role', 'gp', '--org', 'P91001').code, 0);
  const personOf = (id: string) => (JSON.parse(bevan('mpi', 'person', `csv:community|${id}`, '--json', '--user', 'int1').stdout) as { personId: string }).personId;
  const [a, b] = [personOf('CLI-M1'), personOf('CLI-M2')];
  // Showing a person is a read of personal data: a named user, the policy, the audit.
  assert.equal(bevan('mpi', 'person', 'csv:community|CLI-M1').code, 77);
  assert.equal(bevan('mpi', 'person', 'csv:community|CLI-M1', '--user', 'dr.jones').code, 77);
  assert.equal(bevan('mpi', 'person', 'csv:community|NOBODY', '--user', 'int1').code, 66);
  const reads = JSON.parse(bevan('audit', 'search', '--user', 'int1', '--json').stdout) as Array<{ action: string }> | { entries: Array<{ action: string }> };
  const actions = (Array.isArray(reads) ? reads : reads.entries).map((e) => e.action);
  assert.ok(actions.includes('mpi.person.read'), actions.join(', '));

  const nobody = bevan('mpi', 'merge', a, b, '--reason', 'same person');
  assert.equal(nobody.code, 77);
  assert.match(nobody.stderr, /--user NAME or BEVAN_USER/);
  const gp = bevan('mpi', 'merge', a, b, '--reason', 'same person', '--user', 'dr.jones');
  assert.equal(gp.code, 77);
  assert.match(gp.stderr, /access denied/);
  assert.equal(bevan('mpi', 'decide', 'x', 'link', '--user', 'int1').code, 64);

  const merged = bevan('mpi', 'merge', a, b, '--reason', 'same person', '--user', 'int1', '--json');
  assert.equal(merged.code, 0, merged.stderr);
  const { eventId } = JSON.parse(merged.stdout) as { eventId: number };
  assert.equal(personOf('CLI-M1'), b);
  const undone = bevan('mpi', 'unmerge', String(eventId), '--user', 'int1', '--json');
  assert.equal(undone.code, 0, undone.stderr);
  assert.equal((JSON.parse(undone.stdout) as { eventId: number }).eventId, eventId);
  assert.equal(bevan('mpi', 'unmerge', String(eventId), '--user', 'int1').code, 75, 'already undone: a conflict');
  const review = bevan('mpi', 'review', '--user', 'int1', '--json');
  assert.equal(review.code, 0, review.stderr);
  assert.deepEqual(JSON.parse(review.stdout), { reviews: [], withheld: [] });

});
