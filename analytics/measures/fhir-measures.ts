// The clinical panels' measures as FHIR R4 Measure resources (https://hl7.org/fhir/R4/measure.html),
// scoring proportion, their populations described by cohort definitions (populations.json, over
// the registers), and evaluated into summary MeasureReports (Measure/$evaluate-measure,
// https://hl7.org/fhir/R4/measure-operation-evaluate-measure.html). Each population is counted by
// a register run through the access policy (analytics/cohorts/service.ts: audited; a GP's own
// practice exactly, an analyst's figures under disclosure control). The measure's metadata
// (title, panel, polarity, aim) stays in analytics/spc/measures.json.
import { readFileSync } from 'node:fs';
import { invalid, notFound, type RequestContext } from '../../access/context.ts';
import type { Policy } from '../../access/policy.ts';
import { ODS_SYSTEM } from '../../record/fhir-bundle.ts';
import { CohortDefinitionError, parseCohort, type CohortDefinition, type Criterion } from '../cohorts/definition.ts';
import { runCohort } from '../cohorts/service.ts';
import { parseMeasures, type MeasureDefinition } from '../spc/measures.ts';

const MEASURES_FILE = new URL('../spc/measures.json', import.meta.url);
const POPULATIONS_FILE = new URL('./populations.json', import.meta.url);
export const MEASURE_BASE = 'https://bevan.example/fhir/Measure';
const POPULATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/measure-population';
const DISCLOSURE_CONTROL_URL = 'https://bevan.example/fhir/StructureDefinition/disclosure-control';
/** How a population's criteria are written: a Bevan cohort definition's criteria (analytics/cohorts/definition.ts), as JSON. */
export const COHORT_CRITERIA_LANGUAGE = 'application/vnd.bevan.cohort-criteria+json';

export interface PanelMeasure {
  definition: MeasureDefinition;
  denominator: CohortDefinition;
  /** Counted within the denominator: its criteria are the denominator's and the numerator's. */
  numerator: CohortDefinition;
  numeratorCriteria: Criterion;
}

/** Reads the measures and their populations, checking each population as a cohort definition against the registers. */
export function loadPanelMeasures(registers: ReadonlyMap<string, CohortDefinition>, files = { measures: MEASURES_FILE, populations: POPULATIONS_FILE }): PanelMeasure[] {
  const definitions = parseMeasures(JSON.parse(readFileSync(files.measures, 'utf8')));
  return parsePopulations(JSON.parse(readFileSync(files.populations, 'utf8')), definitions, registers);
}

/** Checks populations.json: a known measure, each population a valid cohort definition whose registers exist. */
export function parsePopulations(raw: unknown, definitions: readonly MeasureDefinition[], registers: ReadonlyMap<string, CohortDefinition>): PanelMeasure[] {
  const problems: string[] = [];
  const list = (raw as { measures?: unknown })?.measures;
  if (!Array.isArray(list)) throw new CohortDefinitionError(['populations: expected {"measures": [...]}']);
  const out: PanelMeasure[] = [];
  list.forEach((m: Record<string, unknown>, i) => {
    const at = `populations.measures[${i}]`;
    const def = definitions.find((d) => d.id === m?.measure);
    if (!def) return void problems.push(`${at}: measure "${String(m?.measure)}" is not in analytics/spc/measures.json`);
    const population = (key: 'denominator' | 'numerator'): { title: string; criteria: Criterion } | null => {
      const p = m[key] as { title?: unknown; criteria?: unknown } | undefined;
      if (!p || typeof p.title !== 'string' || !p.criteria) return problems.push(`${at}.${key}: needs a title and criteria`), null;
      return { title: p.title, criteria: p.criteria as Criterion };
    };
    const den = population('denominator');
    const num = population('numerator');
    if (!den || !num) return;
    try {
      const denominator = parseCohort({ name: `${def.id}-denominator`, title: den.title, panel: def.panel, criteria: den.criteria }, `${at}.denominator`);
      const numerator = parseCohort({ name: `${def.id}-numerator`, title: `${den.title}, ${num.title}`, panel: def.panel, criteria: { all: [den.criteria, num.criteria] } }, `${at}.numerator`);
      for (const name of registersNamed(numerator.criteria)) if (!registers.has(name)) problems.push(`${at}: register "${name}" does not exist`);
      out.push({ definition: def, denominator, numerator, numeratorCriteria: num.criteria });
    } catch (err) {
      problems.push(...(err instanceof CohortDefinitionError ? err.problems : [(err as Error).message]));
    }
  });
  if (problems.length) throw new CohortDefinitionError(problems);
  return out;
}

function registersNamed(c: Criterion): string[] {
  if ('register' in c) return [c.register];
  if ('all' in c) return c.all.flatMap(registersNamed);
  if ('any' in c) return c.any.flatMap(registersNamed);
  if ('not' in c) return registersNamed(c.not);
  return [];
}

const populationCode = (code: string, display: string) => ({ coding: [{ system: POPULATION_SYSTEM, code, display }] });

/** The FHIR R4 Measure of a panel measure. Pure. */
export function measureResource(m: PanelMeasure): Record<string, unknown> {
  const d = m.definition;
  const criteria = (c: CohortDefinition | Criterion, description: string) => ({ description, language: COHORT_CRITERIA_LANGUAGE, expression: JSON.stringify('criteria' in c ? c.criteria : c) });
  const guidance = [
    d.aim ? `Aim: ${d.aim.statement} (target ${d.aim.target} ${d.unit} by ${d.aim.by}).` : null,
    d.tolerance ? `Tolerance for variation monitoring: ${[d.tolerance.lower !== undefined ? `lower ${d.tolerance.lower}` : null, d.tolerance.upper !== undefined ? `upper ${d.tolerance.upper}` : null].filter(Boolean).join(', ')} ${d.unit}.` : null,
    'Populations are counted as of the end of the period (the registers are point-in-time, with their own windows). For secondary use every count is under disclosure control (under 8 suppressed, others rounded to 5).',
  ].filter(Boolean);
  return {
    resourceType: 'Measure',
    id: d.id,
    url: `${MEASURE_BASE}/${d.id}`,
    name: d.id.split('-').map((w) => w[0]!.toUpperCase() + w.slice(1)).join(''),
    title: d.title,
    status: 'active',
    experimental: false,
    publisher: 'Bevan',
    description: d.aim?.statement ?? d.title,
    subjectCodeableConcept: { coding: [{ system: 'http://hl7.org/fhir/resource-types', code: 'Patient' }] },
    topic: [{ text: `${d.panel} panel` }],
    ...(d.aim ? { effectivePeriod: { end: d.aim.by } } : {}),
    scoring: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/measure-scoring', code: 'proportion', display: 'Proportion' }] },
    ...(d.polarity !== 'neither' ? { improvementNotation: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/measure-improvement-notation', code: d.polarity === 'higher-is-better' ? 'increase' : 'decrease' }] } } : {}),
    guidance: guidance.join(' '),
    group: [
      {
        population: [
          { code: populationCode('initial-population', 'Initial Population'), criteria: criteria(m.denominator, m.denominator.title) },
          { code: populationCode('denominator', 'Denominator'), criteria: criteria(m.denominator, m.denominator.title) },
          { code: populationCode('numerator', 'Numerator'), criteria: criteria(m.numeratorCriteria, m.numerator.title) },
        ],
      },
    ],
  };
}

export interface EvaluateOptions {
  periodStart?: string;
  periodEnd?: string;
  practice?: string | null;
  resolve: (name: string) => CohortDefinition | undefined;
  policy?: Policy | null;
  now?: Date;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** A summary MeasureReport: the denominator and numerator counted for the user (through the policy, audited), as of periodEnd. */
export async function evaluateMeasure(ctx: RequestContext, m: PanelMeasure, o: EvaluateOptions): Promise<Record<string, unknown>> {
  const now = o.now ?? new Date();
  const end = o.periodEnd ?? now.toISOString().slice(0, 10);
  for (const [k, v] of [['periodStart', o.periodStart], ['periodEnd', end]] as const) if (v !== undefined && (!DATE.test(v) || Number.isNaN(Date.parse(v)))) throw invalid(`${k} "${v}" is not a date YYYY-MM-DD`);
  const start = o.periodStart ?? `${end.slice(0, 4)}-01-01`;
  if (start > end) throw invalid(`periodStart ${start} is after periodEnd ${end}`);
  const run = (def: CohortDefinition) => runCohort(ctx, def, { output: 'count', asOf: end, practice: o.practice ?? null, resolve: o.resolve, policy: o.policy, now });
  const den = await run(m.denominator);
  const num = await run(m.numerator);
  const population = (code: string, display: string, count: number | null) => ({ code: populationCode(code, display), ...(count !== null ? { count } : { extension: [{ url: DISCLOSURE_CONTROL_URL, valueString: 'count suppressed: fewer than 8 people' }] }) });
  const score = den.count !== null && num.count !== null && den.count > 0 ? Math.round((num.count / den.count) * 10000) / 10000 : null;
  return {
    resourceType: 'MeasureReport',
    ...(den.disclosureControl ? { extension: [{ url: DISCLOSURE_CONTROL_URL, valueString: 'secondary use: counts under 8 suppressed, others rounded to the nearest 5; the score is of the rounded counts' }] } : {}),
    status: 'complete',
    type: 'summary',
    measure: `${MEASURE_BASE}/${m.definition.id}`,
    date: now.toISOString(),
    ...(den.practice ? { reporter: { type: 'Organization', identifier: { system: ODS_SYSTEM, value: den.practice } } } : {}),
    period: { start, end },
    group: [
      {
        population: [population('initial-population', 'Initial Population', den.count), population('denominator', 'Denominator', den.count), population('numerator', 'Numerator', num.count)],
        ...(score !== null ? { measureScore: { value: score } } : {}),
      },
    ],
  };
}

/** A measure by id, or not found. */
export function findMeasure(measures: readonly PanelMeasure[], id: string): PanelMeasure {
  const m = measures.find((x) => x.definition.id === id);
  if (!m) throw notFound(`Measure/${id} is not known (GET /fhir/Measure lists them)`);
  return m;
}
