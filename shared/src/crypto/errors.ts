/**
 * Errors of the protocol core. Every failure is a `ConclaveError` with a stable
 * `code`; callers narrow with `is(code)` rather than matching messages.
 * Decryption errors never carry secret detail (no key, no plaintext, no position).
 */
import { ConclaveError } from '../errors.ts';

export { ConclaveError, EncodingError, type ConclaveErrorCode } from '../errors.ts';

/** Authenticated decryption failed: wrong key, or the ciphertext was altered. */
export class DecryptError extends ConclaveError {
  constructor(what: string) {
    super('DECRYPT', `could not decrypt ${what}: wrong key or altered data`);
  }
}

/** A signature did not verify under the key it claims. */
export class SignatureError extends ConclaveError {
  constructor(what: string) {
    super('SIGNATURE', `signature on ${what} is not valid`);
  }
}

/** Why a group log was refused; shown to users as a named warning. */
export type LogRejection =
  | 'malformed'
  | 'bad-signature'
  | 'wrong-group'
  | 'bad-sequence'
  | 'bad-link'
  | 'not-admin'
  | 'not-member'
  | 'already-member'
  | 'unknown-invite'
  | 'invite-used'
  | 'invite-expired'
  | 'invite-revoked'
  | 'bad-acceptance'
  | 'missing-rotation'
  | 'bad-generation'
  | 'time-went-backwards'
  | 'time-in-future'
  | 'last-admin'
  | 'no-op'
  | 'rollback'
  | 'fork'
  /** An embedded device chain broke one of its own rules (the detail names which). */
  | 'device-chain'
  /** Signed by a device its person has unlinked. */
  | 'device-unlinked'
  /** A device that is already a current device of another member. */
  | 'device-claimed';

export class LogVerificationError extends ConclaveError {
  readonly reason: LogRejection;
  /** Sequence number of the first entry that broke a rule, when there is one. */
  readonly seq: number | undefined;

  constructor(reason: LogRejection, message: string, seq?: number) {
    super(reason === 'rollback' ? 'LOG_ROLLBACK' : reason === 'fork' ? 'LOG_FORK' : 'LOG_INVALID', message);
    this.reason = reason;
    this.seq = seq;
  }
}

/** Why a person's device chain was refused. */
export type ChainRejection =
  | 'malformed'
  | 'bad-signature'
  | 'wrong-person'
  | 'bad-sequence'
  | 'bad-link'
  | 'not-a-device'
  | 'device-unlinked'
  | 'device-reused'
  | 'self-unlink'
  | 'last-device'
  | 'time-went-backwards'
  | 'time-in-future'
  | 'rollback'
  | 'fork';

export class DeviceChainError extends ConclaveError {
  readonly reason: ChainRejection;
  /** Sequence number (in the chain) of the first entry that broke a rule, when there is one. */
  readonly seq: number | undefined;

  constructor(reason: ChainRejection, message: string, seq?: number) {
    super(reason === 'rollback' ? 'CHAIN_ROLLBACK' : reason === 'fork' ? 'CHAIN_FORK' : 'CHAIN_INVALID', message);
    this.reason = reason;
    this.seq = seq;
  }
}

export class KeyBoxError extends ConclaveError {
  constructor(message: string) {
    super('KEY_BOX', message);
  }
}

/** A seed that opened but is not the one the log commits to for its generation. */
export class SeedMismatchError extends KeyBoxError {}

/** A key box or seed for a generation this device's log does not have yet (sync first). */
export class UnknownGenerationError extends KeyBoxError {}

export class NoteError extends ConclaveError {
  constructor(message: string) {
    super('NOTE_INVALID', message);
  }
}

export class InviteError extends ConclaveError {
  constructor(message: string) {
    super('INVITE_INVALID', message);
  }
}

export class RecoveryError extends ConclaveError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RECOVERY_INVALID', message, options);
  }
}

/** Why a peer handshake ended without a key; the other side is told the same reason. */
export type HandshakeRefusal =
  | 'malformed'
  | 'wrong-peer'
  | 'bad-signature'
  | 'wrong-group'
  | 'not-a-member'
  | 'not-verified'
  | 'key-changed'
  | 'removed'
  | 'no-key'
  | 'fork'
  | 'behind'
  | 'unexpected-message'
  | 'closed';

export class HandshakeError extends ConclaveError {
  readonly reason: HandshakeRefusal;

  constructor(reason: HandshakeRefusal, message: string) {
    super('HANDSHAKE', message);
    this.reason = reason;
  }
}
