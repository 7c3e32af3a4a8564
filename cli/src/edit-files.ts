/**
 * The plaintext file of `notes edit` (docs/CLI.md "Files", `tmp/`): one directory per
 * edit, `tmp/edit-<pid>-XXXXXX`, deleted when the editor exits. A process killed while
 * its editor ran leaves it behind, so every command first deletes the edit directories
 * of processes that no longer run (and any without a pid, from older versions).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir } from './files.ts';
import { isRunning } from './lock.ts';

const EDIT_DIR = /^edit-(?:(\d+)-)?[A-Za-z0-9]{6}$/;

/** A new edit directory of this process under `tmp`. */
export function newEditDir(tmp: string): string {
  ensureDir(tmp);
  return mkdtempSync(join(tmp, `edit-${process.pid}-`));
}

/** Deletes the edit directories left by processes that no longer run. */
export function removeLeftoverEdits(tmp: string): void {
  let names: string[];
  try {
    names = readdirSync(tmp);
  } catch {
    return;
  }
  for (const name of names) {
    const match = EDIT_DIR.exec(name);
    if (!match) continue;
    const pid = match[1] === undefined ? null : Number(match[1]);
    if (pid !== null && isRunning(pid)) continue;
    rmSync(join(tmp, name), { recursive: true, force: true });
  }
}
