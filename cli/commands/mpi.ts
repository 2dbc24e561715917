import type { Command } from 'commander';

// Placeholder: filled in by the work on this subcommand.
export function registerMpi(program: Command): void {
  program.command('mpi').description('(not yet available)').action(() => {
    throw new Error('bevan mpi is not available yet');
  });
}
