/**
 * A small HL7 v2 (ER7, "pipe and hat") reader: segments, fields, repetitions, components and
 * sub-components, with escape sequences decoded, plus HL7 date/time conversion.
 *
 * Why our own parser rather than @medplum/core's Hl7Message.parse: ingestion needs to say
 * exactly what is wrong and where (bad MSH-2 encoding characters, a truncated segment, an
 * impossible date) so a person can fix a quarantined message; Hl7Message.parse never fails,
 * only splits on CR, and leaves escape sequences encoded. This reader is ~150 lines, pure and
 * total: it returns a reason instead of throwing.
 * Spec: HL7 v2.8 chapter 2 (2.6 message construction rules, 2.7 escape sequences); v2.3–2.8 share them.
 */
import { isUtf8 } from 'node:buffer';
import { decodeWindows1252 } from '../text.ts';

/** The delimiters declared by MSH-1 and MSH-2. */
export interface Hl7Delimiters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
}

export interface Hl7Segment {
  name: string;
  /** 1-based position in the message (MSH is 1), for error messages. */
  position: number;
  /** Raw (still escaped) field texts; `fields[n]` is field n (for MSH, fields[1] is MSH-1). */
  fields: string[];
  /** The segment's line as read (fields joined by the field separator), when read from text. */
  text?: string;
}

export interface Hl7Message {
  delimiters: Hl7Delimiters;
  segments: Hl7Segment[];
}

export type Hl7ReadResult = { ok: true; message: Hl7Message } | { ok: false; reason: string };

const upperOrDigit = (x: number): boolean => (x >= 65 && x <= 90) || (x >= 48 && x <= 57);

/** A segment name (`/^[A-Z][A-Z0-9]{2}$/` of the first three characters), by character codes. */
function segmentName(line: string): boolean {
  const a = line.charCodeAt(0);
  return a >= 65 && a <= 90 && upperOrDigit(line.charCodeAt(1)) && upperOrDigit(line.charCodeAt(2));
}

// A line that starts like a segment (a letter, up to three more letters or digits, then a
// separator or the end) is a segment, even a truncated one; any other line (free text, "panel
// AHIC^LN", the "8866|…" left when a telephone number "(608)258-8866" was broken across lines)
// is the rest of the segment before it, wrapped by a sender or a mail system. Every segment id,
// standard or Z, begins with a letter, so a line that begins with a digit is never one.
const SEGMENT_LIKE = /^[A-Za-z][A-Za-z0-9]{0,3}([^A-Za-z0-9\s]|$)/;

/**
 * Splits message text into segments: CR, LF and CRLF all end a segment; blank lines are dropped.
 * A line that does not begin like a segment continues the one before it (joined with a line
 * break when the message otherwise ends segments with CR, so the LF was data; else a space).
 */
export function segmentLines(text: string): string[] {
  // A scan by character codes rather than split(/(\r\n|\r|\n)/) and a regex per line: this runs
  // for every message, and most lines are plain `XXX|…` segments.
  const crMessage = text.includes('\r');
  const out: string[] = [];
  const n = text.length;
  let start = 0;
  let sepBefore = 0; // the code of the line end before this line (LF 10, CR 13, CRLF 13), 0 for the first
  for (;;) {
    let end = start;
    while (end < n) {
      const c = text.charCodeAt(end);
      if (c === 13 || c === 10) break;
      end++;
    }
    const line = text.slice(start, end);
    if (line.trim() !== '') {
      const trimmed = line.trimStart();
      if (out.length && !segmentLike(trimmed)) out[out.length - 1] += (sepBefore === 10 && crMessage ? '\n' : ' ') + line;
      else out.push(trimmed);
    }
    if (end >= n) break;
    if (text.charCodeAt(end) === 13) {
      sepBefore = text.charCodeAt(end + 1) === 10 ? 14 : 13;
      start = sepBefore === 14 ? end + 2 : end + 1;
    } else {
      sepBefore = 10;
      start = end + 1;
    }
  }
  return out;
}

const isAlnumCode = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/** SEGMENT_LIKE.test(line), with the common `XXX|` answered without the regex. */
function segmentLike(line: string): boolean {
  const a = line.charCodeAt(0);
  if (line.charCodeAt(3) === 124 && ((a >= 65 && a <= 90) || (a >= 97 && a <= 122)) && isAlnumCode(line.charCodeAt(1)) && isAlnumCode(line.charCodeAt(2))) return true;
  return SEGMENT_LIKE.test(line);
}

/** Message text with segments joined by CR, the form hashed for content comparison. */
export function normaliseSegments(text: string): string {
  return segmentLines(text).join('\r');
}

// Characters that must never reach stored text: C0 and C1 controls other than tab, CR and LF
// (PostgreSQL jsonb cannot hold NUL; the others are never meaningful in a name or a result), and
// UTF-16 surrogates that are not part of a pair (jsonb rejects them too).
const UNSAFE = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

// Any control character or surrogate at all: a cheap test that almost every value passes.
const SUSPECT = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]/;

/** Decoded text made safe to store: control characters and lone surrogates are dropped. */
export function safeText(value: string): string {
  return SUSPECT.test(value) ? value.replace(UNSAFE, '') : value;
}

function isDelimiterChar(c: string): boolean {
  return c.length === 1 && !/[A-Za-z0-9\s]/.test(c);
}

/** Reads an HL7 v2 message; never throws, returns the first structural problem found. */
export function readHl7(text: string): Hl7ReadResult {
  return readHl7Lines(segmentLines(text));
}

/** readHl7 of a message already split into segment lines (segmentLines), so a caller that also hashes them splits once. */
export function readHl7Lines(lines: readonly string[]): Hl7ReadResult {
  if (lines.length === 0) return { ok: false, reason: 'message is empty' };
  const first = lines[0].replace(/^\uFEFF/, '').trimStart();
  if (!first.startsWith('MSH')) return { ok: false, reason: 'no MSH segment' };
  const fieldSep = first.charAt(3);
  if (!isDelimiterChar(fieldSep)) {
    return { ok: false, reason: `MSH-1 field separator ${JSON.stringify(fieldSep)} is not a valid separator` };
  }
  const mshParts = first.split(fieldSep);
  let enc = mshParts[1] ?? '';
  // v2.7 adds a fifth (truncation) character; accept it, but the first four must be distinct separators.
  // `^~\\&`, the escape character doubled (an escaping slip in the sender's code or interface
  // engine: LinuxForHealth's HAPI-based converter ships such test messages), is read as the four it
  // meant; every other character stays distinct.
  const doubledEscape = enc.length === 5 && enc[2] === enc[3] && [...enc].every(isDelimiterChar) && new Set([enc[0], enc[1], enc[2], enc[4], fieldSep]).size === 5;
  if (doubledEscape) enc = enc.slice(0, 3) + enc.slice(4);
  const encOk =
    (enc === '^~\\&' && fieldSep === '|') || // the usual ones, known good
    ((enc.length === 4 || enc.length === 5) &&
    [...enc].every(isDelimiterChar) &&
    new Set([...enc.slice(0, 4), fieldSep]).size === 5);
  // Three characters: a sender that never escapes leaves one out. "^~&" (laboratory systems such as
  // GLIMS) has no escape character and & for subcomponents, as its values use it; otherwise the
  // standard order is kept (component, repetition, escape) and there are no subcomponents.
  const three = !encOk && enc.length === 3 && [...enc].every(isDelimiterChar) && new Set([...enc, fieldSep]).size === 4;
  if (!encOk && !three) {
    return { ok: false, reason: `MSH-2 encoding characters "^~\\&" expected, got ${JSON.stringify(enc)}` };
  }
  const noEscape = three && enc[2] === '&';
  const delimiters: Hl7Delimiters = {
    field: fieldSep,
    component: enc[0],
    repetition: enc[1],
    // NUL never reaches a value (safeText drops it): a separator that splits nothing.
    escape: noEscape ? '\u0000' : enc[2],
    subcomponent: three ? (noEscape ? '&' : '\u0000') : enc[3],
  };
  const segments: Hl7Segment[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = i === 0 ? first : lines[i];
    const name = line.slice(0, 3);
    const next = line.charAt(3);
    if (!segmentName(line) || (next !== '' && next !== fieldSep)) {
      const shown = line.split(fieldSep)[0].slice(0, 20);
      return { ok: false, reason: `segment ${i + 1} ${JSON.stringify(shown)} is truncated or unknown` };
    }
    if (i > 0 && name === 'MSH') return { ok: false, reason: `segment ${i + 1} is a second MSH` };
    // ADD continues the segment before it (v2.5 chapter 2, segment continuation): its first field
    // goes on with that segment's last field, its further fields are further fields of it. Labs
    // send long comments so (NTE, then ADD after ADD); read apart, the comment was lost.
    const before = segments[segments.length - 1];
    if (name === 'ADD' && before && before.name !== 'MSH' && before.text !== undefined) {
      before.text += line.slice(4);
      before.fields = before.text.split(fieldSep);
      continue;
    }
    const parts = i === 0 ? mshParts : line.split(fieldSep);
    // For MSH, the separator itself is MSH-1, so the text after "MSH|" starts at MSH-2.
    const fields = name === 'MSH' ? ['MSH', fieldSep, ...parts.slice(1)] : parts;
    segments.push({ name, position: i + 1, fields, text: line });
  }
  return { ok: true, message: { delimiters, segments } };
}

/** Bytes of a `\Xhh…\` escape as text: UTF-8 when they are valid UTF-8, else windows-1252. */
function hexText(hex: string): string {
  const bytes = Buffer.from(hex, 'hex');
  return isUtf8(bytes) ? bytes.toString('utf8') : decodeWindows1252(bytes);
}

/**
 * Decodes HL7 escape sequences (v2.8 chapter 2.7.4): `\F\ \S\ \T\ \R\ \E\` delimiters, `\Xhh…\`
 * bytes, `\.br\` and `\.sp\` line breaks. Highlighting (`\H\ \N\`), character-set switches
 * (`\Cxxyy\ \Mxxyyzz\`), other formatting (`\.in\`, `\.ce\` …) and local `\Z…\` escapes are
 * dropped. Anything else between two escape characters is not an escape (a sender's stray
 * backslash, "B12\folate") and is kept as sent. The result is safe to store (see safeText).
 */
export function unescapeHl7(value: string, d: Hl7Delimiters): string {
  const e = d.escape;
  if (!value.includes(e)) return safeText(value);
  let out = '';
  let i = 0;
  while (i < value.length) {
    const c = value[i];
    if (c !== e) {
      out += c;
      i++;
      continue;
    }
    const end = value.indexOf(e, i + 1);
    if (end < 0) {
      // An unterminated escape is kept literally rather than losing text.
      out += value.slice(i);
      break;
    }
    const seq = value.slice(i + 1, end);
    switch (seq) {
      case 'F': out += d.field; break;
      case 'S': out += d.component; break;
      case 'T': out += d.subcomponent; break;
      case 'R': out += d.repetition; break;
      case 'E': out += d.escape; break;
      case 'H':
      case 'N':
        break;
      default:
        if (/^X([0-9A-Fa-f]{2})+$/.test(seq)) out += hexText(seq.slice(1));
        else if (/^\.(br|sp)(\s*[+-]?\d+)?$/.test(seq)) out += '\n';
        else if (/^\.(in|ti|ce|fi|nf|sk)(\s*[+-]?\d+)?$/.test(seq) || /^C[0-9A-Fa-f]{4}$/.test(seq) || /^M[0-9A-Fa-f]{4,6}$/.test(seq) || /^Z[^\s]*$/.test(seq)) {
          // presentation hints and character-set switches: dropped
        } else {
          // Not an escape sequence: keep the text and the first escape character; the closing
          // one may open the next sequence.
          out += e + seq;
          i = end;
          continue;
        }
        break;
    }
    i = end + 1;
  }
  return safeText(out);
}

const EMPTY_SUBS: readonly string[] = [''];

/** Accessor over one parsed message: `get('PID', 3, { rep: 2, comp: 5 })`, all 1-based, decoded. */
export class Hl7View {
  constructor(readonly message: Hl7Message) {}

  get delimiters(): Hl7Delimiters {
    return this.message.delimiters;
  }

  segment(name: string): Hl7Segment | undefined {
    return this.message.segments.find((s) => s.name === name);
  }

  all(name: string): Hl7Segment[] {
    return this.message.segments.filter((s) => s.name === name);
  }

  /** Raw field text (escaped), or '' when absent. */
  rawField(seg: Hl7Segment | undefined, field: number): string {
    return seg?.fields[field] ?? '';
  }

  /** Repetitions of a field, each a list of components, each a list of sub-components (raw). */
  repetitions(seg: Hl7Segment | undefined, field: number): string[] {
    const raw = this.rawField(seg, field);
    if (seg?.name === 'MSH' && field <= 2) return [raw];
    if (raw === '') return [];
    if (!raw.includes(this.delimiters.repetition)) return [raw];
    // Split once per field, so the same repetition strings (and their cached parts) are reused.
    let fields = this.splitFields.get(seg!);
    if (!fields) this.splitFields.set(seg!, (fields = []));
    return (fields[field] ??= raw.split(this.delimiters.repetition));
  }

  private readonly splitFields = new WeakMap<Hl7Segment, string[][]>();

  /** One decoded value; comp and sub default to 1, rep to 1. */
  get(seg: Hl7Segment | undefined, field: number, at: { rep?: number; comp?: number; sub?: number } = {}): string {
    const rep = this.repetitions(seg, field)[(at.rep ?? 1) - 1];
    return rep === undefined ? '' : this.fromRepetition(rep, at.comp ?? 1, at.sub ?? 1);
  }

  // Mappers read several components of one repetition, some several times (identifier types,
  // name and address choices): each repetition is split once and each component decoded once.
  private readonly parsed = new Map<string, { raw: string[]; decoded: Array<readonly string[] | undefined> }>();

  /** A decoded component (and sub-component) from one raw repetition. */
  fromRepetition(rep: string, comp: number, sub = 1): string {
    let parts = this.parsed.get(rep);
    if (!parts) {
      parts = { raw: rep.split(this.delimiters.component), decoded: [] };
      this.parsed.set(rep, parts);
    }
    const raw = parts.raw[comp - 1];
    if (raw === undefined) return '';
    let subs = parts.decoded[comp - 1];
    if (!subs) {
      const d = this.delimiters;
      if (raw === '') subs = EMPTY_SUBS;
      else if (!raw.includes(d.subcomponent)) subs = [unescapeHl7(raw, d).trim()];
      else subs = raw.split(d.subcomponent).map((x) => unescapeHl7(x, d).trim());
      parts.decoded[comp - 1] = subs;
    }
    return subs[sub - 1] ?? '';
  }

  /** A whole field decoded with its separators kept (for free text such as OBX-5 TX). */
  text(seg: Hl7Segment | undefined, field: number): string {
    return unescapeHl7(this.rawField(seg, field), this.delimiters).trim();
  }
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  // Date.UTC reads years 0–99 as 1900–1999: kept, so that the rare such value reads as before.
  const y = year >= 0 && year <= 99 ? 1900 + year : year;
  return month === 2 && ((y % 4 === 0 && y % 100 !== 0) || y % 400 === 0) ? 29 : MONTH_DAYS[month - 1]!;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

// ISO 8601 extended form (`2018-01-01`, `2018-01-01T10:30:00+01:00`, `…Z`): not HL7's DTM, but some
// interface engines (Redox among them) write it into date fields. It is unambiguous, so it is read
// as the DTM it spells rather than losing the message for its format.
const ISO_EXTENDED = /^(\d{4})-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?)?$/;

/** An ISO 8601 extended date or date-time as the HL7 DTM it spells (`2018-01-01T10:30Z` → `201801011030+0000`), else the value unchanged. */
export function isoAsDtm(value: string): string {
  if (value.length < 7 || value.charCodeAt(4) !== 45 /* - */) return value;
  const m = ISO_EXTENDED.exec(value.trim());
  if (!m) return value;
  const zone = m[8] === undefined ? '' : m[8] === 'Z' ? '+0000' : m[8].replace(':', '');
  return `${m[1]}${m[2]}${m[3] ?? ''}${m[4] ?? ''}${m[5] ?? ''}${m[6] ?? ''}${m[7] ?? ''}${zone}`;
}

/** HL7 DT/TS → ISO `YYYY-MM-DD`, using only the date part; undefined if impossible or shorter than a full date. */
export function hl7Date(value: string): string | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})/.exec(isoAsDtm(value.trim()));
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return undefined;
  return `${m[1]}-${m[2]}-${m[3]}`;
}

export interface Hl7Time {
  /** FHIR dateTime at the precision sent (date only, or an instant in UTC). */
  dateTime: string;
  /** The same moment as a full ISO instant in UTC (date-only values are taken as 00:00Z). */
  instant: string;
}

/**
 * HL7 TS (`YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]`) → ISO. A time without an offset is taken as
 * UTC: the feed contract says nothing else, and UTC keeps replays deterministic (the generator
 * writes UTC). Impossible values (2023-02-30, 25:00) give undefined.
 */
export function hl7Time(value: string): Hl7Time | undefined {
  // Every message carries a few times, most of them seen before (MSH-7 and EVN-2, a stay's PV1-44
  // in each of its events, read twice per message): parsed once, kept (frozen, as callers share them).
  const known = timeCache.get(value);
  if (known !== undefined) return known ?? undefined;
  const t = parseHl7Time(value);
  if (timeCache.size >= TIME_CACHE_SIZE) timeCache.clear();
  timeCache.set(value, t ? Object.freeze(t) : null);
  return t;
}

const TIME_CACHE_SIZE = 20_000;
const timeCache = new Map<string, Hl7Time | null>();

const isDigitCode = (c: number): boolean => c >= 48 && c <= 57;

function parseHl7Time(value: string): Hl7Time | undefined {
  // The common form, YYYYMMDDHHMM[SS] with no offset, without the regex and Date (same result).
  const n = value.length;
  if ((n === 12 || n === 14) && isDigitCode(value.charCodeAt(0)) && value.charCodeAt(0) !== 48) {
    let digits = true;
    for (let i = 1; i < n && digits; i++) digits = isDigitCode(value.charCodeAt(i));
    if (digits) {
      const y = Number(value.slice(0, 4));
      const mo = Number(value.slice(4, 6));
      const d = Number(value.slice(6, 8));
      const h = Number(value.slice(8, 10));
      const mi = Number(value.slice(10, 12));
      const s = n === 14 ? Number(value.slice(12, 14)) : 0;
      if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) return undefined;
      const instant = `${value.slice(0, 4)}-${value.slice(4, 6)}-${value.slice(6, 8)}T${value.slice(8, 10)}:${value.slice(10, 12)}:${n === 14 ? value.slice(12, 14) : '00'}Z`;
      return { dateTime: instant, instant };
    }
  }
  // Seventeen digits are YYYYMMDDHHMMSS and milliseconds with the point left out (Java senders'
  // yyyyMMddHHmmssSSS): read as such rather than lose the message for its header time.
  const trimmed = isoAsDtm(value.trim());
  const text = /^\d{17}(?:[+-]\d{4})?$/.test(trimmed) ? `${trimmed.slice(0, 14)}.${trimmed.slice(14)}` : trimmed;
  const m = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d+))?(?:([+-])(\d{2})(\d{2}))?$/.exec(text);
  if (!m) return undefined;
  const y = Number(m[1]);
  const mo = m[2] ? Number(m[2]) : 1;
  const d = m[3] ? Number(m[3]) : 1;
  const h = m[4] ? Number(m[4]) : 0;
  const mi = m[5] ? Number(m[5]) : 0;
  const s = m[6] ? Number(m[6]) : 0;
  // DTM allows four fraction digits; a sender that writes more is read to the millisecond.
  const ms = m[7] ? Math.min(999, Math.round(Number(`0.${m[7].slice(0, 4)}`) * 1000)) : 0;
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) return undefined;
  const offsetMin = m[8] ? (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10])) : 0;
  if (m[8] && (Number(m[9]) > 14 || Number(m[10]) > 59)) return undefined;
  const utc = new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms) - offsetMin * 60_000);
  const instant = utc.toISOString().replace('.000Z', 'Z');
  if (!m[4]) {
    const date = m[3] ? `${m[1]}-${m[2]}-${m[3]}` : m[2] ? `${m[1]}-${m[2]}` : m[1];
    return { dateTime: date, instant: `${y}-${pad(mo)}-${pad(d)}T00:00:00Z` };
  }
  return { dateTime: instant, instant };
}
