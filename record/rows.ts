/**
 * The rows the record is built from, as the record store reads them: plain data with every
 * instant as an ISO string, so the pure record builder and its tests need no database.
 */
import type { Resource } from '@medplum/fhirtypes';

/** A Bevan person (the golden-record key). */
export interface PersonRow {
  person_id: string;
  nhs_number: string | null;
  status: string;
  merged_into: string | null;
}

/** How one source system identifies the person, with the demographics it sent. */
export interface IdentityRow {
  source_system: string;
  source_id: string;
  person_id: string;
  nhs_number: string | null;
  nhs_number_valid: boolean;
  family: string | null;
  given: string | null;
  /** YYYY-MM-DD */
  birth_date: string | null;
  sex: string | null;
  postcode: string | null;
  practice: string | null;
  link_method: string;
  match_status: string;
  /** ISO instant */
  updated_at: string;
}

/** One stored FHIR resource with its provenance (table `resource`). */
export interface ResourceRow {
  source_system: string;
  resource_type: string;
  source_id: string;
  person_id: string | null;
  subject_id: string | null;
  version: number;
  /** ISO instant, when the source says the fact happened or changed. */
  source_time: string | null;
  /** ISO instant, when Bevan received this version. */
  received_at: string;
  content: Resource;
}

/**
 * A GP practice with its neighbourhood (tables `practice` and `neighbourhood`), or, with origin
 * `feed`, the name of an organisation taken from an Organization resource a feed sent (reference
 * data, no person; neighbourhood empty).
 */
export interface PracticeRow {
  ods_code: string;
  name: string;
  neighbourhood: string;
  neighbourhood_name: string | null;
  origin?: 'feed';
}
