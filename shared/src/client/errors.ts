/**
 * Errors of the client layer. Protocol failures keep their own `ConclaveError`
 * subclasses (a rollback is a `LogVerificationError`, a bad box a `KeyBoxError`…);
 * these add what only a client talking to the storage API can hit.
 */
import { apiErrorOf } from './api-session.ts';
import type { ApiErrorCode, ApiErrorData } from '../protocol/api.ts';
import type { OpenedNote } from './opened-note.ts';
import type { LinkRefusal } from '../p2p/device-link.ts';

/** The storage API refused a call; `code` is its Conclave code (docs/API.md). */
export class ApiCallError extends Error {
  readonly code: ApiErrorCode;
  readonly data: ApiErrorData;

  constructor(data: ApiErrorData, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = data.code;
    this.data = data;
  }

  is(code: ApiErrorCode): boolean {
    return this.code === code;
  }
}

/**
 * Someone else stored this note version first: `currentVersion` is the newest this
 * device knows of. `GroupClient.writeNote` opens the newest the server serves on the log
 * it has just synced, in the same lock, and gives it as `theirs` (with its warnings: a
 * rolled-back one says so; absent when it could not be opened: read it then).
 */
export class NoteConflictError extends ApiCallError {
  readonly currentVersion: number;
  readonly theirs: OpenedNote | undefined;

  constructor(data: ApiErrorData, message: string, options?: { cause?: unknown; theirs?: OpenedNote }) {
    super(data, message, options);
    this.currentVersion = data.currentVersion ?? 0;
    this.theirs = options?.theirs;
  }
}

/** Why the client could not do what was asked, before or without the server saying no. */
export type ClientFailure =
  /** This device has no record of the group: join, create or restore it first. */
  | 'unknown-group'
  /** This device does not hold the key of the group's current generation yet. */
  | 'no-key'
  /** The operation needs an admin of the group (by this device's own log). */
  | 'not-admin'
  /** This device is not a current member of the group (by its own log). */
  | 'not-member'
  /** The server's answer does not match what was asked (another group, another invite). */
  | 'mismatch'
  /** The log kept moving under a compare-and-set: try again later. */
  | 'busy'
  /** This device already belongs to a person with groups or other devices: it cannot be linked to another. */
  | 'already-linked';

export class GroupClientError extends Error {
  constructor(
    readonly reason: ClientFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A device link did not happen; `reason` names why (p2p/device-link.ts `LinkRefusal`), `by` who said so. */
export class LinkError extends Error {
  constructor(
    readonly reason: LinkRefusal,
    readonly by: 'me' | 'peer' | 'channel',
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

const STATUS_TEXT: Partial<Record<ApiErrorCode, string>> = {
  TOO_MANY_REQUESTS: 'the server is limiting how often this device may call it: wait a minute and try again',
  PAYLOAD_TOO_LARGE: 'the request is larger than the server accepts',
};

/**
 * Runs one API call and turns a tRPC failure into an `ApiCallError` (a note CONFLICT
 * into a `NoteConflictError`). Errors that are not API answers (network down) pass
 * through unchanged.
 */
export async function call<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const data = apiErrorOf(error);
    if (!data) throw error;
    // Answers sent before tRPC (rate limit, body limit) carry only a status: say what it means.
    const fromServer = (error as { data?: { conclave?: unknown } }).data?.conclave !== undefined && error instanceof Error ? error.message : STATUS_TEXT[data.code];
    const message = `${what} failed (${data.code})${fromServer ? `: ${fromServer}` : ''}`;
    if (data.code === 'CONFLICT' && data.currentVersion !== undefined) throw new NoteConflictError(data, message, { cause: error });
    throw new ApiCallError(data, message, { cause: error });
  }
}
