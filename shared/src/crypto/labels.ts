/**
 * Every domain-separation label of the protocol, in one place (DESIGN §2).
 * Each signature, HKDF info, HPKE info and AEAD associated data starts with one of
 * these, so a value signed or sealed for one purpose is never valid for another.
 * Changing a label is a protocol version change.
 */
export const LABELS = {
  fingerprint: 'conclave/v1/fingerprint',
  bundleSignature: 'conclave/v1/bundle',
  logEntry: 'conclave/v1/log-entry',
  logEntryHash: 'conclave/v1/log-entry-hash',
  groupId: 'conclave/v1/group-id',
  noteKey: 'conclave/v1/note-key',
  prevKey: 'conclave/v1/prev-key',
  prevWrap: 'conclave/v1/prev-wrap',
  seedCommitment: 'conclave/v1/seed-commitment',
  keyBoxInfo: 'conclave/v1/key-box',
  keyBoxSignature: 'conclave/v1/key-box-signature',
  noteContent: 'conclave/v1/note-content',
  noteKeyWrap: 'conclave/v1/note-key-wrap',
  noteSignature: 'conclave/v1/note-signature',
  inviteSignKey: 'conclave/v1/invite-sign-key',
  inviteBoxKey: 'conclave/v1/invite-box-key',
  inviteAcceptance: 'conclave/v1/invite-acceptance',
  recoverySignKey: 'conclave/v1/recovery-sign-key',
  recoveryBoxKey: 'conclave/v1/recovery-box-key',
  handshakeTranscript: 'conclave/v1/handshake',
  handshakeMessage: 'conclave/v1/handshake-message',
  qrPayload: 'conclave:v1:',
  apiChallenge: 'conclave/v1/api-challenge',
  signalingToken: 'conclave/v1/signaling-token',
  metaNoteId: 'conclave/v1/meta-note-id',
} as const;

export type Label = (typeof LABELS)[keyof typeof LABELS];
