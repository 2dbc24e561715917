/**
 * Measures the MPI against the generator's ground truth (truth/persons.ndjson): pairwise
 * precision and recall over source identities. Pairs are counted per group, never enumerated:
 * with n identities in a cell, C(n, 2) pairs.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Queryable } from '../db/database.ts';

export interface Evaluation {
  /** Of the pairs Bevan put in one person, the share that are one true person. */
  precision: number;
  /** Of the pairs that are one true person, the share Bevan put in one person. */
  recall: number;
  f1: number;
  /** Identities in both the database and the truth (the only ones counted). */
  identities: number;
  /** Bevan persons holding those identities. */
  persons: number;
  /** True persons holding those identities. */
  truePersons: number;
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  identitiesOnlyInDatabase: number;
  identitiesOnlyInTruth: number;
}

/**
 * Ground truth: one JSON object per line, a true person with the source identities that are
 * them: `{"personId": "...", "sources": [{"system": "gp:P91001", "id": "..."}, ...]}` (as `bevan generate`
 * writes it).
 * Also accepted: `person_id`/`id` for the person, `identities`/`sourceIdentities` for the list,
 * `sourceId` for the identity id, or "system|id" strings.
 */
export async function readTruth(truthFile: string): Promise<Map<string, string>> {
  const truth = new Map<string, string>();
  const lines = createInterface({ input: createReadStream(truthFile, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (!line.trim()) continue;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`${truthFile}:${n}: not JSON`);
    }
    const person = row.personId ?? row.person_id ?? row.id;
    const list = (row.sources ?? row.identities ?? row.sourceIdentities ?? row.source_identities) as unknown[] | undefined;
    if (person == null || !Array.isArray(list)) throw new Error(`${truthFile}:${n}: expected {"personId", "sources": [...]}`);
    for (const item of list) {
      const key = typeof item === 'string' ? item : identityKeyOf(item as Record<string, unknown>);
      if (key) truth.set(key, String(person));
    }
  }
  return truth;
}

function identityKeyOf(x: Record<string, unknown>): string | null {
  const system = x.system ?? x.source_system;
  const id = x.id ?? x.sourceId ?? x.source_id;
  return system != null && id != null ? `${String(system)}|${String(id)}` : null;
}

/** Pairwise precision and recall of the database's persons against the truth file. */
export async function evaluateAgainstTruth(db: Queryable, truthFile: string): Promise<Evaluation> {
  const truth = await readTruth(truthFile);
  const r = await db.query<{ source_system: string; source_id: string; person_id: string }>('SELECT source_system, source_id, person_id FROM source_identity');
  return scoreClusters(
    r.rows.map((x) => [`${x.source_system}|${x.source_id}`, x.person_id] as const),
    truth,
  );
}

/** The counting itself, pure: predicted (identity → Bevan person) against truth (identity → true person). */
export function scoreClusters(predicted: Iterable<readonly [string, string]>, truth: Map<string, string>): Evaluation {
  const cell = new Map<string, number>();
  const bevan = new Map<string, number>();
  const real = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  let both = 0;
  let onlyDb = 0;
  const seen = new Set<string>();
  for (const [key, person] of predicted) {
    const t = truth.get(key);
    if (t === undefined) {
      onlyDb++;
      continue;
    }
    seen.add(key);
    both++;
    bump(cell, `${person}\u0000${t}`);
    bump(bevan, person);
    bump(real, t);
  }
  const pairs = (m: Map<string, number>) => {
    let s = 0;
    for (const n of m.values()) s += (n * (n - 1)) / 2;
    return s;
  };
  const tp = pairs(cell);
  const predictedPairs = pairs(bevan);
  const truePairs = pairs(real);
  const precision = predictedPairs ? tp / predictedPairs : 1;
  const recall = truePairs ? tp / truePairs : 1;
  return {
    precision,
    recall,
    f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0,
    identities: both,
    persons: bevan.size,
    truePersons: real.size,
    truePositives: tp,
    falsePositives: predictedPairs - tp,
    falseNegatives: truePairs - tp,
    identitiesOnlyInDatabase: onlyDb,
    identitiesOnlyInTruth: truth.size - seen.size,
  };
}
