/**
 * The built extension in real Chromium, for benchmarks that drive it as a person's device
 * would: through the page ↔ background messages (`{ channel: 'conclave.request', request }`,
 * what extension/src/messages/client.ts `ask()` sends), from a quiet extension page.
 *
 * - `ensureExtensionBuilt()`: `npx wxt build` when .output/chrome-mv3 is missing or older
 *   than a source file (extension/, shared/src/, wxt.config.ts) — a figure of a stale build
 *   would be a figure of other code —, always with BENCH_BUILD=1, never with BENCH_BUILD=0.
 * - `launchExtension(profileDir)`: Chromium (playwright-core, the path and flags of
 *   scripts/chromium.ts) with the extension loaded; a helper page (verify.html) to send
 *   requests from.
 * - `memberWithGroup(ext, apiUrl)`: `settings.save` (the API's URL; signaling on a closed
 *   port), `identity.create`, `group.create`, `group.confirmRecoverySaved` — the group id.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { chromiumArgs, chromiumPath } from '../../scripts/chromium.ts';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const extensionDir = join(repoRoot, '.output', 'chrome-mv3');

/** The newest modification time of the files under `path` (0 when it does not exist). */
function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = 0;
  for (const entry of readdirSync(path, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

export function ensureExtensionBuilt(): void {
  const manifest = join(extensionDir, 'manifest.json');
  const force = process.env.BENCH_BUILD;
  if (force === '0' && existsSync(manifest)) return;
  if (force !== '1' && existsSync(manifest)) {
    const sources = Math.max(...['extension/src', 'extension/entrypoints', 'shared/src', 'wxt.config.ts'].map((p) => newestMtime(join(repoRoot, p))));
    if (sources <= statSync(manifest).mtimeMs) return;
    console.log('the sources changed since .output/chrome-mv3 was built');
  }
  console.log('building the extension (npx wxt build)…');
  const built = spawnSync('npx', ['wxt', 'build'], { cwd: repoRoot, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`wxt build failed:\n${built.stdout}\n${built.stderr}`);
}

export interface ExtensionBrowser {
  context: BrowserContext;
  /** An extension page (verify.html) that requests are sent from. */
  page: Page;
  extensionId: string;
  /** Sends one request to the background from `page`; its `data`, or throws with the error's code and words. */
  ask<T = unknown>(request: Record<string, unknown>): Promise<T>;
  close(): Promise<void>;
}

interface Answer<T> {
  ok: boolean;
  data?: T;
  error?: { code: string; message: string; action: string };
}

/** Sends one request to the background from an extension page, as the pages' `ask()` does. */
export async function askBackground<T>(page: Page, request: Record<string, unknown>): Promise<T> {
  const answer = (await page.evaluate(
    (req) => (globalThis as unknown as { chrome: { runtime: { sendMessage(m: unknown): Promise<unknown> } } }).chrome.runtime.sendMessage({ channel: 'conclave.request', request: req }),
    request,
  )) as Answer<T> | undefined;
  if (!answer) throw new Error(`${String(request.type)}: the background gave no answer (is it wired up?)`);
  if (!answer.ok) throw new Error(`${String(request.type)}: ${answer.error?.code}: ${answer.error?.message}`);
  return answer.data as T;
}

export async function launchExtension(profileDir: string, timeoutMs = 120_000): Promise<ExtensionBrowser> {
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath,
    headless: true,
    args: [...chromiumArgs, `--disable-extensions-except=${extensionDir}`, `--load-extension=${extensionDir}`],
  });
  try {
    // tsx (esbuild keepNames) wraps named functions in functions passed to page.evaluate with __name().
    await context.addInitScript({ content: 'globalThis.__name ??= (f) => f;' });
    let [worker] = context.serviceWorkers();
    worker ??= await context.waitForEvent('serviceworker', { timeout: 30_000 });
    const extensionId = new URL(worker.url()).host;
    const page = await context.newPage();
    page.setDefaultTimeout(timeoutMs);
    await page.goto(`chrome-extension://${extensionId}/verify.html`);
    const ask = <T>(request: Record<string, unknown>) => askBackground<T>(page, request);
    return { context, page, extensionId, ask, close: () => context.close() };
  } catch (error) {
    await context.close().catch(() => undefined);
    throw error;
  }
}

/** Makes the extension a member of a new group on `apiUrl`; the group's id. */
export async function memberWithGroup(ext: ExtensionBrowser, apiUrl: string): Promise<string> {
  await ext.ask({ type: 'settings.save', apiUrl, signalingUrl: 'http://127.0.0.1:9', iceServers: [] });
  await ext.ask({ type: 'identity.create', displayName: 'Bench' });
  const { groupId } = await ext.ask<{ groupId: string }>({ type: 'group.create', name: 'Bench group', policy: 'verified' });
  await ext.ask({ type: 'group.confirmRecoverySaved', groupId }).catch(() => undefined);
  return groupId;
}
