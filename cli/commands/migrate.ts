import type { Command } from 'commander';
import { databaseOption, printJson, withDatabase } from '../context.ts';
import { migrate } from '../../db/migrator.ts';

export function registerMigrate(program: Command): void {
  databaseOption(
    program
      .command('migrate')
      .description('apply pending database migrations (other commands do this on start too)')
      .option('--json', 'print one JSON object')
      .addHelpText(
        'after',
        `
BEVAN_DB_LAYOUT=partitioned (when a database is first migrated, or later to convert it) also
hash-partitions the personal tables by their distribution key, as a distributed PostgreSQL would
shard them (docs/distribution.md). A database keeps its layout; the default is plain.`,
      ),
  ).action(async (opts: { data?: string; json?: boolean }) => {
    await withDatabase(opts, async (db) => {
      const r = await migrate(db);
      if (opts.json) printJson(r);
      else if (r.kind === 'ok') console.log(r.applied.length ? `applied ${r.applied.join(', ')}` : `${db.location}: up to date`);
      else throw new Error(`migration ${r.migration} failed: ${r.error}`);
    });
  });
}
