/**
 * A view's rows as text, a row at a time: CSV (RFC 4180, a header line of the column names
 * unless asked not to), NDJSON (one JSON object per row) or JSON (one array of objects), the
 * formats SQL-on-FHIR's $run recommends. In CSV a null is an empty field, a collection or an
 * element its JSON text. Text is gathered into chunks of about 64 KiB before it is written, so
 * the writer (stdout, an HTTP response) is called rarely and its backpressure is honoured. Pure
 * but for the sink it is given.
 */
import { invalid } from '../../access/context.ts';
import type { CompiledView } from './view-definition.ts';
import type { Row } from './view-runner.ts';

export const VIEW_FORMATS = ['csv', 'ndjson', 'json'] as const;
export type ViewFormat = (typeof VIEW_FORMATS)[number];

export const CONTENT_TYPES: Record<ViewFormat, string> = {
  csv: 'text/csv; charset=utf-8; header=present',
  ndjson: 'application/x-ndjson',
  json: 'application/json; charset=utf-8',
};

/** Reads a format name (`csv`, `ndjson`, `json`, or the media types SQL-on-FHIR and Bulk Data use for them). */
export function parseFormat(raw: string | undefined, fallback: ViewFormat = 'csv'): ViewFormat {
  if (raw === undefined || raw === '') return fallback;
  const f = raw.trim().toLowerCase();
  if ((VIEW_FORMATS as readonly string[]).includes(f)) return f as ViewFormat;
  if (f === 'text/csv') return 'csv';
  if (f === 'application/x-ndjson' || f === 'application/ndjson' || f === 'application/fhir+ndjson') return 'ndjson';
  if (f === 'application/json') return 'json';
  throw invalid(`format "${raw}" is not supported: use csv, ndjson or json`);
}

/** Where text goes; a returned promise is awaited before more is written. */
export type TextSink = (chunk: string) => void | Promise<void>;

const CHUNK = 64 * 1024;

/** Writes rows in a format, gathering text into chunks. */
export class RowWriter {
  private buffer = '';
  private rowsWritten = 0;
  private started = false;

  constructor(
    private readonly view: CompiledView,
    private readonly format: ViewFormat,
    private readonly sink: TextSink,
    private readonly header = true,
  ) {}

  get rows(): number {
    return this.rowsWritten;
  }

  /** Adds one row; resolves when its text has been handed on (if a chunk was full). */
  async row(row: Row): Promise<void> {
    if (!this.started) this.start();
    switch (this.format) {
      case 'csv': {
        // A loop, not map/join: no array made per row.
        let line = row.length ? csvField(row[0]) : '';
        for (let i = 1; i < row.length; i++) line += ',' + csvField(row[i]);
        this.buffer += line + '\r\n';
        break;
      }
      case 'ndjson':
        this.buffer += JSON.stringify(this.object(row)) + '\n';
        break;
      case 'json':
        this.buffer += (this.rowsWritten ? ',\n' : '\n') + JSON.stringify(this.object(row));
        break;
    }
    this.rowsWritten++;
    if (this.buffer.length >= CHUNK) await this.flush();
  }

  /** Adds rows already written as CSV lines (a materialisation's: analytics/views/materialised.ts). */
  async text(csv: string, rows: number): Promise<void> {
    if (this.format !== 'csv') throw new Error('CSV text written to a writer of another format');
    if (!this.started) this.start();
    this.buffer += csv;
    this.rowsWritten += rows;
    if (this.buffer.length >= CHUNK) await this.flush();
  }

  /** Writes what is left (the CSV header and the closing bracket of JSON even for no rows). */
  async end(): Promise<void> {
    if (!this.started) this.start();
    if (this.format === 'json') this.buffer += this.rowsWritten ? '\n]\n' : ']\n';
    await this.flush();
  }

  private start(): void {
    this.started = true;
    if (this.format === 'csv' && this.header) this.buffer += this.view.columns.map((c) => csvField(c.name)).join(',') + '\r\n';
    if (this.format === 'json') this.buffer += '[';
  }

  private object(row: Row): Record<string, unknown> {
    const o: Record<string, unknown> = {};
    const cols = this.view.columns;
    for (let i = 0; i < cols.length; i++) o[cols[i]!.name] = row[i] ?? null;
    return o;
  }

  private async flush(): Promise<void> {
    if (!this.buffer) return;
    const text = this.buffer;
    this.buffer = '';
    await this.sink(text);
  }
}

/** One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break. */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const s = typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
