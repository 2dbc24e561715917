/** The initial JavaScript of the built application, gzipped, against its budget (measured by the build: web/vite.config.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WEB_DIST } from '../http/web.ts';

test('initial JavaScript ≤ 250 KB gzipped; later pages are chunks of their own', () => {
  const file = join(WEB_DIST, '.vite', 'sizes.json');
  assert.ok(existsSync(file), 'the web application is built (npm run build:web)');
  const s = JSON.parse(readFileSync(file, 'utf8')) as { initialJsGzipBytes: number; budgetBytes: number; initial: string[]; onDemand: Record<string, number> };
  console.log(`# initial JavaScript ${(s.initialJsGzipBytes / 1024).toFixed(1)} KB gzipped (${s.initial.join(', ')}); on demand: ${Object.entries(s.onDemand).map(([f, n]) => `${f} ${(n / 1024).toFixed(1)} KB`).join(', ')}`);
  assert.ok(s.initialJsGzipBytes <= 250 * 1024, `${s.initialJsGzipBytes} bytes`);
  for (const page of ['PersonPage', 'SearchPage', 'ResultsCharts']) assert.ok(Object.keys(s.onDemand).some((f) => f.includes(page)), `${page} loads on demand`);
});
