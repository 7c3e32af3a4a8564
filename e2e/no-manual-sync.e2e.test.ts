/**
 * The end-to-end tests prove that every screen reacts to live events by themselves:
 * none of them may start a sync by hand (the background's `group.sync` request, or a
 * helper that sends it). A panel that only updates after such a call would pass the
 * story while a person waits up to a minute for the alarm.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const e2eDir = fileURLToPath(new URL('.', import.meta.url));
const MANUAL_SYNC = [/runSyncAlarmNow/, /['"]group\.sync['"]/, /\bgroup\.sync\b/];

function e2eSources(): Array<{ file: string; text: string }> {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) return walk(path);
      return entry.name.endsWith('.ts') && !path.endsWith('no-manual-sync.e2e.test.ts') ? [path] : [];
    });
  return walk(e2eDir.replace(/\/$/, '')).map((file) => ({ file, text: readFileSync(file, 'utf8') }));
}

describe('the end-to-end tests start no sync by hand', () => {
  it('finds the e2e sources it checks', () => {
    const files = e2eSources().map((s) => s.file);
    expect(files.some((f) => f.endsWith('story.e2e.test.ts'))).toBe(true);
    expect(files.some((f) => f.endsWith('support/clients.ts'))).toBe(true);
  });

  it('no e2e file (test, page object or support) calls group.sync or runSyncAlarmNow', () => {
    const offenders = e2eSources().flatMap(({ file, text }) =>
      text.split('\n').flatMap((line, i) => (MANUAL_SYNC.some((re) => re.test(line)) ? [`${file.slice(e2eDir.length)}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(offenders).toEqual([]);
  });

  it('would catch one (the pattern is not dead)', () => {
    expect(MANUAL_SYNC.some((re) => re.test("await ask(page, { type: 'group.sync' });"))).toBe(true);
    expect(MANUAL_SYNC.some((re) => re.test('await runSyncAlarmNow(panel.page);'))).toBe(true);
  });
});
