/**
 * Every domain-separation label of the protocol, in one place (DESIGN §2).
 * Each signature, HKDF info, HPKE info and AEAD associated data starts with one of
 * these, so a value signed or sealed for one purpose is never valid for another.
 * Changing a label is a protocol version change.
 */
export const LABELS = {
  fingerprint: 'conclave/v2/fingerprint',
  bundleSignature: 'conclave/v2/bundle',
  logEntry: 'conclave/v2/log-entry',
  logEntryHash: 'conclave/v2/log-entry-hash',
  groupId: 'conclave/v2/group-id',
  noteKey: 'conclave/v2/note-key',
  prevKey: 'conclave/v2/prev-key',
  prevWrap: 'conclave/v2/prev-wrap',
  seedCommitment: 'conclave/v2/seed-commitment',
  keyBoxInfo: 'conclave/v2/key-box',
  keyBoxSignature: 'conclave/v2/key-box-signature',
  noteContent: 'conclave/v2/note-content',
  noteKeyWrap: 'conclave/v2/note-key-wrap',
  noteSignature: 'conclave/v2/note-signature',
  noteVersionHash: 'conclave/v2/note-version-hash',
  inviteSignKey: 'conclave/v2/invite-sign-key',
  inviteBoxKey: 'conclave/v2/invite-box-key',
  inviteAcceptance: 'conclave/v2/invite-acceptance',
  inviteLookup: 'conclave/v2/invite-lookup',
  recoverySignKey: 'conclave/v2/recovery-sign-key',
  recoveryBoxKey: 'conclave/v2/recovery-box-key',
  handshakeTranscript: 'conclave/v2/handshake',
  handshakeMessage: 'conclave/v2/handshake-message',
  qrPayload: 'conclave:v2:',
  apiChallenge: 'conclave/v2/api-challenge',
  signalingToken: 'conclave/v2/signaling-token',
  metaNoteId: 'conclave/v2/meta-note-id',
} as const;

export type Label = (typeof LABELS)[keyof typeof LABELS];
