/** Hand-made ingest items for tests of the writer and pipeline (synthetic people only). */
import { createHash } from 'node:crypto';
import type { AcceptedItem, RejectedItem, SourceIdentity } from '../ingest/model.ts';
import { nhsCheckDigit } from '../mpi/nhs-number.ts';

export const hash = (s: string) => createHash('sha256').update(s).digest('hex');

export function identity(over: Partial<SourceIdentity> = {}): SourceIdentity {
  return { system: 'hl7:RM2', id: 'MRN1', nhsNumber: '9434765919', family: 'Ashworth', given: 'Ada', birthDate: '1941-03-05', sex: 'female', postcode: 'M33 7XY', ...over };
}

/** An HL7-like admission message: a Patient and an Encounter. */
export function admission(messageId: string, who: SourceIdentity, visit: string, status = 'in-progress', time = '2025-03-01T10:00:00Z'): AcceptedItem {
  const resources = [
    { resource: { resourceType: 'Patient' as const, id: who.id, name: [{ family: who.family, given: [who.given ?? ''] }] }, sourceTime: time },
    {
      resource: { resourceType: 'Encounter' as const, id: visit, status: status as 'in-progress', class: { code: 'IMP' }, subject: { reference: `Patient/${who.id}` } },
      sourceTime: time,
    },
  ];
  return {
    kind: 'accepted',
    format: 'hl7v2',
    sourceSystem: who.system,
    messageId,
    contentHash: hash(JSON.stringify([messageId, resources])),
    event: 'ADT^A01',
    idIsUnique: true,
    identities: [who],
    resources,
    origin: `test#${messageId}`,
    raw: `MSH|^~\\&|PAS|RM2|BEVAN|TRAFFORD|20250301||ADT^A01|${messageId}|P|2.4`,
  };
}

export function rejected(reason: string, raw = 'garbage'): RejectedItem {
  return { kind: 'rejected', format: 'hl7v2', reason, raw, origin: 'test' };
}

/** The first valid NHS number at or after a nine-digit start. */
export function validNhs(start: number): string {
  for (let n = start; ; n++) {
    const s = String(n).padStart(9, '0');
    const c = nhsCheckDigit(s);
    if (c !== null) return s + String(c);
  }
}
