// The synthetic generator's ground truth (bevan generate … → DIR/truth/persons.ndjson): each
// person's true probability of at least one emergency admission, per simulated year, labelled by
// the calendar year the year starts in; summary.json beside it gives the window's start, from
// which each labelled year's first day follows. Used only to print the oracle's c-statistic.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { invalid } from '../../access/context.ts';
import { addMonths } from './features.ts';
import type { TruthProbabilities } from './model.ts';

/** Reads a truth file and returns a function giving the probabilities of the year starting on a date. */
export function readTruth(file: string): (validationIndexDate: string) => TruthProbabilities {
  if (!existsSync(file)) throw invalid(`--truth ${file}: no such file (the generator writes DIR/truth/persons.ndjson)`);
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
  const people = lines.map((l, i) => {
    try {
      return JSON.parse(l) as { nhsNumber?: string; admissionProbability?: Record<string, number> };
    } catch {
      throw invalid(`--truth ${file} line ${i + 1}: not JSON`);
    }
  });
  const summaryFile = join(dirname(file), 'summary.json');
  const start = existsSync(summaryFile) ? (JSON.parse(readFileSync(summaryFile, 'utf8')) as { start?: string }).start : undefined;
  return (date: string) => {
    let label: string | undefined;
    if (start) {
      // Year i of the window starts i years after the window's start, and is labelled by its calendar year.
      for (let i = 0; i < 50; i++) {
        const s = addMonths(start, 12 * i);
        if (s === date) label = s.slice(0, 4);
        if (s >= date) break;
      }
      if (!label) throw invalid(`the truth's years start on ${start.slice(5)} each year; the model was validated on a year from ${date}: fit with --index-date on one of the truth's year starts`);
    } else label = date.slice(0, 4);
    const byNhsNumber = new Map<string, number>();
    for (const p of people) {
      const v = p.admissionProbability?.[label];
      if (p.nhsNumber && typeof v === 'number') byNhsNumber.set(p.nhsNumber, v);
    }
    return { byNhsNumber, label };
  };
}
