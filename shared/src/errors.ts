/**
 * The one error base of the protocol core and SDK. Every failure is a `ConclaveError`
 * with a stable `code`; callers narrow with `is(code)` rather than matching messages.
 * It lives at the root of shared/ so wire formats (protocol/) and cryptography
 * (crypto/) both build on it without importing each other.
 */
export type ConclaveErrorCode =
  | 'ENCODING'
  | 'DECRYPT'
  | 'SIGNATURE'
  | 'LOG_INVALID'
  | 'LOG_ROLLBACK'
  | 'LOG_FORK'
  | 'CHAIN_INVALID'
  | 'CHAIN_ROLLBACK'
  | 'CHAIN_FORK'
  | 'KEY_BOX'
  | 'NOTE_INVALID'
  | 'INVITE_INVALID'
  | 'RECOVERY_INVALID'
  | 'HANDSHAKE';

export class ConclaveError extends Error {
  readonly code: ConclaveErrorCode;

  constructor(code: ConclaveErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }

  /** True when this error has the given code (libsignal-style narrowing). */
  is(code: ConclaveErrorCode): boolean {
    return this.code === code;
  }
}

/** Bytes or a structure did not have the agreed form (length, alphabet, shape). */
export class EncodingError extends ConclaveError {
  constructor(message: string) {
    super('ENCODING', message);
  }
}
