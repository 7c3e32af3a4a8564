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

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_DIRS = ['shared/src', 'storage-api/src', 'signaling-server/src', 'extension/src', 'extension/entrypoints', 'cli/src'];
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

const sharedExports = JSON.parse(readFileSync(join(root, 'shared/package.json'), 'utf8')).exports as Record<string, string>;

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.tsx?$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

function resolveImport(from: string, spec: string): string | null {
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

const files = SOURCE_DIRS.flatMap((dir) => sourceFiles(join(root, dir)));
const edges = new Map<string, string[]>();
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const targets = [...text.matchAll(IMPORT)].map((m) => resolveImport(file, (m[1] ?? m[2])!)).filter((t): t is string => t !== null && /\.tsx?$/.test(t));
  edges.set(file, [...new Set(targets)]);
}

// Tarjan's strongly connected components.
let counter = 0;
const index = new Map<string, number>();
const low = new Map<string, number>();
const stack: string[] = [];
const onStack = new Set<string>();
const circles: string[][] = [];
function visit(file: string): void {
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
}
for (const file of files) if (!index.has(file)) visit(file);

if (circles.length === 0) {
  console.log(`import-cycles: ${files.length} source files, no import circle`);
} else {
  for (const circle of circles) console.error(`import circle: ${circle.join(' ⇄ ')}`);
  console.error(`import-cycles: ${circles.length} circle(s); break each by moving the shared type or function into a module both can import`);
  process.exitCode = 1;
}
