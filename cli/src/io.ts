/**
 * The streams, environment and terminal a command runs with. `main(argv, io)` takes
 * them as a parameter so tests run commands in process with their own; the bin passes
 * the real process's.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CliError, EXIT } from './errors.ts';

/** What Ctrl-C at a question on the terminal throws: the person cancelled (exit 10), not a bug. */
export function interrupted(): CliError {
  return new CliError(EXIT.cancelled, 'cancelled: nothing was done.');
}

export interface Io {
  /** Results (what a script reads): plain text or JSON. */
  out(text: string): void;
  /** Progress, warnings and errors, for the person. */
  err(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  /** The whole of standard input (note bodies, batches). */
  readStdin(): Promise<string>;
  /** Asks a question on the terminal without echo; null when there is no terminal. */
  askSecret: ((question: string) => Promise<string>) | null;
  /** Asks a question on the terminal; null when there is no terminal. */
  ask: ((question: string) => Promise<string>) | null;
  /** Runs `$EDITOR file` and resolves with its exit code. */
  runEditor(command: string, file: string): Promise<number>;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads one line from the terminal; with `secret`, nothing typed is echoed. */
function askTerminal(question: string, secret: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const input = process.stdin;
    const rl = createInterface({ input, output: process.stderr, terminal: true });
    if (secret) {
      // readline echoes through _writeToOutput: print the question only.
      (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
        if (s.startsWith(question)) process.stderr.write(question);
      };
    }
    rl.question(question, (answer) => {
      if (secret) process.stderr.write('\n');
      rl.close();
      resolve(answer);
    });
    rl.once('SIGINT', () => {
      if (secret) process.stderr.write('\n');
      rl.close();
      reject(interrupted());
    });
  });
}

/** Environment variables that carry secrets to conclave itself: no child process gets them. */
export const SECRET_ENV = ['CONCLAVE_PASSPHRASE', 'CONCLAVE_INVITE', 'CONCLAVE_RECOVERY_CODE'] as const;

/** The editor's environment: this process's, without the secrets, with the file to edit. */
export function editorEnv(env: NodeJS.ProcessEnv, file: string): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env, CONCLAVE_EDIT_FILE: file };
  for (const name of SECRET_ENV) delete out[name];
  return out;
}

export function processIo(): Io {
  const tty = Boolean(process.stdin.isTTY && process.stderr.isTTY);
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    env: process.env,
    readStdin: () => readAll(process.stdin),
    askSecret: tty ? (q) => askTerminal(q, true) : null,
    ask: tty ? (q) => askTerminal(q, false) : null,
    runEditor: (command, file) =>
      new Promise((resolve, reject) => {
        // Ctrl-C goes to the editor (same terminal process group); this process stays
        // alive to delete the plaintext file once the editor is gone.
        const ignore = () => {};
        process.on('SIGINT', ignore);
        const done = () => process.off('SIGINT', ignore);
        const child = spawn(`${command} "$CONCLAVE_EDIT_FILE"`, { stdio: 'inherit', shell: true, env: editorEnv(process.env, file) });
        child.once('error', (error) => {
          done();
          reject(error);
        });
        child.once('exit', (code) => {
          done();
          resolve(code ?? 1);
        });
      }),
  };
}
