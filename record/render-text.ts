/**
 * The integrated record for a terminal: the name, then the death if any source reports one (the
 * first thing a reader must know), a summary by section (results by group with their comments
 * under them), then the timeline newest first with the source named on every line. Pure: a
 * record in, text out.
 */
import { formatNhsNumber } from '../mpi/nhs-number.ts';
import { formatDate } from './dates.ts';
import { describeConsultation, pounds, type IntegratedRecord, type RecordSource, type Result } from './integrated-record.ts';

export interface RenderOptions {
  /** Show the whole timeline instead of the newest `timelineLimit` items. */
  all?: boolean;
  /** Default 50. */
  timelineLimit?: number;
}

export const DEFAULT_TIMELINE_LIMIT = 50;
/** Reports and GP consultations shown unless --all. */
export const DEFAULT_LIST_LIMIT = 10;

type Cell = string | null | undefined;

/** Renders the record as plain text for a terminal. */
export function renderRecordText(record: IntegratedRecord, opts: RenderOptions = {}): string {
  const out: string[] = [];
  const d = record.demographics;
  const title = `Integrated care record: ${[d.family?.toUpperCase(), d.given].filter(Boolean).join(', ') || '(no name)'}`;
  const death = record.death;
  out.push(title);
  if (death) {
    const when = death.date ? `died ${formatDate(death.date)}${death.ageAtDeath !== null ? `, aged ${death.ageAtDeath}` : ''}` : 'died (date not recorded)';
    out.push(`DECEASED: ${when} — recorded by ${death.reportedBy.map((s) => s.name).join('; ')}`);
  }
  out.push('='.repeat(title.length));
  if (death) {
    for (const x of death.disagreements) out.push(`  The sources disagree on the death: ${x}`);
    if (death.notRecordedBy.length) out.push(`  Not recorded as deceased by: ${death.notRecordedBy.map((s) => s.name).join('; ')}`);
  }
  const rp = record.registeredPractice;
  const nhs = d.nhsNumber ? `${formatNhsNumber(d.nhsNumber)}${d.nhsNumberValid ? '' : ' (not a valid NHS number)'}` : 'not known';
  const summary: Cell[][] = [
    ['NHS number', nhs],
    ['Born', d.birthDate ? `${formatDate(d.birthDate)}${death ? (death.ageAtDeath !== null ? ` (aged ${death.ageAtDeath} at death)` : '') : d.age !== null ? ` (age ${d.age})` : ''}` : 'not known'],
    ...(death ? [['Died', death.date ? formatDate(death.date) : 'date not recorded'] as Cell[]] : []),
    ['Sex', d.sex ?? 'not known'],
    ['Postcode', d.postcode ? formatPostcode(d.postcode) : 'not known'],
    ['Registered GP', rp ? [rp.odsCode, rp.name, rp.neighbourhoodName ?? rp.neighbourhood ? `— ${rp.neighbourhoodName ?? rp.neighbourhood} neighbourhood` : null].filter(Boolean).join(' ') : 'not known'],
    ['Sources', record.sources.map((s) => s.name).join('; ') || 'none'],
    ['Person id', `${record.personId}${record.status !== 'active' ? ` (${record.status})` : ''}`],
  ];
  out.push(...table(summary, [], 0));
  if (d.variants.length) {
    out.push('', 'The sources disagree on:');
    out.push(...table(d.variants.map((v) => [FIELD_LABEL[v.field], v.values.map((x) => `${x.value} (${x.sources.join(', ')})`).join('; ')])));
  }

  section(out, 'Source identities', record.identities.length, () =>
    table(record.identities.map((i) => [i.source.name, i.id, i.nhsNumber ? formatNhsNumber(i.nhsNumber) + (i.nhsNumberValid ? '' : '!') : '', [i.family?.toUpperCase(), i.given].filter(Boolean).join(' '), formatDate(i.birthDate), i.postcode && formatPostcode(i.postcode), `${i.linkMethod} ${i.matchStatus}`])),
  );
  section(out, 'Allergies', record.allergies.length, () =>
    table(record.allergies.map((a) => [a.active ? 'active' : (a.status ?? ''), a.substance, a.reactions.join(', '), a.criticality === 'high' ? 'HIGH' : '', sources(a.sources)])),
  );
  section(out, 'Problems', record.problems.length, () =>
    table(record.problems.map((p) => [p.active ? 'active' : (p.status ?? 'inactive'), p.onset ? `since ${formatDate(p.onset)}` : '', p.name, sources(p.sources)]), [0, 0, 50]),
  );
  section(out, 'Medications', record.medications.length, () =>
    table(record.medications.map((m) => [m.current ? 'current' : (m.status ?? 'past'), formatDate(m.date), m.name, m.dosage, sources(m.sources)]), [0, 0, 45, 35]),
  );
  if (!record.results.groups.length) section(out, 'Results and observations', 0, () => []);
  for (const g of record.results.groups) section(out, `${g.label}, latest of each`, g.latest.length, () => resultLines(g.latest));
  const reports = record.results.reports;
  const listLimit = opts.all ? Infinity : DEFAULT_LIST_LIMIT;
  if (reports.length) {
    const shownReports = reports.slice(0, listLimit);
    section(out, 'Reports', reports.length, () => resultLines(shownReports), shownReports.length < reports.length ? `the latest ${shownReports.length} shown; --all shows all` : undefined);
  }
  const gp = record.gpConsultations;
  const shownGp = gp.slice(0, listLimit);
  section(out, 'GP consultations', gp.length, () => table(shownGp.map((c) => [formatDate(c.date), describeConsultation(c), c.clinician, c.source.name]), [0, 70]), shownGp.length < gp.length ? `the latest ${shownGp.length} shown; --all shows all` : undefined);
  section(out, 'Admissions and A&E', record.admissions.length, () =>
    table(
      record.admissions.map((a) => [
        formatDate(a.admitted),
        a.setting === 'emergency' ? 'A&E' : 'admission',
        a.priority ?? '',
        a.status ?? '',
        a.discharged ? `to ${formatDate(a.discharged)}` : a.ongoing ? 'still in' : '',
        a.setting === 'inpatient' && a.lengthOfStayDays !== null ? `${a.lengthOfStayDays} d` : '',
        a.died ? 'DIED' : '',
        [a.service, a.reason, a.location].filter(Boolean).join(' — '),
        a.source.name,
      ]),
    ),
  );
  section(out, 'Other encounters', record.encounters.length, () =>
    table(record.encounters.map((e) => [formatDate(e.date), e.kindName, e.type, e.location, e.status, e.source.name]), [0, 0, 40, 50]),
  );
  section(out, 'Community contacts', record.communityContacts.length, () =>
    table(record.communityContacts.map((c) => [formatDate(c.date), c.service, c.reason ?? c.contactType, c.durationMinutes !== null ? `${c.durationMinutes} min` : '', c.staffRole, c.source.name]), [0, 30, 40]),
  );
  const sc = record.socialCare;
  section(out, 'Social care assessments', sc.assessments.length, () =>
    table(sc.assessments.map((a) => [formatDate(a.date), a.type, a.outcome, a.team, a.source.name]), [0, 35, 30]),
  );
  section(
    out,
    'Social care packages',
    sc.packages.length,
    () => table(sc.packages.map((p) => [p.open ? 'open' : 'ended', `${formatDate(p.start)} – ${p.end ? formatDate(p.end) : ''}`, p.service, p.hoursPerWeek !== null ? `${p.hoursPerWeek} h/wk` : '', p.weeklyCost !== null ? `${pounds(p.weeklyCost)}/wk` : '', p.provider, p.source.name])),
    sc.openWeeklyCost ? `open packages cost ${pounds(sc.openWeeklyCost)} a week` : undefined,
  );
  if (record.immunisations.length) section(out, 'Immunisations', record.immunisations.length, () => table(record.immunisations.map((i) => [formatDate(i.date), i.name, i.source.name]), [0, 50]));
  if (record.procedures.length) section(out, 'Procedures', record.procedures.length, () => table(record.procedures.map((p) => [formatDate(p.date), p.name, p.source.name]), [0, 50]));

  const limit = opts.timelineLimit ?? DEFAULT_TIMELINE_LIMIT;
  const shown = opts.all ? record.timeline : record.timeline.slice(0, limit);
  const total = record.timeline.length;
  const note = shown.length < total ? `the latest ${shown.length} shown; --all shows all` : undefined;
  section(out, 'Timeline, newest first', total, () => table(shown.map((t) => [formatDate(t.date), t.kind, t.description, t.source.name]), [0, 0, 90]), note);
  return out.join('\n') + '\n';
}

const FIELD_LABEL = { family: 'family name', given: 'given name', birthDate: 'date of birth', sex: 'sex', postcode: 'postcode', nhsNumber: 'NHS number' } as const;

/** Result rows, each with its comments on the lines under it. */
function resultLines(results: Result[]): string[] {
  const rows = table(results.map((r) => [formatDate(r.date), r.name, r.localCode ? `[${r.localCode}]` : '', r.value, r.interpretation && r.interpretation !== 'N' ? r.interpretation : '', r.referenceRange ? `(${r.referenceRange})` : '', r.source.name]), [0, 40, 0, 25]);
  const out: string[] = [];
  rows.forEach((line, i) => {
    out.push(line);
    for (const n of results[i]!.notes) for (const part of n.split('\n')) out.push(`      comment: ${part}`.trimEnd());
  });
  return out;
}

function section(out: string[], heading: string, count: number, body: () => string[], note?: string) {
  out.push('', `${heading.toUpperCase()} (${count})${note ? ` — ${note}` : ''}`);
  out.push(...(count ? body() : ['  none recorded']));
}

/** UK postcodes are written with one space before the last three characters. */
function formatPostcode(p: string): string {
  const c = p.replace(/\s+/g, '').toUpperCase();
  return /^[A-Z0-9]{5,7}$/.test(c) ? `${c.slice(0, -3)} ${c.slice(-3)}` : p;
}

function sources(list: RecordSource[]): string {
  return list.map((s) => s.name).join(' + ');
}

/**
 * Aligned columns, two spaces apart, indented; empty columns vanish. maxWidths truncates a
 * column (0 = no limit). The last column is not padded, so lines carry no trailing spaces.
 */
export function table(rows: Cell[][], maxWidths: number[] = [], indent = 2): string[] {
  const cells = rows.map((r) => r.map((c, i) => truncate(c ?? '', maxWidths[i] ?? 0)));
  const ncol = Math.max(0, ...cells.map((r) => r.length));
  const used = Array.from({ length: ncol }, (_, i) => cells.some((r) => (r[i] ?? '') !== ''));
  const widths = Array.from({ length: ncol }, (_, i) => Math.max(0, ...cells.map((r) => [...(r[i] ?? '')].length)));
  return cells.map((r) => {
    const parts: string[] = [];
    for (let i = 0; i < ncol; i++) if (used[i]) parts.push(r[i] ?? '');
    const ws = widths.filter((_, i) => used[i]);
    return (' '.repeat(indent) + parts.map((p, i) => (i === parts.length - 1 ? p : p + ' '.repeat(ws[i]! - [...p].length))).join('  ')).trimEnd();
  });
}

function truncate(s: string, max: number): string {
  const chars = [...s];
  return max > 0 && chars.length > max ? chars.slice(0, max - 1).join('').trimEnd() + '…' : s;
}
