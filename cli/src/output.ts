/** Results on stdout: JSON (one document, for scripts) or lines of text (for people). */
import { shortFingerprint } from '@conclave/shared/crypto';
import type { Fingerprint } from '@conclave/shared/protocol';
import type { Context } from './device.ts';

export function emit(ctx: Context, json: boolean | undefined, value: unknown, text: string | string[]): void {
  if (json) ctx.io.out(`${JSON.stringify(value, null, 2)}\n`);
  else ctx.io.out(`${Array.isArray(text) ? text.join('\n') : text}\n`);
}

/** A member as people read it: "Ana (abcd efgh ijkl mnop)". */
export function who(name: string | undefined, fingerprint: Fingerprint): string {
  return `${name ?? 'unnamed member'} (${shortFingerprint(fingerprint)})`;
}

/** Rows as aligned columns. */
export function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
