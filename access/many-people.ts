/**
 * Deciding many people at once for a list or count (a register, the risk list, duplicate tests):
 * which of them the user sees and, for the others, why not (the withheld counts). Secondary use
 * is decided on consent directives and restrictions alone (access/policy.ts), so everyone with
 * none of these has the same facts as a person with nothing recorded: `decideSecondaryUse` asks
 * `decide` once with those facts for them all, and reads the facts of the few with a record
 * (facts-store.ts SECONDARY_USE_CANDIDATES_SQL) to decide each of them on their own. Direct care
 * (an identified list) reads every person's facts, relationships included, and decides each.
 */
import type { Queryable } from '../db/database.ts';
import type { PurposeOfUse, Principal } from './context.ts';
import { gatherAccessFacts, SECONDARY_USE_CANDIDATES_SQL } from './facts-store.ts';
import { decide, type AccessFacts, type Policy } from './policy.ts';

/** Why people were left out of a list: restricted, opted out of secondary use, or (for anything else) dissent from sharing. */
export interface Withheld {
  restricted: number;
  optedOut: number;
  dissent: number;
}

export const noneWithheld = (): Withheld => ({ restricted: 0, optedOut: 0, dissent: 0 });

/** Counts `n` people left out with these facts under their reason. */
export function tallyWithheld(into: Withheld, facts: AccessFacts | null, identified: boolean, n = 1): void {
  if (facts?.restricted) into.restricted += n;
  else if (facts?.nationalDataOptOut && !identified) into.optedOut += n;
  else into.dissent += n;
}

/** Who asks, and how: `identified` for a list shown with names (direct care). */
export interface ListAsker {
  principal: Principal;
  purpose: PurposeOfUse;
  identified: boolean;
}

/** Whether a list for this asker is decided as secondary use (decideSecondaryUse): a policy, purpose secondary use, not identified. */
export const decidedAsSecondaryUse = (policy: Policy | null, asker: ListAsker): policy is Policy => policy !== null && asker.purpose === 'secondary-use' && !asker.identified;

/** A person's answer: shown or not, and the facts it was given on (for tallyWithheld). */
export interface PersonAnswer {
  shown: boolean;
  facts: AccessFacts | null;
}

export interface SecondaryUseDecision {
  /** The answer for everyone with nothing recorded. */
  nothingRecorded: PersonAnswer;
  /** The answer for a person: their own if they have a record (one of the ids given), else nothingRecorded's. */
  of(personId: string): PersonAnswer;
}

/** A person id no one has: the facts of someone with nothing recorded are read for it. */
const NOBODY = '00000000-0000-0000-0000-000000000000';

/**
 * Secondary use for many people: `recorded` are those of them with a consent directive or a
 * restriction (from SECONDARY_USE_CANDIDATES_SQL, e.g. flagged in the statement that found
 * them, or recordedAmong); each is decided on their own facts, and everyone else with one
 * `decide` on the facts of a person with nothing recorded. One facts statement for all.
 */
export async function decideSecondaryUse(tx: Queryable, policy: Policy, asker: Pick<ListAsker, 'principal' | 'purpose'>, now: Date, recorded: readonly string[]): Promise<SecondaryUseDecision> {
  const ids = [...new Set(recorded)];
  const nhs = new Map<string, string | null>();
  if (ids.length) {
    const r = await tx.query<{ person_id: string; nhs_number: string | null }>('SELECT person_id::text AS person_id, nhs_number FROM person WHERE person_id = ANY($1::uuid[])', [ids]);
    for (const x of r.rows) nhs.set(x.person_id, x.nhs_number);
  }
  const keys = [NOBODY, ...ids].map((id) => ({ personId: id, nhsNumber: nhs.get(id) ?? null, memberIds: [id] }));
  const facts = await gatherAccessFacts(tx, policy, asker.principal, keys, now, { relationships: false });
  const answer = (f: AccessFacts | null): PersonAnswer => ({ shown: decide(policy, { action: 'export', principal: asker.principal, purpose: asker.purpose, facts: f, now }).kind === 'permit', facts: f });
  const nothingRecorded = answer(facts.get(NOBODY) ?? null);
  const own = new Map(ids.map((id) => [id, answer(facts.get(id) ?? null)]));
  return { nothingRecorded, of: (id) => own.get(id) ?? nothingRecorded };
}

/** Those of `ids` with a consent directive or a restriction (SECONDARY_USE_CANDIDATES_SQL). */
export async function recordedAmong(tx: Queryable, ids: readonly string[]): Promise<string[]> {
  if (!ids.length) return [];
  const r = await tx.query<{ person_id: string }>(`SELECT c.person_id::text AS person_id FROM (${SECONDARY_USE_CANDIDATES_SQL}) c WHERE c.person_id = ANY($1::uuid[])`, [[...new Set(ids)]]);
  return r.rows.map((x) => x.person_id);
}

/**
 * The people of a list the asker sees, and why the others are not: for secondary use with
 * decideSecondaryUse (the facts of those with a record only), otherwise each person on their
 * own facts, relationships included (an identified list must not show someone who dissents
 * from sharing: a permit that only covers the user's own organisation's data counts as not shown).
 * `nhsNumbers` are used for the per-person facts when given (else read). No policy: no one.
 */
export async function decideListed(
  tx: Queryable,
  policy: Policy | null,
  asker: ListAsker,
  now: Date,
  ids: readonly string[],
  nhsNumbers?: ReadonlyMap<string, { nhs_number: string | null }>,
): Promise<{ shown: Set<string>; withheld: Withheld }> {
  const people = [...new Set(ids)];
  const shown = new Set<string>();
  const withheld = noneWithheld();
  if (decidedAsSecondaryUse(policy, asker)) {
    const d = await decideSecondaryUse(tx, policy, asker, now, await recordedAmong(tx, people));
    for (const id of people) {
      const a = d.of(id);
      if (a.shown) shown.add(id);
      else tallyWithheld(withheld, a.facts, false);
    }
    return { shown, withheld };
  }
  let nhs = nhsNumbers;
  if (!nhs && people.length) {
    const r = await tx.query<{ person_id: string; nhs_number: string | null }>('SELECT person_id::text AS person_id, nhs_number FROM person WHERE person_id = ANY($1::uuid[])', [people]);
    nhs = new Map(r.rows.map((x) => [x.person_id, { nhs_number: x.nhs_number }]));
  }
  const facts = policy ? await gatherAccessFacts(tx, policy, asker.principal, people.map((id) => ({ personId: id, nhsNumber: nhs?.get(id)?.nhs_number ?? null, memberIds: [id] })), now, { relationships: asker.purpose !== 'secondary-use' }) : new Map<string, AccessFacts>();
  for (const id of people) {
    const f = facts.get(id) ?? null;
    const d = decide(policy, { action: asker.identified ? 'read' : 'export', principal: asker.principal, purpose: asker.purpose, facts: f, now });
    if (d.kind === 'permit' && !(asker.identified && d.obligations.onlyOrganisation !== null)) shown.add(id);
    else tallyWithheld(withheld, f, asker.identified);
  }
  return { shown, withheld };
}
