import assert from 'node:assert/strict';
import { test } from 'node:test';
import { practiceCodes } from './record-store.ts';
import type { ResourceRow } from './rows.ts';

const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';
const row = (source_system: string, content: Record<string, unknown>): ResourceRow =>
  ({ source_system, resource_type: String(content.resourceType), source_id: 'x', person_id: null, subject_id: null, version: 1, source_time: null, received_at: '2026-01-01T00:00:00.000Z', content }) as unknown as ResourceRow;

test('practiceCodes: source keys, identities, and ODS identifiers wherever a sender puts them (nested extensions, contained resources, arrays)', () => {
  const rows = [
    row('gp:p91023', { resourceType: 'Encounter', serviceProvider: { identifier: { system: ODS, value: 'rm2' } } }),
    // A UK Core style extension with a sub-extension naming an organisation: six elements down, arrays not counted.
    row('csv:community', {
      resourceType: 'MedicationRequest',
      extension: [{ url: 'a', extension: [{ url: 'b', valueReference: { identifier: { system: ODS, value: 'Y01234' } } }] }],
      contained: [{ resourceType: 'Organization', id: 'o', identifier: [{ system: ODS, value: 'X99' }] }],
      text: { status: 'generated', div: '<div/>', identifier: { system: ODS, value: 'NOTME' } },
      performer: [{ identifier: { system: 'https://example.org/other', value: 'NOPE' } }],
    }),
    row('hl7:not a code!', { resourceType: 'Observation' }),
  ];
  const codes = practiceCodes([{ source_system: 'hl7:RW3', practice: 'P91001' } as never], rows).sort();
  assert.deepEqual(codes, ['P91001', 'P91023', 'RM2', 'RW3', 'X99', 'Y01234']);
});
