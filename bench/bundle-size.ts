/**
 * Question: is each extension entrypoint small enough to open fast — popup ≤ 60 kB
 * and side panel ≤ 150 kB gzipped — and how many "Preact hellos" is each?
 *
 * Subject: the Chrome build (`wxt build`, into .output/bench-bundle so a loaded
 * .output/chrome-mv3 is left alone; `--read` measures .output/chrome-mv3 as it is).
 * An entrypoint's size is what it loads up front: the scripts and stylesheets its
 * HTML names (script src, link rel=stylesheet/modulepreload) and every chunk those
 * import statically, each counted once, gzipped (level 9). Dynamic imports are left
 * out (loaded on demand). The background is background.js and its static imports.
 *
 * Baseline, same run: a minimal Preact app (`render(h('h1', null, 'Hello'), …)`)
 * built by Vite with the same plugin (@preact/preset-vite) and minifier, gzipped the
 * same way: what any Preact page costs at the least. kB = 1000 bytes.
 *
 * Run: npx tsx bench/bundle-size.ts [--read]
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import preact from '@preact/preset-vite';
import { build as viteBuild, type Rollup } from 'vite';
import { build as wxtBuild } from 'wxt';
import { printTable } from './support/harness.ts';

const repo = fileURLToPath(new URL('..', import.meta.url));
const TARGETS: Record<string, number> = { popup: 60_000, sidepanel: 150_000 };
const ENTRIES = ['popup', 'sidepanel', 'options', 'verify', 'offscreen', 'background'];

const gz = (bytes: Uint8Array | string) => gzipSync(bytes, { level: 9 }).length;
const kB = (bytes: number) => `${(bytes / 1000).toFixed(1)} kB`;

/** Files an HTML page loads up front (paths relative to the build root). */
function htmlAssets(html: string, htmlPath: string, root: string): string[] {
  const found: string[] = [];
  const add = (ref: string) => {
    if (/^(?:[a-z]+:)?\/\//i.test(ref) || ref.startsWith('data:')) return;
    const absolute = ref.startsWith('/') ? path.join(root, ref) : path.resolve(path.dirname(htmlPath), ref);
    found.push(path.relative(root, absolute));
  };
  for (const m of html.matchAll(/<script\b[^>]*\bsrc=["']([^"']+)["'][^>]*>/gi)) add(m[1]!);
  for (const m of html.matchAll(/<link\b[^>]*>/gi)) {
    const tag = m[0];
    const rel = /\brel=["']([^"']+)["']/i.exec(tag)?.[1] ?? '';
    const href = /\bhref=["']([^"']+)["']/i.exec(tag)?.[1];
    if (href && /\b(stylesheet|modulepreload)\b/.test(rel)) add(href);
  }
  return found;
}

/** Static imports of a built ES module chunk (`import … from "./x.js"`, `import "./x.js"`, `export … from`). */
function staticImports(code: string, file: string, root: string): string[] {
  const out: string[] = [];
  for (const m of code.matchAll(/(?:^|[;}\s])(?:import|export)\s*(?:[\w*{}\s,$]*?\bfrom\s*)?["']([^"']+\.(?:js|mjs|css))["']/g)) {
    const spec = m[1]!;
    if (!spec.startsWith('.') && !spec.startsWith('/')) continue;
    out.push(path.relative(root, spec.startsWith('/') ? path.join(root, spec) : path.resolve(path.dirname(path.join(root, file)), spec)));
  }
  return out;
}

function closure(root: string, start: string[]): string[] {
  const seen = new Set<string>();
  const queue = [...start];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    const absolute = path.join(root, file);
    if (!existsSync(absolute)) throw new Error(`${file} is named by the build but missing from ${root}`);
    seen.add(file);
    if (file.endsWith('.js') || file.endsWith('.mjs')) queue.push(...staticImports(readFileSync(absolute, 'utf8'), file, root));
  }
  return [...seen];
}

async function preactHelloGzip(): Promise<number> {
  const id = 'virtual:preact-hello';
  const result = await viteBuild({
    configFile: false,
    logLevel: 'silent',
    plugins: [
      preact(),
      {
        name: 'preact-hello',
        resolveId: (source) => (source === id ? `\0${id}` : null),
        load: (source) => (source === `\0${id}` ? "import { h, render } from 'preact';\nrender(h('h1', null, 'Hello'), document.getElementById('app'));\n" : null),
      },
    ],
    build: { write: false, minify: true, target: 'esnext', modulePreload: false, rollupOptions: { input: id } },
  });
  const outputs = (Array.isArray(result) ? result : [result]) as Rollup.RollupOutput[];
  let total = 0;
  for (const output of outputs) for (const item of output.output) total += gz(item.type === 'chunk' ? item.code : item.source);
  return total;
}

const readOnly = process.argv.includes('--read');
let root = path.join(repo, '.output/chrome-mv3');
if (!readOnly) {
  console.log('building the extension (WXT prints its file list)…');
  await wxtBuild({ root: repo, outDir: path.join(repo, '.output/bench-bundle'), browser: 'chrome' });
  root = path.join(repo, '.output/bench-bundle/chrome-mv3');
} else if (!existsSync(path.join(root, 'manifest.json'))) {
  throw new Error('.output/chrome-mv3 is not built: run `npm run build:extension`, or drop --read to build here');
}

console.log('\n=== extension bundle size ===');
console.log('Question: popup ≤ 60 kB and side panel ≤ 150 kB gzipped (what each loads up front), and each entrypoint as a multiple of a minimal Preact app built in the same run?');
console.log(`build: ${path.relative(repo, root)}; gzip level 9; kB = 1000 bytes\n`);

const hello = await preactHelloGzip();
const rows: string[][] = [];
for (const entry of ENTRIES) {
  const start = entry === 'background' ? (existsSync(path.join(root, 'background.js')) ? ['background.js'] : []) : [];
  if (entry !== 'background') {
    const htmlPath = path.join(root, `${entry}.html`);
    if (!existsSync(htmlPath)) {
      rows.push([entry, '-', '-', '-', '-', TARGETS[entry] ? kB(TARGETS[entry]) : '-', 'not built']);
      continue;
    }
    start.push(...htmlAssets(readFileSync(htmlPath, 'utf8'), htmlPath, root));
  }
  const files = closure(root, start);
  const raw = files.reduce((n, f) => n + readFileSync(path.join(root, f)).length, 0);
  const gzip = files.reduce((n, f) => n + gz(readFileSync(path.join(root, f))), 0);
  const target = TARGETS[entry];
  const verdict = target === undefined ? '' : gzip <= target ? 'ok' : 'OVER TARGET';
  rows.push([entry, String(files.length), kB(raw), kB(gzip), `${(gzip / hello).toFixed(1)}×`, target ? kB(target) : '-', verdict]);
}
printTable(['entrypoint', 'files', 'raw', 'gzip', '× Preact hello', 'target', 'verdict'], rows);
console.log(`\nbaseline: minimal Preact app, gzip ${kB(hello)} (${hello} bytes)`);
