/**
 * What a server may use from the protocol core: wire schemas and the public
 * verification functions (bundle self-signatures, log replay, signature checks).
 * Nothing reachable from here takes a private key, a group key or plaintext; a test
 * (shared/test/server-surface.test.ts) keeps it that way.
 */
export * from './protocol/index.ts';
export { ConclaveError, DeviceChainError, LogVerificationError, SignatureError, EncodingError } from './crypto/errors.ts';
export type { ChainRejection, LogRejection, ConclaveErrorCode } from './crypto/errors.ts';
export { chainHead, extendChain, replayChain, type ChainDevice, type PersonState } from './crypto/device-chain.ts';
export { parseBundle, fingerprintOf, verifyLabelled, type VerifiedBundle } from './crypto/identity.ts';
export { replayLog, extendLog, deriveGroupId, type ExtendOptions } from './crypto/log-replay.ts';
export {
  compareHead,
  checkPinnedHead,
  currentGeneration,
  entryHash,
  devicesOf,
  isAdmin,
  logHead,
  memberOfDevice,
  personOfDevice,
  openInvites,
  type GroupState,
  type MemberInfo,
  type GroupDevice,
  type HeadComparison,
} from './crypto/group-log.ts';
export { LABELS } from './crypto/labels.ts';
export { noteVersionHash, verifyNoteSignature } from './crypto/note-signature.ts';
