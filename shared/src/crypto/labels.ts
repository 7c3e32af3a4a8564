/**
 * Every domain-separation label of the protocol, in one place (DESIGN §2).
 * Each signature, HKDF info, HPKE info and AEAD associated data starts with one of
 * these, so a value signed or sealed for one purpose is never valid for another.
 * Changing a label is a protocol version change.
 */
export const LABELS = {
  fingerprint: 'conclave/v3/fingerprint',
  bundleSignature: 'conclave/v3/bundle',
  logEntry: 'conclave/v3/log-entry',
  logEntryHash: 'conclave/v3/log-entry-hash',
  deviceEntry: 'conclave/v3/device-entry',
  deviceEntryHash: 'conclave/v3/device-entry-hash',
  deviceConsent: 'conclave/v3/device-consent',
  linkLookup: 'conclave/v3/link-lookup',
  linkProof: 'conclave/v3/link-proof',
  linkTranscript: 'conclave/v3/link-transcript',
  linkProfile: 'conclave/v3/link-profile',
  linkPayload: 'conclave:v3:link:',
  groupId: 'conclave/v3/group-id',
  noteKey: 'conclave/v3/note-key',
  prevKey: 'conclave/v3/prev-key',
  prevWrap: 'conclave/v3/prev-wrap',
  seedCommitment: 'conclave/v3/seed-commitment',
  keyBoxInfo: 'conclave/v3/key-box',
  keyBoxSignature: 'conclave/v3/key-box-signature',
  noteContent: 'conclave/v3/note-content',
  noteKeyWrap: 'conclave/v3/note-key-wrap',
  noteSignature: 'conclave/v3/note-signature',
  noteVersionHash: 'conclave/v3/note-version-hash',
  inviteSignKey: 'conclave/v3/invite-sign-key',
  inviteBoxKey: 'conclave/v3/invite-box-key',
  inviteAcceptance: 'conclave/v3/invite-acceptance',
  inviteLookup: 'conclave/v3/invite-lookup',
  recoverySignKey: 'conclave/v3/recovery-sign-key',
  recoveryBoxKey: 'conclave/v3/recovery-box-key',
  handshakeTranscript: 'conclave/v3/handshake',
  handshakeMessage: 'conclave/v3/handshake-message',
  qrPayload: 'conclave:v3:',
  apiChallenge: 'conclave/v3/api-challenge',
  signalingToken: 'conclave/v3/signaling-token',
  metaNoteId: 'conclave/v3/meta-note-id',
} as const;

export type Label = (typeof LABELS)[keyof typeof LABELS];
