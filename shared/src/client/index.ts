/** The client layer the extension uses: sign in, keep keys, talk to the storage API. */
export { signIn, apiErrorOf, type ApiClient, type ApiSession } from './api-session.ts';
export { GroupClient, type GroupClientOptions, type InviteOptions, type JoinResult, type HandoverResult } from './group-client.ts';
export { MemoryKeyStore, type GroupRecord, type KeyStore } from './key-store.ts';
export { ApiCallError, NoteConflictError, GroupClientError, call, type ClientFailure } from './errors.ts';
export { inviteLookupProof } from './join.ts';
export type { HandoverSkip } from './handover.ts';
export type { ListedNote, NoteList, NoteVersion, NoteWarning, NoteWarningCode, OpenedNote } from './notes.ts';
export { MemoryNoteStore, supersedes, type NoteStore, type SeenNote } from './note-store.ts';
export { unreadAmong, type ChangedNotes, type ChangedNotesOptions, type FailedNote, type NoteTarget } from './note-feed.ts';
export { PeerEvidenceError, WITNESS_BOUND_MS, type ForkEvidence, type PeerEvidenceStatus, type PeerHeadVerdict, type WitnessedHead } from './peer-evidence.ts';
export { peerEvidenceStatus } from './peer-evidence.ts';
export type { KeyHealth } from './group-client.ts';
// Transitional: the extension's background still opens a session of its own and
// opens note batches itself; the SDK refactor (issue 11) removes both uses.
export { SessionKeeper } from './session-keeper.ts';
export { NoteGuard, NoteKeys } from './notes.ts';
