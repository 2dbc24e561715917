import type { Command } from 'commander';
import { unauthenticated } from '../../access/context.ts';
import { issueToken, TOKEN_SECONDS } from '../../access/tokens.ts';
import { findUser, principalOf } from '../../access/users.ts';
import { databaseOption, withDatabase, type DatabaseOptions } from '../context.ts';
import { runWithExitCode } from './cli-context.ts';

/** `bevan token NAME`: a bearer token for a local user, valid one hour, as the last line of stdout. */
export function registerToken(program: Command): void {
  const cmd = program
    .command('token')
    .description('print a bearer token (JWT, one hour) for a local user, signed by the server key in the database')
    .argument('<name>', 'local user name')
    .addHelpText('after', '\nExample:\n  curl -H "Authorization: Bearer $(bevan token dr.jones | tail -1)" http://127.0.0.1:8080/fhir/Patient?family=smith');
  databaseOption(cmd).action(async (name: string, o: DatabaseOptions) =>
    runWithExitCode(async () => {
      const token = await withDatabase(o, async (db) => {
        const u = await findUser(db, name);
        if (!u || u.disabled) throw unauthenticated(`${name} is not a local user (bevan user add ${name} --role ROLE)`);
        return issueToken(db, principalOf(u), TOKEN_SECONDS);
      });
      process.stdout.write(token + '\n');
    }),
  );
}
