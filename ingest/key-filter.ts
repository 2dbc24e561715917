/**
 * A Bloom filter of strings, for "has this run written this key?": `mightHave` is false only for
 * a key never added (a key added is always found; one not added is found now and then, more often
 * the more keys it holds). Its bits are a fixed 16 MiB by default, taken at the first add: ~10
 * million keys (a whole borough's GP load) at about 0.3 % false positives, four bits a key.
 */
export class KeyFilter {
  private bits: Int32Array | null = null;
  private readonly mask: number;
  /** Keys added (with repeats), for tests and benches. */
  added = 0;

  /** `log2Bits`: the filter holds 2^log2Bits bits (between 10 and 30). */
  constructor(private readonly log2Bits = 27) {
    if (!Number.isInteger(log2Bits) || log2Bits < 10 || log2Bits > 30) throw new RangeError('log2Bits is between 10 and 30');
    this.mask = (1 << log2Bits) - 1;
  }

  add(key: string): void {
    this.bits ??= new Int32Array(1 << (this.log2Bits - 5));
    this.added++;
    const [a, b] = twoHashes(key);
    for (let i = 0; i < PROBES; i++) {
      const bit = (a + Math.imul(i, b)) & this.mask;
      this.bits[bit >>> 5]! |= 1 << (bit & 31);
    }
  }

  mightHave(key: string): boolean {
    if (!this.bits) return false;
    const [a, b] = twoHashes(key);
    for (let i = 0; i < PROBES; i++) {
      const bit = (a + Math.imul(i, b)) & this.mask;
      if ((this.bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}

const PROBES = 4;
const pair: [number, number] = [0, 0];

/** Two 32-bit FNV-1a hashes of the UTF-16 units (different offsets), the second made odd (double hashing). */
function twoHashes(s: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  a ^= a >>> 16;
  pair[0] = a >>> 0;
  pair[1] = (b | 1) >>> 0;
  return pair;
}
