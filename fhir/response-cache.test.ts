import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResponseCache, responseCacheBytes } from './response-cache.ts';

const entry = (n: number) => ({ body: Buffer.alloc(n, 'x'), items: 1, withheld: 0 });

test('the response cache is bounded by bytes, least recently used out first; a huge entry is not kept', () => {
  const c = new ResponseCache(10_000);
  c.set('a', entry(2000));
  c.set('b', entry(2000));
  c.set('c', entry(2000));
  assert.ok(c.get('a'), 'a used: now the most recent');
  c.set('d', entry(2000));
  c.set('e', entry(2000));
  assert.ok(c.size.bytes <= 10_000);
  assert.equal(c.get('b'), undefined, 'b, the least recently used, went first');
  assert.ok(c.get('a'));
  assert.ok(c.get('e'));
  c.set('huge', entry(5000));
  assert.equal(c.get('huge'), undefined, 'more than a quarter of the cache: not kept');
  assert.ok(c.get('a'), 'and nothing was pushed out for it');
  c.set('a', entry(10));
  assert.equal(c.get('a')!.body.length, 10, 'a key set again holds the new value');
});

test('BEVAN_RESPONSE_CACHE_MB: megabytes, 0 off, anything else refused', () => {
  assert.equal(responseCacheBytes({}), 64 * 1024 * 1024);
  assert.equal(responseCacheBytes({ BEVAN_RESPONSE_CACHE_MB: '0' }), 0);
  assert.equal(responseCacheBytes({ BEVAN_RESPONSE_CACHE_MB: '8' }), 8 * 1024 * 1024);
  assert.throws(() => responseCacheBytes({ BEVAN_RESPONSE_CACHE_MB: '-1' }), /whole number/);
  assert.throws(() => responseCacheBytes({ BEVAN_RESPONSE_CACHE_MB: '1.5' }), /whole number/);
});
