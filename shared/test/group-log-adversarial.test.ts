/**
 * Adversarial group logs (DESIGN §4, §6). Every case starts from a real, valid log
 * built with real keys through the public API (createGroup, createInvite,
 * acceptInvite, nextEntry, removeMember …), then tampers the way a malicious server,
 * a removed member or a careless client would, and checks that replaying or extending
 * the log is refused with the named `LogVerificationError` reason (and, where it
 * names one, the sequence number of the entry at fault).
 */
import { describe, expect, it } from 'vitest';
import { InviteError, LogVerificationError, type LogRejection } from '../src/crypto/errors.ts';
import { makeRotation, seedCommitment } from '../src/crypto/generations.ts';
import { singleDeviceChain } from '../src/crypto/device-chain.ts';
import { createGroup, leaveGroup, removeMember, rotateKey } from '../src/crypto/group-lifecycle.ts';
import { checkPinnedHead, compareHead, logHead, nextEntry, signEntry, type GroupState } from '../src/crypto/group-log.ts';
import { fingerprintOf, generateIdentity, type DeviceIdentity } from '../src/crypto/identity.ts';
import { acceptInvite, createInvite, deriveInviteKeys, inviteKeysFromCode, type InviteKeys } from '../src/crypto/invite.ts';
import { acceptanceInput, deriveGroupId, extendLog, replayLog } from '../src/crypto/log-replay.ts';
import { randomBytes, sign } from '../src/crypto/primitives.ts';
import { recoveryIdentityFromCode } from '../src/crypto/recovery.ts';
import { fromBase64url, toBase64url } from '../src/protocol/encoding.ts';
import type { GroupId } from '../src/protocol/ids.ts';
import type { DeviceEntry, LogEntry, PublicBundle, Rotation, UnsignedLogEntry } from '../src/protocol/schemas.ts';
import { PROTOCOL_VERSION } from '../src/protocol/schemas.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** Every log here is dated from a fixed point a little in the past, one step per entry. */
const T0 = Date.now() - HOUR;

// ---------------------------------------------------------------------------
// helpers

// A mutable view of a wire object, to tamper with it freely.
type Raw = Record<string, any>;

/** Awaits `promise` and checks it was refused with `reason` (and `seq`, when given). */
async function expectRejected(promise: Promise<unknown>, reason: LogRejection, seq?: number): Promise<LogVerificationError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome, `expected the log to be refused with '${reason}', but it was accepted`).toBeDefined();
  expect(outcome).toBeInstanceOf(LogVerificationError);
  const error = outcome as LogVerificationError;
  expect({ reason: error.reason, message: error.message }).toMatchObject({ reason });
  if (seq !== undefined) expect(error.seq).toBe(seq);
  expect(error.code).toBe(reason === 'rollback' ? 'LOG_ROLLBACK' : reason === 'fork' ? 'LOG_FORK' : 'LOG_INVALID');
  return error;
}

/** Same as {@link expectRejected}, for a synchronous check. */
function expectThrown(run: () => unknown, reason: LogRejection, seq?: number): void {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(LogVerificationError);
  expect((thrown as LogVerificationError).reason).toBe(reason);
  if (seq !== undefined) expect((thrown as LogVerificationError).seq).toBe(seq);
}

/** A copy of `entry` without its signature, changed by `edit`, then signed by `signer`. */
async function forge(entry: LogEntry, signer: DeviceIdentity, edit: (unsigned: Raw) => void = () => {}): Promise<LogEntry> {
  const copy = structuredClone(entry) as Raw;
  delete copy.sig;
  edit(copy);
  return signEntry(copy as UnsignedLogEntry, signer);
}

/** A deep copy of `entry` changed by `edit`, keeping its (now stale) signature. */
function tamper(entry: LogEntry, edit: (raw: Raw) => void): Raw {
  const copy = structuredClone(entry) as Raw;
  edit(copy);
  return copy;
}

/** The base64url signature with one bit of one byte flipped (still canonical, still 64 bytes). */
function flipSignatureByte(sig: string, at = 17): string {
  const bytes = fromBase64url(sig, 64);
  bytes[at] = bytes[at]! ^ 0x01;
  return toBase64url(bytes);
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The same 64 bytes with stray low bits set in the last character: not canonical base64url. */
function nonCanonical(sig: string): string {
  const last = B64URL.indexOf(sig.slice(-1));
  return sig.slice(0, -1) + B64URL[(last & 0b110000) | 0b0001];
}

async function acceptanceSig(keys: InviteKeys, groupId: GroupId, member: PublicBundle): Promise<string> {
  return toBase64url(await sign(keys.signKeys.privateKey, acceptanceInput(groupId, keys.inviteId, member)));
}

interface Fixture {
  /** Creator, the only human admin. */
  alice: DeviceIdentity;
  /** Joined with an invite from Alice, as a member. */
  bob: DeviceIdentity;
  /** Not in the group. */
  carol: DeviceIdentity;
  /** The storage server's own key pair: it is never a member. */
  server: DeviceIdentity;
  /** create, recovery, invite (Bob's), add (Bob). */
  log: LogEntry[];
  state: GroupState;
  seed: Uint8Array;
  recoveryCode: string;
  bobInvite: InviteKeys;
  /** The time of the next entry (strictly after the last). */
  clock: () => number;
}

/** A real group: Alice creates it (with its recovery recipient) and Bob joins by invite. */
async function fixture(): Promise<Fixture> {
  const [alice, bob, carol, server] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity(), generateIdentity()]);
  let t = T0;
  const clock = () => (t += 1000);
  const group = await createGroup(alice, { at: clock() });
  let state = group.state;
  const log = [...group.entries];
  const invite = await createInvite(state, alice, { role: 'member', expiresAt: T0 + HOUR, at: clock() });
  state = await extendLog(state, [invite.entry]);
  log.push(invite.entry);
  const bobInvite = await inviteKeysFromCode(invite.code);
  const add = await acceptInvite(state, bobInvite, bob, clock());
  state = await extendLog(state, [add]);
  log.push(add);
  return { alice, bob, carol, server, log, state, seed: group.seed, recoveryCode: group.recoveryCode, bobInvite, clock };
}

/** Validates `entries` on top of the fixture and records them. */
async function grow(f: Fixture, ...entries: LogEntry[]): Promise<void> {
  f.state = await extendLog(f.state, entries);
  f.log.push(...entries);
}

/** Alice promotes Bob to admin. */
async function promoteBob(f: Fixture): Promise<void> {
  await grow(f, await nextEntry(f.state, f.alice, 'role', { member: f.bob.fingerprint, role: 'admin' }, f.clock()));
}

async function inviteEntry(f: Fixture, author: DeviceIdentity, options: { role?: 'admin' | 'member'; expiresAt?: number } = {}) {
  return createInvite(f.state, author, { role: options.role ?? 'member', expiresAt: options.expiresAt ?? T0 + HOUR, at: f.clock() });
}

// ---------------------------------------------------------------------------

describe('the fixture itself', () => {
  it('is a valid log that replays from scratch to the same head', async () => {
    const f = await fixture();
    const replayed = await replayLog(f.log);
    expect(logHead(replayed)).toEqual(logHead(f.state));
    expect(replayed.members.has(f.bob.fingerprint)).toBe(true);
    expect(f.log.map((e) => e.op)).toEqual(['create', 'recovery', 'invite', 'add']);
  });
});

describe('forged signatures', () => {
  it('refuses an entry whose author is an admin but which another member signed', async () => {
    const f = await fixture();
    const honest = (await inviteEntry(f, f.alice)).entry;
    const forged = await forge(honest, f.bob);
    expect(forged.author).toBe(f.alice.fingerprint);
    await expectRejected(extendLog(f.state, [forged]), 'bad-signature', 4);
    await expectRejected(replayLog([...f.log, forged]), 'bad-signature', 4);
  });

  it('refuses an entry with one byte of its signature changed', async () => {
    const f = await fixture();
    const honest = (await inviteEntry(f, f.alice)).entry;
    const broken = tamper(honest, (e) => (e.sig = flipSignatureByte(e.sig)));
    await expectRejected(extendLog(f.state, [broken]), 'bad-signature', 4);
    // The untouched entry is fine.
    await expect(extendLog(f.state, [honest])).resolves.toBeDefined();
  });

  it('refuses a signed field changed after signing', async () => {
    const f = await fixture();
    const honest = (await inviteEntry(f, f.alice)).entry;
    await expectRejected(extendLog(f.state, [tamper(honest, (e) => (e.at += 1))]), 'bad-signature', 4);
    await expectRejected(extendLog(f.state, [tamper(honest, (e) => (e.body.role = 'admin'))]), 'bad-signature', 4);
    await expectRejected(extendLog(f.state, [tamper(honest, (e) => (e.body.expiresAt += HOUR))]), 'bad-signature', 4);
  });

  it('finds a bad signature in the middle of a full replay and names its entry', async () => {
    const f = await fixture();
    const log: unknown[] = [...f.log];
    log[2] = tamper(f.log[2]!, (e) => (e.sig = flipSignatureByte(e.sig, 40)));
    await expectRejected(replayLog(log), 'bad-signature', 2);
  });

  it('reports a bad signature before a later rule break', async () => {
    const f = await fixture();
    const log: unknown[] = [...f.log];
    log[2] = tamper(f.log[2]!, (e) => (e.sig = flipSignatureByte(e.sig)));
    // Entry 3 also breaks a rule (wrong link): the earlier forgery is the real cause.
    log[3] = await forge(f.log[3]!, f.bob, (e) => (e.prev = f.state.hashes[1]));
    await expectRejected(replayLog(log), 'bad-signature', 2);
  });

  it('refuses a create entry signed by someone other than its creator', async () => {
    const f = await fixture();
    const create = await forge(f.log[0]!, f.server, (e) => (e.author = f.server.fingerprint));
    await expectRejected(replayLog([create]), 'bad-signature', 0);
    const resigned = await forge(f.log[0]!, f.server);
    await expectRejected(replayLog([resigned]), 'bad-signature', 0);
  });

  it("refuses a member bundle whose box key the server swapped for its own", async () => {
    const f = await fixture();
    // The server hands Alice Carol's bundle with its own box key, to read Carol's key boxes.
    const swapped: PublicBundle = { ...f.carol.bundle, boxKey: f.server.bundle.boxKey };
    // In Carol's chain, her found entry carries her bundle, signed by her.
    const chain = await singleDeviceChain(f.carol);
    chain[0] = { ...chain[0]!, body: { device: swapped } } as DeviceEntry;
    const add = await nextEntry(f.state, f.alice, 'add', { member: chain, role: 'member' }, f.clock());
    // The swapped bundle has another fingerprint than the person and author the entry names…
    await expectRejected(extendLog(f.state, [add]), 'device-chain', 4);
    // …and renaming them to it leaves Carol's signature over other bytes.
    const renamed = await singleDeviceChain(f.carol);
    renamed[0] = { ...renamed[0]!, person: fingerprintOf(swapped), author: fingerprintOf(swapped), body: { device: swapped } } as DeviceEntry;
    const add2 = await nextEntry(f.state, f.alice, 'add', { member: renamed, role: 'member' }, f.clock());
    await expectRejected(extendLog(f.state, [add2]), 'bad-signature', 4);
  });
});

describe('who may sign what', () => {
  it('refuses an add signed by a member who is not an admin', async () => {
    const f = await fixture();
    const add = await nextEntry(f.state, f.bob, 'add', { member: await singleDeviceChain(f.carol), role: 'member' }, f.clock());
    await expectRejected(extendLog(f.state, [add]), 'not-admin', 4);
  });

  it('refuses other admin-only entries signed by a plain member', async () => {
    const f = await fixture();
    const invite = (await inviteEntry(f, f.bob)).entry;
    await expectRejected(extendLog(f.state, [invite]), 'not-admin', 4);
    const role = await nextEntry(f.state, f.bob, 'role', { member: f.bob.fingerprint, role: 'admin' }, f.clock());
    await expectRejected(extendLog(f.state, [role]), 'not-admin', 4);
    const { rotation } = await makeRotation(f.state.groupId, 1, f.seed);
    const rotate = await nextEntry(f.state, f.bob, 'rotate', { rotation }, f.clock());
    await expectRejected(extendLog(f.state, [rotate]), 'not-admin', 4);
    const remove = await nextEntry(f.state, f.bob, 'remove', { member: f.alice.fingerprint, rotation }, f.clock());
    await expectRejected(extendLog(f.state, [remove]), 'not-admin', 4);
  });

  it('refuses a member the server inserts with its own key pair', async () => {
    const f = await fixture();
    // The server writes an add for itself, authored and signed by itself: it is no member.
    const add = await nextEntry(f.state, f.server, 'add', { member: await singleDeviceChain(f.server), role: 'admin' }, f.clock());
    await expectRejected(extendLog(f.state, [add]), 'not-member', 4);
    await expectRejected(replayLog([...f.log, add]), 'not-member', 4);
  });

  it("refuses a server-made add that names an admin as author but carries the server's signature", async () => {
    const f = await fixture();
    const honest = await nextEntry(f.state, f.alice, 'add', { member: await singleDeviceChain(f.server), role: 'admin' }, f.clock());
    const forged = await forge(honest, f.server);
    expect(forged.author).toBe(f.alice.fingerprint);
    await expectRejected(extendLog(f.state, [forged]), 'bad-signature', 4);
  });

  it('refuses a server-made add that accepts an invite key the log never had', async () => {
    const f = await fixture();
    const own = await deriveInviteKeys(f.state.groupId, randomBytes(16));
    const entry = await nextEntry(
      f.state,
      f.server,
      'add',
      { member: await singleDeviceChain(f.server), role: 'member', acceptance: { invite: own.inviteId, sig: await acceptanceSig(own, f.state.groupId, f.server.bundle) } },
      f.clock(),
    );
    await expectRejected(extendLog(f.state, [entry]), 'unknown-invite', 4);
  });

  it("refuses a joiner's acceptance posted by the server as the entry's author", async () => {
    const f = await fixture();
    const invite = await inviteEntry(f, f.alice);
    await grow(f, invite.entry);
    const keys = await inviteKeysFromCode(invite.code);
    const carolsAdd = await acceptInvite(f.state, keys, f.carol, f.clock());
    // The server keeps Carol's acceptance but signs the entry itself.
    const forged = await forge(carolsAdd, f.server, (e) => (e.author = f.server.fingerprint));
    await expectRejected(extendLog(f.state, [forged]), 'not-member', 5);
  });

  it('refuses entries signed by a member after their removal', async () => {
    const f = await fixture();
    await promoteBob(f);
    const removal = await removeMember(f.state, f.alice, f.bob.fingerprint, f.seed, f.clock());
    await grow(f, removal.entry);
    const seq = f.state.seq + 1;
    const invite = (await inviteEntry(f, f.bob)).entry;
    await expectRejected(extendLog(f.state, [invite]), 'not-member', seq);
    const { rotation } = await makeRotation(f.state.groupId, 2, removal.seed);
    const rotate = await nextEntry(f.state, f.bob, 'rotate', { rotation }, f.clock());
    await expectRejected(extendLog(f.state, [rotate]), 'not-member', seq);
    const readd = await nextEntry(f.state, f.bob, 'add', { member: await singleDeviceChain(f.bob), role: 'admin' }, f.clock());
    await expectRejected(extendLog(f.state, [readd]), 'not-member', seq);
    const leave = await nextEntry(f.state, f.bob, 'leave', {}, f.clock());
    await expectRejected(extendLog(f.state, [leave]), 'not-member', seq);
  });

  it('refuses entries signed by a member after they left', async () => {
    const f = await fixture();
    const left = await leaveGroup(f.state, f.bob, f.clock());
    await grow(f, left.entry);
    const again = await nextEntry(f.state, f.bob, 'leave', {}, f.clock());
    await expectRejected(extendLog(f.state, [again]), 'not-member', f.state.seq + 1);
    // Nor can the leaver start the next generation: only an admin rotates.
    const { rotation } = await makeRotation(f.state.groupId, 1, f.seed);
    const rotate = await nextEntry(f.state, f.bob, 'rotate', { rotation }, f.clock());
    await expectRejected(extendLog(f.state, [rotate]), 'not-member', f.state.seq + 1);
  });

  it('refuses a removed admin rejoining through an invite it created before its removal', async () => {
    // Regression: an admin's open invites used to outlive the admin. Bob, an admin, makes
    // an invite (he holds its secret), is removed, then accepts his own invite. Invites
    // now die with their author's admin rights.
    const f = await fixture();
    await promoteBob(f);
    const own = await inviteEntry(f, f.bob, { role: 'admin' });
    await grow(f, own.entry);
    const removal = await removeMember(f.state, f.alice, f.bob.fingerprint, f.seed, f.clock());
    await grow(f, removal.entry);
    const keys = await inviteKeysFromCode(own.code);
    expect(f.state.invites.get(keys.inviteId)?.revokedAt).toBe(removal.entry.seq);
    // The honest client refuses up front…
    await expect(acceptInvite(f.state, keys, f.bob, f.clock())).rejects.toBeInstanceOf(InviteError);
    // …and a hand-built acceptance is refused by every replaying client.
    const sig = await sign(keys.signKeys.privateKey, acceptanceInput(f.state.groupId, keys.inviteId, f.bob.bundle));
    const rejoin = await nextEntry(f.state, f.bob, 'add', { member: await singleDeviceChain(f.bob), role: 'admin', acceptance: { invite: keys.inviteId, sig: toBase64url(sig) } }, f.clock());
    await expectRejected(extendLog(f.state, [rejoin]), 'invite-revoked', f.state.seq + 1);
  });
});

describe('order, links and time', () => {
  it('refuses two entries swapped', async () => {
    const f = await fixture();
    const swapped = [f.log[0], f.log[1], f.log[3], f.log[2]];
    // Position 2 holds entry 3: the log breaks there.
    await expectRejected(replayLog(swapped), 'bad-sequence');
  });

  it('refuses a duplicated entry', async () => {
    const f = await fixture();
    await expectRejected(replayLog([...f.log, f.log[3]]), 'bad-sequence');
    await expectRejected(extendLog(f.state, [f.log[3]]), 'bad-sequence');
    await expectRejected(replayLog([f.log[0], f.log[0]]), 'bad-sequence');
  });

  it('refuses a gap in the sequence', async () => {
    const f = await fixture();
    const invite = await forge((await inviteEntry(f, f.alice)).entry, f.alice, (e) => (e.seq = 5));
    await expectRejected(extendLog(f.state, [invite]), 'bad-sequence', 5);
  });

  it('refuses an entry whose prev hash is wrong', async () => {
    const f = await fixture();
    const honest = (await inviteEntry(f, f.alice)).entry;
    const wrongPrev = await forge(honest, f.alice, (e) => (e.prev = f.state.hashes[2]));
    await expectRejected(extendLog(f.state, [wrongPrev]), 'bad-link', 4);
    const nullPrev = await forge(honest, f.alice, (e) => (e.prev = null));
    await expectRejected(extendLog(f.state, [nullPrev]), 'bad-link', 4);
  });

  it('refuses an entry dated before the entry it follows', async () => {
    const f = await fixture();
    const honest = (await inviteEntry(f, f.alice)).entry;
    const backdated = await forge(honest, f.alice, (e) => (e.at = f.state.lastAt - 1));
    await expectRejected(extendLog(f.state, [backdated]), 'time-went-backwards', 4);
    // The same instant is allowed.
    const same = await forge(honest, f.alice, (e) => (e.at = f.state.lastAt));
    await expect(extendLog(f.state, [same])).resolves.toBeDefined();
  });

  it('refuses an entry dated far in the future, which would expire every later invite', async () => {
    const f = await fixture();
    const honest = (await inviteEntry(f, f.alice)).entry;
    const future = await forge(honest, f.alice, (e) => (e.at = 8.64e15));
    await expectRejected(extendLog(f.state, [future], { now: f.clock() }), 'time-in-future', 4);
    // A clock a few minutes ahead is tolerated.
    const slightlyAhead = await forge(honest, f.alice, (e) => (e.at = f.state.lastAt + 60_000));
    await expect(extendLog(f.state, [slightlyAhead], { now: f.state.lastAt })).resolves.toBeDefined();
  });

  it('refuses an entry written for another group', async () => {
    const f = await fixture();
    const other = await createGroup(f.alice, { at: T0 });
    const honest = (await inviteEntry(f, f.alice)).entry;
    const moved = await forge(honest, f.alice, (e) => (e.groupId = other.state.groupId));
    await expectRejected(extendLog(f.state, [moved]), 'wrong-group', 4);
    // And an entry of the other group replayed into this one.
    await expectRejected(replayLog([f.log[0], other.entries[1]]), 'wrong-group', 1);
  });

  it('refuses a create entry whose group id is not derived from its body', async () => {
    const f = await fixture();
    const randomId = await forge(f.log[0]!, f.alice, (e) => (e.groupId = toBase64url(randomBytes(16))));
    await expectRejected(replayLog([randomId]), 'wrong-group', 0);
    // Changing the nonce changes the id: a create entry cannot be re-used for another group id.
    const newNonce = await forge(f.log[0]!, f.alice, (e) => (e.body.nonce = toBase64url(randomBytes(16))));
    await expectRejected(replayLog([newNonce]), 'wrong-group', 0);
    // Someone else's bundle as creator with the original id is also refused.
    const bobsChain = await singleDeviceChain(f.bob);
    const otherCreator = await forge(f.log[0]!, f.bob, (e) => {
      e.body.creator = bobsChain;
      e.author = f.bob.fingerprint;
    });
    await expectRejected(replayLog([otherCreator]), 'wrong-group', 0);
  });

  it('accepts a hand-built create entry whose group id is derived properly (control)', async () => {
    const f = await fixture();
    const nonce = toBase64url(randomBytes(16));
    const groupId = deriveGroupId(f.carol.bundle, nonce);
    const create = await signEntry(
      {
        v: PROTOCOL_VERSION,
        groupId,
        seq: 0,
        prev: null,
        author: f.carol.fingerprint,
        at: T0,
        op: 'create',
        body: { creator: await singleDeviceChain(f.carol), nonce, seedCommitment: await seedCommitment(randomBytes(32), groupId, 0), policy: 'verified' },
      },
      f.carol,
    );
    const state = await replayLog([create]);
    expect(state.groupId).toBe(groupId);
    expect(state.creator).toBe(f.carol.fingerprint);
  });

  it('refuses a second create entry', async () => {
    const f = await fixture();
    const second = await forge(f.log[0]!, f.alice, (e) => {
      e.seq = f.state.seq + 1;
      e.prev = f.state.head;
      e.at = f.clock();
    });
    await expectRejected(extendLog(f.state, [second]), 'bad-sequence', 4);
  });

  it('refuses a log that does not start with create', async () => {
    const f = await fixture();
    await expectRejected(replayLog(f.log.slice(1)), 'malformed');
    await expectRejected(replayLog([]), 'malformed');
  });
});

describe('forks and rollback against a pinned head', () => {
  async function twoBranches() {
    const f = await fixture();
    const at = f.clock();
    const x = await createInvite(f.state, f.alice, { role: 'member', expiresAt: T0 + HOUR, at });
    const y = await createInvite(f.state, f.alice, { role: 'member', expiresAt: T0 + HOUR, at });
    const stateX = await extendLog(f.state, [x.entry]);
    const stateY = await extendLog(f.state, [y.entry]);
    expect(x.entry.seq).toBe(y.entry.seq);
    expect(stateX.head).not.toBe(stateY.head);
    return { f, x: x.entry, y: y.entry, stateX, stateY };
  }

  it('reports a fork when the other branch is served after this device pinned its own', async () => {
    const { f, y, stateX, stateY } = await twoBranches();
    const pinned = logHead(stateX);
    expectThrown(() => checkPinnedHead(stateY, pinned), 'fork', pinned.seq);
    expect(compareHead(stateY, pinned)).toBe('fork');
    await expectRejected(extendLog(f.state, [y], { pinned }), 'fork', pinned.seq);
    await expectRejected(replayLog([...f.log, y], { pinned }), 'fork', pinned.seq);
  });

  it('reports a fork when the other branch has grown past the pinned head', async () => {
    const { f, y, stateX, stateY } = await twoBranches();
    const pinned = logHead(stateX);
    const more = (await createInvite(stateY, f.alice, { role: 'member', expiresAt: T0 + HOUR, at: f.clock() })).entry;
    const longer = await extendLog(stateY, [more]);
    expect(compareHead(longer, pinned)).toBe('fork');
    await expectRejected(replayLog([...f.log, y, more], { pinned }), 'fork', pinned.seq);
    // From the pinned branch the longer head is only 'ahead': it cannot be judged until synced.
    expect(compareHead(stateX, logHead(longer))).toBe('peer-ahead');
  });

  it('compares heads on one branch without calling it a fork', async () => {
    const { f, stateX } = await twoBranches();
    expect(compareHead(stateX, logHead(stateX))).toBe('same');
    expect(compareHead(stateX, logHead(f.state))).toBe('peer-behind');
    expect(compareHead(f.state, logHead(stateX))).toBe('peer-ahead');
    expect(() => checkPinnedHead(stateX, logHead(f.state))).not.toThrow();
  });

  it('refuses a truncated log as a rollback', async () => {
    const f = await fixture();
    const pinned = logHead(f.state);
    await expectRejected(replayLog(f.log.slice(0, -1), { pinned }), 'rollback');
    await expectRejected(replayLog(f.log.slice(0, 1), { pinned }), 'rollback');
    const shorter = await replayLog(f.log.slice(0, 2));
    expectThrown(() => checkPinnedHead(shorter, pinned), 'rollback');
    // The full log is fine against its own head.
    await expect(replayLog(f.log, { pinned })).resolves.toBeDefined();
  });
});

describe('invites', () => {
  it('refuses a second joiner using the same invite key', async () => {
    const f = await fixture();
    const add = await nextEntry(
      f.state,
      f.carol,
      'add',
      { member: await singleDeviceChain(f.carol), role: 'member', acceptance: { invite: f.bobInvite.inviteId, sig: await acceptanceSig(f.bobInvite, f.state.groupId, f.carol.bundle) } },
      f.clock(),
    );
    await expectRejected(extendLog(f.state, [add]), 'invite-used', 4);
  });

  it("refuses a second joiner replaying the first joiner's acceptance", async () => {
    const f = await fixture();
    const bobsAdd = f.log[3]!;
    if (bobsAdd.op !== 'add' || !bobsAdd.body.acceptance) throw new Error('fixture: entry 3 is Bob accepting the invite');
    const add = await nextEntry(f.state, f.carol, 'add', { member: await singleDeviceChain(f.carol), role: 'member', acceptance: bobsAdd.body.acceptance }, f.clock());
    await expectRejected(extendLog(f.state, [add]), 'invite-used', 4);
  });

  it('refuses two joiners racing for one invite in the same log', async () => {
    const f = await fixture();
    const invite = await inviteEntry(f, f.alice);
    await grow(f, invite.entry);
    const keys = await inviteKeysFromCode(invite.code);
    const carolsAdd = await acceptInvite(f.state, keys, f.carol, f.clock());
    const afterCarol = await extendLog(f.state, [carolsAdd]);
    const dave = await generateIdentity();
    const davesAdd = await nextEntry(
      afterCarol,
      dave,
      'add',
      { member: await singleDeviceChain(dave), role: 'member', acceptance: { invite: keys.inviteId, sig: await acceptanceSig(keys, f.state.groupId, dave.bundle) } },
      f.clock(),
    );
    await expectRejected(extendLog(f.state, [carolsAdd, davesAdd]), 'invite-used', 6);
  });

  it('refuses the same invite key logged twice', async () => {
    const f = await fixture();
    const again = await nextEntry(f.state, f.alice, 'invite', { invite: f.bobInvite.inviteId, expiresAt: T0 + 2 * HOUR, role: 'member' }, f.clock());
    await expectRejected(extendLog(f.state, [again]), 'invite-used', 4);
  });

  it('refuses an acceptance dated after the invite expired', async () => {
    const f = await fixture();
    const expiresAt = f.state.lastAt + 10 * MINUTE;
    const invite = await inviteEntry(f, f.alice, { expiresAt });
    await grow(f, invite.entry);
    const keys = await inviteKeysFromCode(invite.code);
    const late = await nextEntry(
      f.state,
      f.carol,
      'add',
      { member: await singleDeviceChain(f.carol), role: 'member', acceptance: { invite: keys.inviteId, sig: await acceptanceSig(keys, f.state.groupId, f.carol.bundle) } },
      expiresAt + 1,
    );
    await expectRejected(extendLog(f.state, [late]), 'invite-expired', 5);
    // One millisecond earlier it is fine.
    const inTime = await forge(late, f.carol, (e) => (e.at = expiresAt - 1));
    await expect(extendLog(f.state, [inTime])).resolves.toBeDefined();
  });

  it('refuses an invite created already expired', async () => {
    const f = await fixture();
    const at = f.clock();
    const expired = await createInvite(f.state, f.alice, { role: 'member', expiresAt: at - 1, at });
    await expectRejected(extendLog(f.state, [expired.entry]), 'invite-expired', 4);
    const expiringNow = await createInvite(f.state, f.alice, { role: 'member', expiresAt: at, at });
    await expectRejected(extendLog(f.state, [expiringNow.entry]), 'invite-expired', 4);
  });

  it('refuses an acceptance signed with the wrong invite key', async () => {
    const f = await fixture();
    const invite = await inviteEntry(f, f.alice);
    await grow(f, invite.entry);
    const keys = await inviteKeysFromCode(invite.code);
    const guessed = await deriveInviteKeys(f.state.groupId, randomBytes(16));
    const add = await nextEntry(
      f.state,
      f.carol,
      'add',
      // Names the logged invite, but the signature is by another key.
      { member: await singleDeviceChain(f.carol), role: 'member', acceptance: { invite: keys.inviteId, sig: await acceptanceSig({ ...guessed, inviteId: keys.inviteId }, f.state.groupId, f.carol.bundle) } },
      f.clock(),
    );
    await expectRejected(extendLog(f.state, [add]), 'bad-signature', 5);
  });

  it('refuses an acceptance that signed another bundle or another group', async () => {
    const f = await fixture();
    const invite = await inviteEntry(f, f.alice);
    await grow(f, invite.entry);
    const keys = await inviteKeysFromCode(invite.code);
    // The invite key signed Bob's bundle; Carol presents it with hers.
    const forBob = await acceptanceSig(keys, f.state.groupId, f.bob.bundle);
    const add = await nextEntry(f.state, f.carol, 'add', { member: await singleDeviceChain(f.carol), role: 'member', acceptance: { invite: keys.inviteId, sig: forBob } }, f.clock());
    await expectRejected(extendLog(f.state, [add]), 'bad-signature', 5);
    // Signed for another group id.
    const elsewhere = toBase64url(randomBytes(16)) as GroupId;
    const forOtherGroup = await acceptanceSig(keys, elsewhere, f.carol.bundle);
    const add2 = await nextEntry(f.state, f.carol, 'add', { member: await singleDeviceChain(f.carol), role: 'member', acceptance: { invite: keys.inviteId, sig: forOtherGroup } }, f.clock());
    await expectRejected(extendLog(f.state, [add2]), 'bad-signature', 5);
  });

  it('refuses a joiner claiming another role than the invite gives', async () => {
    const f = await fixture();
    const invite = await inviteEntry(f, f.alice, { role: 'member' });
    await grow(f, invite.entry);
    const keys = await inviteKeysFromCode(invite.code);
    const honest = await acceptInvite(f.state, keys, f.carol, f.clock());
    const promoted = await forge(honest, f.carol, (e) => (e.body.role = 'admin'));
    await expectRejected(extendLog(f.state, [promoted]), 'bad-acceptance', 5);
    await expect(extendLog(f.state, [honest])).resolves.toBeDefined();
  });

  it('refuses an invite for an identity that is already a member', async () => {
    const f = await fixture();
    const invite = await inviteEntry(f, f.alice);
    await grow(f, invite.entry);
    const keys = await inviteKeysFromCode(invite.code);
    const again = await acceptInvite(f.state, keys, f.bob, f.clock());
    await expectRejected(extendLog(f.state, [again]), 'already-member', 5);
  });
});

describe('rotations', () => {
  async function rotation(f: Fixture, generation: number): Promise<Rotation> {
    return (await makeRotation(f.state.groupId, generation, f.seed)).rotation;
  }

  it('refuses a remove without a rotation (the schema requires one)', async () => {
    const f = await fixture();
    const honest = await nextEntry(f.state, f.alice, 'remove', { member: f.bob.fingerprint, rotation: await rotation(f, 1) }, f.clock());
    const bare = await forge(honest, f.alice, (e) => delete e.body.rotation);
    await expectRejected(extendLog(f.state, [bare]), 'malformed', 4);
    await expect(extendLog(f.state, [honest])).resolves.toBeDefined();
  });

  it('refuses a remove that starts the wrong generation', async () => {
    const f = await fixture();
    const skip = await nextEntry(f.state, f.alice, 'remove', { member: f.bob.fingerprint, rotation: await rotation(f, 2) }, f.clock());
    await expectRejected(extendLog(f.state, [skip]), 'bad-generation', 4);
    const zero = await forge(skip, f.alice, (e) => (e.body.rotation.generation = 0));
    // Generation 0 is never a rotation: the schema says so.
    await expectRejected(extendLog(f.state, [zero]), 'malformed', 4);
  });

  it('refuses a leave that carries a key: the departing member never chooses the next generation', async () => {
    const f = await fixture();
    const honest = await nextEntry(f.state, f.bob, 'leave', {}, f.clock());
    const keyed = await forge(honest, f.bob, (e) => (e.body.rotation = { generation: 1, seedCommitment: 'A'.repeat(43), links: [] }));
    await expectRejected(extendLog(f.state, [keyed]), 'malformed', 4);
    const left = await extendLog(f.state, [honest]);
    // The group owes a rotation until an admin makes one; the generation stays.
    expect(left.owedRotation).toEqual({ member: f.bob.fingerprint, seq: 4, at: honest.at });
    expect(left.generations).toHaveLength(1);
    const rotated = await rotateKey(left, f.alice, f.seed, f.clock());
    expect(rotated.state.owedRotation).toBeNull();
  });

  it('refuses a rotate that repeats the current generation', async () => {
    const f = await fixture();
    const first = await rotateKey(f.state, f.alice, f.seed, f.clock());
    await grow(f, first.entry);
    const repeat = await nextEntry(f.state, f.alice, 'rotate', { rotation: await rotation(f, 1) }, f.clock());
    await expectRejected(extendLog(f.state, [repeat]), 'bad-generation', 5);
  });

  it('refuses replacing the recovery key without a rotation', async () => {
    const f = await fixture();
    const fresh = await generateIdentity();
    const entry = await nextEntry(f.state, f.alice, 'recovery', { recovery: fresh.bundle }, f.clock());
    await expectRejected(extendLog(f.state, [entry]), 'missing-rotation', 4);
  });

  it('refuses removing the recovery key (it is replaced, not removed)', async () => {
    const f = await fixture();
    const remove = await nextEntry(f.state, f.alice, 'remove', { member: f.state.recovery!, rotation: await rotation(f, 1) }, f.clock());
    await expectRejected(extendLog(f.state, [remove]), 'malformed', 4);
  });

  it('refuses the recovery key leaving', async () => {
    const f = await fixture();
    const { identity } = await recoveryIdentityFromCode(f.recoveryCode);
    expect(identity.fingerprint).toBe(f.state.recovery);
    const leave = await nextEntry(f.state, identity, 'leave', {}, f.clock());
    await expectRejected(extendLog(f.state, [leave]), 'malformed', 4);
  });

  it('refuses an admin removing itself, or removing a non-member', async () => {
    const f = await fixture();
    const self = await nextEntry(f.state, f.alice, 'remove', { member: f.alice.fingerprint, rotation: await rotation(f, 1) }, f.clock());
    await expectRejected(extendLog(f.state, [self]), 'malformed', 4);
    const stranger = await nextEntry(f.state, f.alice, 'remove', { member: f.carol.fingerprint, rotation: await rotation(f, 1) }, f.clock());
    await expectRejected(extendLog(f.state, [stranger]), 'not-member', 4);
  });
});

describe('roles', () => {
  it('refuses a role change that changes nothing (no-op): nobody can grow the log for free', async () => {
    const f = await fixture();
    const same = await nextEntry(f.state, f.alice, 'role', { member: f.bob.fingerprint, role: 'member' }, f.clock());
    await expectRejected(extendLog(f.state, [same]), 'no-op', 4);
    const alsoSame = await nextEntry(f.state, f.alice, 'role', { member: f.alice.fingerprint, role: 'admin' }, f.clock());
    await expectRejected(extendLog(f.state, [alsoSame]), 'no-op', 4);
  });

  it('refuses demoting the last human admin', async () => {
    const f = await fixture();
    const self = await nextEntry(f.state, f.alice, 'role', { member: f.alice.fingerprint, role: 'member' }, f.clock());
    await expectRejected(extendLog(f.state, [self]), 'last-admin', 4);
    // Nor may the recovery key (an admin, but not a person) demote her.
    const { identity } = await recoveryIdentityFromCode(f.recoveryCode);
    const byRecovery = await nextEntry(f.state, identity, 'role', { member: f.alice.fingerprint, role: 'member' }, f.clock());
    await expectRejected(extendLog(f.state, [byRecovery]), 'last-admin', 4);
  });

  it('allows the demotion once another person is admin', async () => {
    const f = await fixture();
    await promoteBob(f);
    const demote = await nextEntry(f.state, f.bob, 'role', { member: f.alice.fingerprint, role: 'member' }, f.clock());
    const next = await extendLog(f.state, [demote]);
    expect(next.members.get(f.alice.fingerprint)?.role).toBe('member');
    // …and then Bob is the last one.
    const last = await nextEntry(next, f.bob, 'role', { member: f.bob.fingerprint, role: 'member' }, f.clock());
    await expectRejected(extendLog(next, [last]), 'last-admin', 6);
  });

  it("refuses changing the recovery key's role", async () => {
    const f = await fixture();
    const entry = await nextEntry(f.state, f.alice, 'role', { member: f.state.recovery!, role: 'member' }, f.clock());
    await expectRejected(extendLog(f.state, [entry]), 'malformed', 4);
  });
});

describe('strict schemas', () => {
  it('refuses an unknown field in an entry', async () => {
    const f = await fixture();
    const honest = (await inviteEntry(f, f.alice)).entry;
    // Even signed over, an extra field is not part of the protocol.
    const extra = await forge(honest, f.alice, (e) => (e.note = 'hello'));
    await expectRejected(extendLog(f.state, [extra]), 'malformed', 4);
    await expectRejected(extendLog(f.state, [tamper(honest, (e) => (e.extra = 1))]), 'malformed', 4);
  });

  it('refuses an unknown field in a body or a bundle', async () => {
    const f = await fixture();
    const honest = (await inviteEntry(f, f.alice)).entry;
    const body = await forge(honest, f.alice, (e) => (e.body.comment = 'x'));
    await expectRejected(extendLog(f.state, [body]), 'malformed', 4);
    const add = await nextEntry(f.state, f.alice, 'add', { member: await singleDeviceChain(f.carol), role: 'member' }, f.clock());
    const bundle = await forge(add, f.alice, (e) => (e.body.member[0].body.device.name = 'Carol'));
    await expectRejected(extendLog(f.state, [bundle]), 'malformed', 4);
    // In the middle of a replay, the position names the entry.
    await expectRejected(replayLog([f.log[0], tamper(f.log[1]!, (e) => (e.body.recovery.extra = true)), f.log[2]]), 'malformed', 1);
  });

  it('refuses unknown ops, versions and badly encoded fields', async () => {
    const f = await fixture();
    const honest = (await inviteEntry(f, f.alice)).entry;
    for (const edit of [
      (e: Raw) => (e.op = 'promote'),
      (e: Raw) => (e.v = 1),
      (e: Raw) => (e.sig = e.sig.slice(0, -1)),
      (e: Raw) => (e.sig = `${e.sig.slice(0, -1)}=`),
      (e: Raw) => (e.sig = nonCanonical(e.sig)),
      (e: Raw) => (e.seq = 4.5),
      (e: Raw) => (e.at = -1),
      (e: Raw) => (e.author = e.author.toUpperCase()),
      (e: Raw) => delete e.prev,
      (e: Raw) => (e.body = null),
    ]) {
      await expectRejected(extendLog(f.state, [tamper(honest, edit)]), 'malformed', 4);
    }
    await expectRejected(extendLog(f.state, [null]), 'malformed', 4);
    await expectRejected(extendLog(f.state, ['entry']), 'malformed', 4);
  });

  it('refuses an answer that is not a list of entries (malformed), never with another exception', async () => {
    // The storage API's answers reach replay unparsed: a lying server chooses their shape.
    const f = await fixture();
    for (const notAList of [null, undefined, {}, 5, 'entries', { length: 1, 0: f.log[0] }]) {
      await expectRejected(replayLog(notAList as never), 'malformed');
      await expectRejected(extendLog(f.state, notAList as never), 'malformed');
    }
  });
});

describe('extendLog never changes the state it was given', () => {
  it('leaves the state untouched by a refused extension, which still extends validly after', async () => {
    const f = await fixture();
    const invite = await inviteEntry(f, f.alice);
    const keys = await inviteKeysFromCode(invite.code);
    const afterInvite = await extendLog(f.state, [invite.entry]);
    const carolsAdd = await acceptInvite(afterInvite, keys, f.carol, f.clock());
    const afterCarol = await extendLog(afterInvite, [carolsAdd]);
    const removal = await removeMember(afterCarol, f.alice, f.bob.fingerprint, f.seed, f.clock());
    // A long, valid prefix (invite, add, remove with rotation) and then an invalid entry.
    // Bob, just removed in the same batch, then signs an invite.
    const bad = (await createInvite(removal.state, f.bob, { role: 'admin', expiresAt: T0 + HOUR, at: f.clock() })).entry;

    const state = f.state;
    const snapshot = structuredClone(state);
    const bobInviteBefore = { ...state.invites.get(f.bobInvite.inviteId)! };
    await expectRejected(extendLog(state, [invite.entry, carolsAdd, removal.entry, bad]), 'not-member', 7);
    expect(state).toEqual(snapshot);
    expect(state.members.has(f.bob.fingerprint)).toBe(true);
    expect(state.members.has(f.carol.fingerprint)).toBe(false);
    expect(state.generations).toHaveLength(1);
    expect(state.generations[0]!.people.has(f.carol.fingerprint)).toBe(false);
    expect(state.invites.has(keys.inviteId)).toBe(false);
    expect(state.invites.get(f.bobInvite.inviteId)).toEqual(bobInviteBefore);

    // A valid extension works from the same state, and still does not touch it.
    const extended = await extendLog(state, [invite.entry, carolsAdd, removal.entry]);
    expect(extended.members.has(f.carol.fingerprint)).toBe(true);
    expect(extended.members.has(f.bob.fingerprint)).toBe(false);
    expect(extended.invites.get(keys.inviteId)?.usedBy).toBe(f.carol.fingerprint);
    expect(state).toEqual(snapshot);
    expect(state.invites.get(keys.inviteId)).toBeUndefined();
    expect(afterInvite.invites.get(keys.inviteId)?.usedBy).toBeUndefined();
    expect(afterInvite.generations[0]!.people.has(f.carol.fingerprint)).toBe(false);
    expect(logHead(extended)).toEqual(logHead(removal.state));
  });

  it('leaves the state untouched by a refused signature and by a pinned-head refusal', async () => {
    const f = await fixture();
    const snapshot = structuredClone(f.state);
    const honest = (await inviteEntry(f, f.alice)).entry;
    await expectRejected(extendLog(f.state, [tamper(honest, (e) => (e.sig = flipSignatureByte(e.sig)))]), 'bad-signature', 4);
    await expectRejected(extendLog(f.state, [honest], { pinned: { seq: 9, hash: f.state.head } }), 'rollback');
    expect(f.state).toEqual(snapshot);
    const next = await extendLog(f.state, [honest], { pinned: logHead(f.state) });
    expect(next.seq).toBe(4);
    expect(f.state.seq).toBe(3);
  });

  it('returns an equal copy for an empty extension', async () => {
    const f = await fixture();
    const copy = await extendLog(f.state, []);
    expect(copy).not.toBe(f.state);
    expect(copy).toEqual(f.state);
  });
});
