/**
 * Finds CSV record boundaries in a text stream (RFC 4180: a newline inside quotes belongs to
 * the field). We find the boundaries ourselves rather than let csv-parse run over the whole
 * stream because its error recovery is poor: after one stray quote it loses every later row.
 * Here a bad row costs only itself, and a quote never closed is cut off after maxRecordChars
 * and reading resumes on the next line.
 */

export type CsvRecordText =
  | { text: string; lineNo: number }
  | { tooLong: true; lineNo: number; head: string; unclosedQuote: boolean };

const QUOTE = 34;
const LF = 10;

/** Splits LF-separated text into records (CR before LF removed), numbered by the line each starts on; blank lines are skipped. */
export async function* splitCsvRecords(text: AsyncIterable<string>, opts: { maxRecordChars: number }): AsyncIterable<CsvRecordText> {
  const max = opts.maxRecordChars;
  let buf = '';
  let start = 0; // where the current record starts in buf
  let scan = 0; // next character to look at
  let inQuotes = false;
  let line = 1; // line the current record starts on
  let newlinesInside = 0;
  let skipping: { lineNo: number } | null = null; // inside an over-long unquoted line

  function* scanBuffer(final: boolean): Iterable<CsvRecordText> {
    for (;;) {
      if (skipping) {
        const nl = buf.indexOf('\n', scan);
        if (nl < 0) {
          buf = '';
          start = scan = 0;
          return;
        }
        scan = start = nl + 1;
        skipping = null;
        line++;
        continue;
      }
      let i = scan;
      const n = buf.length;
      let ended = false;
      for (; i < n; i++) {
        const c = buf.charCodeAt(i);
        if (c === QUOTE) inQuotes = !inQuotes;
        else if (c === LF) {
          if (!inQuotes) {
            ended = true;
            break;
          }
          newlinesInside++;
        }
      }
      const unclosedAtEnd = final && !ended && inQuotes && newlinesInside > 0;
      if (ended || (final && i > start && !unclosedAtEnd)) {
        let rec = buf.slice(start, i);
        if (rec.endsWith('\r')) rec = rec.slice(0, -1);
        if (rec.trim() !== '') yield { text: rec, lineNo: line };
        line += newlinesInside + 1;
        newlinesInside = 0;
        inQuotes = false;
        start = scan = i + 1;
        if (!ended) return;
        continue;
      }
      scan = i;
      if (i - start <= max && !unclosedAtEnd) return;
      // Over-long record: an unclosed quote (resume on the line after its start) or a huge line.
      const head = buf.slice(start, start + 200);
      const nl = buf.indexOf('\n', start);
      if (inQuotes && nl >= 0) {
        yield { tooLong: true, lineNo: line, head, unclosedQuote: true };
        inQuotes = false;
        newlinesInside = 0;
        line++;
        start = scan = nl + 1;
        continue;
      }
      yield { tooLong: true, lineNo: line, head, unclosedQuote: false };
      skipping = { lineNo: line };
      inQuotes = false;
      newlinesInside = 0;
      start = scan;
    }
  }

  for await (const chunk of text) {
    buf = start > 0 ? buf.slice(start) + chunk : buf + chunk;
    scan -= start;
    start = 0;
    yield* scanBuffer(false);
  }
  yield* scanBuffer(true);
}
