/**
 * Fails when source modules import each other in a circle (type-only imports count
 * too: a circle of types is still two modules that cannot be understood apart).
 * Run by scripts/test-all.sh after the lint step; alone: `npx tsx scripts/import-cycles.ts`.
 *
 * Reads every .ts/.tsx file under the source folders, follows relative imports and
 * `@conclave/shared/<sub>` (through shared/package.json's exports), and prints each
 * strongly connected group of more than one file.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const SOURCE_DIRS = ['shared/src', 'storage-api/src', 'signaling-server/src', 'extension/src', 'extension/entrypoints', 'cli/src'];
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.tsx?$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

function resolveImport(root: string, sharedExports: Record<string, string>, from: string, spec: string): string | null {
  if (spec.startsWith('@conclave/shared/')) {
    const target = sharedExports[`./${spec.slice('@conclave/shared/'.length)}`];
    return target ? join(root, 'shared', target) : null;
  }
  if (!spec.startsWith('.')) return null;
  const path = resolve(dirname(from), spec);
  for (const candidate of [path, `${path}.ts`, `${path}.tsx`, join(path, 'index.ts')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return null;
}

/** Each circle of imports among the files under `dirs` (paths relative to `root`), and how many files were read. */
export function importCircles(root: string, dirs: string[] = SOURCE_DIRS): { files: number; circles: string[][] } {
  const sharedPackage = join(root, 'shared/package.json');
  const sharedExports = (existsSync(sharedPackage) ? JSON.parse(readFileSync(sharedPackage, 'utf8')).exports : {}) as Record<string, string>;
  const files = dirs.flatMap((dir) => sourceFiles(join(root, dir)));
  const edges = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(IMPORT)]
      .map((m) => resolveImport(root, sharedExports, file, (m[1] ?? m[2])!))
      .filter((t): t is string => t !== null && /\.tsx?$/.test(t));
    edges.set(file, [...new Set(targets)]);
  }

  // Tarjan's strongly connected components.
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  const visit = (file: string): void => {
    index.set(file, counter);
    low.set(file, counter);
    counter++;
    stack.push(file);
    onStack.add(file);
    for (const next of edges.get(file) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(file, Math.min(low.get(file)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(file, Math.min(low.get(file)!, index.get(next)!));
      }
    }
    if (low.get(file) === index.get(file)) {
      const group: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        group.push(member);
      } while (member !== file);
      if (group.length > 1) circles.push(group.map((f) => relative(root, f)).sort());
    }
  };
  for (const file of files) if (!index.has(file)) visit(file);
  return { files: files.length, circles };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { files, circles } = importCircles(repoRoot);
  if (circles.length === 0) {
    console.log(`import-cycles: ${files} source files, no import circle`);
  } else {
    for (const circle of circles) console.error(`import circle: ${circle.join(' ⇄ ')}`);
    console.error(`import-cycles: ${circles.length} circle(s); break each by moving the shared type or function into a module both can import`);
    process.exitCode = 1;
  }
}
