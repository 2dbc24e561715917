/**
 * The distribution key of the personal tables (migration 0029, docs/distribution.md), computed
 * here as the SQL function `shard_key_of(source_system, source_id)` computes it, for rows the
 * writer loads with COPY (which cannot call a function): md5 of
 * `length(source_system) || ':' || source_system || '|' || source_id` (UTF-8; length in
 * characters, as PostgreSQL counts them), written as a uuid.
 */
import { hash } from 'node:crypto';

/** Characters as PostgreSQL's length() counts them in a UTF-8 database: code points, not UTF-16 units. */
function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

export function shardKeyOf(sourceSystem: string, sourceId: string): string {
  const h = hash('md5', `${codePoints(sourceSystem)}:${sourceSystem}|${sourceId}`, 'hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
