/**
 * Feed configuration: a locality's feeds as data (docs/feeds.md "Feed configuration"). A feeds
 * file (JSON) lists each source system that sends Bevan data: its source system key, what kind of
 * service it is, its organisation's ODS code, its format, and where it arrives (a folder, an
 * MLLP port). `bevan ingest --feeds FILE` reads each folder with its feed's key as the source.
 * Checked when loaded into a list of problems a person can fix, all at once.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import type { FeedFormat } from './model.ts';

/** What kind of service a feed comes from (the care settings of an integrated care system). */
export const FEED_KINDS = ['gp', 'hospital', 'community', 'mental-health', 'social-care', 'other'] as const;
export type FeedKind = (typeof FEED_KINDS)[number];

export const FEED_FORMATS: readonly FeedFormat[] = ['fhir', 'hl7v2', 'csv'];

export interface Feed {
  /** Source system key, e.g. `gp:P91001`, `hl7:RM2`, `csv:community` (docs/feeds.md "Source system keys"). */
  key: string;
  kind: FeedKind;
  /** ODS code of the organisation that runs the source system (a practice, a trust, a council). */
  ods?: string;
  format: FeedFormat;
  /** What people call it, e.g. "Trafford General PAS". */
  name?: string;
  /** The folder (or one file) where its files arrive; absolute once loaded. */
  folder?: string;
  /** The MLLP port its HL7 v2 messages arrive on. */
  mllpPort?: number;
}

export interface FeedsConfig {
  feeds: Feed[];
  /** The locality reference data file (practices, neighbourhoods) to load with the feeds; absolute once loaded. */
  locality?: string;
}

/** A feeds file that cannot be used, with every problem found in it. */
export class FeedsFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  - ${problems.join('\n  - ')}`}`);
  }
}

const FEED_FIELDS = ['key', 'kind', 'ods', 'format', 'name', 'folder', 'mllpPort'];
const TOP_FIELDS = ['feeds', 'locality'];
/** A source system key: no spaces, a few safe punctuation marks (it becomes part of resource provenance). */
const KEY = /^[A-Za-z0-9][A-Za-z0-9:._\-/]{0,63}$/;
/** ODS codes are 3 to 10 capital letters and digits (practice P91001, trust RM2, site RM202). */
const ODS = /^[A-Z0-9]{3,10}$/;

/** Why a source system key cannot be used (for `--source` as well as the feeds file), or null. */
export function sourceKeyProblem(key: string): string | null {
  if (KEY.test(key)) return null;
  return `source key ${JSON.stringify(key)} is not usable: up to 64 letters, digits and : . _ - /, without spaces, e.g. hl7:RM2 or gp:P91001`;
}

const normalise = (v: string) => v.trim().toLowerCase().replace(/[\s_]+/g, '-');

/**
 * Checks a parsed feeds file (`{"feeds": [...], "locality"?: "..."}`, or just the list) and
 * resolves its paths against `baseDir`. Pure: no file is opened.
 */
export function parseFeeds(value: unknown, baseDir: string): { config: FeedsConfig } | { problems: string[] } {
  const problems: string[] = [];
  let list: unknown;
  let locality: string | undefined;
  if (Array.isArray(value)) list = value;
  else if (value && typeof value === 'object') {
    const top = value as Record<string, unknown>;
    for (const k of Object.keys(top)) if (!TOP_FIELDS.includes(k)) problems.push(`unknown field "${k}" (a feeds file has "feeds" and, optionally, "locality")`);
    list = top.feeds;
    if (top.locality !== undefined) {
      if (typeof top.locality !== 'string' || !top.locality) problems.push('"locality" must be the path of a locality file, e.g. "locality.json"');
      else locality = resolve(baseDir, top.locality);
    }
  } else return { problems: ['a feeds file is a JSON object {"feeds": [...]}'] };
  if (!Array.isArray(list)) return { problems: [...problems, '"feeds" must be a list of feeds'] };
  if (!list.length) problems.push('"feeds" is empty: list at least one feed');

  const feeds: Feed[] = [];
  const byKey = new Map<string, { at: string; key: string }>();
  const folders: { folder: string; name: string; format: FeedFormat | undefined }[] = [];
  const byPort = new Map<number, string>();
  list.forEach((raw, i) => {
    const at = `feeds[${i}]`;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
      problems.push(`${at} is not an object with "key", "kind" and "format"`);
      return;
    }
    const f = raw as Record<string, unknown>;
    const name = typeof f.key === 'string' && f.key ? `${at} (${f.key})` : at;
    const bad = (what: string) => problems.push(`${name}: ${what}`);
    for (const k of Object.keys(f)) if (!FEED_FIELDS.includes(k)) bad(`unknown field "${k}" (a feed has ${FEED_FIELDS.join(', ')})`);

    let key: string | undefined;
    if (typeof f.key !== 'string' || !f.key) bad('"key" is missing: the source system key, e.g. "hl7:RM2" or "gp:P91001"');
    else {
      const p = sourceKeyProblem(f.key);
      if (p) bad(p);
      const seen = byKey.get(f.key.toLowerCase());
      if (seen?.key === f.key) bad(`key "${f.key}" is also ${seen.at}'s: each source has one feed (list its folder and port on one entry)`);
      else if (seen) bad(`key "${f.key}" differs only in case from ${seen.at}'s "${seen.key}": two sources need keys that differ in more than case`);
      else byKey.set(f.key.toLowerCase(), { at, key: f.key });
      key = f.key;
    }

    let kind: FeedKind | undefined;
    if (typeof f.kind !== 'string') bad(`"kind" is missing: one of ${FEED_KINDS.join(', ')}`);
    else {
      const k = normalise(f.kind);
      kind = (FEED_KINDS as readonly string[]).includes(k) ? (k as FeedKind) : k === 'socialcare' ? 'social-care' : k === 'mental' ? 'mental-health' : undefined;
      if (!kind) bad(`kind "${f.kind}" is not one of ${FEED_KINDS.join(', ')}`);
    }

    let format: FeedFormat | undefined;
    if (typeof f.format !== 'string') bad(`"format" is missing: one of ${FEED_FORMATS.join(', ')}`);
    else {
      const k = normalise(f.format);
      format = k === 'hl7' || k === 'hl7-v2' ? 'hl7v2' : (FEED_FORMATS as readonly string[]).includes(k) ? (k as FeedFormat) : undefined;
      if (!format) bad(`format "${f.format}" is not one of ${FEED_FORMATS.join(', ')}`);
    }

    let ods: string | undefined;
    if (f.ods !== undefined) {
      if (typeof f.ods !== 'string' || !ODS.test(f.ods.trim().toUpperCase())) bad(`ods ${JSON.stringify(f.ods)} is not an ODS code (3 to 10 letters and digits, e.g. P91001 or RM2)`);
      else ods = f.ods.trim().toUpperCase();
    } else if (kind === 'gp' || kind === 'hospital') bad(`"ods" is missing: a ${kind === 'gp' ? 'practice' : 'trust'} has an ODS code (e.g. ${kind === 'gp' ? 'P91001' : 'RM2'})`);

    if (f.name !== undefined && typeof f.name !== 'string') bad('"name" must be text');

    let folder: string | undefined;
    if (f.folder !== undefined) {
      if (typeof f.folder !== 'string' || !f.folder) bad('"folder" must be the path of the folder (or file) where its files arrive');
      else {
        folder = resolve(baseDir, f.folder);
        // Feeds of different formats may share a folder (each reads the files of its format:
        // a mental health trust's HL7 and CSV side by side); two of one format may not. The
        // first clash is enough to fix.
        for (const { folder: other, ...owner } of folders) {
          if (owner.format !== undefined && format !== undefined && owner.format !== format) continue;
          const clash =
            other === folder ? `is already ${owner.name}'s: a folder belongs to one feed of each format (its files would be read twice)`
            : inside(folder, other) ? `is inside ${owner.name}'s folder: its files would be read twice`
            : inside(other, folder) ? `holds ${owner.name}'s folder: its files would be read twice`
            : null;
          if (clash) {
            bad(`folder "${f.folder}" ${clash}`);
            break;
          }
        }
        folders.push({ folder, name, format });
      }
    }

    let mllpPort: number | undefined;
    if (f.mllpPort !== undefined) {
      if (typeof f.mllpPort !== 'number' || !Number.isInteger(f.mllpPort) || f.mllpPort < 1 || f.mllpPort > 65535) bad(`mllpPort ${JSON.stringify(f.mllpPort)} is not a port number (1 to 65535)`);
      else if (format && format !== 'hl7v2') bad(`mllpPort is for HL7 v2 feeds, but its format is ${format}`);
      else {
        const owner = byPort.get(f.mllpPort);
        if (owner) bad(`MLLP port ${f.mllpPort} is already ${owner}'s: a port belongs to one feed`);
        else byPort.set(f.mllpPort, name);
        mllpPort = f.mllpPort;
      }
    }

    if (key && kind && format) {
      feeds.push({ key, kind, format, ...(ods ? { ods } : {}), ...(typeof f.name === 'string' ? { name: f.name } : {}), ...(folder ? { folder } : {}), ...(mllpPort ? { mllpPort } : {}) });
    }
  });
  if (problems.length) return { problems };
  return { config: { feeds, ...(locality ? { locality } : {}) } };
}

const inside = (path: string, dir: string): boolean => {
  const r = relative(dir, path);
  return r !== '' && !r.startsWith('..') && !isAbsolute(r);
};

/** The folders to read for a feeds file, each with its feed's source key and format (pipeline FeedPath). */
export function feedFolders(config: FeedsConfig): { path: string; source: string; format: FeedFormat }[] {
  return config.feeds.filter((f) => f.folder !== undefined).map((f) => ({ path: f.folder!, source: f.key, format: f.format }));
}

/** Reads and checks a feeds file; throws FeedsFileError with every problem found. Paths resolve against the file's folder. */
export function loadFeeds(file: string): FeedsConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FeedsFileError(file, [`cannot be read: ${(err as Error).message}`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new FeedsFileError(file, [`is not valid JSON: ${(err as Error).message}`]);
  }
  const r = parseFeeds(value, dirname(resolve(file)));
  if ('problems' in r) throw new FeedsFileError(file, r.problems);
  return r.config;
}
