/**
 * What a `conclave` command tells the shell when it fails (docs/CLI.md "Exit codes"),
 * and the one place where any error becomes plain words: what happened and what to do
 * next, never a stack trace and never a secret.
 */
import { ApiCallError, GroupClientError, LinkError } from '@conclave/shared/client';
import { ConclaveError } from '@conclave/shared/errors';

/** Exit codes, documented in docs/CLI.md; scripts may rely on them. */
export const EXIT = {
  ok: 0,
  /** A bug in conclave itself (the message says so). */
  internal: 1,
  /** Bad arguments, an unknown command, or a name that matches several groups or notes. */
  usage: 2,
  /** This state directory is not set up (run `conclave init`), or already is. */
  setup: 3,
  /** The passphrase is wrong or missing. */
  passphrase: 4,
  /** A local file is damaged (key file, group, notes, names, person, trust or settings file): nothing was changed. */
  damaged: 5,
  /** The storage API could not be reached. */
  unreachable: 6,
  /** No such group, member or note on this device. */
  notFound: 7,
  /** The server or the protocol refused: expired or used invite, not an admin, no key yet, conflict. */
  refused: 8,
  /** The server's answer failed verification (rollback, fork, forged data): do not trust it. */
  integrity: 9,
  /** The person declined a confirmation (nothing was done). */
  cancelled: 10,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure the CLI explains itself: its message is shown as is. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Whether an error (or one of its causes) is a network failure before any answer. */
function isNetworkFailure(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 6; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|UND_ERR_CONNECT_TIMEOUT|UND_ERR_SOCKET)$/.test(code)) return true;
    if (e instanceof Error && /fetch failed|Failed to fetch|network/i.test(e.message) && !(e instanceof ApiCallError)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

const CLIENT_EXIT: Record<string, ExitCode> = {
  'unknown-group': EXIT.notFound,
  'no-key': EXIT.refused,
  'not-admin': EXIT.refused,
  'not-member': EXIT.refused,
  mismatch: EXIT.integrity,
  busy: EXIT.refused,
};

const API_HINT: Partial<Record<string, string>> = {
  UNAUTHORIZED: 'the server did not accept this device’s sign-in: check the server address (`conclave whoami`)',
  FORBIDDEN: 'the server says this device may not do that (is it still a member of the group?)',
  NOT_FOUND: 'the server does not know it: check the name or code',
  CONFLICT: 'someone changed it at the same time: run the command again',
};

/** The words and the exit code for any error a command throws. */
export function explain(error: unknown, server?: string): { exitCode: ExitCode; message: string } {
  if (error instanceof CliError) return { exitCode: error.exitCode, message: error.message };
  if (error instanceof LinkError) {
    return { exitCode: EXIT.refused, message: `the device was not linked: ${error.message}. Nothing was changed; show a new code on the new device (\`conclave devices link\`) and run \`conclave devices add\` again.` };
  }
  if (error instanceof GroupClientError) return { exitCode: CLIENT_EXIT[error.reason] ?? EXIT.refused, message: error.message };
  if (error instanceof ApiCallError) {
    const hint = API_HINT[error.code];
    return { exitCode: EXIT.refused, message: hint ? `${error.message}\n${hint}` : error.message };
  }
  if (error instanceof ConclaveError) {
    if (error.is('LOG_ROLLBACK') || error.is('LOG_FORK') || error.is('LOG_INVALID') || error.is('SIGNATURE')) {
      return { exitCode: EXIT.integrity, message: `${error.message}\nThe server's answer did not verify, so nothing was adopted. Tell the other members; do not trust this server's copy until an admin has looked.` };
    }
    // A person's device list (device chain) that was forged, rolled back or forked.
    if (error.is('CHAIN_ROLLBACK') || error.is('CHAIN_FORK') || error.is('CHAIN_INVALID')) {
      return { exitCode: EXIT.integrity, message: `${error.message}\nThat list of devices did not verify, so nothing was adopted and no device in it is trusted. Compare with your other devices (\`conclave devices\` on each) and tell the other members; do not trust this server's copy.` };
    }
    if (error.is('ENCODING') || error.is('INVITE_INVALID') || error.is('RECOVERY_INVALID')) return { exitCode: EXIT.refused, message: error.message };
    return { exitCode: EXIT.refused, message: error.message };
  }
  if (isNetworkFailure(error)) {
    return { exitCode: EXIT.unreachable, message: `cannot reach the storage API${server ? ` at ${server}` : ''}: check the address (--server or CONCLAVE_SERVER) and your network, then run the command again. Nothing was changed.` };
  }
  const what = error instanceof Error ? `${error.name}: ${error.message.split('\n')[0]}` : 'an unknown failure';
  return { exitCode: EXIT.internal, message: `conclave failed unexpectedly (${what}). This is a bug: please report it with the command you ran.` };
}
