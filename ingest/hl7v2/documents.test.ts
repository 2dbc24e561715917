import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DocumentReference } from '@medplum/fhirtypes';
import type { AcceptedItem } from '../model.ts';
import { accepted } from './fixtures/items.ts';
import { parseHl7Message } from './to-item.ts';
import { seg } from './fixtures/samples.ts';
import { header, message, PID_ANNA, PID_BEN } from './fixtures/vendors.ts';

const docs = (item: AcceptedItem) => item.resources.filter((r) => r.resource.resourceType === 'DocumentReference').map((r) => r.resource as DocumentReference);
const text = (d: DocumentReference, n = 0) => Buffer.from(d.content[n]!.attachment.data!, 'base64').toString('utf8');

const txa = (fields: Record<number, string>) =>
  seg('TXA', { 1: '1', 2: 'DS^Discharge summary', 3: 'TX', 4: '20250304160000', 5: 'C456^Jones^Mark^^^Dr', 6: '20250304170000', 9: 'C456^Jones^Mark^^^Dr', 12: 'DOC-2025-0042^RM2', 17: 'LA', 19: 'AV', 22: 'C456^Jones^Mark^^^Dr', ...fields });
const evn = (t: string) => seg('EVN', { 1: t, 2: '20250304170500' });

test('MDM^T02 v2.5.1 discharge letter: DocumentReference keyed by TXA-12, type, dates, author, the OBX TX lines as text with escapes decoded', () => {
  const item = accepted(parseHl7Message(message([
    header('MDM^T02^MDM_T02', 'D1', { version: '2.5.1', app: 'EPR' }),
    evn('T02'),
    PID_ANNA,
    seg('PV1', { 1: '1', 2: 'I', 19: 'V778' }),
    txa({}),
    seg('OBX', { 1: '1', 2: 'TX', 3: 'DS^Discharge summary^L', 5: 'Admitted with chest pain \\T\\ breathlessness.', 11: 'F' }),
    seg('OBX', { 1: '2', 2: 'TX', 3: 'DS^Discharge summary^L', 5: 'Troponin 14 ng/L\\.br\\Plan: GP review in 2 weeks~Medicines: aspirin 75 mg', 11: 'F' }),
  ]), 'f'));
  assert.equal(item.event, 'MDM^T02');
  assert.deepEqual(item.resources.map((r) => r.resource.resourceType), ['DocumentReference']);
  const [d] = docs(item);
  assert.equal(d!.id, 'document-DOC-2025-0042');
  assert.equal(d!.masterIdentifier?.value, 'DOC-2025-0042');
  assert.equal(d!.status, 'current');
  assert.equal(d!.docStatus, 'final');
  assert.deepEqual(d!.type?.coding?.[0], { system: 'http://terminology.hl7.org/CodeSystem/v2-0270', code: 'DS', display: 'Discharge summary' });
  assert.equal(d!.subject?.reference, 'Patient/RM2000500');
  assert.equal(d!.date, '2025-03-04T17:00:00Z');
  assert.equal(d!.context?.period?.start, '2025-03-04T16:00:00Z');
  assert.deepEqual(d!.author?.map((a) => a.display), ['Dr Mark Jones']);
  assert.equal(d!.authenticator?.display, 'Dr Mark Jones');
  assert.equal(d!.content.length, 1);
  assert.equal(d!.content[0]!.attachment.contentType, 'text/plain; charset=utf-8');
  assert.equal(text(d!), 'Admitted with chest pain & breathlessness.\nTroponin 14 ng/L\nPlan: GP review in 2 weeks\nMedicines: aspirin 75 mg');
});

test('MDM^T02 with an ED PDF (v2.5 ED: source ^ type ^ subtype ^ encoding ^ data): an attachment with the base64 kept and its MIME type', () => {
  const pdf = Buffer.from('%PDF-1.4 synthetic letter').toString('base64');
  const item = accepted(parseHl7Message(message([
    header('MDM^T02', 'D2', { version: '2.5' }),
    evn('T02'),
    PID_ANNA,
    txa({ 2: 'CN^Clinic letter^L', 3: 'AP', 12: 'CL-88', 17: 'AU' }),
    seg('OBX', { 1: '1', 2: 'ED', 3: 'PDF^Clinic letter', 5: `EPR^AP^PDF^Base64^${pdf}`, 11: 'F' }),
  ]), 'f'));
  const [d] = docs(item);
  assert.equal(d!.id, 'document-CL-88');
  assert.equal(d!.type?.coding?.[0]?.code, 'CN');
  assert.equal(d!.content[0]!.attachment.contentType, 'application/pdf');
  assert.equal(d!.content[0]!.attachment.data, pdf);
});

test('MDM: T11 cancel is entered-in-error under the same key; T01 without content still records the document; T03 without content is ignored', () => {
  const cancel = docs(accepted(parseHl7Message(message([header('MDM^T11', 'D3'), evn('T11'), PID_ANNA, txa({ 17: 'LA', 19: 'CA' })]), 'f')))[0]!;
  assert.deepEqual([cancel.id, cancel.status], ['document-DOC-2025-0042', 'entered-in-error']);
  const notice = docs(accepted(parseHl7Message(message([header('MDM^T01', 'D4', { version: '2.3' }), evn('T01'), PID_ANNA, txa({ 17: 'DI', 22: '' })]), 'f')))[0]!;
  assert.equal(notice.docStatus, 'preliminary');
  assert.equal(notice.content[0]!.attachment.data, undefined);
  assert.match(notice.content[0]!.attachment.title!, /content not sent/);
  assert.equal(notice.authenticator, undefined);
  assert.equal(parseHl7Message(message([header('MDM^T03', 'D5'), evn('T03'), PID_ANNA, txa({ 17: 'AU' })]), 'f').kind, 'ignored');
  assert.equal(parseHl7Message(message([header('MDM^T02', 'D6'), evn('T02'), txa({})]), 'f').kind, 'ignored', 'no PID');
});

test('MDM: T10 replacement relates to its parent (TXA-13); FT with formatting escapes; two patients; TXA-12 empty quarantines', () => {
  const item = accepted(parseHl7Message(message([
    header('MDM^T10', 'D7', { version: '2.4' }),
    evn('T10'),
    PID_BEN,
    txa({ 3: 'FT', 12: 'DOC-2025-0043', 13: 'DOC-2025-0042' }),
    seg('OBX', { 1: '1', 2: 'FT', 3: 'DS', 5: '\\H\\Diagnosis\\N\\: community-acquired pneumonia\\.sp\\Follow up\\X2D\\ clinic', 11: 'F' }),
  ]), 'f'));
  const [d] = docs(item);
  assert.deepEqual(d!.relatesTo, [{ code: 'replaces', target: { reference: 'DocumentReference/document-DOC-2025-0042' } }]);
  assert.equal(text(d!), 'Diagnosis: community-acquired pneumonia\nFollow up- clinic');
  assert.equal(d!.subject?.reference, 'Patient/RM2000600');
  // An original document without TXA-12 is kept, keyed by its message; an edit needs the number.
  const original = parseHl7Message(message([header('MDM^T02', 'D8'), evn('T02'), PID_ANNA, txa({ 12: '' }), seg('OBX', { 1: '1', 2: 'TX', 5: 'x' })]), 'f');
  assert.equal(original.kind, 'accepted');
  const kept = (original as AcceptedItem).resources[0]!.resource as DocumentReference;
  assert.deepEqual([kept.id, kept.masterIdentifier], ["document-D8-1", undefined]);
  const rejected = parseHl7Message(message([header('MDM^T08', 'D8E'), evn('T08'), PID_ANNA, txa({ 12: '' }), seg('OBX', { 1: '1', 2: 'TX', 5: 'x' })]), 'f');
  assert.equal(rejected.kind, 'rejected');
  assert.match((rejected as { reason: string }).reason, /TXA-12 unique document number is empty/);
  const noTxa = parseHl7Message(message([header('MDM^T02', 'D9'), evn('T02'), PID_ANNA, seg('OBX', { 1: '1', 2: 'TX', 5: 'x' })]), 'f');
  assert.match((noTxa as { reason: string }).reason, /no TXA segment/);
});

test('MDM v2.5 with the optional order group (ORC, OBR) before TXA: the document names the order; UTF-8 text kept', () => {
  const item = accepted(parseHl7Message(message([
    header('MDM^T02^MDM_T02', 'D10', { version: '2.5' }),
    evn('T02'),
    PID_ANNA,
    seg('ORC', { 1: 'RE', 2: 'PL100', 3: 'FL100' }),
    seg('OBR', { 1: '1', 2: 'PL100', 3: 'FL100', 4: 'XR-CHEST^Chest X-ray^L' }),
    txa({ 2: 'DI^Diagnostic imaging', 12: 'RAD-9' }),
    seg('OBX', { 1: '1', 2: 'TX', 5: 'No focal consolidation. Heart size normal — Zoë Brown, radiographer.' }),
  ]), 'f'));
  const [d] = docs(item);
  assert.equal(d!.id, 'document-RAD-9');
  assert.deepEqual(d!.identifier?.map((i) => i.value), ['PL100', 'FL100']);
  assert.equal(text(d!), 'No focal consolidation. Heart size normal — Zoë Brown, radiographer.');
});
