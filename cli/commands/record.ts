import type { Command } from 'commander';

// Placeholder: filled in by the work on this subcommand.
export function registerRecord(program: Command): void {
  program.command('record').description('(not yet available)').action(() => {
    throw new Error('bevan record is not available yet');
  });
}
