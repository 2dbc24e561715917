import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CohortDefinitionError } from '../cohorts/definition.ts';
import { loadRegisters } from '../cohorts/registers.ts';
import { COHORT_CRITERIA_LANGUAGE, loadPanelMeasures, measureResource, parsePopulations } from './fhir-measures.ts';

const registers = loadRegisters();

test('the panel measures that are proportions load, each a FHIR R4 Measure with its populations as cohort criteria', () => {
  const measures = loadPanelMeasures(registers);
  assert.deepEqual(measures.map((m) => m.definition.id).sort(), ['diabetes-hba1c-75-care-plan', 'frequent-ae-attenders', 'palliative-preferred-place', 'smi-health-check-due']);
  const m = measureResource(measures.find((x) => x.definition.id === 'diabetes-hba1c-75-care-plan')!) as Record<string, any>;
  assert.equal(m.resourceType, 'Measure');
  assert.equal(m.url, 'https://bevan.example/fhir/Measure/diabetes-hba1c-75-care-plan');
  assert.equal(m.scoring.coding[0].code, 'proportion');
  assert.equal(m.improvementNotation.coding[0].code, 'increase');
  assert.match(m.description, /25–30 patients/);
  assert.equal(m.effectivePeriod.end, '2027-03-31');
  const pops = m.group[0].population as { code: { coding: { code: string }[] }; criteria: { language: string; expression: string } }[];
  assert.deepEqual(pops.map((p) => p.code.coding[0]!.code), ['initial-population', 'denominator', 'numerator']);
  assert.ok(pops.every((p) => p.criteria.language === COHORT_CRITERIA_LANGUAGE));
  assert.deepEqual(JSON.parse(pops[2]!.criteria.expression), { carePlan: {} });
  assert.equal(JSON.parse(pops[1]!.criteria.expression).all[0].register, 'diabetes');
  const smi = measureResource(measures.find((x) => x.definition.id === 'smi-health-check-due')!) as Record<string, any>;
  assert.equal(smi.improvementNotation.coding[0].code, 'decrease');
});

test('populations naming an unknown measure or register, or bad criteria, are refused with every problem named', () => {
  const defs = [{ id: 'x', title: 'X', panel: 'p', unit: 'people', polarity: 'neither' as const }];
  const raw = {
    measures: [
      { measure: 'nope', denominator: { title: 'a', criteria: { age: { min: 0 } } }, numerator: { title: 'b', criteria: { age: { min: 1 } } } },
      { measure: 'x', denominator: { title: 'a', criteria: { register: 'no-such-register' } }, numerator: { title: 'b', criteria: { age: { min: 'old' } } } },
      { measure: 'x', denominator: { title: 'a' }, numerator: { title: 'b', criteria: { age: { min: 1 } } } },
    ],
  };
  assert.throws(() => parsePopulations(raw, defs, registers), (e: unknown) => {
    const p = (e as CohortDefinitionError).problems.join('\n');
    assert.match(p, /"nope" is not in analytics\/spc\/measures.json/);
    assert.match(p, /min/);
    assert.match(p, /denominator: needs a title and criteria/);
    return true;
  });
  assert.throws(() => parsePopulations({ measures: [{ measure: 'x', denominator: { title: 'a', criteria: { register: 'no-such-register' } }, numerator: { title: 'b', criteria: { age: { min: 1 } } } }] }, defs, registers), /register "no-such-register" does not exist/);
});
