/**
 * The client the extension uses (DESIGN §4–§7): one device, one storage API session,
 * and a `KeyStore` holding per group the validated log state, the pinned head and the
 * seeds. Every server answer is checked here with the protocol core before it is
 * used; the server only ever receives signed entries, sealed boxes and ciphertext.
 * Browser-safe: WebCrypto and fetch only.
 */
import { checkSeed, reachableSeeds, repairLinks, seedChain, type GenerationFault } from '../crypto/generations.ts';
import { currentGeneration, devicesEverOf, isAdmin, logHead, memberOfDevice, nextEntry, type GroupState } from '../crypto/group-log.ts';
import { createGroup, leaveGroup, removeMember, replaceRecovery, rotateKey, type Rotated } from '../crypto/group-lifecycle.ts';
import type { TrustState } from '../crypto/handshake.ts';
import type { DeviceIdentity } from '../crypto/identity.ts';
import { createInvite, inviteKeysFromCode } from '../crypto/invite.ts';
import { sealKeyBox } from '../crypto/key-box.ts';
import { extendLog } from '../crypto/log-replay.ts';
import { newNoteId, NoteOpenError, type NotePlaintext } from '../crypto/note-envelope.ts';
import type { Fingerprint, GroupId, NoteId, Role } from '../protocol/ids.ts';
import type { HandoverPolicy, KeyBox, LogEntry } from '../protocol/schemas.ts';
import { signIn, type ApiSession } from './api-session.ts';
import { ApiCallError, call, GroupClientError, NoteConflictError } from './errors.ts';
import type { GroupRecord, KeyStore } from './key-store.ts';
import { joinWithInvite } from './join.ts';
import { mergeFaults, withNewestKey } from './key-fetch.ts';
import { fetchAndReplay, syncRecord } from './log-sync.ts';
import { restoreFromCode } from './restore.ts';
import { KeyedQueue, SessionKeeper } from './session-keeper.ts';
import { sealForRequests, type HandoverResult } from './handover.ts';
import { fetchNote, listHeaders, NoteGuard, NoteKeys, putNote, VANISHED, type ListedNote, type NoteList, type NoteVersion, type OpenedNote } from './notes.ts';
import { MemoryNoteStore, type NoteStore } from './note-store.ts';
import { openChanges, unreadAmong, type ChangedNotes, type ChangedNotesOptions } from './note-feed.ts';
import { META_TITLE, metaBody, metaIndex, type MetaSlot } from '../crypto/meta-notes.ts';
import { admitPeerHead, assertNotStale, checkWitnessed, dismissEvidenceFrom, PeerEvidenceError, peerEvidenceStatus, type PeerEvidenceStatus, type PeerHeadVerdict } from './peer-evidence.ts';
import type { HeadEvidence } from '../crypto/head-evidence.ts';
import { openLiveStream, type LiveOptions, type LiveStream } from './live.ts';
import { assertSameLine, PersonKeeper, type OwnDevice, type PersonView } from './person.ts';
import type { PersonStore, Profile } from './person-store.ts';
import { devicesUpdate, failureName, missingEntries, type DevicesReport } from './devices-update.ts';
import { linkDevice, offerLink, type LinkHost, type LinkOffer, type LinkReport } from './device-link.ts';
import type { MessageChannel } from '../p2p/channel.ts';
import { lookUpPerson, withoutDevices } from './people-lookup.ts';

export type { HandoverResult } from './handover.ts';
export type { DevicesReport } from './devices-update.ts';

export interface GroupClientOptions {
  identity: DeviceIdentity;
  session: ApiSession;
  store: KeyStore;
  /**
   * The storage API's address: lets the client sign in again when its session ends,
   * and `restore` sign in as the recovery key. Without it, `restore` is unavailable.
   */
  baseUrl?: string;
  /** Trust this device has in each member, by person id (verified by QR or safety number): decides mailbox handovers. */
  trustOf?: (groupId: GroupId, person: Fingerprint) => TrustState;
  /** This device's clock (tests move it). */
  now?: () => number;
  /** What this device has seen of each group's notes (DESIGN §5); in memory by default. */
  notes?: NoteStore;
  /**
   * This device's person and the device chains it pinned (DESIGN §3). Without it the
   * device is a person of its own for this run (its single-device chain), unpublished.
   */
  people?: PersonStore;
}

export interface InviteOptions {
  role: Role;
  expiresInMs: number;
  /** Seal the current key to the invite so the joiner reads at once ("trusted by link"). */
  prekeyed?: boolean;
}

export interface JoinResult {
  groupId: GroupId;
  /** True when the invite was pre-keyed and its key opened; otherwise a key request waits in the mailbox. */
  hasKey: boolean;
}

/** How often a meta note is written again after losing to a concurrent write. */
const META_WRITE_ATTEMPTS = 3;

/** How often an append is rebuilt after losing a compare-and-set race. */
const APPEND_ATTEMPTS = 4;

interface Built {
  entries: LogEntry[];
  boxes: KeyBox[];
  state: GroupState;
  seeds?: Map<number, Uint8Array>;
  faults?: GenerationFault[] | undefined;
}

/** What `keyHealth` reports (DESIGN §4): shown as "the key has not been rotated since X left" and "the key made by X's device on <date> is broken". */
export interface KeyHealth {
  owedRotation?: { member: Fingerprint; seq: number; at: number };
  /** Every fault this device met; `repaired` once the chain from the current key is whole again. */
  faults: Array<GenerationFault & { repaired: boolean }>;
  holdsCurrentKey: boolean;
  /** This device is an admin that can make the rotation or repair the group needs now. */
  canRepair: boolean;
}

/**
 * Whether the key chain needs an admin's repair, on signed evidence only: the current
 * generation's own author sealed this device a bad key, or a seed this device holds can
 * no longer be reached from the current one through links that open.
 */
export function needsRepair(record: GroupRecord): boolean {
  const { state, seeds } = record;
  const faults = record.faults ?? [];
  const current = currentGeneration(state);
  if (!seeds.has(current)) {
    const author = state.generations[current]?.startedBy;
    return faults.some((f) => f.generation === current && (f.kind === 'bad-seed' || f.kind === 'bad-box') && f.author === author);
  }
  return repairLinks(state, seeds, faults).size > 1;
}

/**
 * A rotation continues from the current seed; without it only on signed evidence that
 * the current generation itself is broken. Otherwise (the key is merely late, or a server
 * withholds it) a new generation would strand whatever was written with the current one.
 */
export function canRotateFrom(record: GroupRecord): boolean {
  if (record.seeds.has(currentGeneration(record.state))) return true;
  return record.seeds.size > 0 && needsRepair(record);
}

/**
 * A conflict carrying the newest version of the note, opened on the log just synced (no
 * second sync for the caller); the conflict as it was when that version cannot be opened.
 */
async function withTheirs(guard: NoteGuard, noteId: NoteId, conflict: NoteConflictError): Promise<NoteConflictError> {
  try {
    const theirs = await guard.read(noteId);
    return new NoteConflictError(conflict.data, conflict.message, { cause: conflict, theirs });
  } catch {
    return conflict;
  }
}

export class GroupClient {
  readonly identity: DeviceIdentity;
  private readonly session: SessionKeeper;
  private readonly store: KeyStore;
  private readonly baseUrl: string | undefined;
  private readonly trustOf: (groupId: GroupId, fingerprint: Fingerprint) => TrustState;
  private readonly now: () => number;
  private readonly noteKeys = new NoteKeys();
  private readonly notes: NoteStore;
  private readonly queue = new KeyedQueue<GroupId>();
  /** This device's person and the chains of others it pinned (person.ts). */
  readonly people: PersonKeeper;
  private readonly publishes: boolean;

  constructor(options: GroupClientOptions) {
    this.identity = options.identity;
    this.store = options.store;
    this.baseUrl = options.baseUrl;
    this.trustOf = options.trustOf ?? (() => 'unverified');
    this.now = options.now ?? Date.now;
    this.notes = options.notes ?? new MemoryNoteStore();
    this.session = new SessionKeeper(options.session, options.identity, options.baseUrl, this.now);
    this.people = new PersonKeeper(options.identity, options.people, () => this.session.api, this.now);
    this.publishes = options.people !== undefined;
  }

  /**
   * Signs in as `identity` at `baseUrl` and returns a client for it. With `baseUrl`
   * known, the client signs in again by itself when its session ends.
   */
  static async connect(baseUrl: string, identity: DeviceIdentity, store: KeyStore, options: Omit<GroupClientOptions, 'identity' | 'session' | 'store' | 'baseUrl'> = {}): Promise<GroupClient> {
    return new GroupClient({ ...options, identity, store, baseUrl, session: await signIn(baseUrl, identity) });
  }

  get fingerprint(): Fingerprint {
    return this.identity.fingerprint;
  }

  /**
   * Opens this device's live event stream (events for every group it is a member of;
   * docs/API.md "Live events"). Events are hints: act on them with the normal calls
   * (`sync`, `refresh`, `changedNotes`…), which verify what they fetch.
   */
  live(options: LiveOptions): LiveStream {
    if (!this.baseUrl) throw new Error('a live stream needs the storage API address: make the client with GroupClient.connect');
    return openLiveStream(this.baseUrl, this.session, options);
  }

  private get api() {
    return this.session.api;
  }

  /** The validated state this device holds for a group. */
  async state(groupId: GroupId): Promise<GroupState> {
    return (await this.record(groupId)).state;
  }

  // --- groups -------------------------------------------------------------------

  /**
   * Creates a group with this device as its first admin and a recovery recipient.
   * @returns the recovery code: show it once; it is stored nowhere.
   */
  createGroup(options: { policy?: HandoverPolicy } = {}): Promise<{ groupId: GroupId; recoveryCode: string }> {
    return this.session.run(() => this.createGroupInternal(options));
  }

  private async createGroupInternal(options: { policy?: HandoverPolicy }): Promise<{ groupId: GroupId; recoveryCode: string }> {
    const group = await createGroup(this.identity, { ...(options.policy ? { policy: options.policy } : {}), at: this.now(), chain: await this.ownChain() });
    await call('creating the group', () => this.api.groups.create.mutate({ entries: group.entries, boxes: group.boxes }));
    const groupId = group.state.groupId;
    await this.store.save({ groupId, state: group.state, pinned: logHead(group.state), seeds: await seedChain(group.state, 0, group.seed) });
    return { groupId, recoveryCode: group.recoveryCode };
  }

  /**
   * Brings the group up to the server's head, validating only the new entries.
   * @throws {LogVerificationError} rollback, fork, or a broken rule: the log is not adopted.
   */
  sync(groupId: GroupId): Promise<GroupState> {
    return this.locked(groupId, async () => (await this.maintainKeys(await this.syncInternal(await this.record(groupId)))).state);
  }

  /**
   * The state of the group's key chain as this device sees it (no network): a rotation
   * owed since a member left, broken generations with who made them, and whether this
   * device may repair (an admin holding a key). Repair is `rotateKey`.
   */
  async keyHealth(groupId: GroupId): Promise<KeyHealth> {
    const record = await this.record(groupId);
    const { state } = record;
    const holdsCurrentKey = record.seeds.has(currentGeneration(state));
    const broken = needsRepair(record);
    const admin = isAdmin(state, this.fingerprint);
    return {
      ...(state.owedRotation ? { owedRotation: { ...state.owedRotation } } : {}),
      faults: (record.faults ?? []).map((fault) => ({ ...fault, repaired: holdsCurrentKey && !broken && fault.generation <= currentGeneration(state) && (fault.generation < currentGeneration(state) || fault.author !== state.generations[fault.generation]?.startedBy) })),
      holdsCurrentKey,
      canRepair: admin && canRotateFrom(record) && (state.owedRotation !== null || broken),
    };
  }

  // --- invites and joining ---------------------------------------------------------

  /** An admin makes an invite and returns its code (give it to the joiner only). */
  invite(groupId: GroupId, options: InviteOptions): Promise<string> {
    return this.locked(groupId, async () => {
      let code = '';
      await this.appendBuilt(groupId, async (record) => {
        const { state } = record;
        if (!isAdmin(state, this.fingerprint)) throw new GroupClientError('not-admin', 'only an admin of the group can invite');
        const generation = currentGeneration(state);
        const seed = record.seeds.get(generation);
        if (options.prekeyed && !seed) throw new GroupClientError('no-key', 'a pre-keyed invite needs the current group key on this device');
        const made = await createInvite(state, this.identity, {
          role: options.role,
          expiresAt: this.now() + options.expiresInMs,
          at: this.now(),
          ...(options.prekeyed && seed ? { prekeyed: { seed, generation } } : {}),
        });
        code = made.code;
        return { entries: [made.entry], boxes: made.box ? [made.box] : [], state: await extendLog(state, [made.entry], { now: this.now() }) };
      });
      return code;
    });
  }

  /**
   * Joins with an invite code: validates the whole log, appends this device's own
   * `add`, then opens a pre-keyed box or leaves a key request in the mailbox.
   * @throws {InviteError} used, expired or unknown invite; {EncodingError} a mistyped code.
   */
  async join(code: string): Promise<JoinResult> {
    const keys = await inviteKeysFromCode(code);
    return this.locked(keys.groupId, async () => {
      const known = await this.store.load(keys.groupId);
      if (known && memberOfDevice(known.state, this.fingerprint)) return this.afterJoining(known);
      const record = await joinWithInvite(this.api, this.identity, keys, this.now, await this.ownChain());
      await this.people.observeGroup(record.state);
      await this.store.save(record);
      return this.afterJoining(record);
    });
  }

  /**
   * An admin adds a person directly, by the person id (fingerprint) read from one of
   * their devices (QR or safety number): their device chain is looked up and must name
   * exactly that person, extend any chain of theirs this device pinned, and is pinned in
   * turn. The current key is sealed to each of their devices in the same append; they
   * then call `openGroup`.
   * @throws {DeviceChainError} `wrong-person` when the server answers with another
   *   identity, `rollback`/`fork` against the pinned chain.
   */
  addMember(groupId: GroupId, person: Fingerprint, role: Role): Promise<void> {
    return this.locked(groupId, async () => {
      const { entries, state: chain } = await lookUpPerson(this.api, this.people, person, this.now());
      await this.appendBuilt(groupId, async ({ state, seeds }) => {
        const entry = await nextEntry(state, this.identity, 'add', { member: entries, role }, this.now());
        const next = await extendLog(state, [entry], { now: this.now() });
        const generation = currentGeneration(next);
        const seed = seeds.get(generation);
        const boxes = seed ? await Promise.all([...chain.devices.values()].map((d) => sealKeyBox(this.identity, groupId, generation, seed, { kind: 'member', id: d.fingerprint }, d.bundle.boxKey))) : [];
        return { entries: [entry], boxes, state: next };
      });
    });
  }

  /**
   * Changes a member's role (admin ⇄ member) with a signed `role` entry, validated by
   * the same replay every client runs before it is appended.
   * @throws {GroupClientError} `not-admin`, `not-member`; {LogVerificationError}
   *   `last-admin` when no person would be left as admin.
   */
  setRole(groupId: GroupId, member: Fingerprint, role: Role): Promise<void> {
    return this.locked(groupId, async () => {
      await this.appendBuilt(groupId, async ({ state }) => {
        if (!isAdmin(state, this.fingerprint)) throw new GroupClientError('not-admin', 'only an admin of the group can change roles');
        const target = state.members.get(member);
        if (!target || member === state.recovery) throw new GroupClientError('not-member', 'this device is not a member whose role can change');
        if (target.role === role) return { entries: [], boxes: [], state };
        const entry = await nextEntry(state, this.identity, 'role', { member, role }, this.now());
        return { entries: [entry], boxes: [], state: await extendLog(state, [entry], { now: this.now() }) };
      });
    });
  }

  /** A member without the current key asks the mailbox for it. */
  private async afterJoining(record: GroupRecord): Promise<JoinResult> {
    const { groupId } = record;
    const hasKey = record.seeds.has(currentGeneration(record.state));
    if (!hasKey) await call('asking for the key', () => this.api.mailbox.request.mutate({ groupId }));
    return { groupId, hasKey };
  }

  /** Groups this device holds a record of. */
  groups(): Promise<GroupId[]> {
    return this.store.groups();
  }

  /**
   * Starts keeping a group this device is a member of but holds no record of (an admin
   * added it directly): validates the whole log — nothing is pinned yet, so this first
   * view is trusted on first use — and asks for the key if no box is waiting.
   * @throws {GroupClientError} `not-member` when the validated log does not list this device.
   */
  openGroup(groupId: GroupId): Promise<JoinResult> {
    return this.locked(groupId, async () => {
      const known = await this.store.load(groupId);
      if (known) return this.afterJoining(await this.fetchKeyInternal(await this.syncInternal(known)));
      const state = await fetchAndReplay(this.api, groupId, this.now());
      if (!memberOfDevice(state, this.fingerprint)) throw new GroupClientError('not-member', 'this device is not a member of the group');
      await this.people.observeGroup(state);
      const record: GroupRecord = { groupId, state, pinned: logHead(state), seeds: new Map() };
      await this.store.save(record);
      return this.afterJoining(await this.fetchKeyInternal(record));
    });
  }

  /**
   * Answers key requests waiting in the mailbox: seals the current key to each
   * requester who is a member of this device's own log and trusted under the group's
   * policy (verified, or any member under `invite-trust`).
   */
  handOverPending(groupId: GroupId): Promise<HandoverResult> {
    return this.locked(groupId, async () => this.handOverOn(await this.syncInternal(await this.record(groupId))));
  }

  /** `handOverPending` on a record synced inside the caller's lock. */
  private async handOverOn(record: GroupRecord): Promise<HandoverResult> {
    const { groupId } = record;
    // Membership read from a view the server may be freezing decides nothing.
    assertNotStale(record);
    const generation = currentGeneration(record.state);
    const seed = record.seeds.get(generation);
    if (!seed) throw new GroupClientError('no-key', 'this device does not hold the current group key, so it cannot hand it over');
    const pending = await call('reading key requests', () => this.api.mailbox.pending.query({ groupId }));
    const requesters = pending.map((p) => p.fingerprint);
    // Each requester's chain is read from the server first: an unlink its own person's
    // devices could not bring to this log still keeps the key from it (§10b).
    await this.refreshChainsOf(record.state, requesters);
    const unlinked = await this.people.unlinkedInPinned(record.state);
    const { result, boxes } = await sealForRequests(record.state, this.identity, generation, seed, requesters, (person) => this.trustOf(groupId, person), unlinked);
    if (boxes.length > 0) await call('posting key boxes', () => this.api.boxes.post.mutate({ groupId, boxes }));
    return result;
  }

  /**
   * Who waits in the group's key mailbox for the current key (what an admin may hand
   * over with `handOverPending`): their fingerprints as the server lists them, unchecked
   * (no sync; `handOverPending` checks each against the validated log).
   */
  pendingRequests(groupId: GroupId): Promise<Fingerprint[]> {
    return this.locked(groupId, async () => {
      await this.record(groupId);
      const pending = await call('reading key requests', () => this.api.mailbox.pending.query({ groupId }));
      return pending.map((p) => p.fingerprint);
    });
  }

  /**
   * Opens the newest key box the server holds for this device.
   * @returns true when this device now holds the current generation's key.
   */
  fetchKey(groupId: GroupId): Promise<boolean> {
    return this.locked(groupId, async () => {
      const record = await this.maintainKeys(await this.fetchKeyInternal(await this.syncInternal(await this.record(groupId))));
      return record.seeds.has(currentGeneration(record.state));
    });
  }

  /** Leaves (or refreshes) a request for the current key in the mailbox. */
  requestKey(groupId: GroupId): Promise<void> {
    return this.locked(groupId, async () => {
      await call('asking for the key', () => this.api.mailbox.request.mutate({ groupId }));
    });
  }

  /**
   * Keeps a seed received peer to peer, once the validated log confirms it (its
   * commitment) and every older seed has been opened from it; then answers this
   * device's own mailbox request with a box sealed to itself.
   * @throws {KeyBoxError} when the seed is not the one the log names for `generation`.
   */
  acceptHandedKey(groupId: GroupId, generation: number, seed: Uint8Array): Promise<void> {
    return this.locked(groupId, async () => {
      const record = await this.syncInternal(await this.record(groupId));
      await checkSeed(record.state, generation, seed);
      const reached = await reachableSeeds(record.state, new Map([...record.seeds, [generation, seed]]), [generation]);
      const faults = mergeFaults(record.faults, reached.faults);
      await this.store.save({ ...record, seeds: reached.seeds, ...(faults ? { faults } : {}) });
      // A box to itself answers its own mailbox request (admins stop seeing it) and
      // keeps the key on the server, sealed to this device, should local storage be lost.
      const box = await this.selfBox(groupId, generation, seed);
      await call('storing the received key', () => this.api.boxes.post.mutate({ groupId, boxes: [box] }));
    });
  }

  /**
   * This device's up-to-date view of a group for handing its key over live, or null
   * when it knows no such group or holds no key for it. Synced first, so a joiner who
   * just appended its own entry is found.
   * @param requester the device asking (the hello's): its person's chain is refreshed
   *   from the server first, so a device that chain has unlinked is left out of the view.
   * @throws {DeviceChainError} `rollback`, `fork` when the server's chain of the requester's person does not extend the pinned one.
   */
  heldGroup(groupId: GroupId, requester?: Fingerprint): Promise<{ state: GroupState; seedFor: (generation: number) => Uint8Array | undefined; trustOf: (person: Fingerprint) => TrustState } | null> {
    return this.locked(groupId, async () => {
      const known = await this.store.load(groupId);
      if (!known) return null;
      const record = await this.syncInternal(known);
      if (!memberOfDevice(record.state, this.fingerprint) || !record.seeds.has(currentGeneration(record.state))) return null;
      // The requesting device's chain is read from the server first (validated, pinned):
      // an unlink that has not reached this log yet still keeps the key from it.
      if (requester) await this.refreshChainsOf(record.state, [requester]);
      // A device unlinked in a chain this device pinned gets nothing, whatever the log still lists.
      const state = withoutDevices(record.state, await this.people.unlinkedInPinned(record.state));
      return { state, seedFor: (generation) => record.seeds.get(generation), trustOf: (person) => this.trustOf(groupId, person) };
    });
  }

  /**
   * Keeps a member's signed log head seen peer to peer (DESIGN §4, peer-evidence.ts):
   * ahead of ours → a witnessed head every sync must reach; conflicting → fork
   * evidence; agreeing → resolves that member's earlier fork evidence.
   * @returns the verdict, or `ignored` for a group this device does not hold.
   * @throws {EncodingError} / {SignatureError} when the evidence does not verify.
   */
  notePeerHead(groupId: GroupId, evidence: HeadEvidence): Promise<PeerHeadVerdict> {
    return this.queue.run(groupId, async () => {
      const record = await this.store.load(groupId);
      if (!record) return 'ignored';
      const admitted = await admitPeerHead(record, evidence, this.now(), this.fingerprint);
      if (admitted.record !== record) await this.store.save(admitted.record);
      return admitted.verdict;
    });
  }

  /**
   * Forgets what `peer`'s device signed about the group log, after the person checked
   * with that member (their device may be wrong or lying). Anything still true comes
   * back at the next contact with them.
   */
  dismissPeerEvidence(groupId: GroupId, peer: Fingerprint): Promise<void> {
    return this.queue.run(groupId, async () => {
      const record = await this.record(groupId);
      const next = dismissEvidenceFrom(record, peer);
      if (next !== record) await this.store.save(next);
    });
  }

  /** What members' signed heads say about this device's copy of the group, as of the last sync. */
  async peerEvidence(groupId: GroupId): Promise<PeerEvidenceStatus> {
    return peerEvidenceStatus(await this.record(groupId), this.now());
  }

  // --- notes ----------------------------------------------------------------------

  /**
   * Writes a note version with the current generation's key. A new note by default;
   * pass `noteId` and `version` (current + 1) to edit. The version names the hash of
   * the one before it (fetched and verified when this device has not seen it).
   * @throws {NoteConflictError} when that version exists: merge with `theirs` (the newest
   *   version, opened in the same lock; when absent, read `currentVersion`), retry.
   * @throws {NoteOpenError} when the version before it fails the chain rules (`forked`…).
   */
  writeNote(groupId: GroupId, content: NotePlaintext, options: { noteId?: NoteId; version?: number; deleted?: boolean } = {}): Promise<{ noteId: NoteId; version: number }> {
    return this.locked(groupId, async () => {
      let record = await this.syncInternal(await this.record(groupId));
      if (!memberOfDevice(record.state, this.fingerprint)) throw new GroupClientError('not-member', 'this device is no longer a member of the group');
      // Never seal to a generation a member's signed head shows is stale (or forked).
      assertNotStale(record);
      const generation = currentGeneration(record.state);
      if (!record.seeds.has(generation)) record = await this.fetchKeyInternal(record);
      const noteKey = await this.noteKeys.keyFor(groupId, record.seeds)(generation);
      if (!noteKey) throw new GroupClientError('no-key', 'the current group key has not reached this device yet');
      const address = { noteId: options.noteId ?? newNoteId(), version: options.version ?? 1 };
      const guard = await this.noteGuard(record);
      try {
        const link = await guard.prevFor(address.noteId, address.version);
        if ('currentVersion' in link) {
          throw new NoteConflictError(
            { code: 'CONFLICT', currentVersion: link.currentVersion },
            `storing the note failed (CONFLICT): version ${address.version} is not the next version of this note (the stored version is ${link.currentVersion})`,
          );
        }
        const envelope = await putNote(this.api, this.identity, record.state, generation, noteKey, address, content, {
          at: this.now(),
          prev: link.prev,
          ...(options.deleted ? { deleted: true } : {}),
        });
        await guard.written(envelope);
        return address;
      } catch (error) {
        if (!(error instanceof NoteConflictError) || error.currentVersion === 0) throw error;
        throw await withTheirs(guard, address.noteId, error);
      }
    });
  }

  /**
   * Lists notes (newest version of each), decrypting titles; pass a previous `cursor` as
   * `since` for changes only. Each is checked against what this device saw (`warnings`,
   * or `ok: false` with `forked`, `broken-chain`…); a full listing (no `since`) also
   * lists, as `vanished`, notes this device saw that the server no longer lists.
   */
  listNotes(groupId: GroupId, options: { since?: number } = {}): Promise<NoteList> {
    return this.locked(groupId, async () => {
      const record = await this.readyToRead(groupId);
      // The same listing and opening as `changedNotes` (note-feed.ts), given as one list in the server's order.
      const changes = await openChanges(this.api, await this.noteGuard(record), { state: record.state, meta: await this.metaOf(record), me: this.ownDevices(record.state) }, options.since ?? 0, {});
      const byId = new Map<NoteId, ListedNote>();
      for (const { body, ...rest } of changes.opened) byId.set(rest.noteId, { ok: true, ...rest, bodyBytes: new TextEncoder().encode(body).length });
      for (const f of changes.failed) byId.set(f.noteId, { ok: false, noteId: f.noteId, version: f.version, author: f.author, reason: f.reason, message: f.message });
      const notes = changes.headers.flatMap((h) => byId.get(h.noteId) ?? []);
      for (const seen of changes.vanished) notes.push({ ok: false, noteId: seen.noteId, version: seen.version, author: seen.author, reason: 'vanished', message: VANISHED });
      return { notes, cursor: changes.cursor, names: changes.names };
    });
  }

  /**
   * Reads one note (its newest version by default), checked against what this device
   * saw, on a freshly synced log: the log and the note are asked for together (one
   * HTTP request: the session batches calls made at once), then the note is opened on
   * the synced log; the current key is fetched first if the log moved to a generation
   * whose key has not reached this device.
   * @throws {NoteOpenError} why it cannot be shown, including `vanished`, `forked`,
   *   `broken-chain` and `generation-went-back`.
   * @throws {LogVerificationError} when the log does not verify (nothing is shown).
   */
  readNote(groupId: GroupId, noteId: NoteId, version?: number): Promise<OpenedNote> {
    return this.locked(groupId, async () => {
      const known = await this.record(groupId);
      const fetched = fetchNote(this.api, groupId, noteId, version);
      // Read below, after the sync; a failed sync must not leave it unhandled.
      fetched.catch(() => undefined);
      let record = await this.syncInternal(known);
      if (!record.seeds.has(currentGeneration(record.state)) && memberOfDevice(record.state, this.fingerprint)) record = await this.fetchKeyInternal(record);
      try {
        return await (await this.noteGuard(record)).read(noteId, version, { fetched });
      } catch (error) {
        if (!(error instanceof NoteOpenError) || error.reason !== 'log-behind') throw error;
      }
      // Written after the log was read: catch up once.
      record = await this.readyToRead(groupId);
      return (await this.noteGuard(record)).read(noteId, version);
    });
  }

  /**
   * Every version of a note, newest first, verified as one signed chain from version 1
   * (each `prev` names the version before; the generation never goes back).
   * @throws {NoteOpenError} `broken-chain`, `generation-went-back`, `forked`, `vanished`…
   */
  noteHistory(groupId: GroupId, noteId: NoteId): Promise<NoteVersion[]> {
    return this.locked(groupId, async () => (await this.noteGuard(await this.readyToRead(groupId))).history(noteId));
  }

  /**
   * What changed in the group's notes since `since` (a cursor from an earlier answer; 0
   * for everything), listed and opened: one log sync (and the waiting key box, if this
   * device lacks the current key; and, on an admin device, the rotation the group owes,
   * as `sync` does) inside the group's lock, then the headers, then only
   * the versions the caller does not hold yet (`known`). See note-feed.ts.
   * @throws {GroupClientError} `not-member` when the synced log no longer lists this
   *   device; `no-key` when the current key has not reached it.
   * @throws {LogVerificationError} when the log does not verify (nothing is listed).
   */
  changedNotes(groupId: GroupId, since: number, options: ChangedNotesOptions = {}): Promise<ChangedNotes> {
    return this.locked(groupId, async () => this.changesOn(await this.upkept(groupId), since, options));
  }

  /**
   * A group's periodic upkeep in one sync: what `changedNotes` does (the sync, the key
   * upkeep `sync` does, the listing) and, with `handOver` and when this device is an
   * admin on the synced log, what `handOverPending` does on that same log, in the same
   * lock — alongside the listing, so a member waiting for the key is not kept waiting
   * while many changed notes are fetched and opened. A handover that fails (the server
   * refused, or members' signed heads show this view is stale) is `handover: null` and
   * does not lose the listing.
   * @throws as `changedNotes`.
   */
  refresh(groupId: GroupId, since: number, options: ChangedNotesOptions & { handOver?: boolean } = {}): Promise<ChangedNotes & { handover: HandoverResult | null }> {
    return this.locked(groupId, async () => {
      const record = await this.upkept(groupId);
      const handingOver =
        options.handOver && isAdmin(record.state, this.fingerprint)
          ? this.handOverOn(record).catch((error: unknown) => {
              if (error instanceof ApiCallError || error instanceof GroupClientError || error instanceof PeerEvidenceError) return null;
              throw error;
            })
          : null;
      // Both settle before the lock is let go (neither runs on outside it).
      const [changes, handover] = await Promise.allSettled([this.changesOn(record, since, options), handingOver]);
      if (changes.status === 'rejected') throw changes.reason;
      if (handover.status === 'rejected') throw handover.reason;
      return { ...changes.value, handover: handover.value };
    });
  }

  /** Synced, holding the current key if a box waits, and the key chain kept (`maintainKeys`). */
  private async upkept(groupId: GroupId): Promise<GroupRecord> {
    return this.maintainKeys(await this.readyToRead(groupId));
  }

  private async changesOn(record: GroupRecord, since: number, options: ChangedNotesOptions): Promise<ChangedNotes> {
    if (!memberOfDevice(record.state, this.fingerprint)) throw new GroupClientError('not-member', 'this device is no longer a member of the group');
    if (!record.seeds.has(currentGeneration(record.state))) throw new GroupClientError('no-key', 'the current group key has not reached this device yet');
    const meta = await this.metaOf(record);
    return openChanges(this.api, await this.noteGuard(record), { state: record.state, meta, me: this.ownDevices(record.state) }, since, options);
  }

  /**
   * How many notes others changed after `since` (not deleted, not meta notes), and the
   * cursor now: read from headers only — nothing is fetched whole or decrypted, and the
   * log is not synced. 0 without the current key.
   */
  unreadCount(groupId: GroupId, since: number): Promise<{ unread: number; cursor: number }> {
    return this.locked(groupId, async () => {
      const record = await this.record(groupId);
      if (!memberOfDevice(record.state, this.fingerprint) || !record.seeds.has(currentGeneration(record.state))) return { unread: 0, cursor: since };
      const { items, cursor } = await listHeaders(this.api, groupId, since);
      return { unread: unreadAmong(items, await this.metaOf(record), this.ownDevices(record.state)), cursor };
    });
  }

  /**
   * Publishes a name in a meta note (the group's name, or this device's profile: `slot`)
   * as the version after the newest this device saw, and after a concurrent write (a
   * conflict) as the version after that, up to a few times. Each attempt is one
   * `writeNote` (one sync).
   * @returns the version written, or null while this device holds no key of the group
   *   (no meta note ids) or when the note kept changing.
   * @throws as `writeNote`.
   */
  async publishMeta(groupId: GroupId, slot: MetaSlot, name: string): Promise<{ noteId: NoteId; version: number } | null> {
    const noteId = [...(await this.metaNotes(groupId))].find(([, s]) => s.kind === slot.kind && s.member === slot.member)?.[0];
    if (!noteId) return null;
    const [seen] = await this.notes.get(groupId, [noteId]);
    let version = (seen?.version ?? 0) + 1;
    for (let attempt = 0; attempt < META_WRITE_ATTEMPTS; attempt++) {
      try {
        return await this.writeNote(groupId, { title: META_TITLE, body: metaBody(slot.kind, name) }, { noteId, version });
      } catch (error) {
        if (!(error instanceof NoteConflictError)) throw error;
        version = Math.max(error.currentVersion, error.theirs?.version ?? 0) + 1;
      }
    }
    return null;
  }

  /**
   * The group's meta note ids (its name, each member's profile: shared/src/crypto/meta-notes.ts),
   * from this device's keys (no network); empty while it holds no key.
   */
  async metaNotes(groupId: GroupId): Promise<Map<NoteId, MetaSlot>> {
    return this.metaOf(await this.record(groupId));
  }

  private async metaOf(record: GroupRecord): Promise<Map<NoteId, MetaSlot>> {
    const seed0 = record.seeds.get(0);
    return seed0 ? metaIndex(seed0, record.state) : new Map();
  }

  private noteGuard(record: GroupRecord): Promise<NoteGuard> {
    return NoteGuard.start(this.api, record.state, this.noteKeys.keyFor(record.groupId, record.seeds), this.notes);
  }

  // --- membership changes -----------------------------------------------------------

  /**
   * An admin removes a member: a new generation sealed to everyone else.
   * @returns the new generation, and members whose logged key could not be sealed to (show them).
   */
  removeMember(groupId: GroupId, member: Fingerprint): Promise<{ generation: number; unreachable: KeyBox['recipient'][] }> {
    return this.locked(groupId, async () => {
      // The member's own signed heads never stop its removal: a member who freezes
      // devices with made-up heads can always be removed (DESIGN §4).
      const rotated = await this.rotate(groupId, (state, held, faults) => removeMember(state, this.identity, member, held, this.now(), faults), {
        // Its own made-up heads never block a person's removal: evidence is kept per device, so every device of theirs is exempt.
        evidenceNotFrom: (state) => devicesEverOf(state, member),
      });
      return { generation: rotated.generation, unreachable: rotated.unreachable };
    });
  }

  /**
   * An admin starts a new key generation now, with nobody removed (after a member
   * left, or when a device may be lost). Sealed to every member and the recovery key.
   * @throws {GroupClientError} `not-admin`, `no-key`.
   */
  rotateKey(groupId: GroupId): Promise<{ generation: number; unreachable: KeyBox['recipient'][] }> {
    return this.locked(groupId, async () => {
      const rotated = await this.rotate(groupId, (state, held, faults) => {
        if (!isAdmin(state, this.fingerprint)) throw new GroupClientError('not-admin', 'only an admin of the group can rotate its key');
        return rotateKey(state, this.identity, held, this.now(), faults);
      });
      return { generation: rotated.generation, unreachable: rotated.unreachable };
    });
  }

  /**
   * An admin replaces the group's recovery code: the old code stops working at once
   * (its key is replaced in the log and never gets the new generation).
   * @returns the new recovery code: show it once; it is stored nowhere.
   * @throws {GroupClientError} `not-admin`, `no-key`.
   */
  replaceRecovery(groupId: GroupId): Promise<{ recoveryCode: string; generation: number }> {
    return this.locked(groupId, async () => {
      let recoveryCode = '';
      const rotated = await this.rotate(groupId, async (state, held, faults) => {
        if (!isAdmin(state, this.fingerprint)) throw new GroupClientError('not-admin', 'only an admin of the group can replace its recovery code');
        const made = await replaceRecovery(state, this.identity, held, this.now(), faults);
        recoveryCode = made.recoveryCode;
        return made;
      });
      return { recoveryCode, generation: rotated.generation };
    });
  }

  /**
   * Leaves the group and forgets every key of it. The leave carries no new key: the
   * first admin device that sees it rotates (DESIGN §4); until then `keyHealth` says so.
   */
  leave(groupId: GroupId): Promise<void> {
    return this.locked(groupId, async () => {
      await this.appendBuilt(groupId, async (record) => {
        if (!memberOfDevice(record.state, this.fingerprint)) return { entries: [], boxes: [], state: record.state };
        const left = await leaveGroup(record.state, this.identity, this.now());
        return { entries: [left.entry], boxes: [], state: left.state };
      }, { evenIfStale: true });
      this.noteKeys.forget(groupId);
      await this.notes.forget(groupId);
      await this.store.remove(groupId);
    });
  }

  /**
   * Restores a group on this (fresh) device from its recovery code: signs in as the
   * recovery key, opens its box, adds this device as an admin and seals it the key.
   * @throws {RecoveryError} when the code is not the group's current recovery key or no box opens.
   */
  async restore(recoveryCode: string): Promise<{ groupId: GroupId }> {
    if (!this.baseUrl) throw new Error('restore needs the storage API address (baseUrl)');
    const record = await restoreFromCode(this.baseUrl, recoveryCode, this.identity, this.now, await this.ownChain());
    await this.people.observeGroup(record.state);
    await this.queue.run(record.groupId, () => this.store.save(record));
    return { groupId: record.groupId };
  }

  // --- this device's person (DESIGN §3; person.ts, devices-update.ts) ------------------

  /** This device's person: its id, its devices from the pinned chain (no network), its profile. */
  person(): Promise<PersonView> {
    return this.people.view();
  }

  /** Publishes this device's person when the server holds no chain for it (idempotent). */
  publishPerson(): Promise<void> {
    return this.session.run(() => this.people.publish());
  }

  /**
   * The devices of this device's person, refreshed from the server and pinned.
   * @throws {DeviceChainError} `rollback` / `fork` when the server's chain does not extend the pinned one.
   */
  devices(): Promise<OwnDevice[]> {
    return this.session.run(async () => {
      await this.people.publish();
      await this.people.refresh();
      return (await this.people.view()).devices;
    });
  }

  /** Keeps the person's profile (name, settings) on this device; it is handed to devices this one links. */
  setProfile(profile: Profile): Promise<void> {
    return this.people.setProfile(profile);
  }

  /**
   * Unlinks another device of this person (lost or sold): `unlink` on the chain, then in
   * every group a `devices` entry with a new key sealed to every remaining device. A
   * group that fails here is caught up at its next sync.
   * @throws {DeviceChainError} `self-unlink`, `not-a-device`, `last-device` (nothing changed).
   */
  unlinkDevice(device: Fingerprint): Promise<DevicesReport> {
    return this.session.run(async () => {
      await this.people.unlink(device);
      return this.catchUpEverywhere();
    });
  }

  /** Brings every group's copy of this person's chain up to the pinned one; a report per group. */
  async catchUpEverywhere(): Promise<DevicesReport> {
    const groups: DevicesReport['groups'] = [];
    for (const groupId of await this.store.groups()) {
      try {
        const record = await this.locked(groupId, async () => this.catchUpDevices(await this.syncInternal(await this.record(groupId))));
        groups.push({ groupId, ok: true, generation: currentGeneration(record.state) });
      } catch (error) {
        groups.push({ groupId, ok: false, reason: failureName(error), message: (error as Error).message });
      }
    }
    return { groups };
  }

  /**
   * When the group log holds an older chain of this device's person than the pinned one,
   * appends the `devices` entry that catches it up (with a rotation when it unlinks a
   * device the log had). A log ahead of the pin makes this device refresh its pin.
   * Hashes are compared, not only lengths: a copy that differs from the pinned chain
   * (a thief's device continuing this group's copy, THREAT-MODEL §4 item 9) is a fork.
   * @throws {DeviceChainError} `fork`
   */
  private async catchUpDevices(record: GroupRecord): Promise<GroupRecord> {
    const member = memberOfDevice(record.state, this.fingerprint);
    const own = await this.people.own();
    if (!member?.chain || member.fingerprint !== own.person) return record;
    if (member.chain.seq > own.seq) {
      assertSameLine(await this.people.refresh(), member.chain);
      return record;
    }
    assertSameLine(own, member.chain);
    if (member.chain.seq === own.seq) return record;
    const chain = await this.people.chain();
    return this.appendBuilt(
      record.groupId,
      async (latest) => {
        const entries = missingEntries(latest.state, own.person, chain);
        if (entries.length === 0) return { entries: [], boxes: [], state: latest.state };
        const ready = latest.seeds.has(currentGeneration(latest.state)) ? latest : await this.fetchKeyInternal(latest);
        const update = await devicesUpdate(ready.state, this.identity, own.person, entries, ready.seeds, ready.faults ?? [], this.now());
        if (update.kind === 'rotated') return this.rotationBuilt(ready, update.rotated);
        return { entries: [update.entry], boxes: [], state: update.state };
      },
      // A device being unlinked cannot hold its own unlink back with a made-up head it signed.
      { evidenceNotFrom: () => new Set(own.unlinked.keys()) },
    );
  }

  /**
   * The new device's side of a link (device-link.ts): posts the offer and returns the QR
   * payload and code to show, and `accept`/`wait` to run it on incoming channels.
   * @throws {GroupClientError} `already-linked`.
   */
  offerLink(options: { ttlMs?: number } = {}): Promise<LinkOffer> {
    return this.session.run(() => offerLink(this.linkHost(), options));
  }

  /**
   * The existing device's side of a link: `scanned` is the QR payload or the typed code;
   * `connect` dials the new device (as `JoinerTransport.connect`).
   * @throws {EncodingError} a mistyped code; {LinkError} when the link did not happen.
   */
  linkDevice(scanned: string, connect: (peer: Fingerprint) => MessageChannel, options: { confirm?: (device: { fingerprint: Fingerprint }) => Promise<boolean>; timeoutMs?: number } = {}): Promise<LinkReport> {
    return linkDevice(this.linkHost(), scanned, connect, options);
  }

  private linkHost(): LinkHost {
    return { identity: this.identity, api: () => this.api, people: this.people, store: this.store, now: this.now, catchUpEverywhere: () => this.catchUpEverywhere() };
  }

  /**
   * Reads from the server the chain of the person of each of `devices` the log lists
   * (one lookup per person), validated against the pinned chain and pinned: an unlink
   * is known before anything is handed to the device, whatever the log still lists.
   * @throws {DeviceChainError} `rollback`, `fork`, `wrong-person`; {ApiCallError}.
   */
  private async refreshChainsOf(state: GroupState, devices: Iterable<string>): Promise<void> {
    const persons = new Set<Fingerprint>();
    for (const device of devices) {
      if (device === this.fingerprint) continue;
      const person = state.devices.get(device as Fingerprint)?.person;
      if (person && person !== state.recovery) persons.add(person);
    }
    if (persons.size === 0) return;
    const own = (await this.people.record()).person;
    for (const person of persons) {
      if (person === own) await this.people.refresh();
      else await lookUpPerson(this.api, this.people, person, this.now());
    }
  }

  /**
   * An admin brings into the log the chain of another person whose pinned copy has
   * unlinked a device the log still lists (`unlinkedInPinned`): a `devices` entry with
   * the chain's missing entries, read from the server, and a rotation, so the unlinked
   * device loses the key even when no device of its person can catch this group up
   * (one holding no key here). Its own person's chain is `catchUpDevices`'s.
   */
  private async catchUpOthers(record: GroupRecord): Promise<GroupRecord> {
    const stale = await this.people.unlinkedInPinned(record.state);
    if (stale.size === 0) return record;
    const own = (await this.people.record()).person;
    const persons = new Set([...stale].map((fp) => record.state.devices.get(fp)!.person).filter((p) => p !== own));
    let current = record;
    for (const person of persons) {
      const { entries: chain, state: pinned } = await lookUpPerson(this.api, this.people, person, this.now());
      current = await this.appendBuilt(
        current.groupId,
        async (latest) => {
          const entries = missingEntries(latest.state, person, chain);
          if (entries.length === 0) return { entries: [], boxes: [], state: latest.state };
          const ready = latest.seeds.has(currentGeneration(latest.state)) ? latest : await this.fetchKeyInternal(latest);
          if (!canRotateFrom(ready)) throw new GroupClientError('no-key', 'unlinking a device makes a new group key, which needs the current key on this device first');
          const update = await devicesUpdate(ready.state, this.identity, person, entries, ready.seeds, ready.faults ?? [], this.now());
          if (update.kind === 'rotated') return this.rotationBuilt(ready, update.rotated);
          return { entries: [update.entry], boxes: [], state: update.state };
        },
        // A device being unlinked cannot hold its own unlink back with a made-up head it signed.
        { evidenceNotFrom: () => new Set(pinned.unlinked.keys()) },
      );
    }
    return current;
  }

  /** `catchUpDevices` during upkeep: a failure waits for the next sync. */
  private async catchUpQuietly(record: GroupRecord): Promise<GroupRecord> {
    try {
      return await this.catchUpDevices(record);
    } catch (error) {
      if (error instanceof ApiCallError || error instanceof GroupClientError || error instanceof PeerEvidenceError) return record;
      throw error;
    }
  }

  // --- internals ----------------------------------------------------------------------

  /** Every device of this device's person the group knows (current or departed): their notes are this person's own. */
  private ownDevices(state: GroupState): Set<Fingerprint> {
    const person = memberOfDevice(state, this.fingerprint)?.fingerprint;
    const devices = new Set<Fingerprint>([this.fingerprint]);
    for (const d of [...state.devices.values(), ...state.departedDevices.values()]) if (person && d.person === person) devices.add(d.fingerprint);
    return devices;
  }

  /** The device chain this device's `create`/`add` entries carry: its person's, published first when kept. */
  private async ownChain() {
    if (this.publishes) await this.people.publish();
    return this.people.chain();
  }

  /** Runs `run` after every earlier operation on the same group, with a live session. */
  private locked<T>(groupId: GroupId, run: () => Promise<T>): Promise<T> {
    return this.queue.run(groupId, () => this.session.run(run));
  }

  private async record(groupId: GroupId): Promise<GroupRecord> {
    const record = await this.store.load(groupId);
    if (!record) throw new GroupClientError('unknown-group', 'this device does not know this group: join, create or restore it first');
    return record;
  }

  private async syncInternal(record: GroupRecord): Promise<GroupRecord> {
    // Witnessed heads (peer-evidence.ts) are checked against every sync.
    const next = checkWitnessed(await syncRecord(this.api, record, this.now()), this.now());
    // Every member's chain the log moved to is pinned; one that forks a pinned chain is refused.
    if (next.state !== record.state) await this.people.observeGroup(next.state, record.state);
    if (next !== record) await this.store.save(next);
    return next;
  }

  /** Synced, and holding the current key if any box for it is waiting. */
  private async readyToRead(groupId: GroupId): Promise<GroupRecord> {
    const record = await this.syncInternal(await this.record(groupId));
    if (record.seeds.has(currentGeneration(record.state)) || !memberOfDevice(record.state, this.fingerprint)) return record;
    return this.fetchKeyInternal(record);
  }

  private async fetchKeyInternal(record: GroupRecord): Promise<GroupRecord> {
    const next = await withNewestKey(this.api, this.identity, record);
    if (next !== record) await this.store.save(next);
    return next;
  }

  /**
   * A rotation (remove, rotate, recovery change): continues from the newest good seed
   * this device holds, linking past any broken generation it knows of (a repair), and
   * appends the entry with the new generation's boxes.
   */
  private async rotate(
    groupId: GroupId,
    make: (state: GroupState, held: ReadonlyMap<number, Uint8Array>, faults: readonly GenerationFault[]) => Promise<Rotated>,
    options: { evidenceNotFrom?: (state: GroupState) => ReadonlySet<Fingerprint> } = {},
  ): Promise<Rotated> {
    let rotated: Rotated | undefined;
    await this.appendBuilt(groupId, async (record) => {
      let ready = record;
      if (!ready.seeds.has(currentGeneration(ready.state))) ready = await this.fetchKeyInternal(ready);
      if (!canRotateFrom(ready)) {
        throw new GroupClientError('no-key', 'this change makes a new key, which needs the current key on this device first (a new key made without it would leave out what was written with it): wait until the key arrives, then try again');
      }
      rotated = await make(ready.state, ready.seeds, ready.faults ?? []);
      return this.rotationBuilt(ready, rotated);
    }, options);
    return rotated!;
  }

  /** What `appendBuilt` appends for a rotation: its entry and boxes, plus a box to this device when it stays (a lost answer to the append must not lose the new key). */
  private async rotationBuilt(ready: GroupRecord, rotated: Rotated): Promise<Built> {
    // Never sealed to a device unlinked in a chain this device pinned, even before the log says so.
    const unlinked = await this.people.unlinkedInPinned(rotated.state);
    const boxes = rotated.boxes.filter((b) => !(b.recipient.kind === 'member' && unlinked.has(b.recipient.id as Fingerprint)));
    if (memberOfDevice(rotated.state, this.fingerprint)) boxes.push(await this.selfBox(ready.groupId, rotated.generation, rotated.seed));
    return { entries: [rotated.entry], boxes, state: rotated.state, seeds: new Map([...ready.seeds, [rotated.generation, rotated.seed]]), faults: ready.faults };
  }

  /** A seed sealed to this device itself: a backup on the server, and the confirmation that serves its mailbox request. */
  private selfBox(groupId: GroupId, generation: number, seed: Uint8Array): Promise<KeyBox> {
    return sealKeyBox(this.identity, groupId, generation, seed, { kind: 'member', id: this.fingerprint }, this.identity.boxKeys.publicBytes);
  }

  /**
   * An admin device keeps the key chain whole by itself (DESIGN §4): it rotates when a
   * leave owes the group a rotation, or when a generation it checked is broken and not
   * bridged yet. Only signed evidence triggers a repair (a bad link in the signed log, a
   * bad box its sender signed), so a server cannot make admins rotate at will.
   */
  private async maintainKeys(synced: GroupRecord): Promise<GroupRecord> {
    let record = await this.catchUpQuietly(synced);
    if (!isAdmin(record.state, this.fingerprint) || this.fingerprint === record.state.recovery) return record;
    try {
      record = await this.catchUpOthers(record);
    } catch (error) {
      // Tried again at the next sync, as a rotation is (a fork is the sync's failure).
      if (!(error instanceof ApiCallError || error instanceof GroupClientError || error instanceof PeerEvidenceError)) throw error;
    }
    if (record.state.owedRotation === null && !needsRepair(record)) return record;
    try {
      return await this.rotateForUpkeep(record);
    } catch (error) {
      // The sync itself succeeded: a rotation the server refused or lost, or one held back
      // by evidence that this view is stale, is tried again at the next sync.
      if (error instanceof ApiCallError || error instanceof GroupClientError || error instanceof PeerEvidenceError) return record;
      throw error;
    }
  }

  private async rotateForUpkeep(record: GroupRecord): Promise<GroupRecord> {
    const ready = record.seeds.has(currentGeneration(record.state)) ? record : await this.fetchKeyInternal(record);
    if (!canRotateFrom(ready)) return ready;
    return this.appendBuilt(record.groupId, async (latest) => {
      const fresh = latest.seeds.has(currentGeneration(latest.state)) ? latest : await this.fetchKeyInternal(latest);
      // Another admin may have rotated meanwhile: then there is nothing left to do.
      if ((fresh.state.owedRotation === null && !needsRepair(fresh)) || !canRotateFrom(fresh)) return { entries: [], boxes: [], state: fresh.state };
      return this.rotationBuilt(fresh, await rotateKey(fresh.state, this.identity, fresh.seeds, this.now(), fresh.faults ?? []));
    });
  }

  /**
   * Syncs, builds entries on the synced state, appends them with compare-and-set and
   * adopts the result; a lost race is rebuilt on the newer log.
   */
  private async appendBuilt(
    groupId: GroupId,
    build: (record: GroupRecord) => Promise<Built>,
    options: { evenIfStale?: boolean; evidenceNotFrom?: (state: GroupState) => ReadonlySet<Fingerprint> } = {},
  ): Promise<GroupRecord> {
    for (let attempt = 0; attempt < APPEND_ATTEMPTS; attempt++) {
      const record = await this.syncInternal(await this.record(groupId));
      // A device with signed evidence that its log is stale or forked changes nothing
      // on that view (a new key sealed to a membership the server is hiding changes from).
      if (!options.evenIfStale) assertNotStale(record, options.evidenceNotFrom ? { except: options.evidenceNotFrom(record.state) } : {});
      const built = await build(record);
      // Nothing to change (e.g. the role is already the one asked for).
      if (built.entries.length === 0) return record;
      try {
        await call('appending to the group log', () => this.api.groups.append.mutate({ groupId, entries: built.entries, boxes: built.boxes }));
      } catch (error) {
        if (error instanceof ApiCallError && error.is('CONFLICT')) continue;
        throw error;
      }
      const faults = built.faults ?? record.faults;
      // What members signed is judged again on the new log (a removed member's claims go).
      const next = checkWitnessed({ ...record, groupId, state: built.state, pinned: logHead(built.state), seeds: built.seeds ?? record.seeds, ...(faults ? { faults } : {}) }, this.now());
      await this.store.save(next);
      return next;
    }
    throw new GroupClientError('busy', 'the group log kept changing: try again');
  }
}
