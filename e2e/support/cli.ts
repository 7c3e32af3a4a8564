/**
 * A command-line member: the `conclave` command run as a real process
 * (`node cli/bin/conclave.js <args>`), as a person or a script runs it, with its own
 * home directory (`CONCLAVE_HOME`, a fresh temporary directory) and its passphrase in
 * `CONCLAVE_PASSPHRASE`. Nothing is imported from cli/src: what is checked is what the
 * command prints and its exit code.
 *
 * Every command has a time limit (the process is killed when it is reached, and the
 * run fails saying so) and is kept in a transcript (arguments, exit code, output,
 * time) for the failure message and the run's artifacts. `dispose()` kills any command
 * still running and deletes the home directory; `disposeAllCli()` does it for every
 * device made, whatever failed.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './clients.ts';

export const CLI_BIN = path.join(repoRoot, 'cli', 'bin', 'conclave.js');

/** One command as it ran. */
export interface CliRun {
  args: string[];
  /** The exit code, or null when the process was killed (time limit) or died of a signal. */
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** When the command last printed anything, after it started (a command that lingers after its result shows here). */
  lastOutputMs: number | null;
  timedOut: boolean;
}

export interface RunOptions {
  /** Written to the command's standard input, which is then closed (a note's body). Without it, standard input is empty. */
  input?: string;
  /** Killed after this long (default 60 s). */
  timeoutMs?: number;
  /** More environment variables for this command only. */
  env?: Record<string, string>;
}

const DEFAULT_TIMEOUT = 60_000;
const live = new Set<CliDevice>();

function describeRun(run: CliRun): string {
  return [
    `$ conclave ${run.args.map(quote).join(' ')}`,
    `exit ${run.code ?? 'none'}${run.timedOut ? ' (killed: time limit)' : ''} after ${(run.ms / 1000).toFixed(1)} s${run.lastOutputMs === null ? '' : ` (last output at ${(run.lastOutputMs / 1000).toFixed(1)} s)`}`,
    `stdout:\n${indent(run.stdout)}`,
    `stderr:\n${indent(run.stderr)}`,
  ].join('\n');
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

function indent(text: string): string {
  return text.trimEnd() === '' ? '  (nothing)' : text.trimEnd().replace(/^/gm, '  ');
}

export class CliError extends Error {
  constructor(
    message: string,
    readonly run: CliRun,
  ) {
    super(`${message}\n${describeRun(run)}`);
    this.name = 'CliError';
  }
}

export class CliDevice {
  readonly transcript: CliRun[] = [];
  private readonly running = new Set<ChildProcessWithoutNullStreams>();

  private constructor(
    /** "CLI member": for failure messages and the transcript. */
    readonly label: string,
    /** CONCLAVE_HOME: the key file and whatever else the command keeps. */
    readonly home: string,
    readonly passphrase: string,
  ) {}

  /** A fresh home directory (nothing run yet). Named like the browser profiles, so a killed run's leftovers are swept the same way. */
  static async create(label: string, passphrase: string): Promise<CliDevice> {
    const home = await mkdtemp(path.join(os.tmpdir(), `conclave-e2e-${process.pid}-cli-`));
    const device = new CliDevice(label, home, passphrase);
    live.add(device);
    return device;
  }

  private env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    // Only what this device is given: no CONCLAVE_* of the shell that runs the tests
    // (a CONCLAVE_SIGNAL would open the live path), no editor, no Vitest variables.
    for (const key of Object.keys(env)) if (key.startsWith('CONCLAVE_') || key.startsWith('VITEST') || key === 'EDITOR' || key === 'VISUAL') delete env[key];
    return { ...env, CONCLAVE_HOME: this.home, CONCLAVE_PASSPHRASE: this.passphrase, NO_COLOR: '1', FORCE_COLOR: '0', ...extra };
  }

  /** Runs a command to its end, whatever its exit code (killed at its time limit). */
  run(args: string[], options: RunOptions = {}): Promise<CliRun> {
    return this.start(args, options).done;
  }

  /**
   * Starts a command that waits for something (`devices link`): `stdoutLine` resolves with
   * the first line of standard output that `match` accepts, while the command runs on;
   * `done` resolves when it ends (killed at its time limit).
   */
  start(args: string[], options: RunOptions = {}): { done: Promise<CliRun>; stdoutLine: (match: (line: string) => boolean, timeoutMs?: number) => Promise<string> } {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI_BIN, ...args], { cwd: repoRoot, env: this.env(options.env), stdio: 'pipe' });
    this.running.add(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let lastOutputMs: number | null = null;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      lastOutputMs = performance.now() - started;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      lastOutputMs = performance.now() - started;
    });
    // A command that exits without reading its input must not fail the run.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? DEFAULT_TIMEOUT);
    const stdoutLine = (match: (line: string) => boolean, timeoutMs = DEFAULT_TIMEOUT): Promise<string> =>
      new Promise<string>((resolve, reject) => {
        const look = () => {
          const line = stdout.split('\n').slice(0, -1).find(match);
          if (line === undefined) return false;
          cleanUp();
          resolve(line);
          return true;
        };
        const onData = () => void look();
        const onClose = () => {
          if (!look()) {
            cleanUp();
            reject(new Error(`${this.label}: \`conclave ${args.join(' ')}\` ended without printing the line expected`));
          }
        };
        const timer = setTimeout(() => {
          cleanUp();
          reject(new Error(`${this.label}: \`conclave ${args.join(' ')}\` did not print the line expected in ${timeoutMs} ms`));
        }, timeoutMs);
        const cleanUp = () => {
          clearTimeout(timer);
          child.stdout.off('data', onData);
          child.off('close', onClose);
        };
        child.stdout.on('data', onData);
        child.once('close', onClose);
        look();
      });
    const done = new Promise<CliRun>((resolve, reject) => {
      child.once('error', (error) => {
        clearTimeout(timer);
        this.running.delete(child);
        reject(error);
      });
      child.once('close', (code) => {
        clearTimeout(timer);
        this.running.delete(child);
        const run: CliRun = { args, code, stdout, stderr, ms: performance.now() - started, lastOutputMs, timedOut };
        this.transcript.push(run);
        resolve(run);
      });
    });
    return { done, stdoutLine };
  }

  /** Runs a command that must succeed (exit 0); returns its standard output. */
  async ok(args: string[], options: RunOptions = {}): Promise<string> {
    const run = await this.run(args, options);
    if (run.timedOut) throw new CliError(`${this.label}: the command did not finish in time`, run);
    if (run.code !== 0) throw new CliError(`${this.label}: the command failed`, run);
    return run.stdout;
  }

  /** Runs a command with `--json` (it must succeed) and parses what it printed. */
  async json<T>(args: string[], options: RunOptions = {}): Promise<T> {
    // Options go before `--` (after it every word is an operand, such as an id that starts with '-').
    const end = args.indexOf('--');
    const out = await this.ok(end === -1 ? [...args, '--json'] : [...args.slice(0, end), '--json', ...args.slice(end)], options);
    try {
      return JSON.parse(out) as T;
    } catch {
      throw new CliError(`${this.label}: --json printed something that is not JSON`, this.transcript.at(-1)!);
    }
  }

  /** The transcript as text (every command, its exit code, output and time). */
  transcriptText(): string {
    return this.transcript.map(describeRun).join('\n\n');
  }

  /** Writes the transcript to a file (the run's artifacts). */
  saveTranscript(file: string): void {
    writeFileSync(file, `${this.label}, CONCLAVE_HOME=${this.home}\n\n${this.transcriptText()}\n`);
  }

  /** Kills every command of this device still running and deletes its home directory. */
  async dispose(): Promise<void> {
    for (const child of this.running) child.kill('SIGKILL');
    this.running.clear();
    await rm(this.home, { recursive: true, force: true }).catch(() => undefined);
    live.delete(this);
  }
}

/** Kills every command still running and deletes every CLI home. Never throws. */
export async function disposeAllCli(): Promise<void> {
  await Promise.allSettled([...live].map((device) => device.dispose()));
}

/**
 * The safety number in a command's output: twelve groups of five digits (on one line
 * or several, separated by spaces), or sixty digits in a row. Null when there is none.
 */
export function safetyNumberIn(text: string): string[] | null {
  const grouped = text.match(/(?<!\d)\d{5}(?:[ \t\r\n-]+\d{5}){11}(?!\d)/);
  if (grouped) return grouped[0].split(/[^\d]+/);
  const run = text.match(/(?<!\d)\d{60}(?!\d)/);
  return run ? run[0].match(/\d{5}/g)! : null;
}
