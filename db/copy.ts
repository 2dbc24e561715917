/**
 * COPY text format (https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.2): one
 * line per row, fields separated by tabs, `\N` for null, and backslash, newline, carriage return
 * and tab written as backslash escapes. For Queryable.copyFrom. The text must hold no NUL (no
 * PostgreSQL text can); callers check that before (ingest/prepare.ts).
 */


/** One field of a COPY text line: null as `\N`, special characters escaped. */
export function copyField(value: string | null | undefined): string {
  if (value === null || value === undefined) return '\\N';
  // includes() is a native scan, several times faster than a regular expression over a long
  // JSON text; most fields hold none of the four.
  const backslash = value.includes('\\');
  const lf = value.includes('\n');
  const cr = value.includes('\r');
  const tab = value.includes('\t');
  if (!backslash && !lf && !cr && !tab) return value;
  // Backslashes first, so the escapes written after are not escaped again; replaceAll of a plain
  // string is several times faster than a regular expression with a function per match (JSON
  // text holds a backslash in every escaped quote).
  let out = backslash ? value.replaceAll('\\', '\\\\') : value;
  if (lf) out = out.replaceAll('\n', '\\n');
  if (cr) out = out.replaceAll('\r', '\\r');
  if (tab) out = out.replaceAll('\t', '\\t');
  return out;
}

/** One COPY text line (with its newline) of the given fields. */
export function copyLine(fields: readonly (string | null | undefined)[]): string {
  let line = copyField(fields[0]);
  for (let i = 1; i < fields.length; i++) line += '\t' + copyField(fields[i]);
  return line + '\n';
}

/** A table or column name as COPY names it: only plain identifiers are accepted (they come from code, never from data). */
export function copyTarget(table: string, columns: readonly string[]): string {
  for (const n of [table, ...columns]) if (!/^[a-z_][a-z0-9_]*$/.test(n)) throw new Error(`not a plain SQL identifier: ${JSON.stringify(n)}`);
  return `${table} (${columns.join(', ')})`;
}
