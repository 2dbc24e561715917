import type { Command } from 'commander';
import { invalid } from '../../access/context.ts';
import { searchAudit, verifyAuditChain } from '../../access/audit.ts';
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
    .option('--json', 'print {"entries","valid","firstBadEntry"} (and the reason, problems and heads digest)');
  databaseOption(verify).action(async (o: DatabaseOptions & { json?: boolean }) =>
    runWithExitCode(async () => {
      const r = await withDatabase(o, (db) => verifyAuditChain(db));
      if (o.json) printJson({ entries: r.rows, valid: r.ok, firstBadEntry: r.firstBadId ?? null, reason: r.reason ?? null, problems: r.problems, headsDigest: r.headHash });
      else if (r.ok) console.log(`audit log valid: ${r.rows} entries; heads digest ${r.headHash} (keep it elsewhere to detect a rewound log later)`);
      else console.log(`audit log BROKEN at entry ${r.firstBadId ?? '(none left)'}: ${r.reason}${r.problems.length > 1 ? ` (and ${r.problems.length - 1} more chain(s))` : ''}`);
      if (!r.ok) process.exitCode = 1;
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
