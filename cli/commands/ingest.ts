import type { Command } from 'commander';

// Placeholder: filled in by the work on this subcommand.
export function registerIngest(program: Command): void {
  program.command('ingest').description('(not yet available)').action(() => {
    throw new Error('bevan ingest is not available yet');
  });
}
