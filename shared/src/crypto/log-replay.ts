/**
 * Replaying and validating a group log (DESIGN §4). Every client runs this on every
 * log it receives, and the storage API runs the same rules before it stores an entry
 * (defence in depth; no client trusts the server's check).
 *
 * Rules are applied in order with the signer each entry needs; all signatures (entries,
 * bundles, invite acceptances) are then verified together, and the earliest failure
 * by sequence number is the one reported.
 */
import { labelled } from '../protocol/canonical.ts';
import { fromBase64url, toBase64url, type Bytes } from '../protocol/encoding.ts';
import type { EntryHash, Fingerprint, GroupId } from '../protocol/ids.ts';
import { logEntrySchema, type LogEntry, type LogHead, type PublicBundle, type Rotation } from '../protocol/schemas.ts';
import { LogVerificationError, type LogRejection } from './errors.ts';
import { checkPinnedHead, entryHashOf, entrySigningInput, type GroupState, type MemberInfo } from './group-log.ts';
import { fingerprintOf } from './identity.ts';
import { LABELS } from './labels.ts';
import { sha256Now, verify } from './primitives.ts';

/** The group id a `create` entry names: 16 bytes of the hash of its creator and nonce. */
export function deriveGroupId(creator: PublicBundle, nonce: string): GroupId {
  return toBase64url(sha256Now(labelled(LABELS.groupId, { creator, nonce })).subarray(0, 16)) as GroupId;
}

/** The bytes an invite acceptance signature covers. */
export function acceptanceInput(groupId: GroupId, invite: string, member: PublicBundle): Bytes {
  return labelled(LABELS.inviteAcceptance, { groupId, invite, member });
}

interface PendingSignature {
  seq: number;
  what: string;
  key: Bytes;
  sig: string;
  message: Bytes;
}

class RuleBreak extends Error {
  constructor(
    readonly reason: LogRejection,
    readonly detail: string,
  ) {
    super(detail);
  }
}

function fail(reason: LogRejection, detail: string): never {
  throw new RuleBreak(reason, detail);
}

function cloneState(state: GroupState): GroupState {
  return {
    ...state,
    hashes: [...state.hashes],
    members: new Map(state.members),
    departed: new Map(state.departed),
    generations: state.generations.map((g) => ({ ...g, members: new Set(g.members) })),
    invites: new Map([...state.invites].map(([k, v]) => [k, { ...v }])),
    recoveryUses: [...state.recoveryUses],
    owedRotation: state.owedRotation,
  };
}

function memberFromBundle(bundle: PublicBundle, role: MemberInfo['role'], seq: number, via: MemberInfo['via']): MemberInfo {
  return {
    fingerprint: fingerprintOf(bundle),
    bundle,
    signKey: fromBase64url(bundle.signKey, 32),
    boxKey: fromBase64url(bundle.boxKey, 32),
    role,
    joinedSeq: seq,
    via,
  };
}

/** Applies one entry's rules to `state` (mutating it) and returns the signatures it needs. */
function applyEntry(state: GroupState | null, entry: LogEntry, latestAt: number): { state: GroupState; signatures: PendingSignature[] } {
  const sigs: PendingSignature[] = [];
  const signingInput = entrySigningInput(entry);
  // A bundle's self-signature binds its box key to its sign key. When the bundle's own
  // key signs the entry that carries it, that entry signature already does so.
  const needBundle = (bundle: PublicBundle, what: string) => {
    if (entry.author === fingerprintOf(bundle)) return;
    const { sig, ...unsigned } = bundle;
    sigs.push({ seq: entry.seq, what, key: fromBase64url(bundle.signKey, 32), sig, message: labelled(LABELS.bundleSignature, unsigned) });
  };
  const needEntrySig = (key: Bytes) => sigs.push({ seq: entry.seq, what: `entry ${entry.seq}`, key, sig: entry.sig, message: signingInput });

  // A far-future date would clamp every later entry to it and make every invite expired.
  if (entry.at > latestAt) fail('time-in-future', `entry ${entry.seq} is dated in the future`);
  if (state === null) {
    if (entry.op !== 'create') fail('malformed', 'a group log must start with a create entry');
    if (entry.seq !== 0 || entry.prev !== null) fail('bad-sequence', 'the create entry must be entry 0 with no previous entry');
    const { creator, nonce, seedCommitment, policy } = entry.body;
    if (entry.groupId !== deriveGroupId(creator, nonce)) fail('wrong-group', 'the group id does not match its create entry');
    const creatorInfo = memberFromBundle(creator, 'admin', 0, 'create');
    if (entry.author !== creatorInfo.fingerprint) fail('bad-signature', 'the create entry must be signed by its creator');
    needBundle(creator, "the creator's public keys");
    needEntrySig(creatorInfo.signKey);
    const hash = entryHashOf(signingInput, entry.sig);
    const created: GroupState = {
      groupId: entry.groupId,
      policy,
      creator: creatorInfo.fingerprint,
      seq: 0,
      head: hash,
      hashes: [hash],
      lastAt: entry.at,
      members: new Map([[creatorInfo.fingerprint, creatorInfo]]),
      departed: new Map(),
      generations: [{ generation: 0, seq: 0, at: entry.at, startedBy: creatorInfo.fingerprint, seedCommitment, links: [], members: new Set([creatorInfo.fingerprint]) }],
      invites: new Map(),
      recovery: null,
      recoveryUses: [],
      owedRotation: null,
    };
    return { state: created, signatures: sigs };
  }

  if (entry.groupId !== state.groupId) fail('wrong-group', `entry ${entry.seq} belongs to another group`);
  if (entry.seq !== state.seq + 1) fail('bad-sequence', `expected entry ${state.seq + 1}, got ${entry.seq}`);
  if (entry.prev !== state.head) fail('bad-link', `entry ${entry.seq} does not follow entry ${state.seq}`);
  if (entry.at < state.lastAt) fail('time-went-backwards', `entry ${entry.seq} is dated before the entry it follows`);

  const author = state.members.get(entry.author);
  const requireAdmin = () => {
    if (!author) fail('not-member', `entry ${entry.seq} is signed by someone who is not a member`);
    if (author.role !== 'admin') fail('not-admin', `entry ${entry.seq} (${entry.op}) needs an admin`);
    return author;
  };
  const requireRotation = (rotation: Rotation | undefined) => {
    if (!rotation) fail('missing-rotation', `entry ${entry.seq} (${entry.op}) must start a new generation`);
    if (rotation.generation !== state.generations.length) {
      fail('bad-generation', `entry ${entry.seq} starts generation ${rotation.generation}, expected ${state.generations.length}`);
    }
    // Links name earlier generations, newest first, each once.
    let above = rotation.generation;
    for (const link of rotation.links) {
      if (link.generation >= above) fail('bad-generation', `entry ${entry.seq} links generation ${link.generation}, which is not an earlier generation in newest-first order`);
      above = link.generation;
    }
  };
  const startGeneration = (rotation: Rotation) => {
    state.generations.push({
      generation: rotation.generation,
      seq: entry.seq,
      at: entry.at,
      startedBy: entry.author,
      seedCommitment: rotation.seedCommitment,
      links: rotation.links,
      members: new Set(state.members.keys()),
    });
    state.owedRotation = null;
  };
  // An invite is an admin's promise; it dies when its author stops being an admin, so a
  // removed admin cannot walk back in with a code they kept (nor receive keys through it).
  const revokeInvitesOf = (fingerprint: Fingerprint) => {
    for (const invite of state.invites.values()) {
      if (invite.author === fingerprint && !invite.usedBy && invite.revokedAt === undefined) invite.revokedAt = entry.seq;
    }
  };
  const depart = (fingerprint: Fingerprint, how: 'removed' | 'left' | 'replaced') => {
    const member = state.members.get(fingerprint)!;
    state.members.delete(fingerprint);
    state.departed.set(fingerprint, { fingerprint, bundle: member.bundle, seq: entry.seq, how });
    revokeInvitesOf(fingerprint);
    // Members are never left without a person as admin while people remain.
    const people = [...state.members.values()].filter((m) => m.fingerprint !== state.recovery && m.fingerprint !== fingerprint);
    if (how !== 'replaced' && people.length > 0 && !people.some((m) => m.role === 'admin')) {
      fail('last-admin', `entry ${entry.seq} would leave the group without a person as admin: make someone else an admin first`);
    }
  };
  const admit = (member: MemberInfo) => {
    state.members.set(member.fingerprint, member);
    state.departed.delete(member.fingerprint);
    state.generations[state.generations.length - 1]!.members.add(member.fingerprint);
  };

  switch (entry.op) {
    case 'create':
      fail('bad-sequence', `entry ${entry.seq} is a second create entry`);
    case 'invite': {
      needEntrySig(requireAdmin().signKey);
      const { invite, boxKey, expiresAt, role } = entry.body;
      if (state.invites.has(invite)) fail('invite-used', `invite ${invite} is already in the log`);
      if (expiresAt <= entry.at) fail('invite-expired', `entry ${entry.seq} creates an invite that has already expired`);
      state.invites.set(invite, { id: invite, seq: entry.seq, author: entry.author, expiresAt, role, ...(boxKey ? { boxKey } : {}) });
      break;
    }
    case 'add': {
      const { member, role, acceptance } = entry.body;
      const joining = memberFromBundle(member, role, entry.seq, acceptance ? 'invite' : 'admin');
      if (state.members.has(joining.fingerprint)) fail('already-member', `entry ${entry.seq} adds someone who is already a member`);
      if (joining.fingerprint === state.recovery) fail('already-member', `entry ${entry.seq} adds the recovery key as a person`);
      needBundle(member, "the new member's public keys");
      if (acceptance) {
        const invite = state.invites.get(acceptance.invite);
        if (!invite) fail('unknown-invite', `entry ${entry.seq} accepts an invite that is not in the log`);
        if (invite.usedBy) fail('invite-used', `entry ${entry.seq} reuses an invite that was already accepted`);
        if (invite.revokedAt !== undefined) fail('invite-revoked', `entry ${entry.seq} accepts an invite whose author is no longer an admin`);
        if (entry.at > invite.expiresAt) fail('invite-expired', `entry ${entry.seq} accepts an invite after it expired`);
        if (role !== invite.role) fail('bad-acceptance', `entry ${entry.seq} claims a role the invite does not give`);
        sigs.push({
          seq: entry.seq,
          what: 'the invite acceptance',
          key: fromBase64url(acceptance.invite, 32),
          sig: acceptance.sig,
          message: acceptanceInput(state.groupId, acceptance.invite, member),
        });
        if (entry.author === joining.fingerprint) needEntrySig(joining.signKey);
        else needEntrySig(requireAdmin().signKey);
        invite.usedBy = joining.fingerprint;
        joining.invite = acceptance.invite;
      } else {
        needEntrySig(requireAdmin().signKey);
      }
      if (entry.author === state.recovery) state.recoveryUses.push({ seq: entry.seq, at: entry.at, device: joining.fingerprint, recoveryKey: entry.author });
      admit(joining);
      break;
    }
    case 'remove': {
      needEntrySig(requireAdmin().signKey);
      const { member, rotation } = entry.body;
      if (!state.members.has(member)) fail('not-member', `entry ${entry.seq} removes someone who is not a member`);
      if (member === entry.author) fail('malformed', `entry ${entry.seq}: to leave, use a leave entry`);
      if (member === state.recovery) fail('malformed', `entry ${entry.seq}: the recovery key is replaced, not removed`);
      requireRotation(rotation);
      depart(member, 'removed');
      startGeneration(rotation);
      break;
    }
    case 'leave': {
      if (!author) fail('not-member', `entry ${entry.seq} is a leave by someone who is not a member`);
      if (entry.author === state.recovery) fail('malformed', `entry ${entry.seq}: the recovery key cannot leave`);
      needEntrySig(author.signKey);
      depart(entry.author, 'left');
      // The leaver still holds the current key: the group is owed a rotation by an admin.
      state.owedRotation = { member: entry.author, seq: entry.seq, at: entry.at };
      break;
    }
    case 'rotate': {
      needEntrySig(requireAdmin().signKey);
      requireRotation(entry.body.rotation);
      startGeneration(entry.body.rotation);
      break;
    }
    case 'role': {
      needEntrySig(requireAdmin().signKey);
      const { member, role } = entry.body;
      const target = state.members.get(member);
      if (!target) fail('not-member', `entry ${entry.seq} changes the role of someone who is not a member`);
      if (member === state.recovery) fail('malformed', `entry ${entry.seq}: the recovery key is always an admin`);
      // A change to the same role would let anyone with admin rights grow the log for nothing.
      if (role === target.role) fail('no-op', `entry ${entry.seq} gives ${member} the role they already have`);
      if (role === 'member' && target.role === 'admin') {
        const humanAdmins = [...state.members.values()].filter((m) => m.role === 'admin' && m.fingerprint !== state.recovery);
        if (humanAdmins.length <= 1) fail('last-admin', `entry ${entry.seq} would leave the group without a person as admin`);
      }
      state.members.set(member, { ...target, role });
      if (role === 'member') revokeInvitesOf(member);
      break;
    }
    case 'recovery': {
      needEntrySig(requireAdmin().signKey);
      const { recovery, rotation } = entry.body;
      const next = memberFromBundle(recovery, 'admin', entry.seq, 'recovery');
      if (state.members.has(next.fingerprint)) fail('already-member', `entry ${entry.seq} makes a current member the recovery key`);
      needBundle(recovery, 'the recovery public keys');
      const previous = state.recovery;
      // Replacing a recovery key takes the key from the old one: a new generation.
      if (previous !== null || rotation) requireRotation(rotation);
      if (previous !== null) depart(previous, 'replaced');
      state.recovery = next.fingerprint;
      admit(next);
      if (rotation) startGeneration(rotation);
      break;
    }
  }

  const hash = entryHashOf(signingInput, entry.sig);
  state.seq = entry.seq;
  state.head = hash;
  state.hashes.push(hash);
  state.lastAt = entry.at;
  return { state, signatures: sigs };
}

const SIGNATURE_BATCH = 256;

/** Verifies one batch of signatures; resolves to the first bad one, if any. */
async function firstBadInBatch(batch: PendingSignature[]): Promise<PendingSignature | undefined> {
  const results = await Promise.all(
    batch.map((p) => {
      let sig: Bytes;
      try {
        sig = fromBase64url(p.sig, 64);
      } catch {
        return false;
      }
      return verify(p.key, sig, p.message);
    }),
  );
  const bad = results.indexOf(false);
  return bad >= 0 ? batch[bad] : undefined;
}

/**
 * Signatures are verified in batches that start as soon as the rules have produced
 * them, so WebCrypto's thread pool works while the main thread checks the next rules.
 */
class SignatureQueue {
  private batch: PendingSignature[] = [];
  private readonly running: Array<Promise<PendingSignature | undefined>> = [];

  /** @returns true when a batch was started: the caller should yield so it gets dispatched. */
  add(signatures: PendingSignature[]): boolean {
    let started = false;
    for (const s of signatures) {
      this.batch.push(s);
      if (this.batch.length === SIGNATURE_BATCH) {
        this.flush();
        started = true;
      }
    }
    return started;
  }

  private flush(): void {
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.running.push(firstBadInBatch(batch));
  }

  /** The first bad signature in log order, if any. */
  async firstBad(): Promise<PendingSignature | undefined> {
    this.flush();
    for (const bad of await Promise.all(this.running)) if (bad) return bad;
    return undefined;
  }
}

export interface ExtendOptions {
  /** The head this device validated before: the result must extend it (no rollback, no fork). */
  pinned?: LogHead | null;
  /** The replaying device's clock; entries dated further ahead than the allowed skew are refused. */
  now?: number;
}

/** How far ahead of the replaying device's clock an entry may be dated. */
export const MAX_CLOCK_SKEW_MS = 10 * 60 * 1000;

/**
 * Validates `entries` as the continuation of `state` (or as a whole log when `state`
 * is null) and returns the new state; `state` itself is never changed.
 * @throws {LogVerificationError} naming the first entry that breaks a rule.
 */
export async function extendLog(state: GroupState | null, entries: readonly unknown[], options: ExtendOptions = {}): Promise<GroupState> {
  let next = state ? cloneState(state) : null;
  const pending = new SignatureQueue();
  let ruleBreak: { seq: number; reason: LogRejection; detail: string } | undefined;
  let position = state ? state.seq + 1 : 0;
  const latestAt = (options.now ?? Date.now()) + MAX_CLOCK_SKEW_MS;

  for (const raw of entries) {
    const parsed = logEntrySchema.safeParse(raw);
    if (!parsed.success) {
      ruleBreak = { seq: position, reason: 'malformed', detail: `entry ${position} is malformed: ${parsed.error.issues[0]?.message ?? 'invalid'}` };
      break;
    }
    try {
      const applied = applyEntry(next, parsed.data, latestAt);
      next = applied.state;
      // A few microtask turns let the batch's verify calls reach the thread pool.
      if (pending.add(applied.signatures)) for (let turn = 0; turn < 4; turn++) await null;
    } catch (error) {
      if (!(error instanceof RuleBreak)) throw error;
      ruleBreak = { seq: parsed.data.seq, reason: error.reason, detail: error.detail };
      break;
    }
    position++;
  }

  // A bad signature before the rule break is the real cause: report it first.
  const badSig = await pending.firstBad();
  if (badSig) throw new LogVerificationError('bad-signature', `the signature on ${badSig.what} (entry ${badSig.seq}) is not valid`, badSig.seq);
  if (ruleBreak) throw new LogVerificationError(ruleBreak.reason, ruleBreak.detail, ruleBreak.seq);
  if (!next) throw new LogVerificationError('malformed', 'the group log is empty');
  checkPinnedHead(next, options.pinned);
  return next;
}

/** Validates a whole log from its create entry. @throws {LogVerificationError} */
export function replayLog(entries: readonly unknown[], options: ExtendOptions = {}): Promise<GroupState> {
  return extendLog(null, entries, options);
}

export type { EntryHash };
