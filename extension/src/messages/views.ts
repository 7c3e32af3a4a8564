/**
 * What the background answers: plain data the pages render. Fingerprints and names
 * only; a note's plaintext only to the page that asked to read it.
 */
import type { Fingerprint, GroupId, NoteId, Role } from '@conclave/shared/protocol';
import type { KeyWaitState } from '@conclave/shared/p2p';

export type TrustView = 'unverified' | 'verified' | 'key-changed' | 'removed' | 'trusted-by-link';

export interface IdentityView {
  fingerprint: Fingerprint;
  /** 16 characters in groups of four, for "this device". */
  short: string;
  displayName: string;
}

export interface Settings {
  apiUrl: string;
  signalingUrl: string;
  iceServers: Array<{ urls: string | string[]; username?: string; credential?: string }>;
}

export interface GroupSummary {
  groupId: GroupId;
  /** Decrypted on this device; null until the key is here. */
  name: string | null;
  role: Role | null;
  hasKey: boolean;
  unread: number;
  /** Admins: members waiting for the key. */
  pending: number;
  /** Set when the group's log was found forked or rolled back: shown as a red banner. */
  alarm: string | null;
  /**
   * Set when `alarm` comes from a member's signed head (not from the server's log):
   * who signed it and what the person can do about it. Absent or null otherwise.
   */
  peerAlarm?: PeerAlarmView | null;
  /** The creator has not yet confirmed saving the recovery code. */
  recoveryUnconfirmed: boolean;
  /** Set while this device waits for the group key. */
  keyWait: KeyWaitView | null;
  removed: boolean;
  /** Set with `removed` when it was this device that was removed from its person (by another of their devices), not the person from the group. */
  deviceUnlinked?: boolean;
  /** Admins: a recovery code added a device and has not been replaced since. */
  recoveryUsed: RecoveryUseView | null;
  /** Who may be handed the key: verified people only, or anyone who joined with an invite. */
  policy?: 'verified' | 'invite-trust';
}

/**
 * A peer alarm's remedies: the member whose device signed the head. Anyone may
 * dismiss it after checking with them (`group.dismissPeerEvidence`); an admin may
 * remove them (`group.remove`, which that member's own evidence never blocks).
 */
export interface PeerAlarmView {
  /** The device that signed the head (dismissing names it). */
  peer: Fingerprint;
  /** The person that device speaks for (removing names them). */
  person: Fingerprint;
  /** Their name as this device knows it. */
  name: string;
  /** `fork`: their head contradicts ours; `behind`: theirs is ahead and the server has not shown it. */
  kind: 'fork' | 'behind';
  /** This device is an admin and that member can be removed. */
  canRemove: boolean;
}

/** "The recovery code added a device as admin on <date>" — told to every admin until the code is replaced. */
export interface RecoveryUseView {
  at: number;
  device: Fingerprint;
  /** The device's name, or "this device". */
  deviceName: string;
  isMe: boolean;
  /** How many devices that same code added. */
  count: number;
}

/** The group key chain as this device sees it (GroupClient.keyHealth), in names. */
export interface KeyHealthView {
  /** A member left and no new key was started since. */
  owedRotation: { name: string; at: number } | null;
  /** Key generations this device could not open, each named by the device that made it. */
  faults: Array<{ generation: number; authorName: string; at: number; kind: 'bad-link' | 'bad-seed' | 'bad-box' | 'forged-box' | 'bad-invite'; reason: string }>;
  /** An admin here can start a new key that continues from the newest good one. */
  canRepair: boolean;
}

export interface KeyWaitView {
  state: KeyWaitState;
  /** Names of the members who could hand the key over, and whether each is online now. */
  holders: Array<{ fingerprint: Fingerprint; name: string; online: boolean }>;
  updatedAt: number;
  /** People (person ids) whose devices refused in the last round because they have not verified this one: "Verify Ana" goes to them. Set when shown. */
  verifyFirst?: Array<{ person: Fingerprint; name: string; /** This device verified them already: it is their turn. */ youVerified?: true }>;
}

export interface StatusView {
  identity: IdentityView | null;
  groups: GroupSummary[];
  settings: Settings;
}

export interface MemberView {
  fingerprint: Fingerprint;
  short: string;
  name: string;
  role: Role;
  trust: TrustView;
  online: boolean;
  isMe: boolean;
  isRecovery: boolean;
  /** Waiting for the key in the mailbox (admins see it): one of their devices is. */
  waitingForKey: boolean;
  /** How many devices speak for this person in the group (1 for most people). */
  devices: number;
  /** When the group's recovery code added them (a restore): shown to every member, beside their name. */
  addedByRecovery?: number;
  /** This device has not read their name yet (their profile arrives with the group key): `name` is their fingerprint's first groups. */
  nameUnknown?: true;
  /**
   * Why a hand-over of the current key would skip them (the SDK's rule, `handoverRefusal`):
   * the page offers "Verify" instead. Absent when it would serve them, and for this person and the recovery key.
   */
  handoverSkip?: 'not-verified' | 'key-changed' | 'removed';
}

export interface GroupDetailView extends GroupSummary {
  policy: 'verified' | 'invite-trust';
  members: MemberView[];
  departed: Array<{ fingerprint: Fingerprint; name: string; how: 'removed' | 'left' }>;
  generation: number;
  keyHealth: KeyHealthView;
}

export interface VerifyView {
  groupId: GroupId;
  /** The person (their id: the founding device's fingerprint) and how many devices speak for them. */
  peer: { fingerprint: Fingerprint; short: string; name: string; trust: TrustView; devices: number };
  /** 12 groups of 5 digits, identical on both devices. */
  safetyNumber: string[];
  /** The text of this device's QR code for that peer (render it as a QR image). */
  qrText: string;
  /** What the group key waits for between this device and that person, or null when nothing waits. */
  keySide: KeySideView | null;
}

/**
 * Who waits for the group key, and for what (DESIGN §6.3), as a verification tab says it:
 * `you-wait` — this device has no key yet: for that person to verify you
 * (`their-verification`, they refused so), or for anyone holding it (`key`; `policy`
 * says whether they must have verified you first);
 * `they-wait` — that person's device waits for the key this device holds: for you to
 * verify them (`your-verification`), or, verified, for their device to come online
 * (`them-online`: it is in the mailbox, or goes live when they are).
 */
export type KeySideView =
  | { kind: 'you-wait'; name: string; waitsFor: 'their-verification' | 'key'; policy: 'verified' | 'invite-trust' }
  | { kind: 'they-wait'; name: string; waitsFor: 'your-verification' | 'them-online' };

/** Something this device noticed about how the server served a note, in words (what happened, what to do). */
export interface NoteFlagView {
  code: 'rolled-back' | 'late-from-departed';
  message: string;
  action: string;
}

export type ListedNoteView =
  | { ok: true; noteId: NoteId; version: number; title: string; author: Fingerprint; authorName: string; authorTrust: TrustView; at: number; deleted: boolean; flags?: NoteFlagView[] }
  | { ok: false; noteId: NoteId; version: number; author: Fingerprint; authorName: string; reason: string; message: string; action: string; title?: string };

export interface NoteView {
  noteId: NoteId;
  version: number;
  title: string;
  body: string;
  author: Fingerprint;
  authorName: string;
  authorTrust: TrustView;
  at: number;
  /** Shown above the note (empty: nothing to say). */
  flags: NoteFlagView[];
}

/** One version of a note's history (the SDK verified its place in the chain): readable, or why not. */
export type NoteVersionView = {
  version: number;
  /** The group key generation the version is sealed with. */
  generation: number;
  author: Fingerprint;
  authorName: string;
  authorTrust: TrustView;
  at: number;
  /** This version is the note's deletion. */
  deleted: boolean;
} & ({ ok: true; title: string; body: string } | { ok: false; message: string; action: string });

/** Every version of a note, newest first. */
export interface NoteHistoryView {
  noteId: NoteId;
  versions: NoteVersionView[];
}

/** An earlier version saved again: the new version's number, and which one it copies. */
export interface RestoredVersionView {
  noteId: NoteId;
  version: number;
  restoredFrom: number;
}

/** A group's notes as Markdown files (client/markdown.ts), for the page to zip and save on this computer. */
export interface ExportView {
  groupName: string | null;
  /** Newest first; `name` is unique (it ends with the start of the note's id). */
  files: Array<{ name: string; title: string; text: string }>;
  /** Notes that could not be opened, so are not in the zip: the title this device had, and why. */
  skipped: Array<{ noteId: NoteId; title: string | null; message: string; action: string }>;
}

/** The newest version of a note this device knows (its cached header), without the text. */
export interface NoteHeaderView {
  noteId: NoteId;
  version: number;
  author: Fingerprint;
  authorName: string;
  /** True when the newest version is this device's own. */
  isMe: boolean;
  at: number;
  deleted: boolean;
  /** This version could not be opened on this device (yet): only its number and author are known. */
  unopened: boolean;
}

/** One device of this person (SDK `OwnDevice`), as the device list shows it. */
export interface DeviceView {
  fingerprint: Fingerprint;
  short: string;
  addedAt: number;
  /** The device that linked it ("this device", a short fingerprint); null for the first device. */
  addedBy: string | null;
  thisDevice: boolean;
  /** Set once it was removed: when, and by which device. */
  removed: { at: number; by: string } | null;
}

export interface DevicesView {
  /** The person's id (the first device's fingerprint) in its short form: it stays when devices change. */
  person: Fingerprint;
  personShort: string;
  name: string;
  /** Current devices first, then removed ones. */
  devices: DeviceView[];
  /** This device can link new devices to its person (any device with an identity; a fresh one too, as the first device). */
  canLinkOthers: boolean;
  /** This device is fresh (no groups, no other devices): it can be linked to an existing identity. */
  canBeLinked: boolean;
  /** The list comes from this device's own copy (the storage API could not be reached). */
  offline: boolean;
}

/** The link code a fresh device shows (QR text and the typable code). */
export interface LinkOfferView {
  qrText: string;
  /** The typable code, e.g. `LNK1-…`. */
  code: string;
  /** This (new) device's fingerprint, short, for the check on the existing device. */
  deviceShort: string;
  expiresAt: number;
}

/** A group a link handed over or updated. */
export interface LinkedGroupView {
  groupId: GroupId;
  name: string | null;
  /** New device: it holds the key now. Existing device: the key was handed over. */
  ok: boolean;
  /** Why not, in words (existing device's report). */
  message?: string;
}

/** Where a link stands on this device. */
export type LinkStateView =
  | { role: 'none' }
  | { role: 'new'; phase: 'waiting'; offer: LinkOfferView }
  | { role: 'new'; phase: 'linked'; personShort: string; name: string; byShort: string; groups: LinkedGroupView[] }
  | { role: 'new'; phase: 'failed'; message: string; action: string }
  | { role: 'existing'; phase: 'connecting' | 'linking'; deviceShort: string | null }
  /** The new device proved it knows the code: the person compares its fingerprint and says go on. */
  | { role: 'existing'; phase: 'confirm'; deviceShort: string; myShort: string }
  | { role: 'existing'; phase: 'done'; deviceShort: string; groups: LinkedGroupView[] }
  | { role: 'existing'; phase: 'failed'; message: string; action: string };

/** What removing a device did in each group (its key changed, or why not yet). */
export interface RemovedDeviceView {
  device: Fingerprint;
  deviceShort: string;
  groups: LinkedGroupView[];
}

export type SaveNoteResult = { saved: true; noteId: NoteId; version: number } | { saved: false; conflict: { mine: { title: string; body: string }; theirs: NoteView } };
