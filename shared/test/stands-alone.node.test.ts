/**
 * The repository stands alone (issue 14, friction 15): a plain `git clone` plus the
 * README's two commands must pass, so no tracked file — code, test, script, doc — may
 * point outside the repository: no relative path that climbs above its root, and none of
 * the names of the notes it was first built beside.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const OUTSIDE_NAMES = /STACK-NOTES|CONVENTIONS\.md|DEVELOPERS\.md|shared\/(?:DESIGN\.md|vectors|seed)\b|\/work\//;
const RELATIVE_PATH = /(?:\.\.\/)+[\w.@-]+/g;
/** Files whose `../x` are not paths: the lockfile, eslint's import patterns, and this test's own examples. */
const NOT_PATHS = new Set(['package-lock.json', 'eslint.config.js', 'shared/test/stands-alone.node.test.ts']);

/** Every place in `text` (a file at `file`, relative to the root) that leads outside the repository. */
export function outsideReferences(file: string, text: string): string[] {
  const found: string[] = [];
  text.split('\n').forEach((line, index) => {
    const where = `${file}:${index + 1}`;
    if (OUTSIDE_NAMES.test(line)) found.push(`${where}: ${line.trim()}`);
    for (const match of line.matchAll(RELATIVE_PATH)) {
      const target = path.resolve(root, path.dirname(file), match[0]);
      if (target !== path.resolve(root) && !target.startsWith(root)) found.push(`${where}: ${match[0]} leaves the repository`);
    }
  });
  return found;
}

describe('the repository stands alone', () => {
  it('finds a path that climbs out, and a name from beside the repository', () => {
    expect(outsideReferences('scripts/x.sh', 'cat ../../shared/vectors/a.json')).toHaveLength(2);
    expect(outsideReferences('e2e/support/x.ts', "import '../../../shared/x.ts';")).toHaveLength(1);
    expect(outsideReferences('docs/x.md', 'see STACK-NOTES')).toHaveLength(1);
    expect(outsideReferences('e2e/support/x.ts', "import '../../shared/test/support/client.ts';")).toEqual([]);
  });

  it('no tracked file points outside it', () => {
    const files = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' })
      .split('\n')
      .filter((file) => /\.(?:ts|tsx|mjs|js|json|sh|md|html|css|yml|yaml)$/.test(file) && !NOT_PATHS.has(file));
    expect(files.length).toBeGreaterThan(100);
    const found = files.flatMap((file) => outsideReferences(file, readFileSync(path.join(root, file), 'utf8')));
    expect(found).toEqual([]);
  });
});
