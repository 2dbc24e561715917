/**
 * Locality reference data: neighbourhoods and GP practices (ODS codes), from the
 * `locality.json` a locality keeps beside its feeds. This is configuration, not personal data,
 * so another borough loads its own file (capability 15, replication).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Database } from '../db/database.ts';

export interface LocalityFile {
  name?: string;
  neighbourhoods: { key: string; name: string }[];
  practices: { ods: string; name: string; neighbourhood: string; postcode?: string }[];
}

/** Checks a parsed locality file; returns the problems a person must fix (empty when good). */
export function localityProblems(value: unknown): string[] {
  const v = value as Partial<LocalityFile> | null;
  const problems: string[] = [];
  if (!v || typeof v !== 'object') return ['locality file is not a JSON object'];
  if (!Array.isArray(v.neighbourhoods)) problems.push('"neighbourhoods" must be a list');
  if (!Array.isArray(v.practices)) problems.push('"practices" must be a list');
  if (problems.length) return problems;
  const keys = new Set(v.neighbourhoods!.map((n) => n?.key));
  v.neighbourhoods!.forEach((n, i) => {
    if (!n?.key || !n?.name) problems.push(`neighbourhoods[${i}] needs "key" and "name"`);
  });
  v.practices!.forEach((p, i) => {
    if (!p?.ods || !/^[A-Z0-9]{3,8}$/.test(p.ods)) problems.push(`practices[${i}] has no valid ODS code ("ods")`);
    if (!p?.name) problems.push(`practices[${i}] (${p?.ods}) has no name`);
    if (!keys.has(p?.neighbourhood)) problems.push(`practices[${i}] (${p?.ods}) names neighbourhood "${p?.neighbourhood}", which is not in "neighbourhoods"`);
  });
  return problems;
}

/**
 * The locality file for a path: `DIR/locality.json` for a folder, or the file itself. Null for a
 * path that cannot be read (the ingest quarantines it with its reason).
 */
export function localityFileFor(path: string): string | null {
  let folder: boolean;
  try {
    folder = statSync(path).isDirectory();
  } catch {
    return null;
  }
  if (folder) return existsSync(join(path, 'locality.json')) ? join(path, 'locality.json') : null;
  return basename(path) === 'locality.json' ? path : null;
}

/** Upserts neighbourhoods and practices; returns how many of each. Throws with the problems if invalid. */
export async function loadLocality(db: Database, file: string): Promise<{ neighbourhoods: number; practices: number }> {
  let value: LocalityFile;
  try {
    value = JSON.parse(readFileSync(file, 'utf8').replace(/^\uFEFF/, '')) as LocalityFile;
  } catch (err) {
    throw new Error(`${file}: ${err instanceof SyntaxError ? 'not valid JSON: ' : ''}${(err as Error).message}`);
  }
  const problems = localityProblems(value);
  if (problems.length) throw new Error(`${file}: ${problems.join('; ')}`);
  await db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO neighbourhood (code, name) SELECT * FROM unnest($1::text[], $2::text[])
       ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name`,
      [value.neighbourhoods.map((n) => n.key), value.neighbourhoods.map((n) => n.name)],
    );
    await tx.query(
      `INSERT INTO practice (ods_code, name, neighbourhood, postcode) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
       ON CONFLICT (ods_code) DO UPDATE SET name = EXCLUDED.name, neighbourhood = EXCLUDED.neighbourhood, postcode = EXCLUDED.postcode`,
      [value.practices.map((p) => p.ods), value.practices.map((p) => p.name), value.practices.map((p) => p.neighbourhood), value.practices.map((p) => p.postcode ?? null)],
    );
  });
  return { neighbourhoods: value.neighbourhoods.length, practices: value.practices.length };
}
