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
import { isWellFormedLogEntry } from '../protocol/entry-shape.ts';
import { logEntrySchema, type DeviceEntry, type LogEntry, type LogHead, type PublicBundle, type Rotation } from '../protocol/schemas.ts';
import { applyDeviceEntry, ChainRuleBreak, clonePerson, type ChainDevice, type PersonState } from './device-chain.ts';
import { LogVerificationError, type LogRejection } from './errors.ts';
import {
  checkPinnedHead,
  devicesOf,
  entryHashOf,
  entrySigningInput,
  type DepartedDevice,
  type GroupDevice,
  type GroupState,
  type InviteInfo,
  type MemberInfo,
} from './group-log.ts';
import { fingerprintOf } from './identity.ts';
import { LABELS } from './labels.ts';
import { sha256Now } from './primitives.ts';
import { letBatchStart, SignatureQueue, type PendingSignature } from './signature-batch.ts';

/** The group id a `create` entry names: 16 bytes of the hash of its creator's founding bundle and nonce. */
export function deriveGroupId(creator: PublicBundle, nonce: string): GroupId {
  return toBase64url(sha256Now(labelled(LABELS.groupId, { creator, nonce })).subarray(0, 16)) as GroupId;
}

/** The bytes an invite acceptance signature covers: the group, the invite and the joining person's founding bundle. */
export function acceptanceInput(groupId: GroupId, invite: string, member: PublicBundle): Bytes {
  return labelled(LABELS.inviteAcceptance, { groupId, invite, member });
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
    devices: new Map(state.devices),
    departed: new Map(state.departed),
    departedDevices: new Map(state.departedDevices),
    generations: state.generations.map((g) => ({ ...g, people: new Set(g.people), devices: new Set(g.devices) })),
    invites: new Map([...state.invites].map(([k, v]) => [k, { ...v }])),
    recoveryUses: [...state.recoveryUses],
    owedRotation: state.owedRotation,
  };
}

/**
 * Replays a device chain carried inside a log entry, from `from` (the chain this log
 * already holds for the person, or null for a whole chain).
 */
function applyEmbeddedChain(from: PersonState | null, entries: readonly DeviceEntry[], latestAt: number, seq: number, sigs: PendingSignature[]): PersonState {
  let chain = from ? clonePerson(from) : null;
  try {
    for (const deviceEntry of entries) {
      const applied = applyDeviceEntry(chain, deviceEntry, latestAt, seq);
      chain = applied.state;
      sigs.push(...applied.signatures);
    }
  } catch (error) {
    if (!(error instanceof ChainRuleBreak)) throw error;
    fail(error.reason === 'device-unlinked' ? 'device-unlinked' : 'device-chain', `entry ${seq} carries a device chain that breaks its rules: ${error.detail} (${error.reason})`);
  }
  return chain!;
}

function groupDevice(device: ChainDevice | { fingerprint: Fingerprint; bundle: PublicBundle; signKey: Bytes; boxKey: Bytes }, person: Fingerprint): GroupDevice {
  return { fingerprint: device.fingerprint, person, bundle: device.bundle, signKey: device.signKey, boxKey: device.boxKey };
}

/**
 * The checks and state changes one entry's rules are made of, bound to that entry: one
 * object per replayed entry instead of a dozen closures (replay is a hot path).
 */
class EntryRules {
  /** The signing device, while it speaks for a member. */
  readonly authorDevice: GroupDevice | undefined;
  /** The member it speaks for. */
  readonly author: MemberInfo | undefined;

  constructor(
    private readonly state: GroupState,
    private readonly entry: LogEntry,
    private readonly sigs: PendingSignature[],
    private readonly signingInput: Bytes,
  ) {
    this.authorDevice = state.devices.get(entry.author);
    this.author = this.authorDevice ? state.members.get(this.authorDevice.person) : undefined;
  }

  /**
   * A bundle's self-signature binds its box key to its sign key. When the bundle's own
   * key signs the entry that carries it, that entry signature already does so.
   */
  needBundle(bundle: PublicBundle, what: string): void {
    if (this.entry.author === fingerprintOf(bundle)) return;
    const { sig, ...unsigned } = bundle;
    this.sigs.push({ seq: this.entry.seq, what, key: fromBase64url(bundle.signKey, 32), sig, message: labelled(LABELS.bundleSignature, unsigned) });
  }

  needEntrySig(key: Bytes): void {
    this.sigs.push({ seq: this.entry.seq, what: `entry ${this.entry.seq}`, key, sig: this.entry.sig, message: this.signingInput });
  }

  refuseUnknownAuthor(): never {
    const { state, entry } = this;
    if (state.departedDevices.get(entry.author)?.how === 'unlinked') fail('device-unlinked', `entry ${entry.seq} is signed by a device its person has unlinked`);
    fail('not-member', `entry ${entry.seq} is signed by someone who is not a member`);
  }

  requireAdmin(): GroupDevice {
    const { author, authorDevice, entry } = this;
    if (!author || !authorDevice) this.refuseUnknownAuthor();
    if (author!.role !== 'admin') fail('not-admin', `entry ${entry.seq} (${entry.op}) needs an admin`);
    return authorDevice!;
  }

  requireRotation(rotation: Rotation | undefined): void {
    const { state, entry } = this;
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
  }

  startGeneration(rotation: Rotation): void {
    const { state, entry } = this;
    state.generations.push({
      generation: rotation.generation,
      seq: entry.seq,
      at: entry.at,
      startedBy: entry.author,
      seedCommitment: rotation.seedCommitment,
      links: rotation.links,
      people: new Set(state.members.keys()),
      devices: new Set(state.devices.keys()),
    });
    state.owedRotation = null;
  }

  /**
   * An invite is an admin's promise; it dies when its person stops being an admin (or the
   * device that wrote it is unlinked), so nobody walks back in with a code they kept.
   */
  revokeInvites(match: (invite: InviteInfo) => boolean): void {
    for (const invite of this.state.invites.values()) {
      if (match(invite) && !invite.usedBy && invite.revokedAt === undefined) invite.revokedAt = this.entry.seq;
    }
  }

  dropDevice(fingerprint: Fingerprint, how: DepartedDevice['how']): void {
    const device = this.state.devices.get(fingerprint)!;
    this.state.devices.delete(fingerprint);
    this.state.departedDevices.set(fingerprint, { fingerprint, person: device.person, bundle: device.bundle, seq: this.entry.seq, how });
  }

  depart(person: Fingerprint, how: 'removed' | 'left' | 'replaced'): void {
    const { state, entry } = this;
    const member = state.members.get(person)!;
    state.members.delete(person);
    state.departed.set(person, { fingerprint: person, bundle: member.bundle, seq: entry.seq, how });
    for (const device of devicesOf(state, person)) this.dropDevice(device.fingerprint, how);
    this.revokeInvites((invite) => invite.person === person);
    // Members are never left without a person as admin while people remain.
    const people = [...state.members.values()].filter((m) => m.fingerprint !== state.recovery);
    if (how !== 'replaced' && people.length > 0 && !people.some((m) => m.role === 'admin')) {
      fail('last-admin', `entry ${entry.seq} would leave the group without a person as admin: make someone else an admin first`);
    }
  }

  /** Makes `devices` speak for `person`; a device already speaking for another member is refused. */
  admitDevices(person: Fingerprint, devices: Iterable<GroupDevice>): void {
    const { state, entry } = this;
    const current = state.generations[state.generations.length - 1]!;
    for (const device of devices) {
      const holder = state.devices.get(device.fingerprint);
      if (holder && holder.person !== person) fail('device-claimed', `entry ${entry.seq} gives ${person} a device that already speaks for another member`);
      state.devices.set(device.fingerprint, device);
      state.departedDevices.delete(device.fingerprint);
      current.devices.add(device.fingerprint);
    }
  }

  admit(member: MemberInfo, devices: GroupDevice[]): void {
    const { state, entry } = this;
    if (state.members.has(member.fingerprint) || state.devices.has(member.fingerprint)) fail('already-member', `entry ${entry.seq} adds someone who is already a member`);
    this.admitDevices(member.fingerprint, devices);
    state.members.set(member.fingerprint, member);
    state.departed.delete(member.fingerprint);
    state.generations[state.generations.length - 1]!.people.add(member.fingerprint);
  }
}

/** Applies one entry's rules to `state` (mutating it) and returns the signatures it needs. */
function applyEntry(state: GroupState | null, entry: LogEntry, latestAt: number): { state: GroupState; signatures: PendingSignature[] } {
  const sigs: PendingSignature[] = [];
  const signingInput = entrySigningInput(entry);

  // A far-future date would clamp every later entry to it and make every invite expired.
  if (entry.at > latestAt) fail('time-in-future', `entry ${entry.seq} is dated in the future`);
  if (state === null) {
    if (entry.op !== 'create') fail('malformed', 'a group log must start with a create entry');
    if (entry.seq !== 0 || entry.prev !== null) fail('bad-sequence', 'the create entry must be entry 0 with no previous entry');
    const { creator, nonce, seedCommitment, policy } = entry.body;
    const chain = applyEmbeddedChain(null, creator, latestAt, 0, sigs);
    if (entry.groupId !== deriveGroupId(chain.founding, nonce)) fail('wrong-group', 'the group id does not match its create entry');
    const signer = chain.devices.get(entry.author);
    if (!signer) fail('bad-signature', "the create entry must be signed by one of its creator's devices");
    sigs.push({ seq: 0, what: 'entry 0', key: signer.signKey, sig: entry.sig, message: signingInput });
    const hash = entryHashOf(signingInput, entry.sig);
    const creatorInfo: MemberInfo = { fingerprint: chain.person, bundle: chain.founding, role: 'admin', joinedSeq: 0, via: 'create', chain };
    const devices = new Map([...chain.devices.values()].map((d) => [d.fingerprint, groupDevice(d, chain.person)] as const));
    const created: GroupState = {
      groupId: entry.groupId,
      policy,
      creator: chain.person,
      seq: 0,
      head: hash,
      hashes: [hash],
      lastAt: entry.at,
      members: new Map([[chain.person, creatorInfo]]),
      devices,
      departed: new Map(),
      departedDevices: new Map(),
      generations: [{ generation: 0, seq: 0, at: entry.at, startedBy: entry.author, seedCommitment, links: [], people: new Set([chain.person]), devices: new Set(devices.keys()) }],
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

  const rules = new EntryRules(state, entry, sigs, signingInput);
  const { authorDevice, author } = rules;

  switch (entry.op) {
    case 'create':
      fail('bad-sequence', `entry ${entry.seq} is a second create entry`);
    case 'invite': {
      rules.needEntrySig(rules.requireAdmin().signKey);
      const { invite, boxKey, expiresAt, role } = entry.body;
      if (state.invites.has(invite)) fail('invite-used', `invite ${invite} is already in the log`);
      if (expiresAt <= entry.at) fail('invite-expired', `entry ${entry.seq} creates an invite that has already expired`);
      state.invites.set(invite, { id: invite, seq: entry.seq, author: entry.author, person: authorDevice!.person, expiresAt, role, ...(boxKey ? { boxKey } : {}) });
      break;
    }
    case 'add': {
      const { member: memberChain, role, acceptance } = entry.body;
      const chain = applyEmbeddedChain(null, memberChain, latestAt, entry.seq, sigs);
      if (chain.person === state.recovery) fail('already-member', `entry ${entry.seq} adds the recovery key as a person`);
      const joining: MemberInfo = { fingerprint: chain.person, bundle: chain.founding, role, joinedSeq: entry.seq, via: acceptance ? 'invite' : 'admin', chain };
      const selfSigner = chain.devices.get(entry.author);
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
          message: acceptanceInput(state.groupId, acceptance.invite, chain.founding),
        });
        if (selfSigner) rules.needEntrySig(selfSigner.signKey);
        else rules.needEntrySig(rules.requireAdmin().signKey);
        invite.usedBy = joining.fingerprint;
        joining.invite = acceptance.invite;
      } else {
        rules.needEntrySig(rules.requireAdmin().signKey);
      }
      if (entry.author === state.recovery) state.recoveryUses.push({ seq: entry.seq, at: entry.at, device: joining.fingerprint, recoveryKey: entry.author });
      rules.admit(joining, [...chain.devices.values()].map((d) => groupDevice(d, chain.person)));
      break;
    }
    case 'devices': {
      const { person, entries, rotation } = entry.body;
      const member = state.members.get(person);
      if (!member) fail('not-member', `entry ${entry.seq} changes the devices of someone who is not a member`);
      if (!member.chain) fail('malformed', `entry ${entry.seq}: the recovery key has no devices to change`);
      const chain = applyEmbeddedChain(member.chain, entries, latestAt, entry.seq, sigs);
      // The person's own current device signs (a device it just unlinked cannot), or an admin brings the chain up to date.
      const ownSigner = chain.devices.get(entry.author);
      if (ownSigner) rules.needEntrySig(ownSigner.signKey);
      else if (chain.unlinked.has(entry.author)) fail('device-unlinked', `entry ${entry.seq} is signed by a device its person has unlinked`);
      else rules.needEntrySig(rules.requireAdmin().signKey);
      const unlinked = [...chain.unlinked.keys()].filter((fp) => state.devices.get(fp)?.person === person);
      if (unlinked.length > 0) rules.requireRotation(rotation);
      else if (rotation) fail('malformed', `entry ${entry.seq} starts a generation without unlinking a device: use a rotate entry`);
      for (const fp of unlinked) {
        rules.dropDevice(fp, 'unlinked');
        rules.revokeInvites((invite) => invite.author === fp);
      }
      // Every device new to this person goes through the claim check: one already speaking for another member is refused.
      rules.admitDevices(person, [...chain.devices.values()].filter((d) => state.devices.get(d.fingerprint)?.person !== person).map((d) => groupDevice(d, person)));
      state.members.set(person, { ...member, chain });
      if (rotation) rules.startGeneration(rotation);
      break;
    }
    case 'remove': {
      rules.needEntrySig(rules.requireAdmin().signKey);
      const { member, rotation } = entry.body;
      if (!state.members.has(member)) fail('not-member', `entry ${entry.seq} removes someone who is not a member`);
      if (member === authorDevice!.person) fail('malformed', `entry ${entry.seq}: to leave, use a leave entry`);
      if (member === state.recovery) fail('malformed', `entry ${entry.seq}: the recovery key is replaced, not removed`);
      rules.requireRotation(rotation);
      rules.depart(member, 'removed');
      rules.startGeneration(rotation);
      break;
    }
    case 'leave': {
      if (!author || !authorDevice) rules.refuseUnknownAuthor();
      if (author!.fingerprint === state.recovery) fail('malformed', `entry ${entry.seq}: the recovery key cannot leave`);
      rules.needEntrySig(authorDevice!.signKey);
      rules.depart(author!.fingerprint, 'left');
      // The leaver still holds the current key: the group is owed a rotation by an admin.
      state.owedRotation = { member: author!.fingerprint, seq: entry.seq, at: entry.at };
      break;
    }
    case 'rotate': {
      rules.needEntrySig(rules.requireAdmin().signKey);
      rules.requireRotation(entry.body.rotation);
      rules.startGeneration(entry.body.rotation);
      break;
    }
    case 'role': {
      rules.needEntrySig(rules.requireAdmin().signKey);
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
      if (role === 'member') rules.revokeInvites((invite) => invite.person === member);
      break;
    }
    case 'recovery': {
      rules.needEntrySig(rules.requireAdmin().signKey);
      const { recovery, rotation } = entry.body;
      const key = { fingerprint: fingerprintOf(recovery), bundle: recovery, signKey: fromBase64url(recovery.signKey, 32), boxKey: fromBase64url(recovery.boxKey, 32) };
      const next: MemberInfo = { fingerprint: key.fingerprint, bundle: recovery, role: 'admin', joinedSeq: entry.seq, via: 'recovery', chain: null };
      if (state.members.has(next.fingerprint) || state.devices.has(next.fingerprint)) fail('already-member', `entry ${entry.seq} makes a current member the recovery key`);
      rules.needBundle(recovery, 'the recovery public keys');
      const previous = state.recovery;
      // Replacing a recovery key takes the key from the old one: a new generation.
      if (previous !== null || rotation) rules.requireRotation(rotation);
      if (previous !== null) rules.depart(previous, 'replaced');
      state.recovery = next.fingerprint;
      rules.admit(next, [groupDevice(key, key.fingerprint)]);
      if (rotation) rules.startGeneration(rotation);
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
  // A server's answer reaches here unparsed: its shape is input too.
  if (!Array.isArray(entries)) throw new LogVerificationError('malformed', 'the group log is not a list of entries');
  let next = state ? cloneState(state) : null;
  const pending = new SignatureQueue();
  let ruleBreak: { seq: number; reason: LogRejection; detail: string } | undefined;
  let position = state ? state.seq + 1 : 0;
  const latestAt = (options.now ?? Date.now()) + MAX_CLOCK_SKEW_MS;

  for (const raw of entries) {
    // The fast check says yes only to what the schema accepts unchanged; anything else
    // goes through zod, which accepts it or refuses it with its own message.
    const parsed = isWellFormedLogEntry(raw) ? { success: true as const, data: raw } : logEntrySchema.safeParse(raw);
    if (!parsed.success) {
      ruleBreak = { seq: position, reason: 'malformed', detail: `entry ${position} is malformed: ${parsed.error.issues[0]?.message ?? 'invalid'}` };
      break;
    }
    try {
      const applied = applyEntry(next, parsed.data, latestAt);
      next = applied.state;
      // A few microtask turns let the batch's verify calls reach the thread pool.
      if (pending.add(applied.signatures)) await letBatchStart();
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
