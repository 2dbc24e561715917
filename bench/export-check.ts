/**
 * Checks on a bulk export's NDJSON as a client downloads it (bench/bulk-export.ts --verify),
 * cheap enough for millions of lines in one process: each line's top-level `id` found by a
 * scan (no JSON.parse), a compact set of 64-bit keys to prove that no (type, id) is exported
 * twice, and the Patient references every line makes.
 */
import { createHash } from 'node:crypto';

/**
 * The top-level `"id"` of one NDJSON line (a JSON object), or null. Scans the text once, keeping
 * track of strings and nesting, so a nested `id` (an identifier's, a contained resource's) is
 * never taken for the resource's own.
 */
export function topLevelId(line: string): string | null {
  let depth = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 34 /* " */) {
      if (depth === 1 && line.startsWith('"id":"', i)) {
        const end = line.indexOf('"', i + 6);
        return end < 0 ? null : line.slice(i + 6, end);
      }
      // Skip the string (keys and values alike), honouring escapes.
      for (i++; i < line.length; i++) {
        const d = line.charCodeAt(i);
        if (d === 92 /* \ */) i++;
        else if (d === 34) break;
      }
    } else if (c === 123 /* { */ || c === 91 /* [ */) depth++;
    else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
  }
  return null;
}

/**
 * A set of 64-bit keys (two 32-bit halves, never both zero) by open addressing, sized once: 8
 * bytes a slot, so 16 million keys in 256 MiB where a Set of strings would take gigabytes. A
 * 64-bit key stands for a (type, id): two different ones share a key with a probability of about
 * n² / 2⁶⁵ (6 in a million for 15 million ids), which a check of "nothing doubled" can bear.
 */
export class KeySet64 {
  private readonly hi: Uint32Array;
  private readonly lo: Uint32Array;
  private readonly mask: number;
  size = 0;

  constructor(capacity: number) {
    let slots = 1024;
    while (slots < capacity * 2) slots *= 2;
    this.hi = new Uint32Array(slots);
    this.lo = new Uint32Array(slots);
    this.mask = slots - 1;
  }

  /** Adds the key; false when it was there already. */
  add(hi: number, lo: number): boolean {
    if (hi === 0 && lo === 0) lo = 1;
    if (this.size * 2 >= this.mask + 1) throw new Error(`KeySet64: more than ${(this.mask + 1) / 2} keys`);
    let i = (Math.imul(lo ^ (hi >>> 7), 0x9e3779b1) >>> 0) & this.mask;
    for (;;) {
      const h = this.hi[i]!;
      const l = this.lo[i]!;
      if (h === 0 && l === 0) {
        this.hi[i] = hi;
        this.lo[i] = lo;
        this.size++;
        return true;
      }
      if (h === hi >>> 0 && l === lo >>> 0) return false;
      i = (i + 1) & this.mask;
    }
  }
}

/** The 64-bit key of a (type, id): from the id's own hex digits when it is 16 or more of them (Bevan's ids are), else an MD5. */
export function keyOf(type: string, id: string): [number, number] {
  let t = 0x811c9dc5;
  for (let i = 0; i < type.length; i++) t = Math.imul(t ^ type.charCodeAt(i), 0x01000193);
  if (id.length >= 16 && /^[0-9a-f]+$/.test(id)) {
    return [(parseInt(id.slice(0, 8), 16) ^ t) >>> 0, parseInt(id.slice(8, 16), 16) >>> 0];
  }
  const d = createHash('md5').update(`${type}/${id}`).digest();
  return [d.readUInt32BE(0), d.readUInt32BE(4)];
}

const PATIENT_REF = /"reference":"Patient\/([^"]+)"/g;

/** Every `Patient/{id}` reference in a text (one line or many), each id once per call. */
export function patientReferences(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(PATIENT_REF)) out.add(m[1]!);
  return out;
}

/** Cuts a stream of text into whole lines, carrying a partial last line over to the next piece. */
export class LineSplitter {
  private tail = '';

  /** The whole lines completed by this piece. */
  push(piece: string): string[] {
    const text = this.tail + piece;
    const lines = text.split('\n');
    this.tail = lines.pop()!;
    return lines;
  }

  /** What is left at the end (a last line without its newline), or null. */
  end(): string | null {
    const t = this.tail;
    this.tail = '';
    return t ? t : null;
  }
}
