import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_POOL_SIZE, postgresSettings, splitOptions } from './postgres-adapter.ts';

test('PostgreSQL settings: pool size and prepared statements from the environment, checked', () => {
  assert.deepEqual(postgresSettings({}), { max: DEFAULT_POOL_SIZE, prepare: true, genericPlans: true });
  assert.deepEqual(postgresSettings({ BEVAN_DB_POOL_SIZE: '32', BEVAN_DB_PREPARE: 'off' }), { max: 32, prepare: false, genericPlans: true });
  assert.deepEqual(postgresSettings({ BEVAN_DB_PREPARE: 'on', BEVAN_DB_PLAN_CACHE: 'auto' }), { max: DEFAULT_POOL_SIZE, prepare: true, genericPlans: false });
  assert.throws(() => postgresSettings({ BEVAN_DB_PLAN_CACHE: 'custom' }), /BEVAN_DB_PLAN_CACHE/);
  assert.throws(() => postgresSettings({ BEVAN_DB_POOL_SIZE: '0' }), /BEVAN_DB_POOL_SIZE/);
  assert.throws(() => postgresSettings({ BEVAN_DB_POOL_SIZE: 'lots' }), /BEVAN_DB_POOL_SIZE/);
  assert.throws(() => postgresSettings({ BEVAN_DB_PREPARE: 'sometimes' }), /BEVAN_DB_PREPARE/);
});

test('a URL\'s own options are kept beside the pool\'s (the connection string would otherwise replace them)', () => {
  assert.deepEqual(splitOptions('postgres://u@h:5432/db'), { url: 'postgres://u@h:5432/db', options: null });
  const s = splitOptions('postgres://u@h:5432/db?options=-c%20search_path%3Dx&application_name=app');
  assert.equal(s.options, '-c search_path=x');
  assert.equal(new URL(s.url).searchParams.get('options'), null);
  assert.equal(new URL(s.url).searchParams.get('application_name'), 'app');
  assert.deepEqual(splitOptions('not a url'), { url: 'not a url', options: null });
});
