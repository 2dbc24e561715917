/**
 * The identity vocabulary of the master patient index, owned here and used by every feed
 * adapter and by the ingest writer: how one source system identifies one person, and what a
 * feed may instruct about identities (merge, link, unlink). The MPI imports nothing from
 * `ingest/`; `ingest/model.ts` re-exports these types for the adapters.
 */

export type Sex = 'male' | 'female' | 'other' | 'unknown';

/** How one source system identifies one person, with the demographics it holds. */
export interface SourceIdentity {
  /** Source system key, e.g. `gp:P91001`, `hl7:RM2`, `csv:community`, `csv:socialcare` (see docs/feeds.md). */
  system: string;
  /** The person's identifier in that system (GP patient id, hospital MRN, client id). */
  id: string;
  /** As sent, spaces removed; may be invalid (the MPI checks Modulus 11). */
  nhsNumber?: string;
  family?: string;
  given?: string;
  /**
   * ISO date YYYY-MM-DD, or what the source sent when it is less: YYYY or YYYY-MM (HL7 v2 DTM and
   * FHIR date allow both), or a date with an impossible day or month, kept so that the MPI compares
   * what it says (mpi/link.ts birthDateOf).
   */
  birthDate?: string;
  sex?: Sex;
  /** As sent (UK or not); the MPI normalises UK postcodes and compares others as plain strings. */
  postcode?: string;
  /** ODS code of the registered GP practice, when the source says. */
  practice?: string;
  /** The street part of the home address as sent (house name or number and street, lines joined with ", "), without town or postcode. */
  address?: string;
  /** Town or city (suburb, locality) of the home address. */
  town?: string;
  /** Email addresses as sent (FHIR telecom system email, HL7 XTN-4). */
  emails?: string[];
  /** Phone numbers as sent (FHIR telecom system phone/sms, HL7 PID-13/14). */
  phones?: string[];
  /**
   * Identifiers other than the NHS number and the source's own record number: a national
   * insurance or social security number (HL7 PID-19, FHIR us-ssn), a passport, a driving licence,
   * a research data set's id column. `system` names its kind (a FHIR system URI or OID, an HL7
   * identifier type code such as SS, PPN or DL, or a CSV column's name).
   */
  identifiers?: { system: string; value: string }[];
}

/**
 * A feed's instruction about identities within one source system, e.g. HL7 A40/A34/A47
 * (merge, change of identifier), A24 (link), A37 (unlink), or a FHIR Patient.link replaced-by.
 * - `merge`: `retiredId` is the same person as `survivorId` and is retired into it.
 * - `link`: the two identities are the same person; both stay in use.
 * - `unlink`: the two identities, linked before, are different people.
 * The MPI applies it, or queues it for a person to confirm when it is unsafe (for instance
 * the two identities carry different valid NHS numbers).
 */
export interface MergeInstruction {
  kind?: 'merge' | 'link' | 'unlink';
  system: string;
  survivorId: string;
  retiredId: string;
  /** The system of `retiredId` when it differs from `system` (an HL7 A24 across assigning authorities). */
  retiredSystem?: string;
  /** What asked for it, for the MPI event and any review item, e.g. `ADT^A40`. */
  event?: string;
}

/** The map key for an identity: `${system}|${id}`. */
export const identityKey = (system: string, id: string): string => `${system}|${id}`;

/** Which identity: its source system key and its id there. */
export interface IdentityRef {
  system: string;
  id: string;
}

/** How an identity came to be in its person (stored as text in source_identity.link_method). */
export type LinkMethod = 'nhs-number' | 'probabilistic' | 'manual' | 'hl7-a40' | 'feed-link' | 'feed-unlink' | 'new';

/** The MPI's confidence in an identity's link (HAPI MDM's vocabulary; stored as text). */
export type MatchStatus = 'MATCH' | 'POSSIBLE_MATCH' | 'NO_MATCH' | 'PENDING';

/**
 * One source identity as the MPI holds it: demographics normalised for storage and comparison
 * (NHS number without spaces, UK postcode in its standard form, empty strings as null), and
 * its link to a person. The one shape in which the MPI reads identities back: for review,
 * for a person's view, and for the matcher (fellegi-sunter's MatchIdentity can be this type).
 */
export interface LinkedIdentity extends IdentityRef {
  /** identityKey(system, id). */
  key: string;
  personId: string;
  nhsNumber: string | null;
  /** Modulus 11 passed; only a valid number links people. */
  nhsNumberValid: boolean;
  family: string | null;
  given: string | null;
  /** YYYY-MM-DD; read back, a date that is not a whole valid one as sent (YYYY, YYYY-MM, an impossible YYYY-MM-DD; migration 0077). */
  birthDate: string | null;
  sex: string | null;
  postcode: string | null;
  practice: string | null;
  address: string | null;
  town: string | null;
  /** Email addresses, lower case, space-separated. */
  email: string | null;
  /** Phone numbers, digits only (UK ones from 0), space-separated. */
  phone: string | null;
  /** Other identifiers as `kind|VALUE`, space-separated. */
  otherId: string | null;
  linkMethod: LinkMethod | string;
  matchStatus: MatchStatus | string;
  matchWeight: number | null;
}

/** The demographics of a LinkedIdentity, as written from a SourceIdentity (no link yet). */
export type NormalisedIdentity = Omit<LinkedIdentity, 'personId' | 'linkMethod' | 'matchStatus' | 'matchWeight'>;

/**
 * A review pair in its stored, canonical order: the identity with the smaller key (byte order)
 * first. Every writer of mpi_review uses it, so a pair is one item whichever way it was found.
 */
export function canonicalPair<T extends IdentityRef>(a: T, b: T): { first: T; second: T; swapped: boolean } {
  const swapped = identityKey(b.system, b.id) < identityKey(a.system, a.id);
  return swapped ? { first: b, second: a, swapped } : { first: a, second: b, swapped };
}
