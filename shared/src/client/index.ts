/** The client SDK (the extension's background and the CLI): one session, one lock per group, keys and notes through ports. */
export { signIn, apiErrorOf, isUnreachable, type ApiClient, type ApiSession } from './api-session.ts';
export { GroupClient, type GroupClientOptions, type InviteOptions, type JoinResult, type HandoverResult } from './group-client.ts';
export { MemoryKeyStore, type GroupRecord, type KeyStore } from './key-store.ts';
export { ApiCallError, NoteConflictError, GroupClientError, LinkError, type ClientFailure } from './errors.ts';
export type { DevicesReport } from './devices-update.ts';
export { MemoryPersonStore, type PersonRecord, type PersonStore, type PinnedChain, type Profile } from './person-store.ts';
export type { OwnDevice, PersonView } from './person.ts';
export type { IncomingChannels, LinkOffer, LinkOutcome, LinkReport, Linked } from './device-link.ts';
/** How a joiner proves it holds an invite code (also what the storage API's tests sign with). */
export { inviteLookupProof } from './join.ts';
export { handoverRefusal } from './handover.ts';
export type { HandoverSkip } from './handover.ts';
export type { ListedNote, NoteList, NoteVersion, NoteWarning, NoteWarningCode, OpenedNote } from './notes.ts';
export { VANISHED } from './notes.ts';
export { namesFromMeta, unnamedMemberLabel, type MetaName, type MetaNames } from './meta-names.ts';
export { MemoryNoteStore, supersedes, type NoteStore, type SeenNote } from './note-store.ts';
export { unreadAmong, type ChangedNotes, type ChangedNotesOptions, type FailedNote, type NoteTarget } from './note-feed.ts';
export { PeerEvidenceError, WITNESS_BOUND_MS, type ForkEvidence, type PeerEvidenceStatus, type PeerHeadVerdict, type WitnessedHead } from './peer-evidence.ts';
export { peerEvidenceStatus } from './peer-evidence.ts';
export type { KeyHealth } from './group-client.ts';
export { liveUrl, type LiveOptions, type LiveStatus, type LiveStream } from './live.ts';
export { fileSlug, noteFileName, noteMarkdown, type MarkdownNote } from './markdown.ts';
export { FIRST_LINE_TITLE_MAX, isEmptyNote, titleToSave } from './note-content.ts';
export { INVITE_LINK_PREFIX, inviteLink, parseInviteText, type ParsedInvite } from './invite-link.ts';
