/**
 * Launches headless Chromium with an unpacked extension in a fresh profile
 * (with the flags of scripts/chromium.ts), and finds its service worker and id.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Worker } from 'playwright-core';
import { chromiumArgs, chromiumPath } from '../../../../scripts/chromium.ts';

export const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

export interface LoadedExtension {
  context: BrowserContext;
  id: string;
  /** The service worker now (a new one after the worker restarts). */
  worker(): Promise<Worker>;
  close(): Promise<void>;
}

/** The built extension at `dir` (relative to the repository), or a clear failure saying how to build it. */
export function builtExtension(dir: string, buildCommand: string): string {
  const absolute = path.join(repoRoot, dir);
  if (!existsSync(path.join(absolute, 'manifest.json'))) {
    throw new Error(`${dir} is not built. The test command builds it before vitest (scripts/test-all.sh); alone, run \`${buildCommand}\` first.`);
  }
  return absolute;
}

export async function launchWithExtension(dir: string): Promise<LoadedExtension> {
  const profile = await mkdtemp(path.join(os.tmpdir(), 'conclave-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    // Loopback candidates even where the machine has no other interface (CI sandboxes).
    args: [...chromiumArgs, '--allow-loopback-in-peer-connection', `--disable-extensions-except=${dir}`, `--load-extension=${dir}`],
  });
  const worker = async (): Promise<Worker> => {
    const live = context.serviceWorkers().filter((w) => w.url().startsWith('chrome-extension://'));
    return live.at(-1) ?? (await context.waitForEvent('serviceworker', { timeout: 15_000 }));
  };
  const first = await worker();
  return {
    context,
    id: new URL(first.url()).host,
    worker,
    async close() {
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}
