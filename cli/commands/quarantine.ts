import type { Command } from 'commander';

// Placeholder: filled in by the work on this subcommand.
export function registerQuarantine(program: Command): void {
  program.command('quarantine').description('(not yet available)').action(() => {
    throw new Error('bevan quarantine is not available yet');
  });
}
