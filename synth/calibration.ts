/**
 * Measures a synthetic locality against the published figures it is calibrated to
 * (docs/synthetic-population.md) and counts the things that cannot happen (clinical coherence
 * rules). Works on the model (people and histories), without writing files, so a 20,000-person
 * locality is measured in seconds. `node --import tsx synth/calibration.ts [people] [seed] [until]`
 * prints both as JSON.
 */
import { MEDICINE_RULES, CHILDHOOD_SCHEDULE, referenceRange, reportedAt, serviceAdmits, heightFor, bmiFor } from './clinical.ts';
import { addYears, ageOn } from './dates.ts';
import { buildLocality } from './locality.ts';
import { NhsNumberAllocator } from './nhs-number.ts';
import { CONDITIONS, CONDITION_KEYS, MENTAL_HEALTH_TRUST, indicationsOn, simulationWindow, type Person, type Spell } from './population.ts';
import { residents } from './residents.ts';

export interface Target {
  key: string;
  label: string;
  /** Public value the figure is calibrated to, and the accepted band (±15 % or the published range). */
  target: number;
  low: number;
  high: number;
  unit: string;
}

const band = (key: string, label: string, target: number, unit: string, low = target * 0.85, high = target * 1.15): Target => ({ key, label, target, low, high, unit });

/** The calibration targets (docs/synthetic-population.md gives each one's source). */
export const TARGETS: Target[] = [
  band('age85Plus', 'age 85+ (% of residents)', 2.5, '%'),
  band('age0to4', 'age 0–4 (% of residents)', 5.4, '%'),
  band('dementia', 'dementia, all ages (%)', 0.75, '%'),
  band('ckd18', 'CKD, adults 18+ (%)', 4.0, '%'),
  band('diabetes18', 'diabetes, adults 17+ (%)', 7.5, '%'),
  band('hypertension', 'hypertension, all ages (%)', 14.4, '%'),
  band('emergencyPer1000', 'emergency admissions per 1,000 a year', 105, '/1,000', 100 * 0.85, 110 * 1.15),
  band('electivePer1000', 'elective admissions incl. day case per 1,000 a year', 140, '/1,000'),
  band('aeAdmittedShare', 'A&E attendances followed by admission (%)', 27, '%'),
  band('outpatientPer1000', 'outpatient attendances per 1,000 a year', 2000, '/1,000'),
  band('gpPerPerson', 'GP consultations per person a year', 5.5, '/person', 5 * 0.85, 6 * 1.15),
  band('emergencyLos', 'emergency length of stay, mean (days)', 4.75, 'days', 4.5 * 0.85, 5 * 1.15),
  band('socialCareAdults', 'adults with long-term social care support in the year (%)', 1.9, '%'),
  band('mmr1At24Months', 'MMR1 by 24 months (%)', 92, '%'),
  band('deathsPer1000', 'deaths per 1,000 a year', 10, '/1,000'),
  band('birthsPer1000', 'live births per 1,000 a year', 10.3, '/1,000'),
];

export interface Measurement {
  people: number;
  figures: Record<string, number>;
  /** Counts of things that cannot happen; every one should be zero. */
  impossible: Record<string, number>;
}

/** Generates the locality's people in memory and measures them. */
export function measureLocality(people: number, seed: number, until: string): Measurement {
  const window = simulationWindow(until);
  const locality = buildLocality();
  const year = window.years[window.years.length - 1]!;
  const yearDays = year.end - year.start;
  const f = { alive: 0, age85: 0, age0to4: 0, adultsAlive: 0, personYears: 0, em: 0, el: 0, aeTotal: 0, aeAdmitted: 0, op: 0, gp: 0, losSum: 0, losN: 0, adultsAtStart: 0, socialCare: 0, turnedTwo: 0, mmr1: 0, deaths: 0, births: 0 };
  const prevalence: Record<string, number> = {};
  const impossible: Record<string, number> = {
    serviceWrongSexOrAge: 0, conditionBeforeMinimumAge: 0, eventAfterDeath: 0, diagnosisAfterDeath: 0, medicineAfterDeath: 0,
    overlappingStays: 0, aeDuringStay: 0, dischargeBeforeAdmission: 0, adultOnlyTestInChild: 0, wrongReferenceRange: 0,
    medicineWithoutIndication: 0, duplicateTherapyInClass: 0, implausibleWeight: 0, vaccineBeforeDueAge: 0,
    pregnancyOutsideAge: 0, birthWithoutNewborn: 0, newbornNotAtMothersPractice: 0,
  };
  const bump = (k: string, n = 1) => (impossible[k] = (impossible[k] ?? 0) + n);
  const bandAll = new Array(19).fill(0) as number[];
  const bandAlive = new Array(19).fill(0) as number[];
  const expectedNewborns = new Map<string, { practice: string; day: number }[]>();

  for (const { person, history: h } of residents(people, seed, window, locality, new NhsNumberAllocator(seed))) {
    const death = h.deathDay;
    const aliveAtEnd = death === undefined;
    const age = (d: number) => ageOn(person.birthDay, d);
    const ageEnd = age(window.end);
    const b = Math.min(18, Math.floor(ageEnd / 5));
    bandAll[b]!++;
    if (aliveAtEnd) bandAlive[b]!++;
    if (aliveAtEnd) {
      f.alive++;
      if (ageEnd >= 85) f.age85++;
      if (ageEnd <= 4) f.age0to4++;
      if (ageEnd >= 18) f.adultsAlive++;
      for (const c of CONDITIONS) {
        if (person.conditions[c.key] === undefined) continue;
        if (c.denominator === 'adult' && ageEnd < 18) continue;
        prevalence[c.key] = (prevalence[c.key] ?? 0) + 1;
      }
    }
    const inYear = (d: number) => d >= year.start && d < year.end;
    const from = Math.max(year.start, person.birthDay);
    const to = Math.min(year.end, death !== undefined ? death + 1 : year.end);
    if (to > from) f.personYears += (to - from) / yearDays;
    if (death !== undefined && inYear(death)) f.deaths++;
    f.births += h.births.filter(inYear).length;

    for (const s of h.spells) {
      if (!inYear(s.day)) continue;
      if (s.kind === 'emergency') {
        f.em++;
        if (s.aeArrival) f.aeAdmitted++;
      }
      if (s.kind === 'elective') f.el++;
    }
    for (const s of h.spells) if (s.kind === 'emergency' && s.discharge && inYear(s.discharge.day)) {
      f.losSum += s.discharge.day - s.day;
      f.losN++;
    }
    for (const a of h.attendances) {
      if (!inYear(a.day)) continue;
      if (a.kind === 'ae') f.aeTotal++;
      else f.op++;
    }
    f.gp += h.gpEncounters.filter((e) => inYear(e.day)).length;
    if (age(year.start) >= 18 && person.birthDay < year.start && (death === undefined || death >= year.start)) {
      f.adultsAtStart++;
      if (h.packages.some((p) => p.serviceType !== 'Reablement' && p.start < year.end && (p.end === undefined || p.end >= year.start))) f.socialCare++;
    }
    const second = addYears(person.birthDay, 2);
    if (inYear(second) && (death === undefined || death > second)) {
      f.turnedTwo++;
      if (h.immunizations.some((im) => im.key === 'mmr-1' && im.day <= second)) f.mmr1++;
    }

    // ----- things that cannot happen
    const spells: Spell[] = [...h.spells, ...h.mentalHealthSpells].sort((a, b) => a.day - b.day);
    const episodes = [...spells.map((s) => ({ service: s.service, day: s.day })), ...h.attendances.map((a) => ({ service: a.service, day: a.day }))];
    for (const e of episodes) if (!serviceAdmits(e.service, person.sex, age(e.day))) bump('serviceWrongSexOrAge');
    for (const c of CONDITIONS) {
      const onset = person.conditions[c.key];
      if (onset !== undefined && age(onset) < c.minAge) bump('conditionBeforeMinimumAge');
    }
    if (death !== undefined) {
      const days = [
        ...spells.map((s) => s.day), ...h.attendances.map((a) => a.day), ...h.labs.map((l) => l.day), ...h.gpEncounters.map((e) => e.day),
        ...h.gpObservations.map((o) => o.day), ...h.issues.map((i) => i.day), ...h.procedures.map((p) => p.day), ...h.immunizations.map((i) => i.day),
        ...h.community.map((c) => c.day), ...h.mentalHealth.map((c) => c.day), ...h.assessments.map((a) => a.day), ...h.packages.map((p) => p.start),
        ...h.packages.map((p) => p.end ?? Infinity), ...spells.map((s) => s.discharge?.day ?? Infinity), ...h.births,
      ];
      bump('eventAfterDeath', days.filter((d) => d > death).length);
      bump('diagnosisAfterDeath', Object.values(person.conditions).filter((d) => d! > death).length);
      bump('medicineAfterDeath', Object.values(person.medicines).filter((d) => d! > death).length);
    }
    let previousEnd = -Infinity;
    for (const s of spells) {
      if (s.day <= previousEnd) bump('overlappingStays');
      if (s.discharge && (s.discharge.day < s.day || (s.discharge.day === s.day && s.discharge.minute < s.minute))) bump('dischargeBeforeAdmission');
      previousEnd = Math.max(previousEnd, s.discharge?.day ?? Infinity);
    }
    for (const a of h.attendances) {
      if (a.kind !== 'ae') continue;
      if (spells.some((s) => a.day >= s.day && a.day <= (s.discharge?.day ?? Infinity))) bump('aeDuringStay');
    }
    for (const lab of h.labs) {
      for (const r of lab.results) {
        if (!reportedAt(r.key, age(lab.day))) bump('adultOnlyTestInChild');
        const range = referenceRange(r.key, person.sex, lab.day - person.birthDay);
        if (range?.low !== r.low || range?.high !== r.high) bump('wrongReferenceRange');
      }
    }
    const classes = new Map<string, number>();
    for (const [med, start] of Object.entries(person.medicines)) {
      const rule = MEDICINE_RULES[med];
      const have = indicationsOn(person, start!);
      if (!rule || !rule.indications.some((i) => have.has(i))) bump('medicineWithoutIndication');
      if (rule) classes.set(rule.class, (classes.get(rule.class) ?? 0) + 1);
    }
    for (const n of classes.values()) if (n > 1) bump('duplicateTherapyInClass');
    for (const o of h.gpObservations) {
      if (o.key !== 'weight') continue;
      const years = (o.day - person.birthDay) / 365.25;
      if (!plausibleWeightFor(person, years, o.values[0]!)) bump('implausibleWeight');
    }
    for (const im of h.immunizations) {
      const dose = CHILDHOOD_SCHEDULE.find((d) => d.key === im.key);
      if (dose && im.day < person.birthDay + dose.ageDays) bump('vaccineBeforeDueAge');
    }
    for (const b of h.births) {
      if (person.sex !== 'female' || age(b) < 15 || age(b) > 49) bump('pregnancyOutsideAge');
      const list = expectedNewborns.get(person.personId) ?? [];
      list.push({ practice: person.practice.ods, day: b });
      expectedNewborns.set(person.personId, list);
    }
    if (person.motherId) {
      const list = expectedNewborns.get(person.motherId);
      const i = list?.findIndex((x) => x.day === person.birthDay) ?? -1;
      if (i < 0) bump('birthWithoutNewborn');
      else {
        if (list![i]!.practice !== person.practice.ods) bump('newbornNotAtMothersPractice');
        list!.splice(i, 1);
        if (list!.length === 0) expectedNewborns.delete(person.motherId);
      }
    }
  }
  // Babies still owed are those the size limit cut off (the last few mothers); more would be a fault.
  const owed = [...expectedNewborns.values()].reduce((s, l) => s + l.length, 0);
  if (owed > 20) bump('birthWithoutNewborn', owed);

  const pct = (n: number, d: number) => (d ? (100 * n) / d : 0);
  const figures: Record<string, number> = {
    age85Plus: pct(f.age85, f.alive),
    age0to4: pct(f.age0to4, f.alive),
    emergencyPer1000: (1000 * f.em) / f.personYears,
    electivePer1000: (1000 * f.el) / f.personYears,
    aeAdmittedShare: pct(f.aeAdmitted, f.aeAdmitted + f.aeTotal),
    outpatientPer1000: (1000 * f.op) / f.personYears,
    gpPerPerson: f.gp / f.personYears,
    emergencyLos: f.losN ? f.losSum / f.losN : 0,
    socialCareAdults: pct(f.socialCare, f.adultsAtStart),
    mmr1At24Months: pct(f.mmr1, f.turnedTwo),
    deathsPer1000: (1000 * f.deaths) / f.personYears,
    birthsPer1000: (1000 * f.births) / f.personYears,
    aePer1000: (1000 * (f.aeTotal + f.aeAdmitted)) / f.personYears,
  };
  bandAll.forEach((n, i) => (figures[`survivalBand${i}`] = n ? bandAlive[i]! / n : 0));
  for (const c of CONDITIONS) figures[c.denominator === 'adult' ? `${c.key}18` : c.key] = pct(prevalence[c.key] ?? 0, c.denominator === 'adult' ? f.adultsAlive : f.alive);
  return { people, figures, impossible };
}

/** Weight within a wide band around the growth reference for the age and sex (±3.5 SD BMI and height, about). */
export function plausibleWeightFor(person: Pick<Person, 'sex'>, years: number, kg: number): boolean {
  const median = bmiFor(person.sex, years, 0) * (heightFor(person.sex, years, 0) / 100) ** 2;
  return kg >= 0.45 * median && kg <= 2.3 * median && (years < 18 || kg >= 30);
}

void CONDITION_KEYS;
void MENTAL_HEALTH_TRUST;

if (import.meta.url === `file://${process.argv[1]}`) {
  const [people = '20000', seed = '42', until = '2025-12-31'] = process.argv.slice(2);
  const t = Date.now();
  const m = measureLocality(Number(people), Number(seed), until);
  const rows = TARGETS.map((t) => ({ figure: t.label, target: t.target, generator: Math.round(m.figures[t.key]! * 100) / 100, ok: m.figures[t.key]! >= t.low && m.figures[t.key]! <= t.high }));
  console.log(JSON.stringify({ seconds: (Date.now() - t) / 1000, rows, figures: m.figures, impossible: m.impossible }, null, 1));
}
