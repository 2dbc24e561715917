/**
 * The CLI edge of the request context: a command names its user (`--user NAME`, or
 * BEVAN_USER) — a local user from `bevan user add`, whose role and organisation then decide
 * what they may see — and its purpose. No default actor: a command that reads personal data
 * without a user is refused. Errors with a kind become the exit codes of access/context.ts.
 */
import { hostname } from 'node:os';
import { BevanError, exitCodeFor, invalid, isPurpose, PURPOSES, unauthenticated, type RequestContext } from '../../access/context.ts';
import { findUser, principalOf } from '../../access/users.ts';
import type { Database } from '../../db/database.ts';

export interface WhoOptions {
  user?: string;
  purpose?: string;
  breakGlass?: string;
}

/** Builds the request context for one command, once. */
export async function cliContext(db: Database, o: WhoOptions): Promise<RequestContext> {
  const name = o.user?.trim() || process.env.BEVAN_USER?.trim();
  if (!name) throw unauthenticated('name the user reading: --user NAME or BEVAN_USER (a local user: bevan user add NAME --role ROLE)');
  const purpose = o.purpose ?? 'direct-care';
  if (!isPurpose(purpose)) throw invalid(`--purpose "${purpose}" is not a purpose of use (${PURPOSES.join(', ')})`);
  const u = await findUser(db, name);
  if (!u || u.disabled) throw unauthenticated(`${name} is not a local user (bevan user add ${name} --role ROLE)`);
  let host = 'localhost';
  try {
    host = hostname();
  } catch {
    /* keep localhost */
  }
  return { principal: principalOf(u), purpose, db, from: `cli:${host}`, ...(o.breakGlass ? { breakGlassReason: o.breakGlass } : {}) };
}

/** Runs a command body: a BevanError is printed and becomes its exit code; anything else propagates. */
export async function runWithExitCode(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (!(err instanceof BevanError)) throw err;
    console.error(`bevan: ${err.message}`);
    process.exitCode = exitCodeFor(err);
  }
}
