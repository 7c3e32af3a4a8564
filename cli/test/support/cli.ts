/**
 * Runs `conclave` commands for tests: in process through `main(argv, io)` with this
 * device's own state directory, environment and captured streams (fast), or as a real
 * process through the bin (`node cli/bin/conclave.js`), to prove the bin, exit codes and
 * file modes.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/main.ts';
import { interrupted, type Io } from '../../src/io.ts';

export const BIN = fileURLToPath(new URL('../../bin/conclave.js', import.meta.url));
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export interface Ran {
  code: number;
  out: string;
  err: string;
  /** The questions asked on the "terminal" (in process only). */
  questions?: string[];
}

export interface RunOptions {
  stdin?: string;
  env?: Record<string, string | undefined>;
  /** Answers to questions asked on the "terminal", in order (none: no terminal). */
  answers?: string[];
  editor?: (file: string) => Promise<number>;
  /** This device's clock for the command. */
  now?: () => number;
  /** Ctrl-C at the first question on the "terminal" (what the real terminal reader throws). */
  interrupt?: boolean;
  /** Sees stdout as it is written (a command that prints, then waits). */
  onOut?: (text: string) => void;
}

export interface CliDevice {
  home: string;
  env: Record<string, string | undefined>;
  run(args: string[], options?: RunOptions): Promise<Ran>;
  /** Runs and expects exit 0; returns stdout. */
  ok(args: string[], options?: RunOptions): Promise<string>;
  /** Runs with --json and expects exit 0; returns the parsed output. */
  json<T = Record<string, unknown>>(args: string[], options?: RunOptions): Promise<T>;
  /** The real bin in a child process. */
  spawn(args: string[], options?: { env?: Record<string, string | undefined>; stdin?: string }): Promise<Ran>;
  /** The real bin in a child process, with its handle (to signal it), and its result once it exits. */
  start(args: string[], options?: { env?: Record<string, string | undefined> }): { child: ChildProcess; done: Promise<Ran> };
}

export function newHome(prefix = 'conclave-cli-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function cliDevice(server: string, passphrase: string, home = newHome()): CliDevice {
  const env = { CONCLAVE_HOME: home, CONCLAVE_SERVER: server, CONCLAVE_PASSPHRASE: passphrase };
  const run = async (args: string[], options: RunOptions = {}): Promise<Ran> => {
    let out = '';
    let err = '';
    const answers = options.answers ? [...options.answers] : null;
    const questions: string[] = [];
    const answer = async (question: string) => {
      questions.push(question);
      if (options.interrupt) throw interrupted();
      return answers?.shift() ?? '';
    };
    const io: Io = {
      out: (t) => {
        out += t;
        options.onOut?.(t);
      },
      err: (t) => void (err += t),
      env: { ...env, ...options.env },
      readStdin: async () => options.stdin ?? '',
      askSecret: answers ? answer : null,
      ask: answers ? answer : null,
      runEditor: async (_command, file) => (options.editor ? options.editor(file) : 1),
    };
    const code = await main(args, io, options.now ? { now: options.now } : {});
    return { code, out, err, questions };
  };
  const device: CliDevice = {
    home,
    env,
    run,
    async ok(args, options) {
      const ran = await run(args, options);
      if (ran.code !== 0) throw new Error(`conclave ${args.join(' ')} exited ${ran.code}\n${ran.err}${ran.out}`);
      return ran.out;
    },
    async json<T>(args: string[], options?: RunOptions) {
      // Options go before `--` (after it every word is an operand, such as an id that starts with '-').
      const end = args.indexOf('--');
      const withJson = end === -1 ? [...args, '--json'] : [...args.slice(0, end), '--json', ...args.slice(end)];
      return JSON.parse(await device.ok(withJson, options)) as T;
    },
    start(args, options = {}) {
      let child!: ChildProcess;
      const done = new Promise<Ran>((resolve) => {
        child = execFile(process.execPath, [BIN, ...args], { cwd: REPO, env: { ...process.env, ...env, ...options.env }, timeout: 120_000 }, (error, stdout, stderr) => {
          resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout, err: stderr });
        });
        child.stdin?.end();
      });
      return { child, done };
    },
    spawn(args, options = {}) {
      return new Promise((resolve) => {
        const child = execFile(process.execPath, [BIN, ...args], { cwd: REPO, env: { ...process.env, ...env, ...options.env }, timeout: 60_000 }, (error, stdout, stderr) => {
          resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout, err: stderr });
        });
        if (options.stdin !== undefined) child.stdin?.end(options.stdin);
        else child.stdin?.end();
      });
    },
  };
  return device;
}
