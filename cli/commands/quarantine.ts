import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { databaseOption, printJson, withDatabase } from '../context.ts';
import { decodeText } from '../../ingest/text.ts';
import { discardQuarantined, getQuarantined, listQuarantine, replayQuarantined } from '../../ingest/quarantine.ts';
import { sourceKeyProblem } from '../../ingest/feeds.ts';

export function registerQuarantine(program: Command): void {
  const q = program.command('quarantine').description('list, show, replay or discard items that could not be ingested');

  databaseOption(
    q
      .command('list')
      .description('list quarantined items, newest first')
      .option('--status <status>', 'open | replayed | discarded | all', 'open')
      .option('--format <format>', 'fhir | hl7v2 | csv')
      .option('--limit <n>', 'at most this many', '50')
      .option('--json', 'print one JSON object'),
  ).action(async (opts: { data?: string; status: 'open' | 'replayed' | 'discarded' | 'all'; format?: string; limit: string; json?: boolean }) => {
    await withDatabase(opts, async (db) => {
      const r = await listQuarantine(db, { status: opts.status, format: opts.format, limit: Number(opts.limit) });
      if (opts.json) return printJson(r);
      if (!r.items.length) return console.log(`no ${opts.status === 'all' ? '' : opts.status + ' '}quarantined items`);
      for (const i of r.items) {
        console.log(`#${i.quarantine_id}  ${i.format.padEnd(5)}  ${i.received_at.slice(0, 19)}  ${i.origin}${i.times_seen > 1 ? `  (seen ${i.times_seen}×)` : ''}\n      ${i.reason}`);
      }
      console.log(`${r.items.length} of ${r.total} shown; \`bevan quarantine show ID\` for the raw item`);
    });
  });

  databaseOption(q.command('show').argument('<id>').description('show one quarantined item with its raw text').option('--json', 'print one JSON object')).action(
    async (id: string, opts: { data?: string; json?: boolean }) => {
      await withDatabase(opts, async (db) => {
        const item = await getQuarantined(db, Number(id));
        if (!item) throw new Error(`no quarantined item #${id}`);
        if (opts.json) return printJson(item);
        console.log(`#${item.quarantine_id} ${item.status} — ${item.format} from ${item.origin} (${item.source_system ?? 'unknown system'}, message ${item.message_id ?? '?'})`);
        console.log(`reason: ${item.reason}`);
        if (item.resolution) console.log(`resolution: ${item.resolution}`);
        console.log('--- raw ---');
        console.log(item.raw.replace(/\r(?!\n)/g, '\n'));
      });
    },
  );

  databaseOption(
    q
      .command('replay')
      .argument('<ids...>', 'quarantine ids')
      .description('replay quarantined items after a fix (the code now understands them, --file gives the repaired text, or --source says where they came from)')
      .option('--file <path>', 'the repaired message, for a single id (a CSV row may come without its header line)')
      .option('--source <key>', 'the source system the items come from, e.g. gp:P91001 (for items whose source could not be told)')
      .option('--json', 'print one JSON object'),
  ).action(async (ids: string[], opts: { data?: string; file?: string; source?: string; json?: boolean }) => {
    if (opts.file && ids.length !== 1) throw new Error('--file repairs one item: give exactly one id');
    if (opts.source !== undefined) {
      const problem = sourceKeyProblem(opts.source);
      if (problem) throw new Error(`--source: ${problem}`);
    }
    await withDatabase(opts, async (db) => {
      // Decoded as feed files are (UTF-8, else windows-1252; a byte-order mark dropped), so a repaired
      // file saved by an editor in Latin-1 keeps its accents.
      const fixed = opts.file ? decodeText(readFileSync(opts.file)) : undefined;
      const results = [];
      for (const id of ids) results.push(await replayQuarantined(db, Number(id), fixed, 'cli', opts.source !== undefined ? { source: opts.source } : undefined));
      if (opts.json) return printJson({ results });
      for (const r of results) {
        if (r.kind === 'replayed') console.log(`#${r.id} replayed: ${JSON.stringify(r.result)}`);
        else if (r.kind === 'still-rejected') console.log(`#${r.id} still rejected: ${r.reasons.join('; ')}`);
        else if (r.kind === 'not-open') console.log(`#${r.id} is ${r.status}, not open`);
        else console.log(`#${r.id} not found`);
      }
      if (results.some((r) => r.kind !== 'replayed')) process.exitCode = 1;
    });
  });

  databaseOption(q.command('discard').argument('<id>').requiredOption('--reason <text>', 'why it will not be replayed').description('close an item without replaying it (it is kept)')).action(
    async (id: string, opts: { data?: string; reason: string }) => {
      await withDatabase(opts, async (db) => {
        if (!(await discardQuarantined(db, Number(id), opts.reason))) throw new Error(`no open quarantined item #${id}`);
        console.log(`#${id} discarded`);
      });
    },
  );
}
