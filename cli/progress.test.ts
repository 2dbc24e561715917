import { test } from 'node:test';
import assert from 'node:assert/strict';
import { duration, ingestProgressBar } from './progress.ts';

test('time left reads as seconds, minutes and hours', () => {
  assert.equal(duration(8.4), '8s');
  assert.equal(duration(75), '1m15s');
  assert.equal(duration(4000), '1h06m');
  assert.equal(duration(-3), '0s');
});

test('the ingest bar is silent off a terminal, whatever it is given', () => {
  const bar = ingestProgressBar('ingest', false);
  bar.update({ file: 'a.hl7', filesDone: 0, filesTotal: 2, bytesDone: 0, bytesTotal: 10, counts: { accepted: 1, ignored: 0, quarantined: 0, duplicates: 0, resources: 2 } });
  bar.stop();
});
