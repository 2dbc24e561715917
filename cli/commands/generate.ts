import type { Command } from 'commander';

// Placeholder: filled in by the work on this subcommand.
export function registerGenerate(program: Command): void {
  program.command('generate').description('(not yet available)').action(() => {
    throw new Error('bevan generate is not available yet');
  });
}
