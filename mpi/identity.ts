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
  /** ISO date YYYY-MM-DD; adapters reject impossible dates. */
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
