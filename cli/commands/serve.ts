import type { Command } from 'commander';

// Placeholder: filled in by the work on this subcommand.
export function registerServe(program: Command): void {
  program.command('serve').description('(not yet available)').action(() => {
    throw new Error('bevan serve is not available yet');
  });
}
