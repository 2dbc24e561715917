/**
 * COPY text format (https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.2): one
 * line per row, fields separated by tabs, `\N` for null, and backslash, newline, carriage return
 * and tab written as backslash escapes. For Queryable.copyFrom. The text must hold no NUL (no
 * PostgreSQL text can); callers check that before (ingest/prepare.ts).
 */
import { Buffer } from 'node:buffer';

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
  for (const n of [table, ...columns]) plainIdentifier(n);
  return `${table} (${columns.join(', ')})`;
}

/** The name, when it is a plain SQL identifier (names come from code, never from data); else throws. */
export function plainIdentifier(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain SQL identifier: ${JSON.stringify(name)}`);
  return name;
}

/** Bytes per chunk: one CopyData message each on a server (a few hundred kilobytes, so no single buffer is large). */
const CHUNK_BYTES = 256 * 1024;

/**
 * COPY rows encoded straight into UTF-8 buffers, each the body of one CopyData message: a row is
 * escaped and written where it will be sent, with no text line per row, no joined text per chunk
 * and no second copy of either (Queryable.copyFrom sends the chunks as they are; PGlite reads them
 * as one Blob). Rows are added with `row`; `chunks()` gives the buffers.
 */
export class CopyChunks {
  private readonly done: Buffer<ArrayBuffer>[] = [];
  private buf: Buffer<ArrayBuffer>;
  private at = 0;
  /** Rows added. */
  rows = 0;

  constructor(private readonly chunkBytes = CHUNK_BYTES) {
    this.buf = Buffer.allocUnsafe(chunkBytes);
  }

  /** Adds one row of fields (null or undefined: SQL null). */
  row(fields: readonly (string | null | undefined)[]): this {
    // The row as one string, then one native write: a string of a few short fields and one long
    // JSON text is a rope, flattened once by the write; a write per field costs more in calls.
    let line = copyField(fields[0]);
    for (let i = 1; i < fields.length; i++) line += '\t' + copyField(fields[i]);
    line += '\n';
    // At most 3 UTF-8 bytes per UTF-16 unit (a surrogate pair: 4 bytes for 2 units).
    const most = line.length * 3;
    if (this.at + most > this.buf.length) {
      const need = Buffer.byteLength(line, 'utf8');
      if (this.at + need > this.buf.length) {
        this.cut();
        if (need > this.buf.length) this.buf = Buffer.allocUnsafe(Math.max(need, this.chunkBytes));
      }
    }
    this.at += this.buf.write(line, this.at, 'utf8');
    this.rows++;
    return this;
  }

  /** Bytes added so far. */
  get bytes(): number {
    let n = this.at;
    for (const b of this.done) n += b.length;
    return n;
  }

  /** The encoded rows, in order: each buffer holds whole rows (the last one cut to its length). */
  chunks(): Buffer<ArrayBuffer>[] {
    this.cut();
    return this.done;
  }

  /** Closes the current buffer (keeping what it holds) and starts a fresh one. */
  private cut(): void {
    if (this.at === 0) return;
    this.done.push(this.buf.subarray(0, this.at));
    // The rest of this buffer is used for the next rows when it is large enough to matter.
    if (this.buf.length - this.at >= this.chunkBytes >> 2) {
      this.buf = this.buf.subarray(this.at);
    } else this.buf = Buffer.allocUnsafe(this.chunkBytes);
    this.at = 0;
  }
}
