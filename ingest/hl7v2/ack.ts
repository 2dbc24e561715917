/**
 * HL7 v2 acknowledgements (original mode): MSH + MSA, and ERR when the message was not accepted.
 * Spec: HL7 v2.4 chapter 2.13 (acknowledgement rules), 2.16.8 (MSA), 2.16.5 (ERR).
 */

export type AckCode = 'AA' | 'AE' | 'AR';

const SEP = '|';
const ENC = '^~\\&';

/** Escapes text for a field sent with the standard delimiters (HL7 v2.4 2.7.4). */
export function escapeHl7(text: string): string {
  return text
    .replace(/\\/g, '\\E\\')
    .replace(/\|/g, '\\F\\')
    .replace(/\^/g, '\\S\\')
    .replace(/&/g, '\\T\\')
    .replace(/~/g, '\\R\\')
    .replace(/\r\n|\r|\n/g, '\\.br\\');
}

/**
 * MSH fields of a message read leniently (whatever its delimiters, even when it would be rejected),
 * so that even a bad message's ACK names its control id and swaps its sender and receiver.
 */
function lenientMsh(original: string | undefined): (n: number) => string {
  const line = original
    ?.replace(/[\x0b\x1c\uFEFF]/g, '')
    .split(/\r\n|\r|\n/)
    .map((l) => l.trimStart())
    .find((l) => l.startsWith('MSH'));
  if (!line || line.length < 4) return () => '';
  const sep = line.charAt(3);
  const parts = line.split(sep);
  const standard = sep === SEP && parts[1] === ENC;
  return (n: number) => {
    const raw = parts[n - 1] ?? '';
    if (n <= 2) return '';
    // With the standard delimiters the field can be copied as is (keeping HD components);
    // otherwise copy only its first component, re-escaped.
    if (standard) return raw;
    const comp = parts[1]?.charAt(0);
    return escapeHl7(comp ? raw.split(comp)[0] : raw);
  };
}

function hl7Timestamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}+0000`;
}

/**
 * Builds the ACK for a message (or for unreadable bytes when `original` is undefined or has no
 * MSH): sender and receiver swapped, MSA-1 the code, MSA-2 the original MSH-10, MSA-3 the text,
 * and for AE/AR an ERR segment carrying the reason. `now` is injectable so tests are exact.
 */
export function buildAck(original: string | undefined, code: AckCode, text?: string, now: Date = new Date()): string {
  const f = lenientMsh(original);
  const controlId = f(10);
  const trigger = (f(9).split('^')[1] ?? '').trim();
  const msh = [
    'MSH',
    ENC,
    f(5) || 'BEVAN',
    f(6),
    f(3),
    f(4),
    hl7Timestamp(now),
    '',
    `ACK${trigger ? `^${trigger}` : ''}^ACK`,
    `ACK${controlId || hl7Timestamp(now).slice(0, 14)}`,
    f(11) || 'P',
    f(12) || '2.4',
  ].join(SEP);
  const msaText = text ? escapeHl7(text) : '';
  const segments = [msh, ['MSA', code, controlId, msaText].join(SEP)];
  if (code !== 'AA') {
    // ERR-1 (v2.4 location/code) and ERR-3/4/8 (v2.5 code, severity, user message) both carry it,
    // so receivers of either version can show the reason. 207 = application internal error (table 0357).
    const errCode = `207^Application internal error^HL70357`;
    segments.push(['ERR', `^^^207&${msaText}&HL70357`, '', errCode, 'E', '', '', '', msaText].join(SEP));
  }
  return segments.join('\r') + '\r';
}

/** Reads the MSA-1 code and MSA-3 text out of an ACK. */
export function readAck(ack: string): { code: string; text?: string; controlId?: string } {
  const msa = ack
    .split(/\r\n|\r|\n/)
    .map((l) => l.replace(/^[\x0b\x1c\s]+/, ''))
    .find((l) => l.startsWith('MSA'));
  if (!msa) return { code: '' };
  const sep = msa.charAt(3) || SEP;
  const parts = msa.split(sep);
  const unescape = (s: string) =>
    s.replace(/\\(F|S|T|R|E|\.br)\\/g, (_, e: string) => ({ F: '|', S: '^', T: '&', R: '~', E: '\\', '.br': '\n' })[e] ?? '');
  const text = parts[3] ? unescape(parts[3]) : undefined;
  return { code: parts[1] ?? '', ...(text ? { text } : {}), ...(parts[2] ? { controlId: parts[2] } : {}) };
}
