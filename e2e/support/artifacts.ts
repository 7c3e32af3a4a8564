/**
 * What a run leaves behind for people: a screenshot of every screen of the story in
 * artifacts/e2e-<timestamp>/ (git-ignored), numbered in the order they were taken,
 * and a summary of the steps with the time each took.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { repoRoot } from './clients.ts';

export class Artifacts {
  readonly dir: string;
  private count = 0;
  /** Screenshot files by name (without number), for copying a few into docs/. */
  readonly shots = new Map<string, string>();
  /**
   * Called with every whole page about to be screenshotted (not the FAILED- shots of a
   * failed step): the story checks each one with axe-core (e2e/support/axe.ts).
   */
  beforeShot: ((page: Page, name: string) => Promise<void>) | null = null;

  constructor(stamp = new Date().toISOString().replace(/[:.]/g, '-')) {
    this.dir = path.join(repoRoot, 'artifacts', `e2e-${stamp}`);
    mkdirSync(this.dir, { recursive: true });
  }

  /** A file in the run's folder. */
  file(name: string): string {
    return path.join(this.dir, name);
  }

  /** Screenshot of a whole page (or one element): `NN-<name>.png`. */
  async shot(target: Page | Locator, name: string): Promise<string> {
    this.count++;
    const file = this.file(`${String(this.count).padStart(2, '0')}-${name}.png`);
    if ('goto' in target && this.beforeShot && !name.startsWith('FAILED-')) await this.beforeShot(target, name);
    if ('goto' in target) await target.screenshot({ path: file, fullPage: true, animations: 'disabled' });
    else await target.screenshot({ path: file, animations: 'disabled' });
    this.shots.set(name, file);
    return file;
  }
}

/**
 * Copies a few screenshots of a passing run to docs/screenshots/ (README, "What it
 * looks like"): `CONCLAVE_E2E_DOCS=1 npx vitest run --project e2e` refreshes them.
 * @returns the files written.
 */
export function copyToDocs(artifacts: Artifacts, pick: Record<string, string>): string[] {
  const out = path.join(repoRoot, 'docs', 'screenshots');
  mkdirSync(out, { recursive: true });
  const written: string[] = [];
  for (const [shot, name] of Object.entries(pick)) {
    const file = artifacts.shots.get(shot);
    if (!file) throw new Error(`no screenshot named ${shot} in this run`);
    copyFileSync(file, path.join(out, name));
    written.push(path.join('docs', 'screenshots', name));
  }
  return written;
}

export interface StepTime {
  name: string;
  ms: number;
  ok: boolean;
  /** Moments inside the step: what was done by then, and how long after the step began. */
  marks: Array<{ label: string; ms: number }>;
}

/** Step names and durations, printed as a table at the end. */
export class StepClock {
  readonly steps: StepTime[] = [];
  private current: { start: number; marks: StepTime['marks'] } | null = null;

  async run<T>(name: string, work: () => Promise<T>): Promise<T> {
    const start = performance.now();
    const marks: StepTime['marks'] = [];
    this.current = { start, marks };
    let ok = false;
    try {
      const result = await work();
      ok = true;
      return result;
    } finally {
      this.current = null;
      this.steps.push({ name, ms: performance.now() - start, ok, marks });
    }
  }

  /** Notes how far into the current step `label` was reached. */
  mark(label: string): void {
    if (this.current) this.current.marks.push({ label, ms: performance.now() - this.current.start });
  }

  summary(): string {
    const width = Math.max(...this.steps.map((s) => s.name.length), 4);
    const lines = this.steps.flatMap((s) => [
      `  ${s.ok ? 'ok  ' : 'FAIL'}  ${s.name.padEnd(width)}  ${(s.ms / 1000).toFixed(1).padStart(6)} s`,
      ...s.marks.map((m) => `          at ${(m.ms / 1000).toFixed(1).padStart(5)} s  ${m.label}`),
    ]);
    const total = this.steps.reduce((sum, s) => sum + s.ms, 0);
    return [...lines, `        ${'total'.padEnd(width)}  ${(total / 1000).toFixed(1).padStart(6)} s`].join('\n');
  }
}
