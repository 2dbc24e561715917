import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_POOL_SIZE, postgresSettings } from './postgres-adapter.ts';

test('PostgreSQL settings: pool size and prepared statements from the environment, checked', () => {
  assert.deepEqual(postgresSettings({}), { max: DEFAULT_POOL_SIZE, prepare: true, genericPlans: true });
  assert.deepEqual(postgresSettings({ BEVAN_DB_POOL_SIZE: '32', BEVAN_DB_PREPARE: 'off' }), { max: 32, prepare: false, genericPlans: true });
  assert.deepEqual(postgresSettings({ BEVAN_DB_PREPARE: 'on', BEVAN_DB_PLAN_CACHE: 'auto' }), { max: DEFAULT_POOL_SIZE, prepare: true, genericPlans: false });
  assert.throws(() => postgresSettings({ BEVAN_DB_PLAN_CACHE: 'custom' }), /BEVAN_DB_PLAN_CACHE/);
  assert.throws(() => postgresSettings({ BEVAN_DB_POOL_SIZE: '0' }), /BEVAN_DB_POOL_SIZE/);
  assert.throws(() => postgresSettings({ BEVAN_DB_POOL_SIZE: 'lots' }), /BEVAN_DB_POOL_SIZE/);
  assert.throws(() => postgresSettings({ BEVAN_DB_PREPARE: 'sometimes' }), /BEVAN_DB_PREPARE/);
});
