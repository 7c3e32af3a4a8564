/**
 * Looking for secrets where the server keeps things: every byte of the SQLite files,
 * every row of every PostgreSQL table, the request log. A secret is searched for in
 * the forms it could take on the way: raw bytes, UTF-8, hex (both cases), and base64
 * and base64url at each of the three alignments a value can have inside a longer
 * encoded string.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pgQuery } from './server.ts';

export interface Needle {
  /** What this is, for the failure message (never the value itself). */
  what: string;
  bytes: Buffer;
}

export interface Haystack {
  where: string;
  bytes: Buffer;
}

/** Encodings of `data` that appear in any base64/base64url text containing `data`, whatever its offset. */
function base64Forms(data: Buffer): string[] {
  const forms: string[] = [];
  for (let skip = 0; skip < 3; skip++) {
    const usable = Math.floor((data.length - skip) / 3) * 3;
    if (usable < 9) continue;
    const part = data.subarray(skip, skip + usable);
    forms.push(part.toString('base64'), part.toString('base64url'));
  }
  return [...new Set(forms)];
}

/** A secret given as bytes: raw, hex, base64(url) at every alignment. */
export function bytesNeedles(what: string, data: Uint8Array): Needle[] {
  const raw = Buffer.from(data);
  const hex = raw.toString('hex');
  const needles: Needle[] = [
    { what: `${what} (raw bytes)`, bytes: raw },
    { what: `${what} (hex)`, bytes: Buffer.from(hex) },
    { what: `${what} (HEX)`, bytes: Buffer.from(hex.toUpperCase()) },
  ];
  base64Forms(raw).forEach((form, i) => needles.push({ what: `${what} (base64 form ${i})`, bytes: Buffer.from(form) }));
  return needles;
}

/** A secret given as text: its UTF-8 and every encoding of those bytes. */
export function textNeedles(what: string, text: string): Needle[] {
  const utf8 = Buffer.from(text, 'utf8');
  return [{ what: `${what} (text)`, bytes: utf8 }, ...bytesNeedles(what, utf8).slice(1)];
}

/** Which needles occur in which haystacks. */
export function findAll(needles: Needle[], haystacks: Haystack[]): string[] {
  const found: string[] = [];
  for (const hay of haystacks) for (const needle of needles) if (hay.bytes.indexOf(needle.bytes) !== -1) found.push(`${needle.what} in ${hay.where}`);
  return found;
}

/** Every file in a directory (the SQLite database, -wal, -shm), byte for byte. */
export function filesIn(dir: string): Haystack[] {
  const out: Haystack[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesIn(path));
    else out.push({ where: `file ${name}`, bytes: readFileSync(path) });
  }
  return out;
}

/** Every row of every table in a PostgreSQL schema, cast to text. */
export async function schemaRows(schema: string): Promise<{ haystacks: Haystack[]; tables: string[]; rows: number }> {
  const tables = (
    await pgQuery<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`, [schema])
  ).rows.map((r) => r.table_name);
  const haystacks: Haystack[] = [];
  let rows = 0;
  for (const table of tables) {
    const result = await pgQuery<{ row: string }>(`SELECT t::text AS row FROM "${schema}"."${table}" t`);
    rows += result.rowCount ?? 0;
    haystacks.push({ where: `table ${table}`, bytes: Buffer.from(result.rows.map((r) => r.row).join('\n'), 'utf8') });
  }
  return { haystacks, tables, rows };
}
