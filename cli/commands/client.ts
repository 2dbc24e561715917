import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { invalid, ROLES } from '../../access/context.ts';
import { addBackendClient, DEFAULT_CLIENT_SCOPE, disableBackendClient, listBackendClients } from '../../access/backend-clients.ts';
import { scopeQueryProblem } from '../../fhir/scope-narrowing.ts';
import { databaseOption, printJson, withDatabase, type DatabaseOptions } from '../context.ts';
import { runWithExitCode } from './cli-context.ts';

/** Reads a JWKS file (a JSON object with "keys"), or a single public JWK, which is wrapped. */
function readJwks(path: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw invalid(`--jwks ${path}: ${(err as Error).message}`);
  }
  return parsed && typeof parsed === 'object' && !Array.isArray(parsed) && !('keys' in parsed) && 'kty' in parsed ? { keys: [parsed] } : parsed;
}

/** `bevan client add|list|disable`: SMART backend services clients (systems that sign in with their own key). */
export function registerClient(program: Command): void {
  const client = program
    .command('client')
    .description('backend service clients (SMART backend services: a system signs in with a JWT signed by its own key, e.g. for Bulk Data $export)');
  const add = client
    .command('add')
    .description('register a client with a role (the access policy decides for it as for a user in that role) and its public keys')
    .argument('<client-id>', 'the client_id the system puts in its assertion (iss and sub)')
    .requiredOption('--role <role>', `one of: ${ROLES.filter((r) => r !== 'patient').join(', ')}`)
    .option('--org <ods>', "ODS code of the client's organisation (e.g. a practice, for its Group export)")
    .option('--jwks <file>', 'its public keys: a JWKS file (or one public JWK)')
    .option('--jwks-url <url>', 'or the https URL where it publishes its JWKS')
    .option('--scope <scopes>', 'the most it may be granted: SMART system read scopes (a v2 scope may be narrowed by a search query, e.g. "system/Observation.rs?category=laboratory")', DEFAULT_CLIENT_SCOPE)
    .option('--json', 'print the client as JSON')
    .addHelpText('after', '\nExample:\n  bevan client add warehouse --role analyst --jwks warehouse.jwks.json --scope "system/Patient.read system/Encounter.read"\n  then the system POSTs grant_type=client_credentials to /auth/token (see /.well-known/smart-configuration)');
  databaseOption(add).action(async (id: string, o: DatabaseOptions & { role: string; org?: string; jwks?: string; jwksUrl?: string; scope: string; json?: boolean }) =>
    runWithExitCode(async () => {
      const jwks = o.jwks ? readJwks(o.jwks) : undefined;
      const c = await withDatabase(o, (db) => addBackendClient(db, { clientId: id, role: o.role, organisation: o.org ?? null, jwks, jwksUrl: o.jwksUrl ?? null, scope: o.scope }, { checkQuery: scopeQueryProblem }));
      if (o.json) printJson({ clientId: c.clientId, role: c.role, organisation: c.organisation, jwksUrl: c.jwksUrl, keys: c.jwks?.keys.length ?? null, scope: c.scope });
      else console.log(`added client ${c.clientId} (${c.role}${c.organisation ? ` at ${c.organisation}` : ''}; may be granted: ${c.scope})`);
    }),
  );
  const list = client.command('list').description('the registered clients').option('--json', 'as JSON');
  databaseOption(list).action(async (o: DatabaseOptions & { json?: boolean }) =>
    runWithExitCode(async () => {
      const all = await withDatabase(o, (db) => listBackendClients(db));
      const rows = all.map((c) => ({ clientId: c.clientId, role: c.role, organisation: c.organisation, keys: c.jwks ? `${c.jwks.keys.length} key(s)` : c.jwksUrl, scope: c.scope, disabled: c.disabled }));
      if (o.json) printJson(rows);
      else if (!rows.length) console.log('no backend clients (bevan client add)');
      else for (const r of rows) console.log(`${r.clientId}\t${r.role}\t${r.organisation ?? '-'}\t${r.keys}\t${r.scope}${r.disabled ? '\tdisabled' : ''}`);
    }),
  );
  const disable = client.command('disable').description('refuse the client any new token').argument('<client-id>');
  databaseOption(disable).action(async (id: string, o: DatabaseOptions) =>
    runWithExitCode(async () => {
      await withDatabase(o, (db) => disableBackendClient(db, id));
      console.log(`client ${id} disabled: no new token (one already issued lives out its five minutes)`);
    }),
  );
}
