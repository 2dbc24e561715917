/**
 * Use case: read one person's integrated record, as text for a terminal or as a FHIR R4 Bundle.
 * A function of the request context, called alike by `bevan record` and the HTTP API; the
 * access decision and the audit entry (written before anything is shown, found or not) happen
 * inside the FHIR repository.
 */
import { BevanError, notFound, type RequestContext } from '../access/context.ts';
import { repositoryFor } from '../fhir/repository-for.ts';
import { toFhirBundle } from './fhir-bundle.ts';
import type { PersonQuery } from './record-store.ts';
import { renderRecordText } from './render-text.ts';

export interface RecordRequest {
  query: PersonQuery;
  /** How the user named the person, for messages and the audit entry. */
  label: string;
  by: 'nhs-number' | 'person-id' | 'source-id';
  format: 'text' | 'fhir';
  /** Text: the whole timeline, every report and GP consultation, not just the latest 50 / 10 / 10. */
  all?: boolean;
}

/** The record as text, or as one JSON line holding the FHIR Bundle. */
export async function readIntegratedRecord(ctx: RequestContext, req: RecordRequest): Promise<string> {
  try {
    const r = await repositoryFor(ctx).readRecord(req.query, { action: 'record.read', detail: { by: req.by, query: req.label, format: req.format } });
    return req.format === 'fhir' ? JSON.stringify(toFhirBundle(r.record, r.rows, { redacted: r.withheld > 0 })) + '\n' : renderRecordText(r.record, { all: !!req.all });
  } catch (err) {
    if (err instanceof BevanError && err.kind === 'not-found') throw notFound(`no record found for ${req.label}`);
    throw err;
  }
}
