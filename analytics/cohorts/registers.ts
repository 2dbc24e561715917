// The shipped registers (analytics/cohorts/registers/*.json) and cohort files named on the
// command line: read, checked, and resolved by name when one register refers to another.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CohortDefinitionError, parseCohort, type CohortDefinition } from './definition.ts';

export const REGISTERS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'registers');

/** Reads one cohort file; problems name the file. */
export function readCohortFile(path: string): CohortDefinition {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CohortDefinitionError([`${path}: ${(err as Error).message}`]);
  }
  return parseCohort(raw, basename(path));
}

/** Every register in a folder, by name (file name and `name` must agree). */
export function loadRegisters(dir = REGISTERS_DIR): Map<string, CohortDefinition> {
  const out = new Map<string, CohortDefinition>();
  const problems: string[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
    try {
      const def = readCohortFile(join(dir, f));
      if (`${def.name}.json` !== f) problems.push(`${f}: name "${def.name}" does not match the file name`);
      out.set(def.name, def);
    } catch (err) {
      problems.push(...(err instanceof CohortDefinitionError ? err.problems : [(err as Error).message]));
    }
  }
  if (problems.length) throw new CohortDefinitionError(problems);
  return out;
}

/**
 * A register named on the command line or in a URL: a shipped register's name, or (command line
 * only) a path to a cohort file, whose references resolve to the shipped registers.
 */
export function findRegister(nameOrPath: string, registers: Map<string, CohortDefinition>, allowFiles: boolean): CohortDefinition | undefined {
  if (allowFiles && (nameOrPath.endsWith('.json') || nameOrPath.includes('/'))) {
    const shipped = registers.get(basename(nameOrPath, '.json'));
    return shipped && !existsSync(nameOrPath) ? shipped : readCohortFile(nameOrPath);
  }
  return registers.get(nameOrPath);
}
