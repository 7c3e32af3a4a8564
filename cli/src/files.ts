/**
 * Files of the state directory (docs/CLI.md "Files"): every write is atomic (a temporary
 * file in the same directory, then a rename), every file is created mode 0600 and every
 * directory 0700, so a crash leaves the old file or the new one and nobody else on the
 * machine can read either.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/** The state directory: `--home`, else `CONCLAVE_HOME`, else `~/.conclave`. */
export function stateDir(option: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  return resolve(option ?? env.CONCLAVE_HOME ?? join(homedir(), '.conclave'));
}

export function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  chmodSync(dir, DIR_MODE);
}

/** Writes `data` to `path` atomically, mode 0600. */
export function writeAtomic(path: string, data: string | Uint8Array): void {
  ensureDir(dirname(path));
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', FILE_MODE);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
  closeSync(fd);
  renameSync(temp, path);
}

/** The file's bytes, or undefined when it does not exist. */
export function readIfExists(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export function removeFile(path: string): void {
  rmSync(path, { force: true });
}
