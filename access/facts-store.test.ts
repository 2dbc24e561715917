import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { OPEN_ITEM_SQL } from './facts-store.ts';

test('the open-item predicate is the partial index’s, word for word (a generic plan can then use resource_open_item_idx)', () => {
  const migration = readFileSync(new URL('../db/migrations/0082_open_items.sql', import.meta.url), 'utf8');
  assert.ok(migration.includes(`WHERE ${OPEN_ITEM_SQL};`), 'db/migrations/0082_open_items.sql must carry OPEN_ITEM_SQL as its predicate');
  // Literals only from the code's own status lists: no quote or placeholder can reach it.
  assert.doesNotMatch(OPEN_ITEM_SQL, /\$\d|;|--/);
});
