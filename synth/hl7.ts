/**
 * Hospital feeds as HL7 v2.4 messages (docs/feeds.md, "HL7 v2.4"): ADT A01/A02/A03/A04/A08/
 * A11/A13/A40 from the patient administration system and ORU^R01 from the laboratory. Segments
 * are separated by CR and each message ends with CR LF. PID-3 carries the hospital number
 * (type MR, assigning authority = facility) and the NHS number (authority NHS, type NH).
 */
import observationData from './codes/observations.json' with { type: 'json' };
import { hl7Time } from './dates.ts';
import type { Demographics } from './identity.ts';
import type { Practice } from './locality.ts';
import type { Attendance, History, LabTest, Moment, Person, SimWindow, Spell } from './population.ts';
import type { Random } from './random.ts';

export interface HospitalIdentity {
  facility: string;
  mrn: string;
  demographics: Demographics;
}

export interface Hl7Message {
  day: number;
  minute: number;
  kind: 'adt' | 'oru';
  /** HL7 trigger, e.g. `A01`, `R01`. */
  trigger: string;
  text: string;
}

/** Hands out message control ids (MSH-10) and laboratory order numbers, unique across a run. */
export class Hl7Counters {
  private message: number;
  private order: number;
  private readonly messageLimit: number;
  private readonly orderLimit: number;
  /**
   * Each shard of people (residents.ts) numbers from its own block, so that shards made on
   * different threads never share a control ID or order number: shard s uses s·10^6 + 1… for
   * MSH-10 and s·10^5 + 1… for order numbers (shard 0 numbers as a single sequence did).
   */
  constructor(shard = 0) {
    this.message = shard * 1_000_000;
    this.order = shard * 100_000;
    this.messageLimit = this.message + 1_000_000;
    this.orderLimit = this.order + 100_000;
  }
  controlId(facility: string): string {
    if (++this.message >= this.messageLimit) throw new Error('too many HL7 messages in one shard of people');
    return `${facility}${String(this.message).padStart(10, '0')}`;
  }
  orderNumber(facility: string): string {
    if (++this.order >= this.orderLimit) throw new Error('too many laboratory orders in one shard of people');
    return `${facility}L${String(this.order).padStart(9, '0')}`;
  }
}

type ObsDef = { code: string; display: string; unit?: string; low?: number | null; high?: number | null; range?: string };
const OBS = observationData.observations as Record<string, ObsDef>;
const PANELS = observationData.panels as Record<string, { code: string; display: string; members: string[] }>;

const WARDS = ['WARD4', 'WARD7', 'WARD9', 'WARD12', 'WARD15', 'WARD20'];

/** Per-facility identities of one person, with an optional duplicate MRN used for one episode. */
export interface FacilityIdentities {
  primary: HospitalIdentity;
  duplicate?: HospitalIdentity;
  /** Index (into this facility's episodes) of the episode registered under the duplicate MRN. */
  duplicateEpisode?: number;
  /** Days after the duplicate episode when it is merged into the primary (A40); absent: never merged. */
  mergeAfterDays?: number;
}

interface Episode {
  at: Moment;
  spell?: Spell;
  attendance?: Attendance;
}

/** All hospital messages for one person at one facility. */
export function hospitalMessages(
  person: Person,
  history: History,
  facility: string,
  ids: FacilityIdentities,
  rng: Random,
  counters: Hl7Counters,
  window: SimWindow,
): Hl7Message[] {
  const out: Hl7Message[] = [];
  const practice = person.practice;
  const episodes: Episode[] = [
    ...history.spells.filter((s) => s.facility === facility).map((s) => ({ at: s.aeArrival ?? s, spell: s })),
    ...history.attendances.filter((a) => a.facility === facility).map((a) => ({ at: a as Moment, attendance: a })),
  ].sort((a, b) => a.at.day - b.at.day || a.at.minute - b.at.minute);

  // A hospital that held an old address learns the new one (A08) at the first visit after a move.
  const primaryHasOldAddress = person.previousAddress !== undefined && ids.primary.demographics.address === person.previousAddress;
  const learnsMove = primaryHasOldAddress && rng.chance(0.6);
  let addressUpdated = false;
  let visit = 0;

  const identityFor = (episodeIndex: number) => (ids.duplicate && episodeIndex === ids.duplicateEpisode ? ids.duplicate : ids.primary);
  const demographicsFor = (identity: HospitalIdentity, day: number): Demographics =>
    identity === ids.primary && learnsMove && addressUpdated && day >= person.movedDay! ? { ...identity.demographics, address: person.address } : identity.demographics;

  const msg = (identity: HospitalIdentity, t: Moment, trigger: string, body: string[], death?: Moment): void => {
    const structure = trigger === 'A40' ? 'ADT_A39' : 'ADT_A01';
    const ts = hl7Time(t.day, t.minute);
    const segments = [
      `MSH|^~\\&|PAS|${facility}|BEVAN|TRAFFORD|${ts}||ADT^${trigger}^${structure}|${counters.controlId(facility)}|P|2.4`,
      `EVN|${trigger}|${ts}`,
      death ? pid(identity, demographicsFor(identity, t.day), death) : cachedPid(identity, demographicsFor(identity, t.day)),
      pd1(practice),
      ...body,
    ];
    out.push({ day: t.day, minute: t.minute, kind: 'adt', trigger, text: segments.join('\r') + '\r\n' });
  };

  episodes.forEach((ep, i) => {
    const identity = identityFor(i);
    if (learnsMove && !addressUpdated && ep.at.day >= person.movedDay!) {
      addressUpdated = true;
      msg(ids.primary, { day: ep.at.day, minute: Math.max(0, ep.at.minute - 5) }, 'A08', []);
    }
    const v = () => `${identity.mrn}V${++visit}`;
    if (ep.attendance) {
      const a = ep.attendance;
      const vn = v();
      const cls = a.kind === 'ae' ? 'E' : 'O';
      const loc = a.kind === 'ae' ? `ED^^^${facility}` : `OPD^${a.service}^^${facility}`;
      msg(identity, a, 'A04', [pv1({ cls, loc, type: a.kind === 'ae' ? 'EM' : 'EL', service: a.service, visit: vn, admit: a })]);
      if (a.leave.minute <= 1439) msg(identity, a.leave, 'A03', [pv1({ cls, loc, type: a.kind === 'ae' ? 'EM' : 'EL', service: a.service, visit: vn, admit: a, discharge: a.leave })]);
      return;
    }
    const s = ep.spell!;
    if (s.aeArrival) {
      const vn = v();
      const loc = `ED^^^${facility}`;
      msg(identity, s.aeArrival, 'A04', [pv1({ cls: 'E', loc, type: 'EM', service: 'AE', visit: vn, admit: s.aeArrival })]);
      msg(identity, s, 'A03', [pv1({ cls: 'E', loc, type: 'EM', service: 'AE', visit: vn, admit: s.aeArrival, discharge: s, disposition: '19' })]);
    }
    // PV1-4: EM/EL as the acute PAS sends them; L (HL7 table 0007, labour and delivery) for maternity.
    const type = s.kind === 'emergency' ? 'EM' : s.kind === 'maternity' ? 'L' : 'EL';
    if (s.admitEnteredInError) {
      const wrong = v();
      const t = { day: s.day, minute: Math.max(0, s.minute - 30) };
      msg(identity, t, 'A01', [pv1({ cls: 'I', loc: `AMU^^^${facility}`, type, service: s.service, visit: wrong, admit: t })]);
      msg(identity, { day: t.day, minute: t.minute + 20 }, 'A11', [pv1({ cls: 'I', loc: `AMU^^^${facility}`, type, service: s.service, visit: wrong, admit: t })]);
    }
    const vn = v();
    let loc = s.ward ? `${s.ward}^ROOM${rng.int(1, 12)}^BED${rng.int(1, 4)}^${facility}` : s.kind === 'emergency' ? `AMU^BAY${rng.int(1, 6)}^BED${rng.int(1, 8)}^${facility}` : `DSU^^BED${rng.int(1, 12)}^${facility}`;
    msg(identity, s, 'A01', [pv1({ cls: 'I', loc, type, service: s.service, visit: vn, admit: s })]);
    if (s.transfer && (!s.discharge || s.transfer.day < s.discharge.day)) {
      loc = `${rng.pick(WARDS)}^BAY${rng.int(1, 6)}^BED${rng.int(1, 8)}^${facility}`;
      msg(identity, s.transfer, 'A02', [pv1({ cls: 'I', loc, type, service: s.service, visit: vn, admit: s })]);
    }
    if (s.discharge) {
      const died = s.diedInHospital;
      if (s.dischargeCancelled) {
        const early = { day: s.discharge.day - 1, minute: s.discharge.minute };
        msg(identity, early, 'A03', [pv1({ cls: 'I', loc, type, service: s.service, visit: vn, admit: s, discharge: early, disposition: '1' })]);
        msg(identity, { day: early.day, minute: Math.min(1439, early.minute + 60) }, 'A13', [pv1({ cls: 'I', loc, type, service: s.service, visit: vn, admit: s })]);
      }
      msg(identity, s.discharge, 'A03', [pv1({ cls: 'I', loc, type, service: s.service, visit: vn, admit: s, discharge: s.discharge, disposition: died ? '4' : '1' })], died ? s.discharge : undefined);
    }
  });

  // The duplicate hospital number is found and merged into the surviving one.
  const dupEpisode = ids.duplicateEpisode !== undefined ? episodes[ids.duplicateEpisode] : undefined;
  const mergeDay = dupEpisode && ids.mergeAfterDays !== undefined ? dupEpisode.at.day + ids.mergeAfterDays : undefined;
  if (ids.duplicate && mergeDay !== undefined && mergeDay <= window.end) {
    const t = { day: mergeDay, minute: rng.int(540, 1020) };
    msg(ids.primary, t, 'A40', [`MRG|${ids.duplicate.mrn}^^^${facility}^MR`]);
  }

  // A death outside this hospital reaches its PAS from the Spine (PDS) within days: A08 with PID-29/30.
  const diedHere = [...history.spells].some((s) => s.facility === facility && s.diedInHospital);
  if (history.deathDay !== undefined && !diedHere) {
    const t = { day: Math.min(window.end, history.deathDay + rng.int(0, 3)), minute: rng.int(480, 1080) };
    msg(ids.primary, t, 'A08', [], { day: history.deathDay, minute: 0 });
  }

  // Laboratory results: one ORU^R01 per panel.
  for (const lab of history.labs) {
    if (!lab.hospital || lab.facility !== facility) continue;
    out.push(...labMessages(lab, ids.primary, demographicsFor(ids.primary, lab.day), practice, rng, counters));
  }
  return out;
}

function labMessages(lab: LabTest, identity: HospitalIdentity, d: Demographics, practice: Practice, rng: Random, counters: Hl7Counters): Hl7Message[] {
  const out: Hl7Message[] = [];
  // Reported the same day (kept within the day so no message falls after the extract date).
  const reported = { day: lab.day, minute: Math.min(1439, lab.minute + rng.int(90, 300)) };
  const facility = identity.facility;
  const collected = hl7Time(lab.day, lab.minute);
  for (const panelKey of lab.panel.split('+')) {
    const panel = PANELS[panelKey]!;
    const results = lab.results.filter((r) => panel.members.includes(r.key));
    const filler = counters.orderNumber(facility);
    const placer = lab.requestedBy === 'gp' ? `${practice.ods}-${filler.slice(facility.length)}` : `${facility}P${filler.slice(facility.length + 1)}`;
    const orderedBy = lab.requestedBy === 'gp' ? `${practice.ods}^${practice.name}` : `C${filler.slice(-6)}^CONSULTANT`;
    const ts = hl7Time(reported.day, reported.minute);
    const segments = [
      `MSH|^~\\&|LAB|${facility}|BEVAN|TRAFFORD|${ts}||ORU^R01^ORU_R01|${counters.controlId(facility)}|P|2.4`,
      cachedPid(identity, d),
      pd1(practice),
      `ORC|RE|${placer}|${filler}`,
      `OBR|1|${placer}|${filler}|${panel.code}^${panel.display}^L|||${collected}|||||||${collected}||${orderedBy}||||||${ts}|||F`,
      ...results.map((r, i) => {
        const def = OBS[r.key]!;
        // The range the laboratory applies for this person's age and sex (codes/reference-ranges.json).
        const flag = r.low !== undefined && r.value < r.low ? 'L' : r.high !== undefined && r.value > r.high ? 'H' : 'N';
        const range = r.low !== undefined && r.high !== undefined ? `${r.low}-${r.high}` : r.high !== undefined ? `<${r.high}` : r.low !== undefined ? `>${r.low}` : '';
        return `OBX|${i + 1}|NM|${def.code}^${def.display}^SCT||${r.value}|${def.unit ?? ''}|${range}|${flag}|||F|||${collected}`;
      }),
    ];
    out.push({ day: reported.day, minute: reported.minute, kind: 'oru', trigger: 'R01', text: segments.join('\r') + '\r\n' });
  }
  return out;
}

// A person's PID segment is the same on most of their messages: built once per identity and demographics (it is hot).
const pidCache = new WeakMap<Demographics, { identity: HospitalIdentity; text: string }>();
function cachedPid(identity: HospitalIdentity, d: Demographics): string {
  const hit = pidCache.get(d);
  if (hit && hit.identity === identity) return hit.text;
  const text = pid(identity, d);
  pidCache.set(d, { identity, text });
  return text;
}

const pd1Cache = new Map<string, string>();

function pid(identity: HospitalIdentity, d: Demographics, death?: Moment): string {
  const ids = [`${identity.mrn}^^^${identity.facility}^MR`];
  if (d.nhsNumber) ids.push(`${d.nhsNumber}^^^NHS^NH`);
  const name = `${d.family.toUpperCase()}^${d.given}${d.middle ? '^' + d.middle : ''}`;
  const f: string[] = ['PID', '1', '', ids.join('~'), '', name, '', d.birthDate.replace(/-/g, ''), d.sex === 'male' ? 'M' : 'F', '', '', `${d.address.line}^^${d.address.town}^^${d.address.postcode}^GBR`];
  if (death) {
    while (f.length < 29) f.push('');
    f.push(hl7Time(death.day, death.minute), 'Y');
  }
  return f.join('|');
}

function pd1(practice: Practice): string {
  let text = pd1Cache.get(practice.ods);
  if (text === undefined) pd1Cache.set(practice.ods, (text = `PD1|||${practice.name}^^${practice.ods}`));
  return text;
}

function pv1(v: { cls: string; loc: string; type: string; service: string; visit: string; admit: Moment; discharge?: Moment; disposition?: string }): string {
  // Fields 1–4, 10, 19, 36, 44, 45 of 45; empty trailing fields are left off (it is hot: built directly, no array).
  const head = `PV1|1|${v.cls}|${v.loc}|${v.type}||||||${v.service}|||||||||${v.visit}`;
  const admit = hl7Time(v.admit.day, v.admit.minute);
  const tail = v.discharge ? `|${admit}|${hl7Time(v.discharge.day, v.discharge.minute)}` : `|${admit}`;
  return `${head}|||||||||||||||||${v.disposition ?? ''}|||||||${tail}`;
}
