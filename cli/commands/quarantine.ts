import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { databaseOption, printJson, withDatabase } from '../context.ts';
import { decodeText } from '../../ingest/text.ts';
import { sourceKeyProblem } from '../../ingest/feeds.ts';
import { discardQuarantinedFor, listQuarantineFor, replayQuarantinedFor, showQuarantinedFor } from '../../ingest/quarantine-service.ts';
import { defaultPurposeFor, invalid, type RequestContext } from '../../access/context.ts';
import type { Database } from '../../db/database.ts';
import { cliContext, runWithExitCode, type WhoOptions } from './cli-context.ts';

/** Adds --user and --purpose: quarantined items hold personal data (the integration team's role, audited). */
function who(cmd: Command): Command {
  return cmd
    .option('--user <name>', 'the local user (role integration) handling the quarantine; default $BEVAN_USER')
    .option('--purpose <purpose>', 'purpose of use (default: administration for the integration team)');
}

/** The request context of a quarantine command: the named user, purpose administration unless given. */
export async function quarantineContext(db: Database, o: WhoOptions): Promise<RequestContext> {
  const ctx = await cliContext(db, o);
  return o.purpose ? ctx : { ...ctx, purpose: defaultPurposeFor(ctx.principal.role) };
}

function quarantineId(id: string): number {
  if (!/^\d{1,15}$/.test(id.trim())) throw invalid(`"${id}" is not a quarantine id (a whole number)`);
  return Number(id);
}

export function registerQuarantine(program: Command): void {
  const q = program
    .command('quarantine')
    .description('list, show, replay or discard items that could not be ingested (the integration team only: each use decided by the access policy and audited)')
    .addHelpText('after', '\nEvery subcommand needs --user NAME (or BEVAN_USER): a local user whose role may handle quarantined items (integration).\nExit codes: 64 invalid input, 66 not found, 77 refused by the access policy or unknown user.');

  databaseOption(
    who(
      q
        .command('list')
        .description('list quarantined items, newest first (reasons, not the raw text; a restricted person\'s items withheld)')
        .option('--status <status>', 'open | replayed | discarded | all', 'open')
        .option('--format <format>', 'fhir | hl7v2 | csv')
        .option('--source <key>', 'only items from this source system, e.g. hl7:RM2')
        .option('--limit <n>', 'at most this many (1-200)', '50')
        .option('--offset <n>', 'skip this many (paging)', '0')
        .option('--json', 'print one JSON object'),
    ),
  ).action(async (opts: WhoOptions & { data?: string; status: 'open' | 'replayed' | 'discarded' | 'all'; format?: string; source?: string; limit: string; offset: string; json?: boolean }) =>
    runWithExitCode(async () => {
      if (!['open', 'replayed', 'discarded', 'all'].includes(opts.status)) throw invalid(`--status "${opts.status}": open, replayed, discarded or all`);
      await withDatabase(opts, async (db) => {
        const r = await listQuarantineFor(await quarantineContext(db, opts), { status: opts.status, format: opts.format, source: opts.source, limit: Number(opts.limit), offset: Number(opts.offset) });
        if (opts.json) return printJson(r);
        if (!r.items.length) return console.log(`no ${opts.status === 'all' ? '' : opts.status + ' '}quarantined items`);
        for (const i of r.items) {
          console.log(`#${i.quarantine_id}  ${i.format.padEnd(5)}  ${i.received_at.slice(0, 19)}  ${i.origin}${i.times_seen > 1 ? `  (seen ${i.times_seen}×)` : ''}\n      ${i.reason}`);
        }
        console.log(`${r.items.length} of ${r.total} shown${r.offset ? ` from ${r.offset + 1}` : ''}; \`bevan quarantine show ID --user NAME\` for the raw item`);
      });
    }),
  );

  databaseOption(who(q.command('show').argument('<id>').description('show one quarantined item with its raw text (audited with the item id)').option('--json', 'print one JSON object'))).action(
    async (id: string, opts: WhoOptions & { data?: string; json?: boolean }) =>
      runWithExitCode(async () => {
        const n = quarantineId(id);
        await withDatabase(opts, async (db) => {
          const item = await showQuarantinedFor(await quarantineContext(db, opts), n);
          if (opts.json) return printJson(item);
          console.log(`#${item.quarantine_id} ${item.status} — ${item.format} from ${item.origin} (${item.source_system ?? 'unknown system'}, message ${item.message_id ?? '?'})`);
          console.log(`reason: ${item.reason}`);
          if (item.resolution) console.log(`resolution: ${item.resolution}`);
          console.log('--- raw ---');
          console.log(item.raw.replace(/\r(?!\n)/g, '\n'));
        });
      }),
  );

  databaseOption(
    who(
      q
        .command('replay')
        .argument('<ids...>', 'quarantine ids')
        .description('replay quarantined items after a fix (the code now understands them, --file gives the repaired text, or --source says where they came from)')
        .option('--file <path>', 'the repaired message, for a single id (a CSV row may come without its header line)')
        .option('--source <key>', 'the source system the items come from, e.g. gp:P91001 (for items whose source could not be told)')
        .option('--json', 'print one JSON object'),
    ),
  ).action(async (ids: string[], opts: WhoOptions & { data?: string; file?: string; source?: string; json?: boolean }) =>
    runWithExitCode(async () => {
      if (opts.file && ids.length !== 1) throw invalid('--file repairs one item: give exactly one id');
      if (opts.source !== undefined) {
        const problem = sourceKeyProblem(opts.source);
        if (problem) throw invalid(`--source: ${problem}`);
      }
      const numbers = ids.map(quarantineId);
      await withDatabase(opts, async (db) => {
        const ctx = await quarantineContext(db, opts);
        // Decoded as feed files are (UTF-8, else windows-1252; a byte-order mark dropped), so a repaired
        // file saved by an editor in Latin-1 keeps its accents.
        const fixed = opts.file ? decodeText(readFileSync(opts.file)) : undefined;
        const results = [];
        for (const id of numbers) {
          try {
            results.push(await replayQuarantinedFor(ctx, id, { ...(fixed !== undefined ? { text: fixed } : {}), ...(opts.source !== undefined ? { source: opts.source } : {}) }));
          } catch (err) {
            // One item not found keeps the others going; a refusal stops (it would refuse them all).
            if ((err as { kind?: string }).kind !== 'not-found') throw err;
            results.push({ kind: 'not-found' as const, id });
          }
        }
        if (opts.json) return printJson({ results });
        for (const r of results) {
          if (r.kind === 'replayed') console.log(`#${r.id} replayed: ${JSON.stringify(r.result)}`);
          else if (r.kind === 'still-rejected') console.log(`#${r.id} still rejected: ${r.reasons.join('; ')}`);
          else if (r.kind === 'not-open') console.log(`#${r.id} is ${r.status}, not open`);
          else console.log(`#${r.id} not found`);
        }
        if (results.some((r) => r.kind !== 'replayed')) process.exitCode = 1;
      });
    }),
  );

  databaseOption(who(q.command('discard').argument('<id>').requiredOption('--reason <text>', 'why it will not be replayed').description('close an item without replaying it (it is kept; audited)'))).action(
    async (id: string, opts: WhoOptions & { data?: string; reason: string }) =>
      runWithExitCode(async () => {
        const n = quarantineId(id);
        await withDatabase(opts, async (db) => {
          await discardQuarantinedFor(await quarantineContext(db, opts), n, opts.reason);
          console.log(`#${n} discarded`);
        });
      }),
  );
}
