/**
 * Builds a realistic, valid group log of a given length for benchmarks: `createGroup`,
 * then a seeded mix of invites, acceptances by fresh identities (`acceptInvite`), role
 * changes, rotations and removals, each signed by someone who is an admin at that
 * point. The group hovers at up to `maxMembers` members, as a long-lived small group's
 * log would.
 *
 * Entries are made with the protocol's own builders and are byte-for-byte what the
 * clients make:
 * - invite: `nextEntry('invite')` with a fresh Ed25519 invite key, which is what
 *   `createInvite` signs. The invite key pair is generated (in parallel, ahead) rather
 *   than derived from a secret with `deriveInviteKeys`: the log cannot tell the
 *   difference, and the derivation's synchronous PKCS#8 imports would otherwise make
 *   up half of the build time;
 * - acceptance: `acceptInvite` by an identity from `generateIdentity` (made ahead in parallel);
 * - rotate / remove: `makeRotation` + `nextEntry`, which is what `rotateKey` /
 *   `removeMember` sign; the key boxes they also seal are not part of the log.
 */
import { makeRotation } from '@conclave/shared/crypto';
import { createGroup } from '@conclave/shared/crypto';
import { entryHash, nextEntry, type GroupState } from '@conclave/shared/crypto';
import { generateIdentity, type DeviceIdentity } from '@conclave/shared/crypto';
import { acceptInvite, type InviteKeys } from '@conclave/shared/crypto';
import { generateBoxKeyPair, generateSigningKeyPair } from '@conclave/shared/crypto';
import { toBase64url } from '@conclave/shared/protocol';
import type { Fingerprint, GroupId, InviteId, Role } from '@conclave/shared/protocol';
import type { LogEntry } from '@conclave/shared/protocol';
import { prng } from './harness.ts';
import { chainSignatureCount } from './people.ts';

/** Values made ahead of time in parallel batches, refilled in the background. */
class Pool<T> {
  private items: T[] = [];
  private refill: Promise<void> | null = null;

  constructor(
    private readonly make: () => Promise<T>,
    private readonly batch = 64,
  ) {}

  private start(): Promise<void> {
    this.refill ??= Promise.all(Array.from({ length: this.batch }, () => this.make())).then((made) => {
      this.items.push(...made);
      this.refill = null;
    });
    return this.refill;
  }

  async take(): Promise<T> {
    while (this.items.length === 0) await this.start();
    if (this.items.length < this.batch / 2) void this.start();
    return this.items.shift()!;
  }

  async drain(): Promise<void> {
    await this.refill;
  }
}

export interface BuiltLog {
  entries: LogEntry[];
  mix: Record<string, number>;
}

export async function buildLog(count: number, options: { seed?: number; maxMembers?: number } = {}): Promise<BuiltLog> {
  const random = prng(options.seed ?? 0xc0c1a5e);
  const maxMembers = options.maxMembers ?? 64;
  const t0 = Date.UTC(2026, 0, 1);
  const expiresAt = t0 + 10 * 365 * 86_400_000;
  const creator = await generateIdentity();
  const group = await createGroup(creator, { at: t0 });
  const groupId: GroupId = group.state.groupId;
  const entries: LogEntry[] = [...group.entries];
  const mix: Record<string, number> = { create: 1, recovery: 1 };

  // What the builders read from a state: group id, seq, head, clock, invites. Advanced
  // by hand here (replaying after every entry would be quadratic); callers replay the
  // finished log in full, so a builder mistake cannot go unnoticed.
  const cursor: GroupState = { ...group.state, invites: new Map(group.state.invites) };
  const admins = new Map<Fingerprint, DeviceIdentity>([[creator.fingerprint, creator]]);
  const members = new Map<Fingerprint, { identity: DeviceIdentity; role: Role }>();
  const openInvites: Array<{ keys: InviteKeys; author: Fingerprint }> = [];
  const identities = new Pool(generateIdentity);
  const inviteKeys = new Pool(async (): Promise<InviteKeys> => {
    const [signKeys, boxKeys] = await Promise.all([generateSigningKeyPair(), generateBoxKeyPair()]);
    return { groupId, inviteId: toBase64url(signKeys.publicBytes) as InviteId, signKeys, boxKeys };
  });
  let generation = 0;
  let seed = group.seed;
  let at = t0;

  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const anAdmin = (except?: Fingerprint) => pick([...admins.values()].filter((a) => a.fingerprint !== except));
  // An invite dies when its author stops being an admin (log-replay.ts `revokeInvitesOf`).
  const revokeInvitesOf = (fingerprint: Fingerprint, seq: number) => {
    for (let i = openInvites.length - 1; i >= 0; i--) {
      if (openInvites[i]!.author !== fingerprint) continue;
      cursor.invites.get(openInvites[i]!.keys.inviteId)!.revokedAt = seq;
      openInvites.splice(i, 1);
    }
  };
  const append = (entry: LogEntry) => {
    entries.push(entry);
    mix[entry.op] = (mix[entry.op] ?? 0) + 1;
    cursor.seq = entry.seq;
    cursor.head = entryHash(entry);
    cursor.lastAt = entry.at;
  };

  while (entries.length < count) {
    at += 1 + Math.floor(random() * 60_000);
    const r = random();
    let op: 'invite' | 'accept' | 'role' | 'rotate' | 'remove' =
      r < 0.3 ? 'invite' : r < 0.6 ? 'accept' : r < 0.7 ? 'role' : r < 0.8 ? 'rotate' : 'remove';
    if (op === 'invite' && openInvites.length >= 6) op = 'accept';
    if (op === 'accept' && openInvites.length === 0) op = 'invite';
    if (op === 'accept' && members.size >= maxMembers) op = 'remove';
    if ((op === 'remove' || op === 'role') && members.size < 4) op = 'invite';

    if (op === 'invite') {
      const keys = await inviteKeys.take();
      const role: Role = random() < 0.15 ? 'admin' : 'member';
      const author = anAdmin();
      const entry = await nextEntry(cursor, author, 'invite', { invite: keys.inviteId, expiresAt, role }, at);
      cursor.invites.set(keys.inviteId, { id: keys.inviteId, seq: entry.seq, author: author.fingerprint, person: author.fingerprint, expiresAt, role });
      openInvites.push({ keys, author: author.fingerprint });
      append(entry);
    } else if (op === 'accept') {
      const { keys } = openInvites.shift()!;
      const joiner = await identities.take();
      append(await acceptInvite(cursor, keys, joiner, at));
      const info = cursor.invites.get(keys.inviteId)!;
      info.usedBy = joiner.fingerprint;
      members.set(joiner.fingerprint, { identity: joiner, role: info.role });
      if (info.role === 'admin') admins.set(joiner.fingerprint, joiner);
    } else if (op === 'role') {
      const [fingerprint, member] = pick([...members]);
      const role: Role = member.role === 'admin' ? 'member' : 'admin';
      append(await nextEntry(cursor, anAdmin(), 'role', { member: fingerprint, role }, at));
      member.role = role;
      if (role === 'admin') admins.set(fingerprint, member.identity);
      else {
        admins.delete(fingerprint);
        revokeInvitesOf(fingerprint, cursor.seq);
      }
    } else {
      const next = await makeRotation(groupId, generation + 1, seed);
      if (op === 'rotate') {
        append(await nextEntry(cursor, anAdmin(), 'rotate', { rotation: next.rotation }, at));
      } else {
        const [fingerprint] = pick([...members]);
        append(await nextEntry(cursor, anAdmin(fingerprint), 'remove', { member: fingerprint, rotation: next.rotation }, at));
        members.delete(fingerprint);
        admins.delete(fingerprint);
        revokeInvitesOf(fingerprint, cursor.seq);
      }
      generation++;
      seed = next.seed;
    }
  }
  await Promise.all([identities.drain(), inviteKeys.drain()]);
  return { entries, mix };
}

/**
 * How many signatures `replayLog` checks for these entries: every entry, the device
 * chains `create` and `add` carry, the recovery bundle, invite acceptances.
 */
export function signatureCount(entries: readonly LogEntry[]): number {
  let n = 0;
  for (const e of entries) {
    n += 1;
    if (e.op === 'create') n += chainSignatureCount(e.body.creator);
    if (e.op === 'recovery') n += 1;
    if (e.op === 'add') n += chainSignatureCount(e.body.member) + (e.body.acceptance ? 1 : 0);
    if (e.op === 'devices') n += chainSignatureCount(e.body.entries);
  }
  return n;
}
