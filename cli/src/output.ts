/**
 * Results on stdout: JSON (one document, for scripts) or lines of text (for people).
 * Titles, bodies and names come from other members: nothing they wrote may reach the
 * terminal as a control sequence (`\x1b[2J`, a C1 CSI), so text is cleaned here and at
 * the Io boundary (`terminalSafe`), and JSON escapes what JSON itself leaves raw.
 */
import { shortFingerprint } from '@conclave/shared/crypto';
import { unnamedMemberLabel } from '@conclave/shared/client';
import type { Fingerprint } from '@conclave/shared/protocol';
import type { Context } from './device.ts';
import type { Io } from './io.ts';

// C0 controls but tab and newline, DEL, and C1 controls.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
// The same with tab and newline: for text that must stay on one line.
const CONTROL_OR_BREAK = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** Text for the terminal: control characters removed, newlines and tabs kept. */
export function safeText(text: string): string {
  return text.replace(CONTROL, '');
}

/** A name or title inside a line: control characters and line breaks removed. */
export function oneLine(text: string): string {
  return text.replace(CONTROL_OR_BREAK, '');
}

/** JSON with DEL and C1 controls escaped as well (JSON.stringify leaves them raw). */
export function safeJson(value: unknown, indent: number = 2): string {
  return JSON.stringify(value, null, indent).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** An Io whose output and questions never carry control sequences (main wraps the real one). */
export function terminalSafe(io: Io): Io {
  return {
    ...io,
    out: (text) => io.out(safeText(text)),
    err: (text) => io.err(safeText(text)),
    ask: io.ask && ((question) => io.ask!(safeText(question))),
    askSecret: io.askSecret && ((question) => io.askSecret!(safeText(question))),
    runEditor: (command, file) => io.runEditor(command, file),
    readStdin: () => io.readStdin(),
  };
}

export function emit(ctx: Context, json: boolean | undefined, value: unknown, text: string | string[]): void {
  if (json) ctx.io.out(`${safeJson(value)}\n`);
  else ctx.io.out(`${Array.isArray(text) ? text.join('\n') : text}\n`);
}

/** A member as people read it: "Ana (abcd efgh ijkl mnop)", or "Member abcd efgh ijkl mnop (name not known yet)". */
export function who(name: string | undefined, fingerprint: Fingerprint): string {
  return name === undefined ? unnamedMemberLabel(fingerprint) : `${oneLine(name)} (${shortFingerprint(fingerprint)})`;
}

/** Rows as aligned columns. */
export function table(raw: string[][]): string[] {
  const rows = raw.map((row) => row.map(oneLine));
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
