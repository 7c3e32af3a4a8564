/**
 * Files of the state directory (docs/CLI.md "Files"): every write is atomic (a temporary
 * file in the same directory, then a rename), every file is created mode 0600 and every
 * directory 0700, so a crash leaves the old file or the new one and nobody else on the
 * machine can read either.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { CliError, EXIT } from './errors.ts';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/** The state directory: `--home`, else `CONCLAVE_HOME`, else `~/.conclave`. */
export function stateDir(option: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  return resolve(option ?? env.CONCLAVE_HOME ?? join(homedir(), '.conclave'));
}

/**
 * Creates `dir` (and missing parents) mode 0700. Only directories created here are
 * chmodded (a umask cannot widen them, but be sure): an existing directory, such as an
 * export target the person named, keeps its mode.
 * @throws {CliError} `usage` when `dir` or a parent is a file.
 */
export function ensureDir(dir: string): void {
  let first: string | undefined;
  try {
    first = mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw new CliError(EXIT.usage, `${dir} is a file, not a directory: name a directory (new or empty). Nothing was written.`);
    throw error;
  }
  if (first === undefined) {
    if (!statSync(dir).isDirectory()) throw new CliError(EXIT.usage, `${dir} is a file, not a directory: name a directory (new or empty). Nothing was written.`);
    return;
  }
  for (let d = resolve(dir); ; d = dirname(d)) {
    chmodSync(d, DIR_MODE);
    if (d === resolve(first) || dirname(d) === d) break;
  }
}

/**
 * A directory the person named to write into (`export`): new, or an existing directory.
 * @throws {CliError} `usage` when it is a file (or something else that is not a directory).
 */
export function checkTargetDir(dir: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') isDir = false;
    else throw error;
  }
  if (!isDir) throw new CliError(EXIT.usage, `${dir} is a file, not a directory: name a directory (new or empty). Nothing was written.`);
}

/** Tightens a directory that belongs to conclave (the state directory) to 0700. */
export function ensurePrivateDir(dir: string): void {
  ensureDir(dir);
  chmodSync(dir, DIR_MODE);
}

/**
 * Writes a file that must not exist yet (an export): written whole to a temporary file,
 * then linked into place, which fails if the name is taken meanwhile.
 * @throws {CliError} `usage` when `path` exists.
 */
export function writeNew(path: string, data: string | Uint8Array): void {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileAt(temp, data);
  try {
    linkSync(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new CliError(EXIT.usage, `${path} already exists: nothing was overwritten (pass --force to replace it).`);
    throw error;
  } finally {
    rmSync(temp, { force: true });
  }
}

function writeFileAt(temp: string, data: string | Uint8Array): void {
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
}

/** Writes `data` to `path` atomically, mode 0600. */
export function writeAtomic(path: string, data: string | Uint8Array): void {
  ensureDir(dirname(path));
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileAt(temp, data);
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
