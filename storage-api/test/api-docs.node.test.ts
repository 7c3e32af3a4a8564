/**
 * docs/API.md keeps step with the code (every API error code is listed in one union and
 * documented, and this test checks the docs list them all):
 * - the "Error codes" table lists every code of `API_ERROR_CODES` exactly once, as a
 *   code span in its first column, with the HTTP status the server really answers
 *   with, and nothing else;
 * - every procedure of `appRouter` is documented (a heading or a code span naming its
 *   path, e.g. `notes.put`); a procedure heading says whether it is a query or a
 *   mutation, and names a procedure that exists.
 * Adding a code or a procedure without documenting it fails here.
 */
import { readFileSync } from 'node:fs';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import { describe, expect, it } from 'vitest';
import { API_ERROR_CODES, MAX_BATCH_CALLS, MAX_BATCH_PATH_CHARS, type ApiErrorCode } from '@conclave/shared/protocol';
import { apiError, httpErrorCodes } from '../src/errors.ts';
import { appRouter } from '../src/routers/index.ts';

const API_MD = readFileSync(new URL('../../docs/API.md', import.meta.url), 'utf8');

/** The text under `## <title>` up to the next level-2 heading. */
function section(markdown: string, title: string): string {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => line.trim() === `## ${title}`);
  if (start < 0) return '';
  const end = lines.findIndex((line, i) => i > start && /^## /.test(line));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** The body rows of the first Markdown table in `text`, as trimmed cells. */
function tableRows(text: string): string[][] {
  const rows: string[][] = [];
  let inTable = false;
  for (const line of text.split('\n')) {
    if (!line.trim().startsWith('|')) {
      if (inTable) break;
      continue;
    }
    inTable = true;
    const cells = line
      .trim()
      .replace(/^\||\|$/g, '')
      .split('|')
      .map((cell) => cell.trim());
    rows.push(cells);
  }
  // Header row and the |---| separator row.
  return rows.filter((cells, i) => i > 0 && !cells.every((cell) => /^:?-+:?$/.test(cell)));
}

// At run time `_def.procedures` is flat, keyed by dotted path ('notes.put'); its static
// type is the nested router record, hence the cast through unknown.
const procedures = appRouter._def.procedures as unknown as Record<string, { _def: { type: 'query' | 'mutation' | 'subscription' } }>;
const procedurePaths = Object.keys(procedures);

describe('docs/API.md error-code table', () => {
  const rows = tableRows(section(API_MD, 'Error codes'));
  const firstColumn = rows.map((cells) => cells[0] ?? '');

  it('exists and has a row per line', () => {
    expect(rows.length).toBeGreaterThan(0);
  });

  it('names a code as a code span in the first column of every row', () => {
    const malformed = firstColumn.filter((cell) => !/^`[A-Z_]+`$/.test(cell));
    expect(malformed, 'every first cell must be a single `CODE`').toEqual([]);
  });

  const documented = firstColumn.map((cell) => cell.replace(/^`|`$/g, ''));

  it('lists every API_ERROR_CODES entry exactly once', () => {
    for (const code of API_ERROR_CODES) {
      expect(documented.filter((c) => c === code), `${code} must appear exactly once`).toHaveLength(1);
    }
  });

  it('lists no code that API_ERROR_CODES does not have', () => {
    const known = new Set<string>(API_ERROR_CODES);
    expect(documented.filter((code) => !known.has(code))).toEqual([]);
  });

  it('gives each code the HTTP status the server answers with, a meaning and what to do', () => {
    for (const cells of rows) {
      const code = cells[0]!.replace(/^`|`$/g, '') as ApiErrorCode;
      if (!API_ERROR_CODES.includes(code)) continue;
      expect(cells[1], `HTTP status of ${code}`).toBe(String(getHTTPStatusCodeFromError(apiError(code, 'docs check'))));
      expect(cells[2]?.length ?? 0, `meaning of ${code}`).toBeGreaterThan(10);
      expect(cells[3]?.length ?? 0, `what a client does on ${code}`).toBeGreaterThan(10);
    }
  });
});

describe('docs/API.md procedures', () => {
  const headings = API_MD.split('\n').filter((line) => /^#{2,4} /.test(line));

  it('the router has procedures to document', () => {
    expect(procedurePaths.length).toBeGreaterThan(0);
    expect(procedurePaths).toContain('notes.put');
  });

  it.each(procedurePaths)('documents %s (as a heading or a code span)', (path) => {
    const span = `\`${path}\``;
    const asHeading = headings.some((line) => line.includes(span) || line.replace(/^#+\s*/, '').trim() === path);
    expect(asHeading || API_MD.includes(span), `${path} is not documented in docs/API.md`).toBe(true);
  });

  it('says query or mutation under each procedure heading, correctly', () => {
    const body = section(API_MD, 'Procedures');
    const blocks = body.split(/^### /m).slice(1);
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) {
      const path = /^`([a-zA-Z]+\.[a-zA-Z]+)`/.exec(block)?.[1];
      expect(path, `procedure heading "${block.split('\n')[0]}" must be a code span naming the path`).toBeDefined();
      const procedure = procedures[path!];
      expect(procedure, `docs/API.md documents ${path}, which appRouter does not have`).toBeDefined();
      const kind = /\b(Query|Mutation|Subscription)\b/.exec(block)?.[1]?.toLowerCase();
      expect(kind, `${path}: the kind of procedure`).toBe(procedure!._def.type);
    }
  });
});

describe('docs/API.md answers outside procedures', () => {
  const text = section(API_MD, 'Errors on the wire');
  const rows = tableRows(text.slice(text.indexOf('| status |')));

  it('lists each status with the codes the server really gives it', () => {
    expect(rows.map((cells) => cells[0])).toEqual(['400', '404', '405', '408', '413', '414', '415', '417', '429', '431', '500']);
    for (const [status, , trpc, conclave] of rows) {
      expect({ status, trpc, conclave }).toEqual({ status, trpc: `\`${httpErrorCodes(Number(status)).trpc}\``, conclave: `\`${httpErrorCodes(Number(status)).conclave}\`` });
    }
  });

  it('states the batch caps the server enforces', () => {
    expect(API_MD).toContain(`at most **${MAX_BATCH_CALLS} calls**`);
    expect(API_MD).toContain(`at most **${MAX_BATCH_PATH_CHARS} characters**`);
    expect(section(API_MD, 'Limits')).toContain(`| calls per batch | ${MAX_BATCH_CALLS} (\`MAX_BATCH_CALLS\`)`);
  });

  it('lists schema validation among the checks of notes.put, in its place', () => {
    const put = section(API_MD, 'Procedures').split(/^### /m).find((block) => block.startsWith('`notes.put`')) ?? '';
    const order = ['the session', 'membership', 'within the limit', "the input's schema", 'the author is the caller', 'current generation', 'signature', 'compare-and-set'].map((words) => put.indexOf(words));
    expect(order.every((at) => at >= 0), JSON.stringify(order)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });
});
