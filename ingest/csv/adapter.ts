/**
 * The CSV feed adapter (community services and social care): RFC 4180, streaming. Record
 * boundaries come from records.ts and fields from parseFields, so a bad quote costs one row. The header picks the contract (./contracts/*.json); a header that matches none
 * rejects the whole file with the difference named, and each bad row is rejected on its own.
 * Contract: docs/feeds.md "CSV".
 */
import type { FeedAdapter, IngestItem, ReadContext, RejectedItem } from '../model.ts';
import { decodeStream, stripBom } from '../text.ts';
import { CSV_CONTRACTS, looksLikeCsvHeader, matchHeader, sniffDelimiter, type CsvContract, type HeaderMisfit } from './contracts.ts';
import { itemFromRow, shown } from './rows.ts';
import { splitCsvRecords } from './records.ts';

/** A row longer than this is rejected unread (most likely a quote never closed). */
const MAX_RECORD_CHARS = 1024 * 1024;

/** Decoded text with CRLF turned into LF, so csv-parse's line counts and raw text agree. */
async function* lfText(input: AsyncIterable<Buffer>): AsyncIterable<string> {
  let heldCr = false;
  for await (let text of decodeStream(input)) {
    if (heldCr) text = `\r${text}`;
    heldCr = text.endsWith('\r');
    if (heldCr) text = text.slice(0, -1);
    if (text) yield text.replace(/\r\n/g, '\n');
  }
  if (heldCr) yield '\r';
}

/**
 * Fields of one record (RFC 4180): a plain split when there are no quotes. Quoted records are
 * parsed here, strictly, rather than by csv-parse: a csv-parse call per row costs ~70 µs
 * (≈9,000 rows/s), and over the whole stream one stray quote makes it drop every later row.
 */
export function parseFields(record: string, delimiter = ','): string[] {
  if (!record.includes('"')) return record.split(delimiter);
  const dc = delimiter.charCodeAt(0);
  const fields: string[] = [];
  let i = 0;
  const n = record.length;
  for (;;) {
    // `="0123"`: a field written as an Excel formula so that Excel keeps it as text (leading
    // zeros, NHS numbers): the quoted text is the value.
    if (record.charCodeAt(i) === 61 && record.charCodeAt(i + 1) === 34) i++;
    if (record.charCodeAt(i) === 34) {
      let value = '';
      let from = i + 1;
      for (;;) {
        const q = record.indexOf('"', from);
        if (q < 0) throw new Error(`a quoted field starting at character ${i + 1} is never closed`);
        value += record.slice(from, q);
        if (record.charCodeAt(q + 1) === 34) {
          value += '"';
          from = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      fields.push(value);
      if (i === n) return fields;
      if (record.charCodeAt(i) !== dc) throw new Error(`unexpected ${JSON.stringify(record[i])} after the closing quote at character ${i}`);
      i++;
    } else {
      const comma = record.indexOf(delimiter, i);
      const value = record.slice(i, comma < 0 ? n : comma);
      if (value.includes('"')) throw new Error(`a quote inside the unquoted field ${shown(value)}; quote the whole field and double the quote`);
      fields.push(value);
      if (comma < 0) return fields;
      i = comma + 1;
    }
    if (i === n) {
      fields.push('');
      return fields;
    }
  }
}

/** Most column names a reason lists; a header of 10,000 columns is summarised, not copied. */
const LISTED_COLUMNS = 10;

/** `a, b, c`, or `a, b, … j and 9,990 more columns` when there are many. */
export function columnList(names: readonly string[], most = LISTED_COLUMNS): string {
  const shown = names.slice(0, most).map((n) => (n.length > 40 ? `${n.slice(0, 40)}…` : n));
  return names.length > most ? `${shown.join(', ')} and ${(names.length - most).toLocaleString('en-GB')} more columns` : shown.join(', ');
}

function headerRejection(origin: string, headerLine: string, rowsNotRead: number, m: HeaderMisfit, source: string | undefined): RejectedItem {
  const parts: string[] = [];
  if (m.missing.length) parts.push(`it has no ${columnList(m.missing)} column${m.missing.length === 1 ? '' : 's'}, which the contract requires`);
  if (m.duplicated.length) parts.push(`more than one column is ${columnList(m.duplicated)}`);
  return {
    kind: 'rejected',
    format: 'csv',
    sourceSystem: source ?? m.closest.system,
    reason: `the header does not fit any CSV contract; closest is ${m.closest.name}: ${parts.join('; ')}, so ${rowsNotRead === 1 ? 'its one row was not read' : rowsNotRead === 0 ? 'it has no rows to read' : `none of its ${rowsNotRead.toLocaleString('en-GB')} rows was read`}`,
    raw: `${headerLine}\n(${rowsNotRead} rows not read)`,
    origin,
  };
}

/** Makes a CSV adapter for the given contracts (all of Bevan's by default). */
export function createCsvAdapter(contracts: readonly CsvContract[] = CSV_CONTRACTS): FeedAdapter {
  return {
    format: 'csv',
    sniff(head: string): boolean {
      const firstLine = stripBom(head).split(/\r?\n/, 1)[0];
      return looksLikeCsvHeader(firstLine);
    },
    async *read(input: AsyncIterable<Buffer>, origin: string, context?: ReadContext): AsyncIterable<IngestItem> {
      // The feed's configured source names every row's system; else the contract's own key.
      const source = context?.source;
      let header: (string | null)[] | null = null;
      let headerLine = '';
      let delimiter = ',';
      let contract: CsvContract | null = null;
      let mismatch: HeaderMisfit | null = null;
      let notes: string[] | null = null;
      let rowsNotRead = 0;
      const rejectRow = (lineNo: number, reason: string, raw: string): RejectedItem => ({
        kind: 'rejected',
        format: 'csv',
        ...(source !== undefined || contract ? { sourceSystem: source ?? contract!.system } : {}),
        reason: `line ${lineNo}: ${reason}`,
        raw,
        origin: `${origin}#${lineNo}`,
      });
      try {
        for await (const r of splitCsvRecords(lfText(input), { maxRecordChars: MAX_RECORD_CHARS })) {
          if (mismatch) {
            rowsNotRead++;
            continue;
          }
          if ('tooLong' in r) {
            yield rejectRow(
              r.lineNo,
              r.unclosedQuote
                ? 'a quote opened on this line is never closed, so the line was skipped'
                : `the row is longer than ${MAX_RECORD_CHARS} characters, so it was skipped`,
              `${r.head}…`,
            );
            continue;
          }
          if (!header) delimiter = sniffDelimiter(r.text);
          let fields: string[];
          try {
            fields = parseFields(r.text, delimiter);
          } catch (err) {
            yield rejectRow(r.lineNo, `CSV quoting error: ${(err as Error).message}`, r.text);
            continue;
          }
          if (!header) {
            headerLine = r.text;
            const m = matchHeader(fields, contracts);
            if ('contract' in m) {
              contract = m.contract;
              header = m.columns;
              if (m.ignored.length) notes = [`${m.ignored.length === 1 ? 'a column' : `${m.ignored.length} columns`} not in the ${contract.name} contract, so not read: ${columnList(m.ignored, 50)}`];
            } else {
              mismatch = m;
              header = [];
            }
            continue;
          }
          // A row of delimiters only (`,,,,`: a spreadsheet's empty row, kept by its export) holds
          // nothing: skipped as a blank line is, not quarantined as a row missing its columns.
          if (fields.every((f) => f.trim() === '')) continue;
          const item = itemFromRow(contract as CsvContract, header, fields, { lineNo: r.lineNo, origin, source, text: r.text, delimiter });
          if (notes) {
            (item as { fileNotes?: string[] }).fileNotes = notes;
            notes = null;
          }
          yield item;
        }
      } catch (err) {
        // Only a failing input stream gets here; rows already yielded stand.
        yield { kind: 'rejected', format: 'csv', reason: `the CSV could not be read to the end: ${(err as Error).message}`, raw: '', origin };
        return;
      }
      if (mismatch) yield headerRejection(origin, headerLine, rowsNotRead, mismatch, source);
      else if (!header) yield { kind: 'rejected', format: 'csv', reason: 'the CSV file has no header line', raw: '', origin };
    },
  };
}

/** The CSV adapter for Bevan's contracts. */
export const csvAdapter: FeedAdapter = createCsvAdapter();
