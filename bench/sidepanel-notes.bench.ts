/**
 * Question: with 10,000 notes in a group, how long does the side panel take to show
 * its first list row, and to open one note — next to a plain static page that renders
 * a 10,000-row list, in the same Chromium?
 *
 * Setup (not timed, but its time is printed): the real storage API (`build(config)` +
 * listen on 127.0.0.1:0, SQLite in a temp directory, rate limit raised) in this
 * process; Chromium (playwright-core, /usr/bin/chromium, the flags of
 * scripts/chromium.ts) with the built extension (.output/chrome-mv3, built first if
 * missing, or always with BENCH_BUILD=1). Everything else goes through the extension
 * itself, as a person's device would do it: from an extension page, `settings.save`
 * (the API's URL), `identity.create`, `group.create`, then 10,000 `notes.save`
 * requests (BATCH in flight) — so the background encrypts, uploads and caches every
 * note exactly as in use.
 *
 * Measured, in alternating rounds (panel, baseline; then baseline, panel; ...):
 * - panel: a new tab opens sidepanel.html (the group preselected through the
 *   `panel.selectedGroup` draft) → the first frame after the first note row is in the
 *   DOM. Then, in the same tab, a click on the first row → the first frame after the
 *   note's title is shown (a `notes.read` round trip: fetch, verify, decrypt).
 * - baseline: a new tab opens a static HTML file with the same 10,000 rows (title,
 *   author, time) written into the page → the first frame after DOMContentLoaded.
 * Times are taken inside the page: `performance.now()` (from navigation start) when a
 * MutationObserver installed by an init script (panel only) sees the element, then after
 * one requestAnimationFrame and one task (so layout and paint of that frame are included).
 * Also shown: one `notes.list` round trip from a page (10,000 headers from the
 * background), the part of the panel's time that is messaging.
 *
 * Run: npx tsx bench/sidepanel-notes.bench.ts   (BENCH_NOTES, BENCH_ROUNDS, BENCH_BATCH, BENCH_BUILD)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { build } from '../storage-api/src/app.ts';
import { loadConfig } from '../storage-api/src/config.ts';
import { chromiumArgs, chromiumPath } from '../scripts/chromium.ts';
import { PAGE_SIZE } from '../extension/src/ui/panel/logic.ts';
import { askBackground } from './support/extension-browser.ts';
import { fmt, header, median, printTable } from './support/harness.ts';

const NOTES = Number(process.env.BENCH_NOTES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const BATCH = Number(process.env.BENCH_BATCH ?? 25);
const STEP_TIMEOUT_MS = 120_000;

const root = fileURLToPath(new URL('..', import.meta.url));
const extensionDir = join(root, '.output', 'chrome-mv3');

header(
  'side panel with many notes',
  `Question: with ${NOTES.toLocaleString('en-US')} notes in a group, how long until the side panel shows its first row, and until one note is open — next to a static page with a ${NOTES.toLocaleString('en-US')}-row list, same Chromium?`,
);
const started = performance.now();

// --- build ---------------------------------------------------------------------------------------

if (process.env.BENCH_BUILD === '1' || !existsSync(join(extensionDir, 'manifest.json'))) {
  console.log('building the extension (npx wxt build)…');
  const built = spawnSync('npx', ['wxt', 'build'], { cwd: root, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`wxt build failed:\n${built.stdout}\n${built.stderr}`);
}

// --- storage API ---------------------------------------------------------------------------------

const scratch = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'conclave-bench-panel-'));
const config = loadConfig({}, { dataDir: join(scratch, 'data'), logLevel: 'warn', rateLimitPerMinute: 1_000_000_000 });
const app = await build(config, { logStream: new Writable({ write: (_chunk, _encoding, done) => done() }) });
const apiUrl = await app.fastify.listen({ host: '127.0.0.1', port: 0 });

// --- browser -------------------------------------------------------------------------------------

/**
 * Records, in the page, when an element first matches a selector: `__seen[selector]`
 * is performance.now() at the first frame after it appeared (rAF, then one task).
 */
const OBSERVER = `(() => {
  // tsx (esbuild keepNames) wraps named functions in functions passed to page.evaluate with __name().
  globalThis.__name ??= (f) => f;
  const seen = (window.__seen = {});
  // Only the panel is watched: on the static page a query per parser batch would slow the baseline.
  if (location.pathname.endsWith('/sidepanel.html')) {
    const observer = new MutationObserver(() => {
      if (document.querySelector('.note-row')) {
        observer.disconnect();
        requestAnimationFrame(() => setTimeout(() => { seen['.note-row'] = performance.now(); }, 0));
      }
    });
    observer.observe(document, { childList: true, subtree: true });
  }
  document.addEventListener('DOMContentLoaded', () => {
    requestAnimationFrame(() => setTimeout(() => { window.__domReadyFrame = performance.now(); }, 0));
  });
})();`;

const context: BrowserContext = await chromium.launchPersistentContext(join(scratch, 'profile'), {
  executablePath: chromiumPath,
  headless: true,
  args: [...chromiumArgs, `--disable-extensions-except=${extensionDir}`, `--load-extension=${extensionDir}`],
  viewport: { width: 400, height: 900 },
});
await context.addInitScript({ content: OBSERVER });

const ask = askBackground;

try {
  let [worker] = context.serviceWorkers();
  worker ??= await context.waitForEvent('serviceworker', { timeout: 30_000 });
  const extensionId = new URL(worker.url()).host;
  const pageUrl = (path: string) => `chrome-extension://${extensionId}/${path}`;

  // A quiet extension page to talk to the background from.
  const helper = await context.newPage();
  helper.setDefaultTimeout(STEP_TIMEOUT_MS);
  await helper.goto(pageUrl('verify.html'));

  // --- setup: identity, group, notes ---------------------------------------------------------------

  let t = performance.now();
  await ask(helper, { type: 'settings.save', apiUrl, signalingUrl: 'http://127.0.0.1:9', iceServers: [] });
  await ask(helper, { type: 'identity.create', displayName: 'Bench' });
  const created = await ask<{ groupId: string }>(helper, { type: 'group.create', name: 'Bench group', policy: 'verified' });
  const groupId = created.groupId;
  await ask(helper, { type: 'group.confirmRecoverySaved', groupId }).catch(() => undefined);
  console.log(`identity and group created through the extension in ${fmt(performance.now() - t)} ms`);

  t = performance.now();
  const filled = await helper.evaluate(
    async ({ groupId, notes, batch }) => {
      const send = (request: unknown) =>
        (globalThis as unknown as { chrome: { runtime: { sendMessage(m: unknown): Promise<{ ok: boolean; error?: { message: string } }> } } }).chrome.runtime.sendMessage({
          channel: 'conclave.request',
          request,
        });
      const words = ['budget', 'garden', 'meeting', 'plans', 'recipes', 'travel', 'minutes', 'ideas'];
      let failed = 0;
      let firstError = '';
      for (let i = 0; i < notes; i += batch) {
        const answers = await Promise.all(
          Array.from({ length: Math.min(batch, notes - i) }, (_, j) => {
            const n = i + j;
            return send({ type: 'notes.save', groupId, title: `Note ${n}: ${words[n % words.length]}`, body: `Body of note ${n}. `.repeat(10) });
          }),
        );
        for (const a of answers)
          if (!a?.ok) {
            failed++;
            firstError ||= a?.error?.message ?? 'no answer';
          }
      }
      return { failed, firstError };
    },
    { groupId, notes: NOTES, batch: BATCH },
  );
  const fillMs = performance.now() - t;
  if (filled.failed > 0) throw new Error(`${filled.failed} notes.save failed; first: ${filled.firstError}`);
  console.log(`${NOTES.toLocaleString('en-US')} notes written through notes.save (${BATCH} in flight) in ${fmt(fillMs / 1000)} s (${fmt((NOTES / fillMs) * 1000, 0)} notes/s)`);

  const listed = await ask<unknown[]>(helper, { type: 'notes.list', groupId });
  console.log(`notes.list answers ${listed.length.toLocaleString('en-US')} notes`);
  await ask(helper, { type: 'draft.save', key: 'panel.selectedGroup', value: groupId });

  // --- baseline page ---------------------------------------------------------------------------------

  const staticFile = join(scratch, 'static-list.html');
  const now = Date.now();
  const rows = Array.from({ length: NOTES }, (_, i) => {
    const when = new Date(now - i * 60_000).toLocaleString('en-GB');
    return `<li class="static-row"><button type="button">Note ${i}: title</button><p>by Bench <span>Verified</span> <time>${when}</time></p></li>`;
  }).join('\n');
  writeFileSync(staticFile, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>static</title></head><body><h1>Notes</h1><ul>${rows}</ul></body></html>`);
  const staticUrl = pathToFileURL(staticFile).href;

  // --- measurements ----------------------------------------------------------------------------------

  const readSeen = (page: Page, key: string) =>
    page.waitForFunction((k) => (window as unknown as { __seen: Record<string, number | null> }).__seen?.[k] ?? undefined, key, { timeout: STEP_TIMEOUT_MS, polling: 20 }).then((h) => h.jsonValue() as Promise<number>);

  async function panelRound(): Promise<{ firstRow: number; openNote: number }> {
    // Start from the list (the previous round left a note open in the route draft).
    await ask(helper, { type: 'draft.clear', key: `panel.route.${groupId}` });
    const page = await context.newPage();
    try {
      await page.goto(pageUrl('sidepanel.html'));
      const firstRow = await readSeen(page, '.note-row');
      const openNote = await page.evaluate(
        () =>
          new Promise<number>((resolve) => {
            const start = performance.now();
            const done = () => requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - start), 0));
            const observer = new MutationObserver(() => {
              if (document.getElementById('note-title')) {
                observer.disconnect();
                done();
              }
            });
            observer.observe(document.body, { childList: true, subtree: true });
            document.querySelector<HTMLButtonElement>('.note-row')!.click();
          }),
      );
      return { firstRow, openNote };
    } finally {
      await page.close();
      // Let the closing page's draft flush land before the next round clears it.
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  async function baselineRound(): Promise<number> {
    const page = await context.newPage();
    try {
      await page.goto(staticUrl);
      return (await page.waitForFunction(() => (window as unknown as { __domReadyFrame?: number }).__domReadyFrame, undefined, { timeout: STEP_TIMEOUT_MS, polling: 20 }).then((h) => h.jsonValue())) as number;
    } finally {
      await page.close();
    }
  }

  async function listRoundTrip(): Promise<number> {
    return helper.evaluate(async (gid) => {
      const start = performance.now();
      await (globalThis as unknown as { chrome: { runtime: { sendMessage(m: unknown): Promise<unknown> } } }).chrome.runtime.sendMessage({
        channel: 'conclave.request',
        request: { type: 'notes.list', groupId: gid },
      });
      return performance.now() - start;
    }, groupId);
  }

  // Warm-up: one of each, untimed (first compile of the pages' scripts, disk caches).
  await panelRound();
  await baselineRound();

  const firstRow: number[] = [];
  const openNote: number[] = [];
  const baseline: number[] = [];
  const list: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const runPanel = async () => {
      const s = await panelRound();
      firstRow.push(s.firstRow);
      openNote.push(s.openNote);
    };
    const runBaseline = async () => {
      baseline.push(await baselineRound());
    };
    if (r % 2 === 0) {
      await runPanel();
      await runBaseline();
    } else {
      await runBaseline();
      await runPanel();
    }
    list.push(await listRoundTrip());
  }

  const ratios = firstRow.map((ms, i) => ms / baseline[i]!);
  const range = (xs: number[]) => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`;
  console.log(`\n${ROUNDS} rounds, alternating; times in ms from navigation start (open note: from the click)\n`);
  printTable(
    ['subject', 'median ms', 'min–max', 'vs static page'],
    [
      [`static page, ${NOTES.toLocaleString('en-US')}-row list: first frame`, fmt(median(baseline)), range(baseline), '1.00×'],
      ['side panel: first note row drawn', fmt(median(firstRow)), range(firstRow), `${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`],
      ['side panel: open one note (click → title)', fmt(median(openNote)), range(openNote), ''],
      ['notes.list round trip (part of first row)', fmt(median(list)), range(list), ''],
    ],
  );
  console.log(`\nthe panel draws the newest ${PAGE_SIZE} rows and offers "Show more"; the static page lays out all ${NOTES.toLocaleString('en-US')}.`);
} finally {
  await context.close().catch(() => undefined);
  await app.close().catch(() => undefined);
  rmSync(scratch, { recursive: true, force: true });
  console.log(`\ntotal ${fmt((performance.now() - started) / 1000)} s`);
}
