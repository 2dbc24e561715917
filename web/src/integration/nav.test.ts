import { test } from 'node:test';
import assert from 'node:assert/strict';
import { currentEntry, homeFor, integrationNav, mayFindPeople } from './nav.ts';

test('navigation: the integration team sees its three screens, an administrator the feeds, a GP none', () => {
  assert.deepEqual(integrationNav('integration').map((e) => e.label), ['Feeds', 'Quarantine', 'MPI review']);
  assert.deepEqual(integrationNav('admin').map((e) => e.label), ['Feeds']);
  assert.deepEqual(integrationNav('gp'), []);
  assert.deepEqual(integrationNav('nobody'), []);
  assert.equal(mayFindPeople('gp'), true);
  assert.equal(mayFindPeople('integration'), false);
  assert.equal(homeFor('integration'), '/integration/feeds');
  assert.equal(homeFor('admin'), '/integration/feeds');
  assert.equal(homeFor('gp'), '/search');
  assert.equal(homeFor('patient'), '/search');
  assert.equal(homeFor('analyst'), '/analytics/commissioning', 'an analyst lands on the commissioner dashboard');
  const entries = integrationNav('integration');
  assert.equal(currentEntry(entries, '/integration/quarantine/12'), '/integration/quarantine');
  assert.equal(currentEntry(entries, '/integration/feeds'), '/integration/feeds');
  assert.equal(currentEntry(entries, '/integration/feedsx'), null);
});
