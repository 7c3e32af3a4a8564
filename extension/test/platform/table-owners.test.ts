/**
 * One owner per table (issue 11): each Dexie table is read and written by exactly the
 * module `TABLE_OWNERS` (db/schema.ts) names, and every other module goes through that
 * module's functions. The source under extension/src and extension/entrypoints is scanned for `db.<table>` (also
 * `this.db.<table>`, `ctx.db.<table>`, `db.table('<table>')`); a second module touching a
 * table fails here by name. Transactions name tables as strings and work through owners.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TABLE_OWNERS, TABLE_SECRECY } from '../../src/db/schema.ts';

const src = fileURLToPath(new URL('../../src', import.meta.url));
// The entry points (the service worker, the pages' mounts) are scanned too: they are named `../entrypoints/…`.
const entrypoints = fileURLToPath(new URL('../../entrypoints', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.tsx?$/.test(entry.name) ? [path] : [];
  });
}

/** Which modules touch which table. */
function touches(): Map<string, Set<string>> {
  const tables = Object.keys(TABLE_SECRECY);
  const found = new Map<string, Set<string>>(tables.map((t) => [t, new Set()]));
  for (const file of [...sources(src), ...sources(entrypoints)]) {
    const text = readFileSync(file, 'utf8');
    const module = relative(src, file).split('\\').join('/');
    for (const table of tables) {
      const direct = new RegExp(`\\bdb\\s*\\.\\s*${table}\\b`);
      const named = new RegExp(`\\.table\\(\\s*['"\`]${table}['"\`]\\s*\\)`);
      const indexed = new RegExp(`\\bdb\\s*\\[\\s*['"\`]${table}['"\`]\\s*\\]`);
      if (direct.test(text) || named.test(text) || indexed.test(text)) found.get(table)!.add(module);
    }
  }
  return found;
}

/** Modules that take tables out of the database object (`const { notes } = ctx.db`), which the scan above would miss. */
function destructuringDb(): string[] {
  return [...sources(src), ...sources(entrypoints)]
    .filter((file) => /\{[^{}]*\}\s*=\s*(?:[\w$]+\s*\.\s*)*db\b(?!\s*\.)/.test(readFileSync(file, 'utf8')))
    .map((file) => relative(src, file).split('\\').join('/'));
}

describe('one owner per table', () => {
  it('every table has an owner, and the owner is a module that exists', () => {
    expect(Object.keys(TABLE_OWNERS).sort()).toEqual(Object.keys(TABLE_SECRECY).sort());
    const modules = new Set(sources(src).map((f) => relative(src, f).split('\\').join('/')));
    for (const owner of Object.values(TABLE_OWNERS)) expect(modules).toContain(owner);
  });

  it('only the owner touches its table', () => {
    const byTable = Object.fromEntries([...touches()].map(([table, modules]) => [table, [...modules].sort()]));
    const expected = Object.fromEntries(Object.entries(TABLE_OWNERS).map(([table, owner]) => [table, [owner]]));
    expect(byTable).toEqual(expected);
  });

  it('no module takes tables out of the database object (the scan would not see which it uses)', () => {
    expect(destructuringDb()).toEqual([]);
  });
});
