/**
 * The storage API's procedures, called in process (`createCallerFactory(appRouter)`)
 * with the deps of `build(config, {store})` on a real SQLite store in a temporary
 * directory, and real identities, logs, boxes and notes made with the protocol core.
 * The server's clock is a variable each test moves. Every refusal is asserted by its
 * Conclave code (`apiErrorData(error)`, which reads `error.cause.data.code`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TRPCError } from '@trpc/server';
import { afterEach, describe, expect, it } from 'vitest';
import { generationKeys } from '@conclave/shared/crypto';
import { createGroup, leaveGroup, removeMember, rotateKey } from '@conclave/shared/crypto';
import { currentGeneration, logHead, nextEntry, signEntry, type GroupState } from '@conclave/shared/crypto';
import { generateIdentity, signLabelled, singleDeviceChain, type DeviceIdentity } from '@conclave/shared/crypto';
import { acceptInvite, createInvite, inviteOpener, type InviteKeys, type NewInvite } from '@conclave/shared/crypto';
import { inviteLookupProof } from '@conclave/shared/client';
import { openerFor, openKeyBox, sealKeyBox } from '@conclave/shared/crypto';
import { LABELS } from '@conclave/shared/crypto';
import { extendLog, replayLog } from '@conclave/shared/crypto';
import { newNoteId, openNote, sealNote } from '@conclave/shared/crypto';
import { restoreWithRecoveryCode } from '@conclave/shared/crypto';
import { toBase64url } from '@conclave/shared/protocol';
import { noteVersionHash } from '@conclave/shared/crypto';
import type { EntryHash, Fingerprint, GroupId, NoteId } from '@conclave/shared/protocol';
import type { DeviceEntry, KeyBox, LogEntry, NoteEnvelope } from '@conclave/shared/protocol';
import { build, type App } from '../src/app.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { apiErrorData } from '../src/errors.ts';
import { appRouter } from '../src/routers/index.ts';
import { NOTE_PUT_TRIES } from '../src/routers/notes.ts';
import { sha256Hex } from '../src/services/tokens.ts';
import { SqliteStore } from '../src/store/sqlite.ts';
import { createCallerFactory } from '../src/trpc/init.ts';
import { PROTOCOL_VERSION } from '@conclave/shared/protocol';

const HOUR = 3600_000;
const MINUTE = 60_000;
const createCaller = createCallerFactory(appRouter);
type Caller = ReturnType<typeof createCaller>;

// ---------------------------------------------------------------------------
// harness

interface Harness {
  app: App;
  config: Config;
  store: SqliteStore;
  /** The server's clock: tests move it. */
  clock: { now: number };
  call(token?: string | null): Caller;
}

const open: Array<{ app: App; dir: string }> = [];

afterEach(async () => {
  for (const { app, dir } of open.splice(0)) {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

async function harness(overrides: Partial<Config> = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'conclave-routers-'));
  const config = loadConfig({}, { dataDir: dir, logLevel: 'silent', ...overrides });
  const store = new SqliteStore(dir);
  const clock = { now: Date.now() };
  const app = await build(config, { store, now: () => clock.now });
  open.push({ app, dir });
  return { app, config, store, clock, call: (token = null) => createCaller({ ...app.deps, token, ip: '127.0.0.1', transport: 'http', socket: null }) };
}

interface Device {
  identity: DeviceIdentity;
  fingerprint: Fingerprint;
  token: string;
  api: Caller;
}

async function signIn(h: Harness, identity?: DeviceIdentity): Promise<Device> {
  const id = identity ?? (await generateIdentity());
  const anonymous = h.call();
  const { challengeId, challenge } = await anonymous.auth.challenge();
  const sig = await signLabelled(id, LABELS.apiChallenge, { challenge, fingerprint: id.fingerprint });
  const { token, fingerprint } = await anonymous.auth.login({ challengeId, bundle: id.bundle, sig });
  expect(fingerprint).toBe(id.fingerprint);
  return { identity: id, fingerprint: id.fingerprint, token, api: h.call(token) };
}

/** The Conclave error a call fails with (asserted to be a TRPCError with that code). */
async function refused(promise: Promise<unknown>, code: string): Promise<TRPCError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, `expected ${code}, but the call succeeded`).toBeInstanceOf(TRPCError);
  const trpc = error as TRPCError;
  expect(apiErrorData(trpc).code, trpc.message).toBe(code);
  expect(trpc.message.length).toBeGreaterThan(10);
  return trpc;
}

/** A group on the server and what its creator's client holds. */
interface World {
  h: Harness;
  owner: Device;
  group: Awaited<ReturnType<typeof createGroup>>;
  groupId: GroupId;
  /** The creator's validated state, kept in step with every append the test makes. */
  state: GroupState;
  seeds: Map<number, Uint8Array>;
}

async function world(overrides: Partial<Config> = {}): Promise<World> {
  const h = await harness(overrides);
  const owner = await signIn(h);
  const group = await createGroup(owner.identity, { at: h.clock.now });
  await owner.api.groups.create({ entries: group.entries, boxes: group.boxes });
  return { h, owner, group, groupId: group.state.groupId, state: group.state, seeds: new Map([[0, group.seed]]) };
}

/** Appends entries as `device` and advances the world's state. */
async function append(w: World, device: Device, entries: LogEntry[], boxes: KeyBox[] = []): Promise<void> {
  const next = await extendLog(w.state, entries, { now: w.h.clock.now });
  await device.api.groups.append({ groupId: w.groupId, entries, boxes });
  w.state = next;
}

async function invite(w: World, options: { role?: 'admin' | 'member'; expiresAt?: number; prekeyed?: boolean } = {}): Promise<NewInvite> {
  const generation = currentGeneration(w.state);
  const made = await createInvite(w.state, w.owner.identity, {
    role: options.role ?? 'member',
    expiresAt: options.expiresAt ?? w.h.clock.now + HOUR,
    at: w.h.clock.now,
    ...(options.prekeyed ? { prekeyed: { seed: w.seeds.get(generation)!, generation } } : {}),
  });
  await append(w, w.owner, [made.entry], made.box ? [made.box] : []);
  return made;
}

/** `invites.lookup` as the holder of the invite code does it: with the proof signed by the invite key. */
async function lookupAs(device: Device, keys: InviteKeys) {
  return device.api.invites.lookup({ inviteId: keys.inviteId, proof: await inviteLookupProof(keys, device.fingerprint) });
}

/** A new device joins by invite: looks it up, appends its own add. */
async function joinGroup(w: World, made?: NewInvite): Promise<Device> {
  const joiner = await signIn(w.h);
  const inv = made ?? (await invite(w));
  const found = await lookupAs(joiner, inv.keys);
  const state = await replayLog(found.entries, { now: w.h.clock.now });
  const entry = await acceptInvite(state, inv.keys, joiner.identity, w.h.clock.now);
  await append(w, joiner, [entry]);
  return joiner;
}

async function noteKey(w: World, generation = currentGeneration(w.state)): Promise<Uint8Array> {
  return (await generationKeys(w.seeds.get(generation)!, w.groupId, generation)).noteKey;
}

async function note(w: World, author: Device, options: { noteId?: NoteId; version?: number; generation?: number; body?: string; deleted?: boolean; prev?: string } = {}): Promise<NoteEnvelope> {
  const generation = options.generation ?? currentGeneration(w.state);
  return sealNote(
    author.identity,
    { groupId: w.groupId, noteId: options.noteId ?? newNoteId(), version: options.version ?? 1, generation },
    await noteKey(w, generation),
    { title: 'a title', body: options.body ?? 'a body' },
    // After version 1 a version names its predecessor's hash (notes.put checks it against the stored one).
    { at: w.h.clock.now, prev: (options.version ?? 1) > 1 ? (options.prev ?? toBase64url(new Uint8Array(32))) : null, ...(options.deleted ? { deleted: true } : {}) },
  );
}

/** Flips one character of a base64url signature (keeping it canonical). */
function forge(sig: string): string {
  const first = sig[0] === 'A' ? 'B' : 'A';
  return first + sig.slice(1);
}

// ---------------------------------------------------------------------------

describe('auth', () => {
  it('signs in with a challenge: the token works, only its hash is stored, the bundle is published', async () => {
    const h = await harness();
    const device = await signIn(h);
    expect(await device.api.groups.mine()).toEqual([]);
    expect(await h.store.getSession(sha256Hex(device.token), h.clock.now)).toMatchObject({ fingerprint: device.fingerprint });
    expect(await h.store.getSession(device.token, h.clock.now)).toBeNull();
    expect(await device.api.identities.get({ fingerprint: device.fingerprint })).toEqual(device.identity.bundle);
    const stranger = (await generateIdentity()).fingerprint;
    await refused(device.api.identities.get({ fingerprint: stranger }), 'NOT_FOUND');
  });

  it('refuses a replayed, expired, unknown or forged challenge', async () => {
    const h = await harness({ challengeTtlMs: 60_000 });
    const identity = await generateIdentity();
    const anonymous = h.call();
    const signed = async (challenge: string, who = identity) => signLabelled(who, LABELS.apiChallenge, { challenge, fingerprint: who.fingerprint });

    const first = await anonymous.auth.challenge();
    expect(first.expiresAt).toBe(h.clock.now + 60_000);
    const login = { challengeId: first.challengeId, bundle: identity.bundle, sig: await signed(first.challenge) };
    await anonymous.auth.login(login);
    await refused(anonymous.auth.login(login), 'CHALLENGE_INVALID');

    const late = await anonymous.auth.challenge();
    h.clock.now += 61_000;
    await refused(anonymous.auth.login({ challengeId: late.challengeId, bundle: identity.bundle, sig: await signed(late.challenge) }), 'CHALLENGE_INVALID');

    await refused(anonymous.auth.login({ ...login, challengeId: toBase64url(new Uint8Array(16)) }), 'CHALLENGE_INVALID');

    // Signed by someone else's key for this bundle, or over another challenge.
    const mallory = await generateIdentity();
    const c1 = await anonymous.auth.challenge();
    await refused(
      anonymous.auth.login({ challengeId: c1.challengeId, bundle: identity.bundle, sig: await signLabelled(mallory, LABELS.apiChallenge, { challenge: c1.challenge, fingerprint: identity.fingerprint }) }),
      'SIGNATURE_INVALID',
    );
    // That attempt spent the challenge.
    await refused(anonymous.auth.login({ challengeId: c1.challengeId, bundle: identity.bundle, sig: await signed(c1.challenge) }), 'CHALLENGE_INVALID');
    const c2 = await anonymous.auth.challenge();
    const c3 = await anonymous.auth.challenge();
    await refused(anonymous.auth.login({ challengeId: c2.challengeId, bundle: identity.bundle, sig: await signed(c3.challenge) }), 'SIGNATURE_INVALID');
  });

  it('refuses a forged bundle (SIGNATURE_INVALID) and an unusable one (BAD_REQUEST)', async () => {
    const h = await harness();
    const identity = await generateIdentity();
    const anonymous = h.call();
    const c = await anonymous.auth.challenge();
    const sig = await signLabelled(identity, LABELS.apiChallenge, { challenge: c.challenge, fingerprint: identity.fingerprint });
    await refused(anonymous.auth.login({ challengeId: c.challengeId, bundle: { ...identity.bundle, sig: forge(identity.bundle.sig) }, sig }), 'SIGNATURE_INVALID');
    // A self-signed bundle whose box key is the all-zero (low-order) point.
    const unsigned = { v: PROTOCOL_VERSION, signKey: identity.bundle.signKey, boxKey: toBase64url(new Uint8Array(32)) };
    const lowOrder = { ...unsigned, sig: await signLabelled(identity, LABELS.bundleSignature, unsigned) };
    await refused(anonymous.auth.login({ challengeId: c.challengeId, bundle: lowOrder, sig }), 'BAD_REQUEST');
    await refused(anonymous.auth.login({ challengeId: c.challengeId, bundle: identity.bundle, sig: 'short' } as never), 'BAD_REQUEST');
  });

  it('refuses a missing, forged or expired token, and a token after logout', async () => {
    const h = await harness({ sessionTtlMs: 60_000 });
    const device = await signIn(h);
    await refused(h.call().groups.mine(), 'UNAUTHORIZED');
    await refused(h.call(toBase64url(new Uint8Array(32).fill(7))).groups.mine(), 'UNAUTHORIZED');
    await refused(h.call(`${device.token.slice(0, -1)}${device.token.endsWith('A') ? 'B' : 'A'}`).groups.mine(), 'UNAUTHORIZED');
    h.clock.now += 61_000;
    const expired = await refused(device.api.groups.mine(), 'UNAUTHORIZED');
    expect(expired.message).toMatch(/sign in again/);

    const again = await signIn(h);
    await again.api.auth.logout();
    await refused(again.api.groups.mine(), 'UNAUTHORIZED');
  });

  it('limits requests per session (TOO_MANY_REQUESTS), per fixed minute, without touching other sessions', async () => {
    const h = await harness({ rateLimitPerMinute: 5 });
    const a = await signIn(h);
    const b = await signIn(h);
    for (let i = 0; i < 5; i++) await a.api.groups.mine();
    const limited = await refused(a.api.groups.mine(), 'TOO_MANY_REQUESTS');
    expect(limited.message).toMatch(/try again in \d+ s/);
    expect(await b.api.groups.mine()).toEqual([]);
    h.clock.now += MINUTE;
    expect(await a.api.groups.mine()).toEqual([]);
  });

  it('answers over HTTP with the Conclave code in error.data.conclave', async () => {
    const h = await harness();
    const response = await h.app.fastify.inject({ method: 'GET', url: '/trpc/groups.mine', headers: { authorization: `Bearer ${toBase64url(new Uint8Array(32))}` } });
    expect(response.statusCode).toBe(401);
    const body = response.json() as { error: { message: string; data: { conclave: { code: string }; stack?: unknown } } };
    expect(body.error.data.conclave.code).toBe('UNAUTHORIZED');
    expect(body.error.data.stack).toBeUndefined();
    expect(body.error.message).toMatch(/sign in/);
  });
});

describe('groups', () => {
  it('creates a group and lets its creator read the log; refuses another author, a second create and non-members', async () => {
    const w = await world();
    const { entries, head } = await w.owner.api.groups.log({ groupId: w.groupId });
    expect(entries).toEqual(w.group.entries);
    expect(head).toEqual(logHead(w.group.state));
    expect(await w.owner.api.groups.log({ groupId: w.groupId, fromSeq: 1, limit: 1 })).toEqual({ entries: [w.group.entries[1]], head });
    expect(await w.owner.api.groups.mine()).toEqual([{ groupId: w.groupId, head, status: 'member' }]);
    // The recovery recipient is indexed as a member too, and holds its box.
    const recovery = w.state.recovery!;
    expect(await w.h.store.membership(w.groupId, recovery)).toMatchObject({ status: 'member', untilSeq: null });
    expect(await w.h.store.boxesFor(w.groupId, { kind: 'member', id: recovery })).toEqual(w.group.boxes);

    await refused(w.owner.api.groups.create({ entries: w.group.entries, boxes: [] }), 'CONFLICT');
    const other = await signIn(w.h);
    const theirs = await createGroup(other.identity, { at: w.h.clock.now });
    await refused(w.owner.api.groups.create({ entries: theirs.entries }), 'FORBIDDEN');
    await refused(other.api.groups.create({ entries: theirs.entries.slice(1) }), 'LOG_REJECTED');
    await refused(other.api.groups.log({ groupId: w.groupId }), 'FORBIDDEN');
    await refused(other.api.groups.log({ groupId: theirs.state.groupId }), 'NOT_FOUND');
    // A create whose boxes are not valid is refused whole.
    const boxToStranger = await sealKeyBox(other.identity, theirs.state.groupId, 0, theirs.seed, { kind: 'member', id: w.owner.fingerprint }, w.owner.identity.bundle.boxKey);
    await refused(other.api.groups.create({ entries: theirs.entries, boxes: [boxToStranger] }), 'BOX_REJECTED');
    await refused(other.api.groups.log({ groupId: theirs.state.groupId }), 'NOT_FOUND');
    await other.api.groups.create({ entries: theirs.entries, boxes: theirs.boxes });
  });

  it('appends with compare-and-set: a stale append is CONFLICT with the current head', async () => {
    const w = await world();
    const before = w.state;
    const a = await createInvite(before, w.owner.identity, { role: 'member', expiresAt: w.h.clock.now + HOUR, at: w.h.clock.now });
    const b = await createInvite(before, w.owner.identity, { role: 'member', expiresAt: w.h.clock.now + HOUR, at: w.h.clock.now });
    await append(w, w.owner, [a.entry]);
    const conflict = await refused(w.owner.api.groups.append({ groupId: w.groupId, entries: [b.entry] }), 'CONFLICT');
    expect(apiErrorData(conflict).head).toEqual(logHead(w.state));
    // An entry from the past (already stored) is a conflict too.
    await refused(w.owner.api.groups.append({ groupId: w.groupId, entries: [w.group.entries[1]!] }), 'CONFLICT');
    expect((await w.owner.api.groups.log({ groupId: w.groupId })).entries).toHaveLength(3);
  });

  it('refuses forged entries with LOG_REJECTED and the rule that failed', async () => {
    const w = await world();
    const mallory = await signIn(w.h);
    const member = await joinGroup(w);

    // An admin's entry with a signature that is not the admin's (as a server would insert a member).
    const inserted = await nextEntry(w.state, w.owner.identity, 'add', { member: await singleDeviceChain(mallory.identity), role: 'admin' }, w.h.clock.now);
    const forged = { ...inserted, sig: (await signEntry({ ...inserted, sig: undefined } as never, mallory.identity)).sig };
    const error = await refused(w.owner.api.groups.append({ groupId: w.groupId, entries: [forged] }), 'LOG_REJECTED');
    expect(apiErrorData(error).reason).toBe('bad-signature');
    expect(error.message).toMatch(new RegExp(`entry ${forged.seq}`));
    await refused(w.owner.api.groups.append({ groupId: w.groupId, entries: [{ ...inserted, sig: forge(inserted.sig) }] }), 'LOG_REJECTED');

    // A member who is not an admin cannot add anyone.
    const byMember = await nextEntry(w.state, member.identity, 'add', { member: await singleDeviceChain(mallory.identity), role: 'member' }, w.h.clock.now);
    expect(apiErrorData(await refused(member.api.groups.append({ groupId: w.groupId, entries: [byMember] }), 'LOG_REJECTED')).reason).toBe('not-admin');

    // A non-member adding itself without an invite is not even a join.
    const selfAdd = await nextEntry(w.state, mallory.identity, 'add', { member: await singleDeviceChain(mallory.identity), role: 'admin' }, w.h.clock.now);
    await refused(mallory.api.groups.append({ groupId: w.groupId, entries: [selfAdd] }), 'FORBIDDEN');

    // A forged invite acceptance (signed by a key that is not the invite's).
    const inv = await invite(w);
    const real = await acceptInvite(w.state, inv.keys, mallory.identity, w.h.clock.now);
    if (real.op !== 'add') throw new Error('unreachable');
    const badAcceptance = await nextEntry(
      w.state,
      mallory.identity,
      'add',
      { ...real.body, acceptance: { invite: inv.keys.inviteId, sig: forge(real.body.acceptance!.sig) } },
      w.h.clock.now,
    );
    expect(apiErrorData(await refused(mallory.api.groups.append({ groupId: w.groupId, entries: [badAcceptance] }), 'LOG_REJECTED')).reason).toBe('bad-signature');

    // Someone else's entry is refused before any rule: a session appends only its own.
    await refused(mallory.api.groups.append({ groupId: w.groupId, entries: [inserted] }), 'FORBIDDEN');
    // Nothing of this reached the log.
    expect((await w.owner.api.groups.log({ groupId: w.groupId })).head).toEqual(logHead(w.state));
  });

  it("refuses entries dated beyond the allowed skew of the server's clock (CLOCK_SKEW)", async () => {
    const w = await world({ clockSkewMs: 5 * MINUTE });
    // A brand-new group dated ahead (the protocol core itself allows up to 10 minutes).
    const other = await signIn(w.h);
    const future = await createGroup(other.identity, { at: w.h.clock.now + 6 * MINUTE });
    await refused(other.api.groups.create({ entries: future.entries, boxes: future.boxes }), 'CLOCK_SKEW');
    const ahead = await createInvite(w.state, w.owner.identity, { role: 'member', expiresAt: w.h.clock.now + HOUR, at: w.h.clock.now + 6 * MINUTE });
    const error = await refused(w.owner.api.groups.append({ groupId: w.groupId, entries: [ahead.entry] }), 'CLOCK_SKEW');
    expect(error.message).toMatch(/ahead of the server's clock/);
    // The same entry is fine once the server's clock has caught up.
    w.h.clock.now += 6 * MINUTE;
    await append(w, w.owner, [ahead.entry]);
    // Far behind is refused as well.
    w.h.clock.now += 20 * MINUTE;
    const behind = await createInvite(w.state, w.owner.identity, { role: 'member', expiresAt: w.h.clock.now + HOUR, at: w.h.clock.now - 10 * MINUTE });
    expect((await refused(w.owner.api.groups.append({ groupId: w.groupId, entries: [behind.entry] }), 'CLOCK_SKEW')).message).toMatch(/behind/);
  });

  it("refuses an expired invite's acceptance by the server's clock, even when the entry is backdated", async () => {
    const w = await world({ clockSkewMs: 5 * MINUTE, sessionTtlMs: 24 * HOUR });
    const inv = await invite(w, { expiresAt: w.h.clock.now + 30 * MINUTE });
    const joiner = await signIn(w.h);
    const { entries } = await lookupAs(joiner, inv.keys);
    const state = await replayLog(entries, { now: w.h.clock.now });

    // The server's clock passes the expiry; the joiner dates its acceptance before it.
    w.h.clock.now += HOUR;
    const backdated = await acceptInvite(state, inv.keys, joiner.identity, w.h.clock.now - 45 * MINUTE);
    await refused(joiner.api.groups.append({ groupId: w.groupId, entries: [backdated] }), 'CLOCK_SKEW');
    // Backdated only within the skew: the log rule (at ≤ expiresAt) holds, the server's clock still says no.
    w.h.clock.now = inv.entry.at + 30 * MINUTE + 2 * MINUTE;
    const justBefore = await acceptInvite(state, inv.keys, joiner.identity, inv.entry.at + 30 * MINUTE - MINUTE);
    const closed = await refused(joiner.api.groups.append({ groupId: w.groupId, entries: [justBefore] }), 'INVITE_CLOSED');
    expect(closed.message).toMatch(/ask for a new invite/);
    await refused(lookupAs(joiner, inv.keys), 'INVITE_CLOSED');
    await refused(joiner.api.groups.log({ groupId: w.groupId }), 'FORBIDDEN');
  });

  it('lists the groups of a device with its status', async () => {
    const w = await world();
    const member = await joinGroup(w);
    expect(await member.api.groups.mine()).toEqual([{ groupId: w.groupId, head: logHead(w.state), status: 'member' }]);
    const removed = await removeMember(w.state, w.owner.identity, member.fingerprint, w.seeds.get(0)!, w.h.clock.now);
    await append(w, w.owner, [removed.entry], removed.boxes);
    await invite(w);
    expect(await member.api.groups.mine()).toEqual([{ groupId: w.groupId, head: { seq: removed.entry.seq, hash: w.state.hashes[removed.entry.seq] }, status: 'removed' }]);
  });
});

describe('invites, joining and the mailbox', () => {
  it('looks up an open invite (with its pre-keyed box), and refuses used, expired and unknown ones', async () => {
    const w = await world({ sessionTtlMs: 24 * HOUR });
    const joiner = await signIn(w.h);
    const plain = await invite(w);
    const prekeyed = await invite(w, { prekeyed: true });

    const found = await lookupAs(joiner, plain.keys);
    expect(found).toEqual({ groupId: w.groupId, entries: (await w.owner.api.groups.log({ groupId: w.groupId })).entries, boxes: [] });
    const withBox = await lookupAs(joiner, prekeyed.keys);
    expect(withBox.boxes).toEqual([prekeyed.box]);
    const state = await replayLog(withBox.entries, { now: w.h.clock.now });
    expect(await openKeyBox(withBox.boxes[0], inviteOpener(prekeyed.keys), state)).toEqual(w.seeds.get(0));

    // Used.
    await joinGroup(w, plain);
    await refused(lookupAs(joiner, plain.keys), 'INVITE_CLOSED');
    // Unknown.
    const stray = await createInvite(w.state, w.owner.identity, { role: 'member', expiresAt: w.h.clock.now + HOUR, at: w.h.clock.now });
    await refused(lookupAs(joiner, stray.keys), 'NOT_FOUND');
    // Expired by the server's clock (the log alone cannot say so).
    w.h.clock.now += 2 * HOUR;
    await refused(lookupAs(joiner, prekeyed.keys), 'INVITE_CLOSED');
  });

  it('a removed member who kept an invite id from the log cannot read past its removal through invites.lookup', async () => {
    const w = await world({ sessionTtlMs: 24 * HOUR });
    const member = await joinGroup(w);
    // An open invite by the owner, who stays an admin: its id is in the log every member reads.
    const open = await invite(w, { prekeyed: true });
    const seen = await replayLog((await member.api.groups.log({ groupId: w.groupId })).entries, { now: w.h.clock.now });
    expect(seen.invites.get(open.keys.inviteId)).toMatchObject({ author: w.owner.fingerprint });

    const removed = await removeMember(w.state, w.owner.identity, member.fingerprint, w.seeds, w.h.clock.now);
    await append(w, w.owner, [removed.entry], removed.boxes);
    w.seeds.set(1, removed.seed);
    await invite(w);
    const removal = removed.entry.seq;
    expect((await member.api.groups.log({ groupId: w.groupId })).head.seq).toBe(removal);

    // The id alone (all the log gave it) no longer opens the lookup.
    await refused(member.api.invites.lookup({ inviteId: open.keys.inviteId } as never), 'BAD_REQUEST');
    // Nor does a proof it can make without the invite's secret: signed with its own key, for itself or a fresh device.
    const fresh = await signIn(w.h);
    for (const [device, signer] of [
      [member, member.identity],
      [fresh, member.identity],
      [fresh, fresh.identity],
    ] as const) {
      const proof = await signLabelled(signer, LABELS.inviteLookup, { groupId: w.groupId, inviteId: open.keys.inviteId, fingerprint: device.fingerprint });
      await refused(device.api.invites.lookup({ inviteId: open.keys.inviteId, proof }), 'SIGNATURE_INVALID');
    }
    // A proof made for another device does not carry over.
    const forFresh = await inviteLookupProof(open.keys, fresh.fingerprint);
    await refused(member.api.invites.lookup({ inviteId: open.keys.inviteId, proof: forFresh }), 'SIGNATURE_INVALID');

    // The invitee, who holds the code, still looks it up and gets the whole log.
    const found = await lookupAs(fresh, open.keys);
    expect(found.entries).toHaveLength(w.state.seq + 1);
  });

  it('an invite whose author has since departed is closed to lookups, even with its code', async () => {
    const w = await world({ sessionTtlMs: 24 * HOUR });
    const admin = await joinGroup(w, await invite(w, { role: 'admin' }));
    const made = await createInvite(w.state, admin.identity, { role: 'member', expiresAt: w.h.clock.now + HOUR, at: w.h.clock.now });
    await append(w, admin, [made.entry]);
    const stranger = await signIn(w.h);
    expect((await lookupAs(stranger, made.keys)).groupId).toBe(w.groupId);

    const removed = await removeMember(w.state, w.owner.identity, admin.fingerprint, w.seeds, w.h.clock.now);
    await append(w, w.owner, [removed.entry], removed.boxes);
    expect(w.state.invites.get(made.keys.inviteId)?.revokedAt).toBe(removed.entry.seq);
    for (const device of [admin, stranger]) expect((await refused(lookupAs(device, made.keys), 'INVITE_CLOSED')).message).toMatch(/cancelled/);
  });

  it('a joiner appends its own add and reads; the mailbox brings it the key from an admin', async () => {
    const w = await world();
    const joiner = await joinGroup(w);
    expect((await joiner.api.groups.log({ groupId: w.groupId })).head).toEqual(logHead(w.state));
    await refused(joiner.api.mailbox.pending({ groupId: w.groupId }), 'FORBIDDEN');
    expect(await w.owner.api.mailbox.pending({ groupId: w.groupId })).toEqual([]);

    const requested = await joiner.api.mailbox.request({ groupId: w.groupId });
    expect(requested).toEqual({ generation: 0, requestedAt: w.h.clock.now });
    expect(await w.owner.api.mailbox.pending({ groupId: w.groupId })).toEqual([{ fingerprint: joiner.fingerprint, generation: 0, requestedAt: w.h.clock.now }]);

    const member = w.state.devices.get(joiner.fingerprint)!;
    const box = await sealKeyBox(w.owner.identity, w.groupId, 0, w.seeds.get(0)!, { kind: 'member', id: joiner.fingerprint }, member.boxKey);
    expect(await w.owner.api.boxes.post({ groupId: w.groupId, boxes: [box] })).toEqual({ stored: 1 });
    // Served only once the joiner confirms it opened a key: until then it stays listed.
    expect((await w.owner.api.mailbox.pending({ groupId: w.groupId })).map((p) => p.fingerprint)).toEqual([joiner.fingerprint]);

    const mine = await joiner.api.boxes.mine({ groupId: w.groupId });
    expect(mine).toEqual([box]);
    expect(await joiner.api.boxes.mine({ groupId: w.groupId, generation: 1 })).toEqual([]);
    const state = await replayLog((await joiner.api.groups.log({ groupId: w.groupId })).entries, { now: w.h.clock.now });
    const seed = await openKeyBox(mine[0], openerFor(joiner.identity), state);
    expect(seed).toEqual(w.seeds.get(0));
    const self = await sealKeyBox(joiner.identity, w.groupId, 0, seed!, { kind: 'member', id: joiner.fingerprint }, joiner.identity.boxKeys.publicBytes);
    await joiner.api.boxes.post({ groupId: w.groupId, boxes: [self] });
    expect(await w.owner.api.mailbox.pending({ groupId: w.groupId })).toEqual([]);
    expect(await joiner.api.boxes.mine({ groupId: w.groupId })).toHaveLength(2);
  });

  it('the recovery identity signs in with its own keys, fetches its box and restores a device', async () => {
    const w = await world();
    const { recoveryIdentityFromCode } = await import('../../shared/src/crypto/recovery.ts');
    const { identity } = await recoveryIdentityFromCode(w.group.recoveryCode);
    const recovery = await signIn(w.h, identity);
    const boxes = await recovery.api.boxes.mine({ groupId: w.groupId, generation: 0 });
    expect(boxes).toEqual(w.group.boxes);
    const fresh = await signIn(w.h);
    const restored = await restoreWithRecoveryCode(w.group.recoveryCode, w.state, boxes, fresh.identity);
    await append(w, recovery, [restored.entry], [restored.box]);
    expect(await fresh.api.boxes.mine({ groupId: w.groupId })).toEqual([restored.box]);
  });
});

describe('access', () => {
  it('refuses a non-member everything of a group (FORBIDDEN)', async () => {
    const w = await world();
    const stranger = await signIn(w.h);
    const env = await note(w, w.owner);
    await w.owner.api.notes.put({ envelope: env });
    const g = { groupId: w.groupId };
    await refused(stranger.api.groups.log(g), 'FORBIDDEN');
    await refused(stranger.api.notes.list(g), 'FORBIDDEN');
    await refused(stranger.api.notes.get({ ...g, noteId: env.noteId }), 'FORBIDDEN');
    await refused(stranger.api.notes.put({ envelope: { ...env, version: 2 } }), 'FORBIDDEN');
    await refused(stranger.api.boxes.mine(g), 'FORBIDDEN');
    await refused(stranger.api.boxes.post({ ...g, boxes: w.group.boxes }), 'FORBIDDEN');
    await refused(stranger.api.mailbox.request(g), 'FORBIDDEN');
    await refused(stranger.api.mailbox.pending(g), 'FORBIDDEN');
    // A missing or malformed group id is a bad request, an unknown group is not found.
    await refused(stranger.api.notes.list({} as never), 'BAD_REQUEST');
    await refused(stranger.api.notes.list({ groupId: 'nope' } as never), 'BAD_REQUEST');
    await refused(stranger.api.notes.list({ groupId: toBase64url(new Uint8Array(16)) as GroupId }), 'NOT_FOUND');
  });

  it('a removed member reads the log up to its removal and nothing after, and can no longer write or fetch keys', async () => {
    const w = await world();
    const member = await joinGroup(w);
    const env = await note(w, member);
    await member.api.notes.put({ envelope: env });
    const removed = await removeMember(w.state, w.owner.identity, member.fingerprint, w.seeds.get(0)!, w.h.clock.now);
    await append(w, w.owner, [removed.entry], removed.boxes);
    w.seeds.set(1, removed.seed);
    const removalHead = logHead(w.state);
    await invite(w);

    const read = await member.api.groups.log({ groupId: w.groupId });
    expect(read.head).toEqual(removalHead);
    expect(read.entries.at(-1)).toEqual(removed.entry);
    expect(read.entries).toHaveLength(removalHead.seq + 1);
    expect(await member.api.groups.log({ groupId: w.groupId, fromSeq: removalHead.seq + 1 })).toEqual({ entries: [], head: removalHead });
    // Its client can validate what it got and sees its own removal.
    const seen = await replayLog(read.entries, { now: w.h.clock.now });
    expect(seen.departed.get(member.fingerprint)?.how).toBe('removed');

    // No writes with the old key, nor with anything else; no new keys; no notes.
    await refused(member.api.notes.put({ envelope: await note(w, member, { noteId: env.noteId, version: 2, generation: 0 }) }), 'FORBIDDEN');
    await refused(member.api.notes.get({ groupId: w.groupId, noteId: env.noteId }), 'FORBIDDEN');
    await refused(member.api.boxes.mine({ groupId: w.groupId }), 'FORBIDDEN');
    await refused(member.api.mailbox.request({ groupId: w.groupId }), 'FORBIDDEN');
    expect(await w.h.store.membership(w.groupId, member.fingerprint)).toEqual({ status: 'removed', untilSeq: removalHead.seq });
  });

  /** Makes the store commit `before` (a log append) just before the next note put is written: the put's member check is then stale. */
  function appendBeforeNextPut(w: World, before: () => Promise<void>): void {
    const store = w.h.store;
    const put = store.putNoteVersion.bind(store);
    let done = false;
    store.putNoteVersion = async (...args) => {
      if (!done) {
        done = true;
        await before();
      }
      return put(...args);
    };
  }

  it('refuses a put whose writer was removed between its member check and its write, at the removal', async () => {
    const w = await world();
    const member = await joinGroup(w);
    const env = await note(w, member);
    const removed = await removeMember(w.state, w.owner.identity, member.fingerprint, w.seeds.get(0)!, w.h.clock.now);
    appendBeforeNextPut(w, () => append(w, w.owner, [removed.entry], removed.boxes));
    await refused(member.api.notes.put({ envelope: env }), 'FORBIDDEN');
    expect(await w.h.store.getNote(w.groupId, env.noteId)).toBeNull();
  });

  it('refuses a put whose device its person unlinked between its member check and its write (a chain append: the group head stays)', async () => {
    const w = await world();
    const member = await joinGroup(w);
    const env = await note(w, member);
    // The member's device belongs to a person (its chain, as the store indexes it); the person then unlinks it.
    let standing = await w.h.store.deviceStanding(member.fingerprint);
    if (!standing) {
      const first = { v: PROTOCOL_VERSION, person: member.fingerprint, seq: 0 } as unknown as DeviceEntry;
      expect((await w.h.store.appendChain(member.fingerprint, [first], { seq: 0, hash: toBase64url(new Uint8Array(32).fill(1)) as EntryHash }, { linked: [{ device: member.fingerprint, seq: 0 }], unlinked: [] })).ok).toBe(true);
      standing = { person: member.fingerprint, unlinkedSeq: null };
    }
    const person = standing.person;
    const next = (await w.h.store.getChain(person))!.head.seq + 1;
    appendBeforeNextPut(w, async () => {
      const entry = { v: PROTOCOL_VERSION, person, seq: next } as unknown as DeviceEntry;
      const unlinked = await w.h.store.appendChain(person, [entry], { seq: next, hash: toBase64url(new Uint8Array(32).fill(2)) as EntryHash }, { linked: [], unlinked: [{ device: member.fingerprint, seq: next }] });
      expect(unlinked.ok).toBe(true);
    });
    const error = await refused(member.api.notes.put({ envelope: env }), 'FORBIDDEN');
    expect(String(error)).toMatch(/unlinked by its person/);
    expect(await w.h.store.getNote(w.groupId, env.noteId)).toBeNull();
  });

  it(`gives up a put after ${NOTE_PUT_TRIES} tries when the log moves before each write (CONFLICT that says to retry), and writes nothing`, async () => {
    const w = await world();
    const member = await joinGroup(w);
    const env = await note(w, member);
    const store = w.h.store;
    const put = store.putNoteVersion.bind(store);
    let tries = 0;
    store.putNoteVersion = async (...args) => {
      tries++;
      await invite(w);
      return put(...args);
    };
    const error = await refused(member.api.notes.put({ envelope: env }), 'CONFLICT');
    expect(error.message).toMatch(/put the note again/);
    expect(tries).toBe(NOTE_PUT_TRIES);
    store.putNoteVersion = put;
    expect(await store.getNote(w.groupId, env.noteId)).toBeNull();
    // Once the log is still, the same put goes through.
    expect((await member.api.notes.put({ envelope: env })).version).toBe(1);
  });

  it('refuses a put sealed with a generation that a rotation between its check and its write made old', async () => {
    const w = await world();
    const member = await joinGroup(w);
    const env = await note(w, member);
    const rotated = await rotateKey(w.state, w.owner.identity, w.seeds.get(0)!, w.h.clock.now);
    appendBeforeNextPut(w, () => append(w, w.owner, [rotated.entry], rotated.boxes));
    await refused(member.api.notes.put({ envelope: env }), 'NOTE_REJECTED');
    expect(await w.h.store.getNote(w.groupId, env.noteId)).toBeNull();
    // Checked again on the state now current, the same put sealed anew goes through.
    w.seeds.set(1, rotated.seed);
    expect((await member.api.notes.put({ envelope: await note(w, member, { noteId: env.noteId }) })).version).toBe(1);
  });

  it('accepts a leave with no key, then treats the leaver as departed (no boxes from it any more)', async () => {
    const w = await world();
    const member = await joinGroup(w);
    const left = await leaveGroup(w.state, member.identity, w.h.clock.now);
    await append(w, member, [left.entry], []);
    expect((await member.api.groups.log({ groupId: w.groupId })).head.seq).toBe(left.entry.seq);
    expect(await member.api.groups.mine()).toEqual([expect.objectContaining({ status: 'left' })]);
    // The departed member can no longer post boxes, not even for the generation it held.
    const box = await sealKeyBox(member.identity, w.groupId, 0, w.seeds.get(0)!, { kind: 'member', id: w.owner.fingerprint }, w.owner.identity.bundle.boxKey);
    await refused(member.api.boxes.post({ groupId: w.groupId, boxes: [box] }), 'FORBIDDEN');
  });
});

describe('key boxes', () => {
  it('refuses a box with a bad signature, to a non-member, from another sender, or for a future generation (BOX_REJECTED)', async () => {
    const w = await world();
    const member = await joinGroup(w);
    const stranger = await signIn(w.h);
    const boxKey = w.state.devices.get(member.fingerprint)!.boxKey;
    const seed = w.seeds.get(0)!;
    const good = await sealKeyBox(w.owner.identity, w.groupId, 0, seed, { kind: 'member', id: member.fingerprint }, boxKey);

    const badSig = await refused(w.owner.api.boxes.post({ groupId: w.groupId, boxes: [good, { ...good, sig: forge(good.sig) }] }), 'BOX_REJECTED');
    expect(badSig.message).toMatch(/key box 1 .*signature/);
    const toStranger = await sealKeyBox(w.owner.identity, w.groupId, 0, seed, { kind: 'member', id: stranger.fingerprint }, stranger.identity.bundle.boxKey);
    expect((await refused(w.owner.api.boxes.post({ groupId: w.groupId, boxes: [toStranger] }), 'BOX_REJECTED')).message).toMatch(/key box 0 .*not a current device of a member/);
    // The member posting the owner's box (not its own).
    await refused(member.api.boxes.post({ groupId: w.groupId, boxes: [good] }), 'BOX_REJECTED');
    const future = await sealKeyBox(w.owner.identity, w.groupId, 1, seed, { kind: 'member', id: member.fingerprint }, boxKey);
    await refused(w.owner.api.boxes.post({ groupId: w.groupId, boxes: [future] }), 'BOX_REJECTED');
    // A box for an invite that is not pre-keyed, and for another group.
    const inv = await invite(w);
    const toInvite = await sealKeyBox(w.owner.identity, w.groupId, 0, seed, { kind: 'invite', id: inv.keys.inviteId }, inv.keys.boxKeys.publicBytes);
    await refused(w.owner.api.boxes.post({ groupId: w.groupId, boxes: [toInvite] }), 'BOX_REJECTED');
    await refused(w.owner.api.boxes.post({ groupId: w.groupId, boxes: [{ ...good, groupId: toBase64url(new Uint8Array(16)) as GroupId }] }), 'BOX_REJECTED');
    // Nothing was stored by the refused calls.
    expect(await member.api.boxes.mine({ groupId: w.groupId })).toEqual([]);
    await w.owner.api.boxes.post({ groupId: w.groupId, boxes: [good] });
    expect(await member.api.boxes.mine({ groupId: w.groupId })).toEqual([good]);

    // A pre-keyed invite takes boxes while open, and within the clock skew after its
    // expiry (a rotating client's clock may lag), but not later.
    const prekeyed = await invite(w, { prekeyed: true, expiresAt: w.h.clock.now + MINUTE });
    const toPrekeyed = await sealKeyBox(w.owner.identity, w.groupId, 0, seed, { kind: 'invite', id: prekeyed.keys.inviteId }, prekeyed.keys.boxKeys.publicBytes);
    w.h.clock.now += 2 * MINUTE;
    await w.owner.api.boxes.post({ groupId: w.groupId, boxes: [toPrekeyed] });
    w.h.clock.now += w.h.config.clockSkewMs;
    expect((await refused(w.owner.api.boxes.post({ groupId: w.groupId, boxes: [toPrekeyed] }), 'BOX_REJECTED')).message).toMatch(/no longer open/);
  });

  it("a member's junk box never replaces another sender's box (member, recovery or invite); the recipient gets every box", async () => {
    const w = await world({ sessionTtlMs: 24 * HOUR });
    const joiner = await joinGroup(w);
    const mallory = await joinGroup(w);
    const seed = w.seeds.get(0)!;
    const junkSeed = new Uint8Array(32).fill(9);
    const joinerKey = w.state.devices.get(joiner.fingerprint)!.boxKey;
    const recovery = w.state.recovery!;
    const recoveryKey = w.state.devices.get(recovery)!.boxKey;
    const good = await sealKeyBox(w.owner.identity, w.groupId, 0, seed, { kind: 'member', id: joiner.fingerprint }, joinerKey);
    await w.owner.api.boxes.post({ groupId: w.groupId, boxes: [good] });
    const prekeyed = await invite(w, { prekeyed: true });

    // Validly signed by a member, sealed to the right keys, with a seed the log does not name.
    const junk = await Promise.all([
      sealKeyBox(mallory.identity, w.groupId, 0, junkSeed, { kind: 'member', id: joiner.fingerprint }, joinerKey),
      sealKeyBox(mallory.identity, w.groupId, 0, junkSeed, { kind: 'member', id: recovery }, recoveryKey),
      sealKeyBox(mallory.identity, w.groupId, 0, junkSeed, { kind: 'invite', id: prekeyed.keys.inviteId }, prekeyed.keys.boxKeys.publicBytes),
    ]);
    expect(await mallory.api.boxes.post({ groupId: w.groupId, boxes: junk })).toEqual({ stored: 3 });

    const state = w.state;
    const mine = await joiner.api.boxes.mine({ groupId: w.groupId });
    expect(new Set(mine)).toEqual(new Set([good, junk[0]]));
    await expect(openKeyBox(junk[0], openerFor(joiner.identity), state)).rejects.toThrow();
    expect(await openKeyBox(mine.find((b) => b.sender === w.owner.fingerprint), openerFor(joiner.identity), state)).toEqual(seed);

    // The recovery recipient's box from the creator survives.
    const { recoveryIdentityFromCode } = await import('../../shared/src/crypto/recovery.ts');
    const recoverySession = await signIn(w.h, (await recoveryIdentityFromCode(w.group.recoveryCode)).identity);
    const recoveryBoxes = await recoverySession.api.boxes.mine({ groupId: w.groupId, generation: 0 });
    expect(new Set(recoveryBoxes)).toEqual(new Set([...w.group.boxes, junk[1]]));

    // A pre-keyed invite's lookup gives every sender's box of its newest generation.
    const stranger = await signIn(w.h);
    const found = await lookupAs(stranger, prekeyed.keys);
    expect(new Set(found.boxes)).toEqual(new Set([prekeyed.box, junk[2]]));
    const opened = await Promise.allSettled(found.boxes.map((b) => openKeyBox(b, inviteOpener(prekeyed.keys), state)));
    expect(opened.filter((o) => o.status === 'fulfilled').map((o) => (o as PromiseFulfilledResult<unknown>).value)).toEqual([seed]);

    // A sender replaces its own box, and only its own.
    const again = await sealKeyBox(w.owner.identity, w.groupId, 0, seed, { kind: 'member', id: joiner.fingerprint }, joinerKey);
    await w.owner.api.boxes.post({ groupId: w.groupId, boxes: [again] });
    expect(new Set(await joiner.api.boxes.mine({ groupId: w.groupId }))).toEqual(new Set([again, junk[0]]));
  });

  it("another member's box does not take a waiting member off the mailbox; only the member's own box to itself does", async () => {
    const w = await world();
    const joiner = await joinGroup(w);
    const mallory = await joinGroup(w);
    await joiner.api.mailbox.request({ groupId: w.groupId });
    const joinerKey = w.state.devices.get(joiner.fingerprint)!.boxKey;
    const junk = await sealKeyBox(mallory.identity, w.groupId, 0, new Uint8Array(32).fill(3), { kind: 'member', id: joiner.fingerprint }, joinerKey);
    await mallory.api.boxes.post({ groupId: w.groupId, boxes: [junk] });
    expect((await w.owner.api.mailbox.pending({ groupId: w.groupId })).map((p) => p.fingerprint)).toEqual([joiner.fingerprint]);

    // A confirmation at an older generation does not serve a request at the current one.
    const self0 = await sealKeyBox(joiner.identity, w.groupId, 0, w.seeds.get(0)!, { kind: 'member', id: joiner.fingerprint }, joiner.identity.boxKeys.publicBytes);
    const rotated = await rotateKey(w.state, w.owner.identity, w.seeds.get(0)!, w.h.clock.now);
    // (The owner's box for generation 1 is on the server, but not yet opened by the joiner.)
    await append(w, w.owner, [rotated.entry], rotated.boxes);
    w.seeds.set(1, rotated.seed);
    await joiner.api.boxes.post({ groupId: w.groupId, boxes: [self0] });
    await joiner.api.mailbox.request({ groupId: w.groupId });
    expect((await w.owner.api.mailbox.pending({ groupId: w.groupId })).map((p) => p.fingerprint)).toEqual([joiner.fingerprint]);
    const self1 = await sealKeyBox(joiner.identity, w.groupId, 1, rotated.seed, { kind: 'member', id: joiner.fingerprint }, joiner.identity.boxKeys.publicBytes);
    await joiner.api.boxes.post({ groupId: w.groupId, boxes: [self1] });
    expect(await w.owner.api.mailbox.pending({ groupId: w.groupId })).toEqual([]);

    // A served request stays served: the next rotation does not list the member as waiting again.
    const again = await rotateKey(w.state, w.owner.identity, w.seeds, w.h.clock.now);
    await append(w, w.owner, [again.entry], again.boxes);
    expect(await w.owner.api.mailbox.pending({ groupId: w.groupId })).toEqual([]);
    // Asking again (it lacks the new key) lists it until it confirms the new generation.
    await joiner.api.mailbox.request({ groupId: w.groupId });
    expect((await w.owner.api.mailbox.pending({ groupId: w.groupId })).map((p) => p.fingerprint)).toEqual([joiner.fingerprint]);
  });

  it('refuses a role entry that changes nothing (LOG_REJECTED no-op), so a long log cannot be grown for free', async () => {
    const w = await world();
    const member = await joinGroup(w);
    const same = await nextEntry(w.state, w.owner.identity, 'role', { member: member.fingerprint, role: 'member' }, w.h.clock.now);
    const error = await refused(w.owner.api.groups.append({ groupId: w.groupId, entries: [same], boxes: [] }), 'LOG_REJECTED');
    expect(error.message).toMatch(/no-op/);
  });

  it('refuses a rotation that does not bring a box from its author for every member (a seed nobody receives cannot be committed to)', async () => {
    const w = await world();
    const member = await joinGroup(w);
    const rotated = await rotateKey(w.state, w.owner.identity, w.seeds.get(0)!, w.h.clock.now);
    const none = await refused(w.owner.api.groups.append({ groupId: w.groupId, entries: [rotated.entry], boxes: [] }), 'BOX_REJECTED');
    expect(none.message).toMatch(/no key box from its author/);
    const withoutMember = rotated.boxes.filter((b) => b.recipient.id !== member.fingerprint);
    await refused(w.owner.api.groups.append({ groupId: w.groupId, entries: [rotated.entry], boxes: withoutMember }), 'BOX_REJECTED');
    await append(w, w.owner, [rotated.entry], rotated.boxes);
  });

  it('refuses a rotation whose boxes are bad, and stores nothing of it', async () => {
    const w = await world();
    await joinGroup(w);
    const rotated = await rotateKey(w.state, w.owner.identity, w.seeds.get(0)!, w.h.clock.now);
    const boxes = rotated.boxes.map((b, i) => (i === 0 ? { ...b, sig: forge(b.sig) } : b));
    await refused(w.owner.api.groups.append({ groupId: w.groupId, entries: [rotated.entry], boxes }), 'BOX_REJECTED');
    expect((await w.owner.api.groups.log({ groupId: w.groupId })).head).toEqual(logHead(w.state));
    await append(w, w.owner, [rotated.entry], rotated.boxes);
    expect(currentGeneration(w.state)).toBe(1);
  });
});

describe('notes', () => {
  it('puts, gets and lists notes with a cursor; an edit needs the next version (CONFLICT with currentVersion)', async () => {
    const w = await world();
    const member = await joinGroup(w);
    const notes = [await note(w, w.owner), await note(w, w.owner), await note(w, w.owner)];
    const cursors: number[] = [];
    for (const envelope of notes) cursors.push((await w.owner.api.notes.put({ envelope })).cursor);
    expect(cursors).toEqual([...cursors].sort((a, b) => a - b));

    expect(await w.owner.api.notes.get({ groupId: w.groupId, noteId: notes[0]!.noteId })).toEqual(notes[0]);
    await refused(w.owner.api.notes.get({ groupId: w.groupId, noteId: newNoteId() }), 'NOT_FOUND');

    const page1 = await w.owner.api.notes.list({ groupId: w.groupId, limit: 2 });
    expect(page1.more).toBe(true);
    expect(page1.items.map((i) => i.noteId)).toEqual([notes[0]!.noteId, notes[1]!.noteId]);
    expect(page1.items[0]).not.toHaveProperty('body');
    expect(page1.items[0]!.bodyBytes).toBe(Buffer.from(notes[0]!.body, 'base64url').length);
    const page2 = await w.owner.api.notes.list({ groupId: w.groupId, since: page1.cursor, limit: 2 });
    expect(page2).toMatchObject({ more: false, items: [expect.objectContaining({ noteId: notes[2]!.noteId })] });
    expect(await w.owner.api.notes.list({ groupId: w.groupId, since: page2.cursor })).toEqual({ items: [], cursor: page2.cursor, more: false });

    // Another member edits version 2; a concurrent version 2 loses.
    const edit = await note(w, member, { noteId: notes[0]!.noteId, version: 2, body: 'edited', prev: await noteVersionHash(notes[0]!) });
    const rival = await note(w, w.owner, { noteId: notes[0]!.noteId, version: 2, body: 'rival', prev: await noteVersionHash(notes[0]!) });
    await member.api.notes.put({ envelope: edit });
    const conflict = await refused(w.owner.api.notes.put({ envelope: rival }), 'CONFLICT');
    expect(apiErrorData(conflict).currentVersion).toBe(2);
    await refused(w.owner.api.notes.put({ envelope: await note(w, w.owner, { noteId: notes[0]!.noteId, version: 4 }) }), 'CONFLICT');
    expect(await w.owner.api.notes.get({ groupId: w.groupId, noteId: notes[0]!.noteId })).toEqual(edit);
    expect(await w.owner.api.notes.get({ groupId: w.groupId, noteId: notes[0]!.noteId, version: 1 })).toEqual(notes[0]);
    // The changed note comes back after the old cursor.
    expect((await w.owner.api.notes.list({ groupId: w.groupId, since: page2.cursor })).items.map((i) => [i.noteId, i.version])).toEqual([[notes[0]!.noteId, 2]]);

    // Deleting is a version with deleted: true.
    await w.owner.api.notes.put({ envelope: await note(w, w.owner, { noteId: notes[1]!.noteId, version: 2, deleted: true, body: '', prev: await noteVersionHash(notes[1]!) }) });
    expect((await w.owner.api.notes.get({ groupId: w.groupId, noteId: notes[1]!.noteId })).deleted).toBe(true);

    // What a member stored opens with the group key.
    const opened = await openNote(await member.api.notes.get({ groupId: w.groupId, noteId: edit.noteId }), w.state, { noteId: edit.noteId }, () => noteKey(w, 0));
    expect(opened.body).toBe('edited');
  });

  it('refuses a bad signature, another author, an old generation after rotation, and an oversize body', async () => {
    const w = await world({ noteMaxBytes: 1024 });
    const member = await joinGroup(w);
    const env = await note(w, w.owner);
    const tampered = await refused(w.owner.api.notes.put({ envelope: { ...env, at: env.at + 1 } }), 'NOTE_REJECTED');
    expect(tampered.message).toMatch(/signature/);
    await refused(w.owner.api.notes.put({ envelope: { ...env, sig: forge(env.sig) } }), 'NOTE_REJECTED');
    // A member cannot store a note in the owner's name.
    await refused(member.api.notes.put({ envelope: env }), 'FORBIDDEN');

    await refused(w.owner.api.notes.put({ envelope: await note(w, w.owner, { body: 'x'.repeat(1025) }) }), 'PAYLOAD_TOO_LARGE');
    await w.owner.api.notes.put({ envelope: await note(w, w.owner, { body: 'x'.repeat(1024) }) });

    const rotated = await rotateKey(w.state, w.owner.identity, w.seeds.get(0)!, w.h.clock.now);
    await append(w, w.owner, [rotated.entry], rotated.boxes);
    w.seeds.set(1, rotated.seed);
    const old = await refused(member.api.notes.put({ envelope: await note(w, member, { generation: 0 }) }), 'NOTE_REJECTED');
    expect(old.message).toMatch(/generation 0.*generation 1/);
    await member.api.notes.put({ envelope: await note(w, member, { generation: 1 }) });
  });
});
