import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { ROLES } from '../../access/context.ts';
import { addUser } from '../../access/users.ts';
import { databaseOption, printJson, withDatabase, type DatabaseOptions } from '../context.ts';
import { runWithExitCode } from './cli-context.ts';

/** Reads one line from stdin, its newline stripped. */
export async function readOneLine(input: NodeJS.ReadableStream = process.stdin): Promise<string> {
  const rl = createInterface({ input, terminal: false });
  try {
    for await (const line of rl) return line.replace(/\r$/, '');
    return '';
  } finally {
    rl.close();
  }
}

/** `bevan user add NAME --role ROLE [--org ODS] [--nhs-number N] [--password-stdin]`. */
export function registerUser(program: Command): void {
  const user = program.command('user').description('local users who sign in to Bevan (the embedded default)');
  const add = user
    .command('add')
    .description('add a local user with a role (and organisation); passwords are stored as argon2id hashes')
    .argument('<name>', 'user name')
    .requiredOption('--role <role>', `one of: ${ROLES.join(', ')}`)
    .option('--org <ods>', "ODS code of the user's organisation (a GP practice, a trust)")
    .option('--nhs-number <nhs>', 'for role patient: the NHS number of their own record')
    .option('--password-stdin', 'read the password from one line of stdin (without it the user signs in only with bevan token)')
    .option('--json', 'print the user as JSON');
  databaseOption(add).action(async (name: string, o: DatabaseOptions & { role: string; org?: string; nhsNumber?: string; passwordStdin?: boolean; json?: boolean }) =>
    runWithExitCode(async () => {
      const password = o.passwordStdin ? await readOneLine() : null;
      const u = await withDatabase(o, (db) => addUser(db, { username: name, role: o.role, organisation: o.org ?? null, nhsNumber: o.nhsNumber ?? null, password }));
      if (o.json) printJson(u);
      else console.log(`added ${u.username} (${u.role}${u.organisation ? ` at ${u.organisation}` : ''})${password ? '' : '; no password: sign in with bevan token'}`);
    }),
  );
}
