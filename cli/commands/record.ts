import type { Command } from 'commander';
import { invalid, type RequestContext } from '../../access/context.ts';
import { formatNhsNumber, isValidNhsNumber } from '../../mpi/nhs-number.ts';
import { readIntegratedRecord } from '../../record/record-service.ts';
import { isPersonId, type PersonQuery } from '../../record/record-store.ts';
import { databaseOption, withDatabase, type DatabaseOptions } from '../context.ts';
import { cliContext, runWithExitCode, type WhoOptions } from './cli-context.ts';

interface RecordOptions extends DatabaseOptions, WhoOptions {
  json?: boolean;
  all?: boolean;
  source?: string;
}

export type ParsedWho = { kind: 'ok'; query: PersonQuery; label: string; by: 'nhs-number' | 'person-id' | 'source-id' } | { kind: 'error'; message: string };

/** Reads the WHO argument: an NHS number (spaces or dashes allowed), a person id, or a source id with --source. */
export function parseWho(who: string, source?: string): ParsedWho {
  const raw = who.trim();
  if (source) return { kind: 'ok', query: { source: { system: source, id: raw } }, label: `${source} patient ${raw}`, by: 'source-id' };
  if (isPersonId(raw)) return { kind: 'ok', query: { personId: raw.toLowerCase() }, label: `person ${raw}`, by: 'person-id' };
  const digits = raw.replace(/[\s-]/g, '');
  if (/^\d+$/.test(digits)) {
    if (digits.length !== 10) return { kind: 'error', message: `"${raw}" is not an NHS number: an NHS number has ten digits (this has ${digits.length})` };
    if (!isValidNhsNumber(digits)) return { kind: 'error', message: `${formatNhsNumber(digits)} is not a valid NHS number: its check digit (Modulus 11) is wrong; check for a mistyped digit` };
    return { kind: 'ok', query: { nhsNumber: digits }, label: `NHS number ${formatNhsNumber(digits)}`, by: 'nhs-number' };
  }
  return { kind: 'error', message: `"${raw}" is neither an NHS number nor a Bevan person id (use --source SYSTEM to look up a source system's own patient id)` };
}

/**
 * Shows the record through the record service, which decides access and audits the read (before
 * anything is shown, found or not). Throws a BevanError (not found, forbidden) otherwise.
 */
export async function showRecord(
  ctx: RequestContext,
  parsed: Extract<ParsedWho, { kind: 'ok' }>,
  opts: { json?: boolean; all?: boolean },
  write: (text: string) => void,
): Promise<void> {
  write(await readIntegratedRecord(ctx, { query: parsed.query, label: parsed.label, by: parsed.by, format: opts.json ? 'fhir' : 'text', all: opts.all }));
}

/** `bevan record WHO`: one person's integrated care record, as text or a FHIR Bundle; every read is decided by policy and audited. */
export function registerRecord(program: Command): void {
  const cmd = program
    .command('record')
    .description("show one person's integrated care record: every source in one timeline (each read is decided by the access policy and audited)")
    .argument('<who>', 'NHS number (spaces allowed), Bevan person id, or with --source a source system patient id')
    .option('--json', 'print the record as one FHIR R4 Bundle (JSON) on stdout')
    .option('--all', 'show the whole timeline, every report and every GP consultation (default: the latest 50 timeline items, 10 reports, 10 consultations)')
    .option('--user <name>', 'the local user reading (bevan user add); default $BEVAN_USER')
    .option('--purpose <purpose>', 'purpose of use: direct-care, patient-access, emergency…', 'direct-care')
    .option('--break-glass <reason>', 'emergency access without a relationship (roles that may): the reason is audited and raises an alert')
    .option('--source <system>', 'WHO is the patient id in this source system, e.g. hl7:RM2 or gp:P91001')
    .addHelpText(
      'after',
      '\nExit codes: 64 invalid input, 66 not found, 77 refused by the access policy or unknown user, 69 database unavailable.\nExamples:\n  bevan record "943 476 5919" --user dr.jones\n  bevan record 9434765919 --json --user dr.jones > record.json\n  bevan record MRN100 --source hl7:RM2 --all --user dr.jones',
    );
  databaseOption(cmd).action(async (who: string, opts: RecordOptions) =>
    runWithExitCode(async () => {
      const parsed = parseWho(who, opts.source);
      if (parsed.kind === 'error') throw invalid(parsed.message);
      await withDatabase(opts, async (db) => showRecord(await cliContext(db, opts), parsed, opts, (text) => process.stdout.write(text)));
    }),
  );
}
