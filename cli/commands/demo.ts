import type { Command } from 'commander';

// Placeholder: filled in by the work on this subcommand.
export function registerDemo(program: Command): void {
  program.command('demo').description('(not yet available)').action(() => {
    throw new Error('bevan demo is not available yet');
  });
}
