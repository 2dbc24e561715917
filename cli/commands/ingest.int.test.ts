/**
 * `bevan ingest` as a script calls it (a child process on a PGlite folder): the feeds file, --source,
 * the `--json` shape, and `bevan ingest log` beside a file called `log`. The functions underneath
 * are tested on both databases in ingest/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CSV_CONTRACTS } from '../../ingest/csv/contracts.ts';
import { bevanIn } from '../../test/bevan-cli.ts';

const dir = await mkdtemp(join(tmpdir(), 'bevan-cli-ingest-'));
test.after(() => rm(dir, { recursive: true, force: true }));
const bevan = bevanIn(dir);

const COLUMNS = CSV_CONTRACTS.find((c) => c.name === 'community-contact')!.columns.map((c) => c.name);
const contacts = (id: string) =>
  `${COLUMNS.join(',')}\n${COLUMNS.map((c) => ({ contact_id: id, client_id: `CLI-${id}`, date_of_birth: '1950-01-02', family_name: 'Cole', contact_date: '2025-01-02' })[c] ?? '').join(',')}\n`;

test('bevan ingest: feeds file, --source, --json shape, ingest log beside a file called log', async (t) => {
  await t.test('a feeds file with an unknown kind and a duplicate key: every problem named, nothing opened', async () => {
    await writeFile(
      join(dir, 'bad-feeds.json'),
      JSON.stringify({ feeds: [{ key: 'csv:community', kind: 'community', format: 'csv', folder: 'a' }, { key: 'csv:community', kind: 'pharmacy', format: 'csv', folder: 'b' }] }),
    );
    const r = bevan('ingest', '--feeds', 'bad-feeds.json');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad-feeds\.json: 2 problems:/);
    assert.match(r.stderr, /key "csv:community" is also feeds\[0\]'s/);
    assert.match(r.stderr, /kind "pharmacy" is not one of gp, hospital, community, mental-health, social-care, other/);
    assert.equal(r.stdout, '');
  });

  await t.test('--source names the source of an ad-hoc load; --json keeps its shape and adds pending', async () => {
    await writeFile(join(dir, 'contacts.csv'), contacts('C1'));
    const r = bevan('ingest', '--source', 'csv:trafford-community', 'contacts.csv', '--json', '--no-match');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(out), ['accepted', 'ignored', 'quarantined', 'duplicates', 'resources', 'seconds', 'files', 'pending']);
    assert.deepEqual([out.accepted, out.quarantined, out.files, out.pending], [1, 0, 1, 0]);
    const bad = bevan('ingest', '--source', 'not a key', 'contacts.csv');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--source: source key "not a key" is not usable/);
  });

  await t.test('--feeds ingests each folder as its source', async () => {
    await writeFile(join(dir, 'feeds.json'), JSON.stringify({ feeds: [{ key: 'csv:other-community', kind: 'community', format: 'csv', folder: 'drop' }] }));
    await rm(join(dir, 'drop'), { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, 'drop')));
    await writeFile(join(dir, 'drop', 'contacts.csv'), contacts('F1'));
    const r = bevan('ingest', '--feeds', 'feeds.json', '--json', '--no-match');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { accepted: number }).accepted, 1);
  });

  await t.test('`ingest log` is the log even beside a file called log; ./log ingests the file', async () => {
    await writeFile(join(dir, 'log'), contacts('L1'));
    // The log is the feeds' administration view: a named user of the integration team.
    assert.equal(bevan('user', 'add', 'int1', '--role', 'integration').code, 0);
    assert.equal(bevan('user', 'add', 'dr.jones', '--role', 'gp', '--org', 'P91001').code, 0);
    const nobody = bevan('ingest', 'log', '--json');
    assert.equal(nobody.code, 77);
    assert.match(nobody.stderr, /--user NAME or BEVAN_USER/);
    const gp = bevan('ingest', 'log', '--user', 'dr.jones');
    assert.equal(gp.code, 77);
    assert.match(gp.stderr, /may not see the feeds' status/);
    const log = bevan('ingest', 'log', '--json', '--source', 'csv:other-community', '--user', 'int1');
    assert.equal(log.code, 0, log.stderr);
    const entries = JSON.parse(log.stdout) as { messages: { source: string; messageId: string; outcome: string }[]; runs: { source: string }[] };
    assert.deepEqual(entries.messages.map((m) => [m.source, m.messageId, m.outcome]), [['csv:other-community', 'community-contact:F1', 'accepted']]);
    assert.deepEqual(entries.runs.map((x) => x.source), ['csv:other-community']);
    const file = bevan('ingest', './log', '--json', '--no-match');
    assert.equal(file.code, 0, file.stderr);
    assert.equal((JSON.parse(file.stdout) as { accepted: number }).accepted, 1);
    const text = bevan('ingest', 'log', '--outcome', 'accepted', '--limit', '2', '--user', 'int1');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /accepted +csv:community +community-contact +community-contact:L1 +\.\/log#2/);
    assert.equal(bevan('ingest', 'log', '--outcome', 'maybe', '--user', 'int1').code, 64);
  });
});
