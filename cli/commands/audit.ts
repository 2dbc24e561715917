import { appendFileSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { invalid } from '../../access/context.ts';
import { searchAudit, verifyAuditChain } from '../../access/audit.ts';
import { makeAnchor, verifyAnchors, type AnchorCheck } from '../../access/audit-anchor.ts';
import { isValidNhsNumber } from '../../mpi/nhs-number.ts';
import { findPerson, recordPersonIds } from '../../record/record-store.ts';
import { databaseOption, printJson, withDatabase, type DatabaseOptions } from '../context.ts';
import { runWithExitCode } from './cli-context.ts';

/** `bevan audit verify|search`: check the hash chains; search the log for a governance lead. */
export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit log of every access to personal data');
  const verify = audit
    .command('verify')
    .description('re-compute every hash chain: detects any altered, removed or reordered entry (exit 1 when the log is broken)')
    .option('--anchor <file>', 'also check that the chains still extend every head anchored in this file (bevan audit anchor --out): finds a truncated chain or a deleted head')
    .option('--json', 'print {"entries","valid","firstBadEntry"} (and the reason, problems, heads digest and, with --anchor, the anchor check)');
  databaseOption(verify).action(async (o: DatabaseOptions & { json?: boolean; anchor?: string }) =>
    runWithExitCode(async () => {
      let anchorText: string | undefined;
      if (o.anchor !== undefined) {
        try {
          anchorText = readFileSync(o.anchor, 'utf8');
        } catch (err) {
          throw invalid(`--anchor: cannot read ${o.anchor}: ${(err as Error).message}`);
        }
      }
      const { r, anchors } = await withDatabase(o, async (db) => ({ r: await verifyAuditChain(db), anchors: anchorText !== undefined ? await verifyAnchors(db, anchorText) : null }));
      const valid = r.ok && (anchors?.ok ?? true);
      const reason = r.reason ?? anchors?.problems[0]?.reason ?? null;
      if (o.json) {
        printJson({ entries: r.rows, valid, firstBadEntry: r.firstBadId ?? null, reason, problems: r.problems, headsDigest: r.headHash, ...(anchors ? { anchor: { file: o.anchor, ...anchors } } : {}) });
      } else {
        if (r.ok) console.log(`audit log valid: ${r.rows} entries; heads digest ${r.headHash} (keep it elsewhere to detect a rewound log later: bevan audit anchor --out FILE)`);
        else console.log(`audit log BROKEN at entry ${r.firstBadId ?? '(none left)'}: ${r.reason}${r.problems.length > 1 ? ` (and ${r.problems.length - 1} more chain(s))` : ''}`);
        if (anchors) printAnchorCheck(anchors, o.anchor!);
      }
      if (!valid) process.exitCode = 1;
    }),
  );
  const anchor = audit
    .command('anchor')
    .description("sign every chain's head with the server key, with the time: keep the line outside the database (a file, a log service) and check it later with verify --anchor")
    .option('--out <file>', 'append the anchor line to this file (else print it on stdout)')
    .addHelpText('after', '\nRun it regularly (e.g. hourly from cron) into a file or log the database administrators cannot change:\n  bevan audit anchor --out /var/log/bevan/audit-anchors.jsonl\n  bevan audit verify --anchor /var/log/bevan/audit-anchors.jsonl');
  databaseOption(anchor).action(async (o: DatabaseOptions & { out?: string }) =>
    runWithExitCode(async () => {
      const a = await withDatabase(o, (db) => makeAnchor(db));
      const line = JSON.stringify(a);
      if (o.out === undefined) return void process.stdout.write(line + '\n');
      try {
        appendFileSync(o.out, line + '\n', { mode: 0o600 });
      } catch (err) {
        throw invalid(`--out: cannot append to ${o.out}: ${(err as Error).message}`);
      }
      console.log(`anchored ${a.heads.length} chains (${a.heads.reduce((n, h) => n + h[1], 0)} entries) at ${a.at} in ${o.out}; heads digest ${a.headsDigest}`);
    }),
  );
  const search = audit
    .command('search')
    .description('who looked at what: newest first')
    .option('--person <nhs>', "a person's NHS number (entries about them and anyone merged into them)")
    .option('--user <name>', 'entries by this user')
    .option('--since <date>', 'entries at or after this date (YYYY-MM-DD or an ISO instant)')
    .option('--limit <n>', 'at most this many entries', '100')
    .option('--json', 'print one JSON array of entries');
  databaseOption(search).action(async (o: DatabaseOptions & { person?: string; user?: string; since?: string; limit: string; json?: boolean }) =>
    runWithExitCode(async () => {
      if (o.since && Number.isNaN(Date.parse(o.since))) throw invalid(`--since "${o.since}" is not a date (YYYY-MM-DD)`);
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1) throw invalid('--limit must be a positive whole number');
      const rows = await withDatabase(o, async (db) => {
        let personIds: string[] | undefined;
        if (o.person) {
          const nhs = o.person.replace(/[\s-]/g, '');
          if (!isValidNhsNumber(nhs)) throw invalid(`${o.person} is not a valid NHS number`);
          const p = await findPerson(db, { nhsNumber: nhs });
          personIds = p ? await recordPersonIds(db, p.person_id) : [];
          if (!personIds.length) return [];
        }
        return searchAudit(db, { personIds, user: o.user, since: o.since, limit });
      });
      if (o.json) {
        printJson(rows);
        return;
      }
      for (const r of rows) console.log(`${r.at}  ${r.actor}${r.role ? ` (${r.role}${r.organisation ? ` ${r.organisation}` : ''})` : ''}  ${r.action}  ${r.personId ?? '-'}  ${r.decision ?? '-'}  ${r.reason ?? ''}${r.from ? `  from ${r.from}` : ''}`);
      if (!rows.length) console.log('no audit entries match');
    }),
  );
}

function printAnchorCheck(c: AnchorCheck, file: string): void {
  if (c.ok) console.log(`anchors valid: every chain still extends the ${c.heads} heads of the ${c.anchors} anchors in ${file}`);
  else {
    console.log(`anchors BROKEN (${c.problems.length} problem${c.problems.length === 1 ? '' : 's'} in ${file}):`);
    for (const p of c.problems.slice(0, 20)) console.log(`  line ${p.line}${p.anchorAt ? ` (${p.anchorAt})` : ''}: ${p.reason}`);
    if (c.problems.length > 20) console.log(`  … and ${c.problems.length - 20} more`);
  }
}
