/**
 * A tiny benchmark harness for a shared, noisy machine: every subject is measured in
 * the same process as its baseline, in alternating rounds (A B, then B A, ...), and
 * only medians and ratios are reported. Nothing here asserts on time.
 *
 * Lives in bench/support/ so `scripts/bench-all.sh` (which runs bench/*.ts) skips it.
 */
import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';

export interface Subject {
  name: string;
  /** One operation (or one fixed batch of operations). */
  run: () => Promise<unknown>;
}

export interface Samples {
  name: string;
  /** Milliseconds per call of `run`, one figure per round. */
  msPerOp: number[];
}

export interface RoundOptions {
  rounds?: number;
  /** Each sample keeps calling `run` until this much time has passed (at least once). */
  minMs?: number;
  /** Untimed calls for this long before the first round, per subject; 0 skips the warm-up. */
  warmupMs?: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Calls `run` back to back for at least `minMs` and returns milliseconds per call. */
export async function sample(run: () => Promise<unknown>, minMs: number): Promise<number> {
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    await run();
    calls++;
    elapsed = performance.now() - start;
  } while (elapsed < minMs);
  return elapsed / calls;
}

/**
 * Measures every subject in `rounds` alternating rounds: odd rounds run the subjects in
 * the given order, even rounds in reverse, so drift on the machine hits both sides alike.
 */
export async function interleaved(subjects: Subject[], options: RoundOptions = {}): Promise<Samples[]> {
  const { rounds = 5, minMs = 250, warmupMs = Math.min(minMs, 200) } = options;
  if (warmupMs > 0) for (const s of subjects) await sample(s.run, warmupMs);
  const results = subjects.map((s) => ({ name: s.name, msPerOp: [] as number[] }));
  for (let r = 0; r < rounds; r++) {
    const order = subjects.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (const i of order) {
      gc?.();
      results[i]!.msPerOp.push(await sample(subjects[i]!.run, minMs));
    }
  }
  return results;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The same samples with every figure multiplied by `factor` (to scale a sub-sized run up). */
export function scaled(samples: Samples, factor: number, name = samples.name): Samples {
  return { name, msPerOp: samples.msPerOp.map((ms) => ms * factor) };
}

/** Median of the per-round ratios subject/baseline (pairs taken in the same round). */
export function pairedRatio(subject: Samples, baseline: Samples): { median: number; min: number; max: number } {
  const ratios = subject.msPerOp.map((ms, i) => ms / baseline.msPerOp[i]!);
  return { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) };
}

export function fmt(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return value.toFixed(digits);
}

export function fmtRatio(r: { median: number; min: number; max: number }): string {
  return `${r.median.toFixed(2)}× (${r.min.toFixed(2)}–${r.max.toFixed(2)})`;
}

/** Prints rows as an aligned text table (first column left-aligned, the rest right-aligned). */
export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((row) => (row[c] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  console.log(line(headers));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

/**
 * A caveat for a verdict on absolute time when the machine was busier than its cores
 * (another job's work inflates every figure; ratios to a same-run baseline hold better).
 */
export function loadCaveat(): string {
  const [load] = loadavg();
  const cores = availableParallelism();
  return load! > cores ? ` (the machine was loaded: 1-min load average ${load!.toFixed(1)} on ${cores} cores, so absolute times are inflated; the ratios are the figures to compare)` : '';
}

export function header(title: string, question: string): void {
  console.log(`\n=== ${title} ===`);
  console.log(question);
  // The machine is shared: its load at the start says how far absolute figures can be trusted (ratios hold better).
  const load = loadavg().map((l) => l.toFixed(1)).join(' / ');
  console.log(`node ${process.version}, ${process.platform}/${process.arch}, ${availableParallelism()} cores, load average ${load} (1 / 5 / 15 min) at start; figures are medians of alternating rounds, ratios are medians of per-round ratios (min–max in brackets)\n`);
}

/** Tiny deterministic PRNG (mulberry32) so generated workloads are the same each run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One line per target, in a fixed shape that `npm run bench` (scripts/bench-all.sh)
 * gathers into the closing table: `VERDICT | measure | figure | target | met|MISSED`.
 * `figure` and `target` are words for people ("0.62× (0.55–0.70)", "≥ 0.5×").
 */
export function verdict(measure: string, figure: string, target: string, met: boolean): void {
  const clean = (s: string) => s.replaceAll('|', '/').replaceAll('\n', ' ');
  console.log(`VERDICT | ${clean(measure)} | ${clean(figure)} | ${clean(target)} | ${met ? 'met' : 'MISSED'}`);
}
