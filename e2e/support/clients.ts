/**
 * A client is one person's browser: a Chromium profile directory with the built
 * extension loaded (with the flags of scripts/chromium.ts). Its browser can be closed
 * and launched again on the same profile — the device keeps its identity, groups and
 * keys in the profile's IndexedDB, as a person's browser does when they quit it — and
 * the profile is deleted only by `dispose()`, at the end of the run.
 *
 * Every client launched is tracked, so `disposeAll()` (in the test's afterAll) closes
 * every browser still open and deletes every profile, whatever failed before.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { chromiumArgs, chromiumPath } from '../../scripts/chromium.ts';
import type { AxeAudit } from './axe.ts';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
/** Where `npx wxt build` puts the Chromium build (wxt.config.ts: CONCLAVE_OUT_DIR moves it). */
export const EXTENSION_DIR = `${process.env.CONCLAVE_OUT_DIR || '.output'}/chrome-mv3`;

/**
 * The built extension, or a failure that says how to build it. The test command
 * (scripts/test-all.sh) builds it before vitest runs.
 */
export function builtExtensionDir(): string {
  const absolute = path.join(repoRoot, EXTENSION_DIR);
  if (!existsSync(path.join(absolute, 'manifest.json'))) {
    throw new Error(
      `The end-to-end test needs the built extension at ${EXTENSION_DIR}, and it is missing. ` +
        '`npm test` (scripts/test-all.sh) builds it first; to run the e2e project alone, run `npx wxt build` and then `npx vitest run --project e2e`.',
    );
  }
  return absolute;
}

export interface Viewport {
  width: number;
  height: number;
}

export const VIEWPORTS = {
  /** About the size Chrome gives an extension popup. */
  popup: { width: 380, height: 640 },
  /** A side panel beside a page. */
  panel: { width: 440, height: 860 },
  /** A normal tab (the verification tab, the options page). */
  tab: { width: 800, height: 1000 },
} as const satisfies Record<string, Viewport>;

const live = new Set<Client>();

/** Profiles are made as `conclave-e2e-<pid>-…` in the temporary directory. */
const PROFILE_PREFIX = 'conclave-e2e-';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let swept = false;
/**
 * Deletes profiles left by runs that were killed before their clean-up (their process
 * is gone); profiles of runs still going are left alone.
 */
function sweepStaleProfiles(): void {
  if (swept) return;
  swept = true;
  for (const name of readdirSync(os.tmpdir())) {
    const pid = Number(/^conclave-e2e-(\d+)-/.exec(name)?.[1]);
    if (pid && pid !== process.pid && !alive(pid)) rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
  }
}

export class Client {
  private ctx: BrowserContext | null = null;
  private extensionId: string | null = null;
  /** Uncaught errors on this client's pages (each prefixed with the page's path). */
  readonly pageErrors: string[] = [];

  private constructor(
    /** "Ana (client 1)": for failure messages and screenshots. */
    readonly label: string,
    readonly profileDir: string,
    private readonly extensionDir: string,
    private readonly axe: AxeAudit | null,
    private readonly colorScheme: 'light' | 'dark',
  ) {}

  /**
   * A new profile (an empty directory); nothing is launched yet. With `axe`, every screen
   * the page objects arrive on is checked with axe-core (e2e/support/axe.ts); with
   * `colorScheme: 'dark'`, its browser prefers a dark scheme (so axe checks those colours).
   */
  static async create(label: string, options: { axe?: AxeAudit; colorScheme?: 'light' | 'dark' } = {}): Promise<Client> {
    const extensionDir = builtExtensionDir();
    sweepStaleProfiles();
    const profileDir = await mkdtemp(path.join(os.tmpdir(), `${PROFILE_PREFIX}${process.pid}-profile-`));
    const client = new Client(label, profileDir, extensionDir, options.axe ?? null, options.colorScheme ?? 'light');
    live.add(client);
    return client;
  }

  get online(): boolean {
    return this.ctx !== null;
  }

  get context(): BrowserContext {
    if (!this.ctx) throw new Error(`${this.label}'s browser is not running`);
    return this.ctx;
  }

  get id(): string {
    if (!this.extensionId) throw new Error(`${this.label}'s browser has not been launched`);
    return this.extensionId;
  }

  /** Starts the browser on this client's profile (again, after `close()`), and waits for the extension's service worker. */
  async launch(): Promise<void> {
    if (this.ctx) return;
    const context = await chromium.launchPersistentContext(this.profileDir, {
      executablePath: chromiumPath,
      headless: true,
      viewport: VIEWPORTS.tab,
      colorScheme: this.colorScheme,
      // Loopback ICE candidates even where the machine has no other interface.
      args: [...chromiumArgs, '--allow-loopback-in-peer-connection', `--disable-extensions-except=${this.extensionDir}`, `--load-extension=${this.extensionDir}`],
    });
    this.ctx = context;
    try {
      const worker =
        context.serviceWorkers().find((w) => w.url().startsWith('chrome-extension://')) ?? (await context.waitForEvent('serviceworker', { timeout: 20_000 }));
      this.extensionId = new URL(worker.url()).host;
    } catch (error) {
      await this.close();
      throw new Error(`${this.label}: the extension's service worker did not start: ${(error as Error).message}`);
    }
    context.on('page', (page) => this.watch(page));
    for (const page of context.pages()) this.watch(page);
  }

  private watch(page: Page): void {
    page.on('pageerror', (error) => this.pageErrors.push(`${new URL(page.url() || 'about:blank').pathname}: ${error.message}`));
  }

  /** Checks what `page` shows with axe-core, when this client was created with an audit ("popup: Join with an invite"). */
  async checkScreen(page: Page, screen: string): Promise<void> {
    await this.axe?.check(page, `${this.label.split(' ')[0]}: ${screen}`);
  }

  /** Closes the browser; the profile (identity, groups, keys) stays for `launch()`. */
  async close(): Promise<void> {
    const context = this.ctx;
    this.ctx = null;
    if (context) await context.close().catch(() => undefined);
  }

  /** Closes the browser and deletes the profile. */
  async dispose(): Promise<void> {
    await this.close();
    await rm(this.profileDir, { recursive: true, force: true }).catch(() => undefined);
    live.delete(this);
  }

  /** Opens one of the extension's pages in a new tab. */
  async open(page: string, viewport: Viewport = VIEWPORTS.tab): Promise<Page> {
    const tab = await this.context.newPage();
    await tab.setViewportSize(viewport);
    await tab.goto(`chrome-extension://${this.id}/${page}`);
    return tab;
  }

  /** A tab this client opens by itself (the members list's "Verify" opens the verification tab). */
  async nextTab(open: () => Promise<void>, viewport: Viewport = VIEWPORTS.tab): Promise<Page> {
    const [tab] = await Promise.all([this.context.waitForEvent('page', { timeout: 15_000 }), open()]);
    await tab.setViewportSize(viewport);
    await tab.waitForLoadState('domcontentloaded');
    return tab;
  }

  /**
   * Points this device at the run's servers through its options page, as a person
   * would: the storage server, the connection server and no STUN/TURN servers.
   */
  async useServers(apiUrl: string, signalingUrl: string): Promise<Page> {
    const page = await this.open('options.html');
    await page.getByLabel('Storage server').waitFor({ timeout: 15_000 });
    await this.checkScreen(page, 'options');
    await page.getByLabel('Storage server').fill(apiUrl);
    await page.getByLabel('Connection server').fill(signalingUrl);
    await page.getByLabel('STUN and TURN servers (JSON)').fill('[]');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText('Saved. Conclave uses these servers from now on.').waitFor({ timeout: 10_000 });
    await this.checkScreen(page, 'options: saved');
    return page;
  }
}

/** Closes every browser still open and deletes every profile. Never throws. */
export async function disposeAll(): Promise<void> {
  await Promise.allSettled([...live].map((client) => client.dispose()));
}
