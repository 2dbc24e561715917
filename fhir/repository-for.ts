/**
 * The FHIR repository bound to one request context: its principal and purpose, on its
 * database, under the loaded access policy. The one constructor the CLI and HTTP layers use.
 */
import { currentPolicy, type Policy } from '../access/policy.ts';
import type { RequestContext } from '../access/context.ts';
import { pgFhirStore } from './pg-store.ts';
import { FhirRepository } from './repository.ts';

export function repositoryFor(ctx: RequestContext, policy: Policy | null = currentPolicy()): FhirRepository {
  // With no valid policy the store still needs one to read facts; the repository denies anyway.
  const store = pgFhirStore(ctx.db, policy ?? ({ sourceOrganisations: {}, recentEncounterDays: 0 } as unknown as Policy), ctx.signOutCheck ? { signOutCheck: ctx.signOutCheck } : {});
  return new FhirRepository({ principal: ctx.principal, purpose: ctx.purpose, from: ctx.from, breakGlassReason: ctx.breakGlassReason }, store, policy);
}
