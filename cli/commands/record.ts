import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { appendAudit } from '../../access/audit.ts';
import { formatNhsNumber, isValidNhsNumber } from '../../mpi/nhs-number.ts';
import { buildIntegratedRecord, toFhirBundle } from '../../record/integrated-record.ts';
import { isPersonId, readPersonRecordRows, type PersonQuery } from '../../record/record-store.ts';
import { renderRecordText } from '../../record/render-text.ts';
import type { Database } from '../../db/database.ts';
import { databaseOption, withDatabase, type DatabaseOptions } from '../context.ts';

interface RecordOptions extends DatabaseOptions {
  json?: boolean;
  all?: boolean;
  actor: string;
  purpose: string;
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
 * Finds the person, audits the read (before anything is shown, found or not) and writes the
 * text view or, with json, the FHIR Bundle as one JSON line. Throws when nobody is found.
 */
export async function showRecord(
  db: Database,
  who: string,
  parsed: Extract<ParsedWho, { kind: 'ok' }>,
  opts: { json?: boolean; all?: boolean; actor: string; purpose: string },
  write: (text: string) => void,
): Promise<void> {
  const found = await readPersonRecordRows(db, parsed.query);
  // Looking someone up is itself an access to personal data, so it is audited even when
  // nobody is found; and the audit row commits before the record is shown.
  await appendAudit(db, {
    actor: opts.actor,
    action: 'record.read',
    personId: found?.person.person_id ?? null,
    purpose: opts.purpose,
    detail: { by: parsed.by, query: who.trim(), found: !!found, format: opts.json ? 'fhir' : 'text', items: found?.rows.length ?? 0 },
  });
  if (!found) throw new Error(`no record found for ${parsed.label}`);
  const record = buildIntegratedRecord(found.person, found.identities, found.rows, found.practices);
  write(opts.json ? JSON.stringify(toFhirBundle(record, found.rows)) + '\n' : renderRecordText(record, { all: !!opts.all }));
}

function defaultActor(): string {
  if (process.env.BEVAN_ACTOR) return process.env.BEVAN_ACTOR;
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** `bevan record WHO`: one person's integrated care record, as text or a FHIR Bundle; every read is audited. */
export function registerRecord(program: Command): void {
  const cmd = program
    .command('record')
    .description("show one person's integrated care record: every source in one timeline (each read is audited)")
    .argument('<who>', 'NHS number (spaces allowed), Bevan person id, or with --source a source system patient id')
    .option('--json', 'print the record as one FHIR R4 Bundle (JSON) on stdout')
    .option('--all', 'show the whole timeline (default: the latest 50 items)')
    .option('--actor <name>', 'who is reading, for the audit log (default: $BEVAN_ACTOR or the login name)', defaultActor())
    .option('--purpose <purpose>', 'purpose of use, for the audit log', 'direct-care')
    .option('--source <system>', 'WHO is the patient id in this source system, e.g. hl7:RM2 or gp:P91001')
    .addHelpText('after', '\nExamples:\n  bevan record "943 476 5919"\n  bevan record 9434765919 --json > record.json\n  bevan record MRN100 --source hl7:RM2 --all');
  databaseOption(cmd).action(async (who: string, opts: RecordOptions) => {
    const parsed = parseWho(who, opts.source);
    if (parsed.kind === 'error') throw new Error(parsed.message);
    if (!opts.actor?.trim()) throw new Error('--actor must name who is reading');
    if (!/^[a-z][a-z0-9-]*$/.test(opts.purpose)) throw new Error(`--purpose "${opts.purpose}" should be a word like direct-care`);
    await withDatabase(opts, (db) => showRecord(db, who, parsed, opts, (text) => process.stdout.write(text)));
  });
}
