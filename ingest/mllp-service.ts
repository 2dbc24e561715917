/** Connects the MLLP listener to the writer: each message is committed before it is acknowledged. */
import type { Database } from '../db/database.ts';
import { isUnavailable } from '../db/database.ts';
import { startMllpListener } from './hl7v2/mllp.ts';
import type { IngestItem } from './model.ts';
import { writeBatch } from './writer.ts';

export type MllpOutcome = 'committed' | 'duplicate' | 'quarantined' | 'conflict' | 'ignored' | 'unavailable';

/** Writes one message received over MLLP; 'unavailable' tells the listener to answer AR (retry). */
export async function handleMllpItem(db: Database, item: IngestItem): Promise<MllpOutcome> {
  try {
    const r = await writeBatch(db, [item]);
    return r.outcomes[0]!;
  } catch (err) {
    if (isUnavailable(err)) return 'unavailable';
    throw err;
  }
}

export interface MllpCounters {
  received: number;
  byOutcome: Record<string, number>;
}

/** Starts an MLLP listener that feeds this database; returns it with live counters. */
export async function startMllpIngest(db: Database, port: number, host = '127.0.0.1') {
  const counters: MllpCounters = { received: 0, byOutcome: {} };
  const listener = await startMllpListener({
    port,
    host,
    handle: async (item) => {
      counters.received++;
      const outcome = await handleMllpItem(db, item);
      counters.byOutcome[outcome] = (counters.byOutcome[outcome] ?? 0) + 1;
      return outcome;
    },
  });
  return { ...listener, counters };
}
