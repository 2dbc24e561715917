import { Command } from 'commander';
import { registerGenerate } from './commands/generate.ts';
import { registerIngest } from './commands/ingest.ts';
import { registerQuarantine } from './commands/quarantine.ts';
import { registerMpi } from './commands/mpi.ts';
import { registerRecord } from './commands/record.ts';
import { registerServe } from './commands/serve.ts';
import { registerDemo } from './commands/demo.ts';
import { registerMigrate } from './commands/migrate.ts';
import { registerUser } from './commands/user.ts';
import { registerToken } from './commands/token.ts';
import { registerClient } from './commands/client.ts';
import { registerAudit } from './commands/audit.ts';
import { registerCareTeam, registerConsent } from './commands/governance.ts';
import { registerCohort } from './commands/cohort.ts';
import { registerCommissioning } from './commands/commissioning.ts';
import { registerView } from './commands/view.ts';
import { registerRisk } from './commands/risk.ts';
import { registerAnalytics } from './commands/analytics.ts';
import { registerDuplicateTests } from './commands/duplicate-tests.ts';
import { registerEverything } from './commands/everything.ts';
import { quietOnClosedPipe } from './context.ts';

quietOnClosedPipe(process.stdout);
quietOnClosedPipe(process.stderr);

const program = new Command('bevan')
  .description('Bevan: one record of each person across GP, hospital, community, mental health and social care')
  .version('0.1.0')
  .showHelpAfterError()
  .addHelpText(
    'after',
    `
Database: every command uses the PGlite data folder given by --data (default ./.bevan/data),
or the PostgreSQL server in DATABASE_URL when that is set.`,
  );

for (const register of [registerDemo, registerGenerate, registerIngest, registerQuarantine, registerMpi, registerRecord, registerServe, registerMigrate, registerUser, registerToken, registerClient, registerAudit, registerCareTeam, registerConsent, registerCohort, registerCommissioning, registerView, registerRisk, registerAnalytics, registerEverything]) {
  register(program);
}
registerDuplicateTests(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`bevan: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
  // The command closed what it opened; should anything still hold the process up, exit anyway
  // (an unref'd timer fires only if something else keeps the event loop alive).
  setTimeout(() => process.exit(1), 3000).unref();
});
