/**
 * One process at a time on a state directory's records (docs/CLI.md "Files"): a lock
 * file, `<home>/lock`, created exclusively (`wx`) and holding the owner's pid. Each
 * command holds it around its work on the directory (after the passphrase is typed and
 * stretched); `serve` holds it per handover. A lock whose pid is no longer running (a
 * process killed with -9, a crash) is stale and taken over; one whose pid runs is waited
 * for. Without it, `serve` beside another command could write back an older group record
 * over a newer one (a lost seed, a pinned head moved back).
 */
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CliError, EXIT } from './errors.ts';
import { ensureDir, FILE_MODE } from './files.ts';

export const LOCK_FILE = 'lock';

export interface LockOptions {
  /** How long to wait for a running owner before giving up (ms). */
  waitMs?: number;
  /** Told once, when the lock is busy, with the owner's pid. */
  onWait?: (pid: number) => void;
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ownerOf(path: string): { pid: number | null; text: string } | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const pid = /^\d+\n?$/.test(text) ? Number(text.trim()) : null;
  return { pid, text };
}

function tryCreate(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', FILE_MODE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Moves a stale lock aside (atomically, so two takers cannot both remove it) and deletes it. */
function removeStale(path: string, seen: string): void {
  const aside = `${path}.${randomBytes(6).toString('hex')}.stale`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  // Someone took it over between our read and the rename: give theirs back.
  if (readFileSync(aside, 'utf8') !== seen) {
    try {
      renameSync(aside, path);
      return;
    } catch {
      // Fall through: delete what we moved.
    }
  }
  rmSync(aside, { force: true });
}

/**
 * Takes the lock of `home`, waiting for a running owner.
 * @returns the release function (idempotent).
 * @throws {CliError} `refused` after `waitMs` of a running owner.
 */
export async function lockStateDir(home: string, options: LockOptions = {}): Promise<() => void> {
  ensureDir(home);
  const path = join(home, LOCK_FILE);
  const until = Date.now() + (options.waitMs ?? 120_000);
  let told = false;
  for (;;) {
    if (tryCreate(path)) {
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const owner = ownerOf(path);
        if (owner?.pid === process.pid) rmSync(path, { force: true });
      };
    }
    const owner = ownerOf(path);
    if (!owner) continue;
    if (owner.pid === null || (owner.pid !== process.pid && !isRunning(owner.pid))) {
      removeStale(path, owner.text);
      continue;
    }
    if (Date.now() >= until) throw new CliError(EXIT.refused, `another conclave process (pid ${owner.pid}) is using ${home}: nothing was done. Run this again when it has finished (\`conclave serve\` holds it only while it hands a key over). If no such process runs, delete ${path}.`);
    if (!told) {
      options.onWait?.(owner.pid);
      told = true;
    }
    await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 50));
  }
}
