/** `coalescing` (cli/src/live-events.ts): a burst of events costs one run and one more, never a growing chain. */
import { describe, expect, test } from 'vitest';
import { coalescing } from '../src/live-events.ts';

describe('coalescing', () => {
  test('ten asks during a run make one more run, per key', async () => {
    const runs: string[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const run = coalescing(async (key: string) => {
      runs.push(key);
      if (runs.length === 1) await gate;
    }, () => undefined);
    const first = run('a');
    const more = Array.from({ length: 10 }, () => run('a'));
    const other = run('b');
    release();
    await Promise.all([first, ...more, other]);
    expect(runs.sort()).toEqual(['a', 'a', 'b']);
  });

  test('a failing run is reported and does not stop the next one', async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const run = coalescing(async () => {
      calls++;
      if (calls === 1) throw new Error('server away');
    }, (e) => errors.push(e));
    await run('x');
    await run('x');
    expect(calls).toBe(2);
    expect(errors).toHaveLength(1);
  });
});
