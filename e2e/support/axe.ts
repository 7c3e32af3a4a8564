/**
 * axe-core on every screen an e2e run visits (issue 14, "Checked by machine"): the
 * `axe-core` package's source is evaluated in the page, then `axe.run` checks it with
 * its default rules (WCAG 2.x A and AA, and best practices) and target-size (WCAG 2.2
 * AA, off by default in axe). A violation of impact serious or critical fails the run
 * (`blocking()`, asserted by the test); every violation, whatever its impact, is written
 * to the run's artifacts folder (`axe.json`, every node; `axe.txt`, one line per screen
 * and rule).
 *
 * A screen is checked when a page object arrives on it (a heading, a dialog, a list
 * shown) and whenever the story takes its screenshot. The same screen reached again in
 * the same shape (the page's path and its elements, roles, ARIA attributes and classes,
 * without the text) is not checked twice: the report names the screen it matched.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import type { Artifacts } from './artifacts.ts';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** The impacts that fail the run. */
const BLOCKING = new Set(['serious', 'critical']);

export interface AxeNode {
  target: string[];
  html: string;
  summary: string;
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  helpUrl: string;
  nodes: AxeNode[];
}

export interface ScreenCheck {
  /** "Ana (client 1): popup: Create a group". */
  screen: string;
  /** The page's path and query (chrome-extension://<id> left out). */
  page: string;
  /** Set when this shape was checked before: the screen that was checked. */
  sameAs?: string;
  ms: number;
  violations: AxeViolation[];
  /** axe could not run here: not a pass, unless the page was closed under the check. */
  error?: string;
  /** The page was closed under the check (a tab the flow closes at once): not checked, and not blocking. */
  closed?: boolean;
}

/**
 * A page as the audit needs it, whichever driver holds it: Playwright's (`check`) or
 * puppeteer's in Firefox (`checkIn`, from e2e/pages/firefox.ts).
 */
export interface AuditedPage {
  /** Runs a self-contained function in the page and returns its (plain) result. */
  evaluate<T>(fn: () => T | Promise<T>): Promise<T>;
  /** Evaluates script text in the page (axe-core's source). */
  evaluateSource(source: string): Promise<void>;
  /** The page's address. */
  address(): Promise<string>;
  bringToFront(): Promise<void>;
  isClosed(): boolean;
  /** Waits for the document the page went on to (after a reload under the check). */
  settle(): Promise<void>;
}

export class AxeAudit {
  readonly checks: ScreenCheck[] = [];
  private readonly shapes = new Map<string, string>();
  /** Milliseconds spent injecting axe, computing shapes and running it, in all. */
  totalMs = 0;

  constructor(private readonly artifacts: Artifacts) {}

  /**
   * Checks what a Playwright `page` shows now, once per shape. Never throws: a failure
   * to run axe is recorded and counts as blocking (a screen cannot pass by not being
   * checked), unless the page was closed under the check (a tab the flow closes at once).
   */
  async check(page: Page, screen: string): Promise<void> {
    await this.checkIn(
      {
        evaluate: (fn) => page.evaluate(fn),
        evaluateSource: async (source) => {
          await page.evaluate(source);
        },
        address: async () => page.url(),
        bringToFront: () => page.bringToFront(),
        isClosed: () => page.isClosed(),
        settle: () => page.waitForLoadState('domcontentloaded'),
      },
      screen,
    );
  }

  /** The same check on any page that can evaluate in itself (a puppeteer page in Firefox: e2e/pages/firefox.ts). */
  async checkIn(page: AuditedPage, screen: string): Promise<void> {
    if (page.isClosed()) return;
    const start = performance.now();
    let where = '';
    try {
      let found: { sameAs: string } | { violations: AxeViolation[] };
      try {
        where = pagePath(await page.address());
        found = await this.run(page, screen, where);
      } catch (error) {
        // The page went on to another document under the check (a reload it made itself): once more, on the new one.
        if (page.isClosed() || !/context was destroyed|navigat|discarded|no such frame/i.test((error as Error).message)) throw error;
        await page.settle();
        where = pagePath(await page.address());
        found = await this.run(page, screen, where);
      }
      this.checks.push({ screen, page: where, ms: performance.now() - start, violations: [], ...found });
    } catch (error) {
      this.checks.push({ screen, page: where, ms: performance.now() - start, violations: [], error: (error as Error).message.split('\n')[0], closed: page.isClosed() });
    } finally {
      this.totalMs += performance.now() - start;
    }
  }

  private async run(page: AuditedPage, screen: string, where: string): Promise<{ sameAs: string } | { violations: AxeViolation[] }> {
    await page.bringToFront();
    const shape = `${where.split('?')[0]}\n${await page.evaluate(domShape)}`;
    const seen = this.shapes.get(shape);
    if (seen) return { sameAs: seen };
    const injected = await page.evaluate(() => typeof (globalThis as { axe?: unknown }).axe === 'object');
    if (!injected) await page.evaluateSource(axeSource);
    const violations = await page.evaluate(runAxe);
    this.shapes.set(shape, screen);
    return { violations };
  }

  /** One line per serious or critical violation, and one per screen axe could not check. */
  blocking(): string[] {
    const lines: string[] = [];
    for (const check of this.checks) {
      if (check.error && !check.closed) lines.push(`${check.screen}: axe could not run: ${check.error}`);
      for (const v of check.violations) {
        if (BLOCKING.has(v.impact ?? '')) lines.push(`${check.screen}: ${v.impact} ${v.id} — ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`);
      }
    }
    return lines;
  }

  /** How many screens were checked with axe (not counting shapes seen before). */
  get distinct(): number {
    return this.checks.filter((c) => !c.sameAs && !c.error).length;
  }

  /** Writes axe.json and axe.txt into the run's artifacts folder; returns the text summary's path. */
  write(): string {
    writeFileSync(this.artifacts.file('axe.json'), JSON.stringify(this.checks, null, 2));
    const lines = [
      `axe-core ${axeVersion()} on ${this.checks.length} screens (${this.distinct} distinct shapes checked), ${(this.totalMs / 1000).toFixed(1)} s in all`,
      `blocking (serious or critical): ${this.blocking().length}`,
      '',
    ];
    for (const check of this.checks) {
      const head = `${check.screen}  [${check.page}]`;
      if (check.error) lines.push(`${head}: not checked: ${check.error}`);
      else if (check.sameAs) lines.push(`${head}: same shape as "${check.sameAs}"`);
      else if (check.violations.length === 0) lines.push(`${head}: no violations (${Math.round(check.ms)} ms)`);
      else {
        lines.push(`${head}: ${check.violations.length} violation(s) (${Math.round(check.ms)} ms)`);
        for (const v of check.violations) lines.push(`    ${(v.impact ?? '?').padEnd(8)} ${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join('; ')}`);
      }
    }
    const file = this.artifacts.file('axe.txt');
    writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  }

  /** A line for the run's summary: what axe checked and the time it added. */
  summary(): string {
    const blocking = this.blocking().length;
    return `axe: ${this.checks.length} screen checks, ${this.distinct} distinct, ${(this.totalMs / 1000).toFixed(1)} s added; ${blocking} serious/critical; ${this.checks.reduce((n, c) => n + c.violations.length, 0)} violations in all (axe.txt)`;
  }
}

function axeVersion(): string {
  return /axe v([\d.]+)/.exec(axeSource.slice(0, 200))?.[1] ?? '?';
}

function pagePath(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.pathname}${parsed.search}`;
  } catch {
    return url;
  }
}

/** In the page: the elements and their roles, ARIA attributes and classes, without text. */
function domShape(): string {
  const parts: string[] = [];
  const walk = (el: Element, depth: number): void => {
    const attrs = [...el.attributes]
      .filter((a) => a.name === 'class' || a.name === 'role' || a.name === 'type' || a.name === 'disabled' || a.name === 'hidden' || a.name.startsWith('aria-') && !['aria-label', 'aria-valuenow'].includes(a.name))
      .map((a) => (a.name === 'class' ? `.${a.value}` : a.name))
      .join(' ');
    parts.push(`${depth}${el.tagName}${attrs ? ` ${attrs}` : ''}`);
    for (const child of el.children) walk(child, depth + 1);
  };
  walk(document.body, 0);
  return parts.join('|');
}

/** In the page: axe.run on the whole document, violations only, in plain data. */
async function runAxe(): Promise<AxeViolation[]> {
  const axe = (globalThis as unknown as { axe: { run: (ctx: Document, options: object) => Promise<{ violations: AxeViolation[] }> } }).axe;
  // target-size (WCAG 2.2 AA, 2.5.8: a control at least 24 by 24 px, or spaced as if) is off in axe's defaults: on here.
  const result = await axe.run(document, { resultTypes: ['violations'], rules: { 'target-size': { enabled: true } } });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact ?? null,
    help: v.help,
    helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({ target: n.target.map(String), html: n.html, summary: (n as unknown as { failureSummary?: string }).failureSummary ?? '' })),
  }));
}
