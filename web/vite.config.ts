/**
 * Vite build of the web application: web/ → web/dist (index.html plus content-hashed files under
 * assets/, served by http/web.ts). Besides React it does three things of its own:
 * - nhsuk-frontend's stylesheet: its Internet Explorer hacks dropped (Lightning CSS cannot
 *   parse them), its icons bundled from the package (the CSS names them at
 *   /assets/images/, a path of the NHS website), and the @font-face rules for Frutiger (licensed to
 *   the NHS, loaded from its own host, which our Content-Security-Policy refuses) dropped, so the
 *   type falls back to Arial as the design system intends;
 * - every text asset written also gzip- and Brotli-compressed (served as such by @fastify/static);
 * - the initial JavaScript (the entry chunk and the chunks it imports statically) measured
 *   gzipped and printed; the build fails above the budget (250 KB, issue 10).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';

export const INITIAL_JS_BUDGET_BYTES = 250 * 1024;

function nhsukStyles(): Plugin {
  return {
    name: 'bevan-nhsuk-styles',
    enforce: 'pre',
    transform(code, id) {
      if (!/nhsuk-frontend[\\/].*\.css(\?|$)/.test(id)) return null;
      const out = withoutIeHacks(code)
        .replace(/@font-face\s*\{[^}]*assets\.nhs\.uk[^}]*\}/g, '')
        .replace(/url\(\s*(['"]?)\/assets\/images\//g, 'url($1./assets/images/');
      return { code: out, map: null };
    },
  };
}

/** Drops `@media screen\\0 …{…}` blocks (an Internet Explorer hack Lightning CSS cannot parse). */
function withoutIeHacks(css: string): string {
  let out = '';
  let i = 0;
  for (;;) {
    const at = css.indexOf('@media screen\\0', i);
    if (at < 0) return out + css.slice(i);
    out += css.slice(i, at);
    let j = css.indexOf('{', at);
    let depth = 0;
    for (; j < css.length; j++) {
      if (css[j] === '{') depth++;
      else if (css[j] === '}' && --depth === 0) break;
    }
    i = j + 1;
  }
}

function compressAndMeasure(): Plugin {
  return {
    name: 'bevan-compress-and-measure',
    apply: 'build',
    // After the files are written: the code as served (Vite rewrites chunks until generateBundle ends).
    writeBundle(options, bundle) {
      const dir = options.dir!;
      const sizes = new Map<string, number>();
      for (const fileName of Object.keys(bundle)) {
        if (!/\.(js|css|html|svg|json)$/.test(fileName)) continue;
        const buf = readFileSync(join(dir, fileName));
        const gz = gzipSync(buf, { level: 9 });
        sizes.set(fileName, gz.length);
        if (buf.length < 1024 || !fileName.startsWith('assets/')) continue;
        writeFileSync(join(dir, `${fileName}.gz`), gz);
        writeFileSync(join(dir, `${fileName}.br`), brotliCompressSync(buf, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
      }
      // The initial JavaScript: entry chunks and, transitively, what they import statically.
      const initial = new Set<string>();
      const visit = (name: string) => {
        const c = bundle[name];
        if (!c || c.type !== 'chunk' || initial.has(name)) return;
        initial.add(name);
        for (const i of c.imports) visit(i);
      };
      for (const [name, c] of Object.entries(bundle)) if (c.type === 'chunk' && c.isEntry) visit(name);
      const total = [...initial].reduce((n, f) => n + (sizes.get(f) ?? 0), 0);
      const lazy = Object.values(bundle).filter((c) => c.type === 'chunk' && !initial.has(c.fileName));
      const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
      const report = { initialJsGzipBytes: total, budgetBytes: INITIAL_JS_BUDGET_BYTES, initial: [...initial], onDemand: Object.fromEntries(lazy.map((c) => [c.fileName, sizes.get(c.fileName) ?? 0])) };
      writeFileSync(join(dir, '.vite', 'sizes.json'), JSON.stringify(report, null, 2) + '\n');
      console.log(`\ninitial JavaScript: ${kb(total)} gzipped in ${initial.size} file(s) (budget ${kb(INITIAL_JS_BUDGET_BYTES)}); ${lazy.length} chunk(s) loaded on demand: ${lazy.map((c) => `${c.fileName} ${kb(sizes.get(c.fileName) ?? 0)}`).join(', ')}`);
      if (total > INITIAL_JS_BUDGET_BYTES) this.error(`initial JavaScript is ${kb(total)} gzipped, over the ${kb(INITIAL_JS_BUDGET_BYTES)} budget`);
    },
  };
}

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [nhsukStyles(), react(), compressAndMeasure()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    manifest: true,
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2022',
  },
});
