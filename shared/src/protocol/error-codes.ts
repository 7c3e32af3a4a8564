/**
 * Every error code of the protocol, in one list; clients narrow on them. The storage
 * API's codes join this list with the API itself.
 */
import type { ConclaveErrorCode } from '../errors.ts';

/** Errors the protocol core raises on the client (see `ConclaveError.code`). */
export const PROTOCOL_ERROR_CODES = [
  'ENCODING',
  'DECRYPT',
  'SIGNATURE',
  'LOG_INVALID',
  'LOG_ROLLBACK',
  'LOG_FORK',
  'CHAIN_INVALID',
  'CHAIN_ROLLBACK',
  'CHAIN_FORK',
  'KEY_BOX',
  'NOTE_INVALID',
  'INVITE_INVALID',
  'RECOVERY_INVALID',
  'HANDSHAKE',
] as const satisfies readonly ConclaveErrorCode[];

// A compile-time check that the list above names every ConclaveErrorCode.
type Missing = Exclude<ConclaveErrorCode, (typeof PROTOCOL_ERROR_CODES)[number]>;
const _allCodesListed: Missing extends never ? true : Missing = true;
void _allCodesListed;
