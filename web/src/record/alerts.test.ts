import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Resource } from '@medplum/fhirtypes';
import { buildRecordView } from './model.ts';
import { recordAlerts, sensitivityCodes } from './alerts.ts';
import { testBundle, TODAY } from './test-bundle.ts';

const meta = { source: 'gp:P91010', versionId: '1', lastUpdated: '2025-06-01T10:00:00Z' };
const MORE: Resource[] = [
  { resourceType: 'AllergyIntolerance', id: 'a2', meta, code: { text: 'Peanut' }, criticality: 'high', clinicalStatus: { coding: [{ code: 'active' }] }, reaction: [{ manifestation: [{ text: 'Anaphylaxis' }] }], patient: { reference: 'Patient/x' } },
  { resourceType: 'AllergyIntolerance', id: 'a3', meta, code: { text: 'Latex' }, criticality: 'high', clinicalStatus: { coding: [{ code: 'resolved' }] }, patient: { reference: 'Patient/x' } },
  { resourceType: 'Flag', id: 'f1', meta, status: 'active', code: { text: 'Violent and aggressive: two staff on home visits' }, category: [{ text: 'Behavioural' }], subject: { reference: 'Patient/x' } },
  { resourceType: 'Flag', id: 'f2', meta, status: 'inactive', code: { text: 'Old flag' }, subject: { reference: 'Patient/x' } },
  { resourceType: 'Flag', id: 'f3', meta, status: 'active', code: { text: 'Ended flag' }, period: { end: '2025-01-01' }, subject: { reference: 'Patient/x' } },
  { resourceType: 'Condition', id: 'c9', meta: { ...meta, security: [{ system: 'urn:bevan:sensitive', code: 'safeguarding' }] }, code: { text: 'Child protection plan' }, subject: { reference: 'Patient/x' } },
  { resourceType: 'Condition', id: 'c10', meta, code: { coding: [{ system: 'urn:bevan:sensitive', code: 'mental-health-sensitive' }], text: 'Sectioned' }, subject: { reference: 'Patient/x' } },
];

test('alerts: safeguarding, active flags, high-criticality active allergies, sensitive markers', () => {
  const bundle = testBundle({}, MORE);
  const alerts = recordAlerts(buildRecordView(bundle, TODAY), bundle, TODAY);
  assert.deepEqual(alerts.map((a) => [a.kind, a.severity, a.text]), [
    ['safeguarding', 'high', 'Safeguarding concern recorded'],
    ['flag', 'high', 'Violent and aggressive: two staff on home visits'],
    ['allergy', 'high', 'Allergy: Peanut'],
    ['sensitive', 'info', 'Sensitive information: Mental health (sensitive)'],
  ]);
  assert.equal(alerts[2]!.detail, 'high criticality, Anaphylaxis');
});

test('no alerts for an ordinary record', () => {
  const bundle = testBundle();
  assert.deepEqual(recordAlerts(buildRecordView(bundle, TODAY), bundle, TODAY), []);
  assert.deepEqual([...sensitivityCodes({ a: [{ b: { system: 'urn:bevan:sensitive', code: 'ivf' } }] })], ['ivf']);
});
