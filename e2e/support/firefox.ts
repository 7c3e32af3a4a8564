/**
 * A Firefox client: one person's Firefox (Debian's firefox-esr, installed by
 * scripts/ensure-firefox.sh) on its own profile, with the built Firefox extension
 * (.output/firefox-mv2) installed as a temporary add-on. Playwright cannot drive a stock
 * Firefox, so this goes through puppeteer-core 24 over WebDriver BiDi:
 *
 * - the extension gets a fixed moz-extension UUID per profile (the
 *   `extensions.webextensions.uuids` pref), so its pages have known addresses and its
 *   IndexedDB stays the same across a restart of the browser on the same profile;
 * - extension pages are opened with a raw BiDi navigate (`page.goto()` waits for a load
 *   event that never comes for moz-extension:// pages);
 * - the side panel (Firefox's sidebar) cannot show headless: its page opens in a tab;
 * - Firefox reports the extension's uncaught errors only on its own output, as
 *   `JavaScript error: <url>, line N: …` lines (puppeteer sees no console or page errors
 *   of extension pages): every line of it is kept, and `javaScriptErrors()` picks those.
 *
 * Profiles are made as `conclave-e2e-<pid>-firefox-…` in the temporary directory, so the
 * Chromium clients' sweep (clients.ts) deletes those of killed runs too.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import type { AxeAudit } from './axe.ts';
import { repoRoot, VIEWPORTS, type Viewport } from './clients.ts';

/** Where Debian's firefox-esr package puts the browser (FIREFOX_PATH overrides). */
export const firefoxPath = process.env.FIREFOX_PATH ?? '/usr/lib/firefox-esr/firefox-esr';
/** Where `npx wxt build -b firefox` puts the Firefox build (wxt.config.ts: CONCLAVE_OUT_DIR moves it). */
export const FIREFOX_EXTENSION_DIR = `${process.env.CONCLAVE_OUT_DIR || '.output'}/firefox-mv2`;
/** The extension's id in Firefox (wxt.config.ts, browser_specific_settings.gecko.id). */
export const GECKO_ID = 'conclave@example.org';

/** The built Firefox extension and the browser, or a failure that says how to get them. */
export function firefoxPrerequisites(): string {
  const absolute = path.join(repoRoot, FIREFOX_EXTENSION_DIR);
  if (!existsSync(path.join(absolute, 'manifest.json'))) {
    throw new Error(
      `The Firefox end-to-end test needs the built Firefox extension at ${FIREFOX_EXTENSION_DIR}, and it is missing. ` +
        '`npm test` (scripts/test-all.sh) builds it first; to run this test alone, run `npx wxt build -b firefox` first.',
    );
  }
  if (!existsSync(firefoxPath)) {
    throw new Error(`The Firefox end-to-end test needs Firefox at ${firefoxPath}, and it is missing: run \`bash scripts/ensure-firefox.sh\` (npm test does).`);
  }
  return absolute;
}

/** The parts of puppeteer's BiDi frame this uses: a plain navigate that waits for the document. */
interface BidiFrame {
  browsingContext: { navigate(url: string, wait: 'none' | 'interactive' | 'complete'): Promise<unknown> };
}

const live = new Set<FirefoxClient>();

export class FirefoxClient {
  private browser: Browser | null = null;
  /** Every line Firefox wrote on stdout and stderr, for all launches of this profile. */
  private readonly lines: string[] = [];
  /** The lines written while Firefox was shutting down (by index in `lines`). */
  private readonly shutdownLines = new Set<number>();
  private shuttingDown = false;
  private partial = '';

  private constructor(
    /** "Fern (Firefox)": for failure messages and screenshots. */
    readonly label: string,
    readonly profileDir: string,
    private readonly extensionDir: string,
    /** The moz-extension:// host of the extension in this profile. */
    readonly uuid: string,
    private readonly axe: AxeAudit | null,
  ) {}

  /**
   * A new, empty profile; nothing is launched yet. With `axe`, every screen the page
   * objects (e2e/pages/firefox.ts) arrive on is checked with axe-core (e2e/support/axe.ts).
   */
  static async create(label: string, options: { axe?: AxeAudit } = {}): Promise<FirefoxClient> {
    const extensionDir = firefoxPrerequisites();
    const profileDir = await mkdtemp(path.join(os.tmpdir(), `conclave-e2e-${process.pid}-firefox-`));
    const client = new FirefoxClient(label, profileDir, extensionDir, randomUUID(), options.axe ?? null);
    live.add(client);
    return client;
  }

  get online(): boolean {
    return this.browser !== null;
  }

  get origin(): string {
    return `moz-extension://${this.uuid}`;
  }

  private get running(): Browser {
    if (!this.browser) throw new Error(`${this.label}'s Firefox is not running`);
    return this.browser;
  }

  /** Starts Firefox on this profile and installs the extension (again, after `close()`). */
  async launch(): Promise<void> {
    if (this.browser) return;
    const browser = await puppeteer.launch({
      browser: 'firefox',
      executablePath: firefoxPath,
      headless: true,
      userDataDir: this.profileDir,
      defaultViewport: VIEWPORTS.tab,
      // Lets BiDi install add-ons (webExtension.install).
      args: ['--remote-allow-system-access'],
      extraPrefsFirefox: {
        'extensions.webextensions.uuids': JSON.stringify({ [GECKO_ID]: this.uuid }),
        // Real host addresses in ICE candidates: the peers are on this machine.
        'media.peerconnection.ice.obfuscate_host_addresses': false,
        'dom.ipc.processPrelaunch.enabled': false,
        // Optional permissions the manifest declares are granted without a prompt (a
        // headless Firefox cannot show one); undeclared ones are still refused.
        'extensions.webextOptionalPermissionPrompts': false,
        // The extension's console lines on stdout too, for the run's log.
        'devtools.console.stdout.content': true,
        // Firefox's own backup service measures the profile once the browser is idle (a
        // headless one is idle at once) and fails where there is no Documents folder (a
        // `JavaScript error:` line of Firefox's own): keep it from ever running here.
        'browser.backup.scheduled.enabled': false,
        'browser.backup.scheduled.idle-threshold-seconds': 2_000_000_000,
      },
    });
    this.browser = browser;
    const child = browser.process();
    for (const stream of [child?.stdout, child?.stderr]) stream?.on('data', (chunk: Buffer) => this.record(chunk.toString('utf8')));
    try {
      await browser.installExtension(this.extensionDir);
    } catch (error) {
      await this.close();
      throw new Error(`${this.label}: Firefox did not install the extension from ${this.extensionDir}: ${(error as Error).message}`);
    }
  }

  private record(text: string): void {
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) {
      if (this.shuttingDown) this.shutdownLines.add(this.lines.length);
      this.lines.push(line);
    }
  }

  /** Everything Firefox printed so far. */
  output(): string {
    return [...this.lines, this.partial].join('\n');
  }

  /**
   * The `JavaScript error:` lines Firefox printed so far (uncaught errors, the
   * extension's included), except while it was shutting down: closing a headless Firefox
   * driven over BiDi makes its own front end print one (PrivateBrowsingUtils, "aWindow.docShell
   * is null") as its windows go away. Those lines stay in `output()`.
   */
  javaScriptErrors(): string[] {
    const running = this.lines.filter((_, index) => !this.shutdownLines.has(index));
    return [...running, ...(this.shuttingDown ? [] : [this.partial])].filter((line) => line.includes('JavaScript error:'));
  }

  /** Opens one of the extension's pages in a new tab, and waits until its document has loaded. */
  async open(page: string, viewport: Viewport = VIEWPORTS.tab): Promise<Page> {
    const tab = await this.running.newPage();
    await tab.setViewport(viewport);
    await this.navigate(tab, `${this.origin}/${page}`);
    return tab;
  }

  /** Loads `url` in the tab (a moz-extension:// address too), as a person reloading it would. */
  async navigate(tab: Page, url: string): Promise<void> {
    await (tab.mainFrame() as unknown as BidiFrame).browsingContext.navigate(url, 'complete');
  }

  /** The address of a tab (`page.url()` stays about:blank for pages opened by a raw navigate). */
  async address(tab: Page): Promise<string> {
    return tab.evaluate(() => location.href);
  }

  /**
   * A tab the extension opens by itself (the members list's "Verify" opens the
   * verification tab), found by the page it shows.
   */
  async nextTab(pathPrefix: string, open: () => Promise<void>, viewport: Viewport = VIEWPORTS.tab): Promise<Page> {
    const prefix = `${this.origin}/${pathPrefix}`;
    const before = new Set(await this.running.pages());
    await open();
    // The target's own address is not reliable for tabs an extension opens: ask each new tab.
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      for (const tab of await this.running.pages()) {
        if (before.has(tab)) continue;
        const href = await this.address(tab).catch(() => '');
        if (!href.startsWith(prefix)) continue;
        await tab.setViewport(viewport);
        await tab.waitForFunction(() => document.readyState === 'complete', { timeout: 15_000, polling: 100 });
        return tab;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${this.label}: no tab showing ${pathPrefix} opened within 15 s`);
  }

  /** Checks what `tab` shows with axe-core, when this client was created with an audit ("popup: h1 Set up this device"). */
  async checkScreen(tab: Page, screen: string): Promise<void> {
    await this.axe?.checkIn(
      {
        evaluate: (fn) => tab.evaluate(fn),
        evaluateSource: async (source) => {
          await tab.evaluate(source);
        },
        address: () => this.address(tab),
        bringToFront: () => tab.bringToFront(),
        isClosed: () => tab.isClosed(),
        settle: async () => {
          await tab.waitForFunction(() => document.readyState === 'complete', { timeout: 15_000, polling: 100 });
        },
      },
      `${this.label.split(' ')[0]}: ${screen}`,
    );
  }

  /** Every open tab. */
  async pages(): Promise<Page[]> {
    return this.browser ? this.browser.pages() : [];
  }

  /** Closes Firefox; the profile (identity, groups, keys) stays for `launch()`. */
  async close(): Promise<void> {
    const browser = this.browser;
    this.browser = null;
    if (!browser) return;
    this.record('\n');
    this.shuttingDown = true;
    const child = browser.process();
    // 'close' comes once Firefox has exited and its output is all read.
    const outputRead = child && child.exitCode === null ? new Promise<void>((resolve) => child.once('close', () => resolve())) : Promise.resolve();
    try {
      await browser.close().catch(() => child?.kill('SIGKILL'));
      await Promise.race([outputRead, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    } finally {
      this.record('\n');
      this.shuttingDown = false;
    }
  }

  /** Closes Firefox and deletes the profile. */
  async dispose(): Promise<void> {
    await this.close();
    await rm(this.profileDir, { recursive: true, force: true }).catch(() => undefined);
    live.delete(this);
  }
}

/** Closes every Firefox still open and deletes every Firefox profile. Never throws. */
export async function disposeAllFirefox(): Promise<void> {
  await Promise.allSettled([...live].map((client) => client.dispose()));
}
