/**
 * Adversarial people (DESIGN §3, §4; issue 13). Every case starts from a real group
 * whose members are people with real device chains, built through the public builders,
 * then plays a lying server, a hostile member, a thief holding an unlinked device or a
 * careless client, and checks the refusal by name: `LogVerificationError` reasons for a
 * group log, `DeviceChainError` reasons for a chain fetched on its own, `NoteOpenError`
 * reasons for notes and `KeyBoxError` for boxes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sealForRequests } from '../src/client/handover.ts';
import { chainHead, checkPinnedChainHead, extendChain, linkEntry, nextPosition, replayChain, signConsent } from '../src/crypto/device-chain.ts';
import { DeviceChainError, KeyBoxError, LogVerificationError, type ChainRejection, type LogRejection } from '../src/crypto/errors.ts';
import { generationKeys, makeRotation } from '../src/crypto/generations.ts';
import { createGroup, removeMember, sealToRecipients } from '../src/crypto/group-lifecycle.ts';
import { currentGeneration, devicesOf, isAdmin, memberOfDevice, nextEntry, personOfDevice, type GroupState } from '../src/crypto/group-log.ts';
import { HolderHandshake, JoinerHandshake, type TrustState } from '../src/crypto/handshake.ts';
import { generateIdentity, type DeviceIdentity } from '../src/crypto/identity.ts';
import { openKeyBox, openerFor, sealKeyBox } from '../src/crypto/key-box.ts';
import { extendLog, replayLog } from '../src/crypto/log-replay.ts';
import { newNoteId, NoteOpenError, openNote, sealNote, type NotePlaintext } from '../src/crypto/note-envelope.ts';
import { acceptInvite, createInvite, inviteKeysFromCode } from '../src/crypto/invite.ts';
import { newQrSecret } from '../src/crypto/qr.ts';
import { recoveryIdentityFromCode, restoreWithRecoveryCode } from '../src/crypto/recovery.ts';
import { memoryChannelPair, runHandshake } from '../src/p2p/channel.ts';
import { toBase64url } from '../src/protocol/encoding.ts';
import type { Fingerprint } from '../src/protocol/ids.ts';
import type { DeviceEntry, LogEntry, NoteEnvelope } from '../src/protocol/schemas.ts';
import { devicesChange, TestPerson } from './support/people.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Date.now() - HOUR;

async function expectLogRejected(promise: Promise<unknown>, reason: LogRejection, seq?: number): Promise<LogVerificationError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome, `expected the log to be refused with '${reason}', but it was accepted`).toBeInstanceOf(LogVerificationError);
  const error = outcome as LogVerificationError;
  expect({ reason: error.reason, message: error.message }).toMatchObject({ reason });
  if (seq !== undefined) expect(error.seq).toBe(seq);
  return error;
}

async function expectChainRejected(promise: Promise<unknown>, reason: ChainRejection, seq?: number): Promise<DeviceChainError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome, `expected the chain to be refused with '${reason}', but it was accepted`).toBeInstanceOf(DeviceChainError);
  const error = outcome as DeviceChainError;
  expect({ reason: error.reason, message: error.message }).toMatchObject({ reason });
  if (seq !== undefined) expect(error.seq).toBe(seq);
  return error;
}

async function expectNoteRefused(promise: Promise<unknown>, reason: NoteOpenError['reason']): Promise<void> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome, `expected the note to be refused with '${reason}'`).toBeInstanceOf(NoteOpenError);
  expect((outcome as NoteOpenError).reason).toBe(reason);
}

interface Fixture {
  /** Creator and only human admin: one device (A1) at first. */
  alice: TestPerson;
  /** A member (not an admin), one device (B1) at first. */
  bob: TestPerson;
  /** A member (not an admin), one device. */
  carol: TestPerson;
  /** Not in the group. */
  dave: TestPerson;
  /** The storage server's own key pair. */
  server: DeviceIdentity;
  log: LogEntry[];
  state: GroupState;
  /** The current generation's seed (kept up to date by `grow` callers that rotate). */
  seed: Uint8Array;
  recoveryCode: string;
  clock: () => number;
}

/** Alice creates a group; she adds Bob and Carol as members. */
async function fixture(): Promise<Fixture> {
  const [alice, bob, carol, dave, server] = await Promise.all([TestPerson.found(), TestPerson.found(), TestPerson.found(), TestPerson.found(), generateIdentity()]);
  let t = T0;
  const clock = () => (t += 1000);
  const group = await createGroup(alice.founder, { at: clock(), chain: alice.chain() });
  let state = group.state;
  const log = [...group.entries];
  for (const person of [bob, carol]) {
    const add = await nextEntry(state, alice.founder, 'add', { member: person.chain(), role: 'member' }, clock());
    state = await extendLog(state, [add]);
    log.push(add);
  }
  return { alice, bob, carol, dave, server, log, state, seed: group.seed, recoveryCode: group.recoveryCode, clock };
}

async function grow(f: Fixture, ...entries: LogEntry[]): Promise<void> {
  f.state = await extendLog(f.state, entries);
  f.log.push(...entries);
}

/** Appends a `devices` entry for `person` signed by `author`, keeping the new seed when it rotates. */
async function catchUp(f: Fixture, person: TestPerson, author: DeviceIdentity): Promise<ReturnType<typeof devicesChange>> {
  const change = await devicesChange(f.state, author, person, f.seed, f.clock());
  f.state = change.state;
  f.log.push(change.entry);
  if (change.seed) f.seed = change.seed;
  return change;
}

// ---------------------------------------------------------------------------

describe('the fixture itself', () => {
  it('is a valid log of people that replays from scratch to the same state', async () => {
    const f = await fixture();
    const replayed = await replayLog(f.log);
    expect(replayed.head).toBe(f.state.head);
    expect([...replayed.members.keys()].sort()).toEqual([f.alice.id, f.bob.id, f.carol.id, replayed.recovery!].sort());
    expect(replayed.devices.size).toBe(4);
    expect(memberOfDevice(replayed, f.bob.founder.fingerprint)?.fingerprint).toBe(f.bob.id);
  });
});

describe('device-claimed: a device speaks for one member only', () => {
  it('refuses adding a person whose chain holds a device that speaks for another member', async () => {
    const f = await fixture();
    // Carol's device agrees to join Dave as well (it signs a consent for Dave's chain).
    await f.dave.link({ device: f.carol.founder });
    const add = await nextEntry(f.state, f.alice.founder, 'add', { member: f.dave.chain(), role: 'member' }, f.clock());
    await expectLogRejected(extendLog(f.state, [add]), 'device-claimed', f.state.seq + 1);
  });

  it("refuses a devices entry that links another member's device into a member's chain", async () => {
    const f = await fixture();
    // Bob's device certifies Carol's device, which consents: in the chain alone this is valid.
    await f.bob.link({ device: f.carol.founder });
    const entry = await nextEntry(f.state, f.bob.founder, 'devices', { person: f.bob.id, entries: f.bob.after(0) }, f.clock());
    await expectLogRejected(extendLog(f.state, [entry]), 'device-claimed', f.state.seq + 1);
    // The same, brought by an admin.
    const byAdmin = await nextEntry(f.state, f.alice.founder, 'devices', { person: f.bob.id, entries: f.bob.after(0) }, f.clock());
    await expectLogRejected(extendLog(f.state, [byAdmin]), 'device-claimed', f.state.seq + 1);
  });
});

// ---------------------------------------------------------------------------
// helpers for the cases below

/** Seals a note by `author` in `generation` with `seed`. */
async function noteBy(f: Fixture, author: DeviceIdentity, generation: number, seed: Uint8Array, content: NotePlaintext = { title: 'T', body: 'B' }): Promise<NoteEnvelope> {
  const { noteKey } = await generationKeys(seed, f.state.groupId, generation);
  return sealNote(author, { groupId: f.state.groupId, noteId: newNoteId(), version: 1, generation }, noteKey, content);
}

/** Opens a note with `seeds` (every generation's seed the reader holds). */
function open(f: Fixture, envelope: NoteEnvelope, seeds: Map<number, Uint8Array>): Promise<unknown> {
  return openNote(envelope, f.state, { noteId: envelope.noteId }, async (g) => {
    const seed = seeds.get(g);
    return seed ? (await generationKeys(seed, f.state.groupId, g)).noteKey : undefined;
  });
}

/** Bob links a second device (certified by his founding one) and the group learns it from Bob. */
async function bobLinksPhone(f: Fixture): Promise<DeviceIdentity> {
  const { device } = await f.bob.link();
  await catchUp(f, f.bob, f.bob.founder);
  return device;
}

/** A `devices` entry for `person` carrying `entries`, signed by `author`, with an optional rotation from the current seed. */
async function devicesEntry(f: Fixture, author: DeviceIdentity, person: Fingerprint, entries: DeviceEntry[], rotate = false): Promise<LogEntry> {
  const rotation = rotate ? (await makeRotation(f.state.groupId, currentGeneration(f.state) + 1, f.seed)).rotation : undefined;
  return nextEntry(f.state, author, 'devices', { person, entries, ...(rotation ? { rotation } : {}) }, f.clock());
}

// ---------------------------------------------------------------------------

describe('a device forged into a person by the server', () => {
  it('refuses a link signed by a key that is not one of the person\'s devices, however it reaches the log', async () => {
    const f = await fixture();
    const intruder = await generateIdentity();
    // The server writes a link into Bob's chain with its own key; the intruder consents, honestly.
    const position = nextPosition(f.bob.state, f.server.fingerprint);
    const forged = await linkEntry(f.bob.state, f.server, intruder.bundle, await signConsent(intruder, position), 1);
    await expectChainRejected(extendChain(f.bob.state, [forged]), 'not-a-device', 1);
    // Relayed by an admin who did not check it, in a devices entry or in an add:
    const relayed = await devicesEntry(f, f.alice.founder, f.bob.id, [forged]);
    const error = await expectLogRejected(extendLog(f.state, [relayed]), 'device-chain', f.state.seq + 1);
    expect(error.message).toContain('not-a-device');
    const add = await nextEntry(f.state, f.alice.founder, 'add', { member: [...f.dave.chain(), await linkEntry(f.dave.state, f.server, intruder.bundle, await signConsent(intruder, nextPosition(f.dave.state, f.server.fingerprint)), 1)], role: 'member' }, f.clock());
    await expectLogRejected(extendLog(f.state, [add]), 'device-chain', f.state.seq + 1);
    // Or written and signed by the server itself: the group entry has no member behind it either.
    const byServer = await devicesEntry(f, f.server, f.bob.id, [forged]);
    await expectLogRejected(extendLog(f.state, [byServer]), 'device-chain', f.state.seq + 1);
  });

  it('refuses a link naming a real device as certifier but without its signature', async () => {
    const f = await fixture();
    const intruder = await generateIdentity();
    const honest = await linkEntry(f.bob.state, f.server, intruder.bundle, await signConsent(intruder, nextPosition(f.bob.state, f.bob.founder.fingerprint)), 1);
    // The server names Bob's device as author and keeps its own signature.
    const named = { ...honest, author: f.bob.founder.fingerprint } as DeviceEntry;
    await expectLogRejected(extendLog(f.state, [await devicesEntry(f, f.bob.founder, f.bob.id, [named])]), 'bad-signature', f.state.seq + 1);
  });

  it('refuses a link without a valid consent of the new device', async () => {
    const f = await fixture();
    const phone = await generateIdentity();
    const other = await generateIdentity();
    // Bob's device certifies, but the consent was signed by another key (the server's pick).
    const position = nextPosition(f.bob.state, f.bob.founder.fingerprint);
    const wrongKey = await linkEntry(f.bob.state, f.bob.founder, phone.bundle, await signConsent(other, position), 1);
    await expectChainRejected(extendChain(f.bob.state, [wrongKey]), 'bad-signature', 1);
    await expectLogRejected(extendLog(f.state, [await devicesEntry(f, f.bob.founder, f.bob.id, [wrongKey])]), 'bad-signature', f.state.seq + 1);
  });

  it('refuses a consent replayed at another position or for another certifier', async () => {
    const f = await fixture();
    const tablet = await bobLinksPhone(f);
    const phone = await generateIdentity();
    // The phone agreed to join Bob at seq 2, certified by Bob's first device.
    const position = nextPosition(f.bob.state, f.bob.founder.fingerprint);
    const consent = await signConsent(phone, position);
    // The tablet (also Bob's) signs the link with that consent: not the certifier the phone agreed to.
    const otherCertifier = await linkEntry(f.bob.state, tablet, phone.bundle, consent, f.bob.state.lastAt);
    await expectChainRejected(extendChain(f.bob.state, [otherCertifier]), 'bad-signature', 2);
    await expectLogRejected(extendLog(f.state, [await devicesEntry(f, tablet, f.bob.id, [otherCertifier])]), 'bad-signature', f.state.seq + 1);
    // The consent kept and replayed after the chain moved on (another device linked first at seq 2).
    await f.bob.link();
    const later = await linkEntry(f.bob.state, f.bob.founder, phone.bundle, consent, f.bob.state.lastAt);
    await expectChainRejected(extendChain(f.bob.state, [later]), 'bad-signature', 3);
    await expectLogRejected(extendLog(f.state, [await devicesEntry(f, f.bob.founder, f.bob.id, [...f.bob.after(1), later])]), 'bad-signature', f.state.seq + 1);
    // The consent moved into another person's chain at the same seq (Carol has two devices too).
    await f.carol.link();
    const elsewhere = await linkEntry(f.carol.state, f.carol.founder, phone.bundle, consent, f.carol.state.lastAt);
    expect(elsewhere.seq).toBe(position.seq);
    await expectChainRejected(extendChain(f.carol.state, [elsewhere]), 'bad-signature', 2);
    // At the exact place and by the exact certifier it was given for, it is fine.
    const fresh = await TestPerson.found(f.bob.founder);
    await fresh.append(f.bob.entries[1]!);
    await expect(extendChain(fresh.state, [await linkEntry(fresh.state, f.bob.founder, phone.bundle, consent, fresh.state.lastAt)])).resolves.toBeDefined();
  });
});

describe('a device certified by another person', () => {
  it("refuses a link into Bob's chain signed by Carol's device (not one of Bob's)", async () => {
    const f = await fixture();
    const intruder = await generateIdentity();
    const position = nextPosition(f.bob.state, f.carol.founder.fingerprint);
    const byCarol = await linkEntry(f.bob.state, f.carol.founder, intruder.bundle, await signConsent(intruder, position), 1);
    await expectChainRejected(extendChain(f.bob.state, [byCarol]), 'not-a-device', 1);
    // Carol signs the group entry too: neither the chain nor the signer is Bob's.
    await expectLogRejected(extendLog(f.state, [await devicesEntry(f, f.carol.founder, f.bob.id, [byCarol])]), 'device-chain', f.state.seq + 1);
  });

  it("refuses Carol's device claimed by Bob's chain even when both consent (device-claimed), and the recovery key's device", async () => {
    const f = await fixture();
    const { identity: recoveryKey } = await recoveryIdentityFromCode(f.recoveryCode);
    await f.dave.link({ device: recoveryKey });
    const add = await nextEntry(f.state, f.alice.founder, 'add', { member: f.dave.chain(), role: 'member' }, f.clock());
    await expectLogRejected(extendLog(f.state, [add]), 'device-claimed', f.state.seq + 1);
  });
});

describe("a person's identity swapped", () => {
  it('refuses another person\'s chain when one person was asked for (wrong-person)', async () => {
    const f = await fixture();
    await f.dave.link();
    await expectChainRejected(replayChain(f.dave.chain(), { person: f.bob.id }), 'wrong-person');
    await expectChainRejected(extendChain(f.dave.state, [], { person: f.bob.id }), 'wrong-person');
    await expect(replayChain(f.bob.chain(), { person: f.bob.id })).resolves.toBeDefined();
  });

  it("refuses a devices entry for Bob that carries Dave's chain entries", async () => {
    const f = await fixture();
    await f.dave.link();
    const entry = await devicesEntry(f, f.alice.founder, f.bob.id, f.dave.after(0));
    const error = await expectLogRejected(extendLog(f.state, [entry]), 'device-chain', f.state.seq + 1);
    expect(error.message).toContain('wrong-person');
  });

  it('refuses adding the same person again with another chain (already-member)', async () => {
    const f = await fixture();
    const again = await nextEntry(f.state, f.alice.founder, 'add', { member: f.bob.chain(), role: 'member' }, f.clock());
    await expectLogRejected(extendLog(f.state, [again]), 'already-member', f.state.seq + 1);
  });
});

describe('chains rolled back or forked', () => {
  it('refuses a devices entry that does not continue the chain the log holds (device-chain)', async () => {
    const f = await fixture();
    await bobLinksPhone(f);
    const { device: tablet } = await f.bob.link();
    // The server serves entries from an older head: the phone's link again, then the tablet's.
    const replayed = await devicesEntry(f, f.bob.founder, f.bob.id, f.bob.after(0));
    const error = await expectLogRejected(extendLog(f.state, [replayed]), 'device-chain', f.state.seq + 1);
    expect(error.message).toContain('bad-sequence');
    await expect(extendLog(f.state, [await devicesEntry(f, f.bob.founder, f.bob.id, f.bob.after(1))])).resolves.toBeDefined();
    expect(tablet).toBeDefined();
  });

  it("names a fork between the log's copy and the person's pinned head: a thief's device forks before the group learns of its unlink", async () => {
    const f = await fixture();
    const phone = await bobLinksPhone(f);
    const logged = f.state.members.get(f.bob.id)!.chain!;
    // The phone is stolen: Bob unlinks it from his chain (people.append); his devices pin that head.
    await f.bob.unlink(phone, f.bob.founder);
    const pinned = chainHead(f.bob.state);
    // Before the group learns of it, the thief links a device of its own at the log's copy of the chain.
    const thiefDevice = await generateIdentity();
    const consent = await signConsent(thiefDevice, nextPosition(logged, phone.fingerprint));
    const fork = await linkEntry(logged, phone, thiefDevice.bundle, consent, logged.lastAt + 1);
    const forked = await nextEntry(f.state, phone, 'devices', { person: f.bob.id, entries: [fork] }, f.clock());
    // The log alone cannot know the person's chain elsewhere: it accepts the fork…
    const state = await extendLog(f.state, [forked]);
    expect(memberOfDevice(state, thiefDevice.fingerprint)?.fingerprint).toBe(f.bob.id);
    // …every device holding Bob's pinned chain names it as a fork of the person's chain…
    let thrown: unknown;
    try {
      checkPinnedChainHead(state.members.get(f.bob.id)!.chain!, pinned);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(DeviceChainError);
    expect((thrown as DeviceChainError).reason).toBe('fork');
    expect((thrown as DeviceChainError).code).toBe('CHAIN_FORK');
    // …and Bob's honest catch-up no longer continues it.
    const honest = await nextEntry(state, f.bob.founder, 'devices', { person: f.bob.id, entries: f.bob.after(logged.seq), rotation: (await makeRotation(state.groupId, 1, f.seed)).rotation }, f.clock());
    const error = await expectLogRejected(extendLog(state, [honest]), 'device-chain', state.seq + 1);
    expect(error.message).toContain('bad-sequence');
  });

  it('refuses a person chain rolled back against its pinned head (CHAIN_ROLLBACK)', async () => {
    const f = await fixture();
    const phone = await bobLinksPhone(f);
    await f.bob.unlink(phone, f.bob.founder);
    await expectChainRejected(replayChain(f.bob.entries.slice(0, 2), { person: f.bob.id, pinned: chainHead(f.bob.state) }), 'rollback');
  });
});

describe('devices entries and rotations', () => {
  it('refuses a devices entry that unlinks a device the log had without a rotation (missing-rotation)', async () => {
    const f = await fixture();
    const phone = await bobLinksPhone(f);
    await f.bob.unlink(phone, f.bob.founder);
    const bare = await devicesEntry(f, f.bob.founder, f.bob.id, f.bob.after(1));
    await expectLogRejected(extendLog(f.state, [bare]), 'missing-rotation', f.state.seq + 1);
    const byAdmin = await devicesEntry(f, f.alice.founder, f.bob.id, f.bob.after(1));
    await expectLogRejected(extendLog(f.state, [byAdmin]), 'missing-rotation', f.state.seq + 1);
    // Skipping a generation is refused too.
    const skip = await nextEntry(f.state, f.bob.founder, 'devices', { person: f.bob.id, entries: f.bob.after(1), rotation: (await makeRotation(f.state.groupId, 2, f.seed)).rotation }, f.clock());
    await expectLogRejected(extendLog(f.state, [skip]), 'bad-generation', f.state.seq + 1);
    // With the rotation, Bob (not an admin) may start the generation himself.
    const change = await catchUp(f, f.bob, f.bob.founder);
    expect(change.seed).toBeDefined();
    expect(f.state.generations.at(-1)).toMatchObject({ generation: 1, startedBy: f.bob.founder.fingerprint });
    expect(f.state.generations[1]!.devices.has(phone.fingerprint)).toBe(false);
    expect(change.boxes.map((b) => b.recipient.id)).not.toContain(phone.fingerprint);
    expect(f.state.departedDevices.get(phone.fingerprint)).toMatchObject({ person: f.bob.id, how: 'unlinked' });
  });

  it('refuses a rotation in a devices entry that unlinks nothing the log had (malformed)', async () => {
    const f = await fixture();
    await f.bob.link();
    await expectLogRejected(extendLog(f.state, [await devicesEntry(f, f.bob.founder, f.bob.id, f.bob.after(0), true)]), 'malformed', f.state.seq + 1);
    // A device linked and unlinked in the same entry never had the group's key: no rotation, and none allowed.
    const { device: brief } = await f.bob.link();
    await f.bob.unlink(brief, f.bob.founder);
    await expectLogRejected(extendLog(f.state, [await devicesEntry(f, f.bob.founder, f.bob.id, f.bob.after(0), true)]), 'malformed', f.state.seq + 1);
    const plain = await extendLog(f.state, [await devicesEntry(f, f.bob.founder, f.bob.id, f.bob.after(0))]);
    expect(devicesOf(plain, f.bob.id)).toHaveLength(2);
    expect(plain.generations).toHaveLength(1);
  });

  it('lets an admin catch up another member\'s chain, but not a plain member or the server', async () => {
    const f = await fixture();
    const { device: phone } = await f.bob.link();
    await expectLogRejected(extendLog(f.state, [await devicesEntry(f, f.carol.founder, f.bob.id, f.bob.after(0))]), 'not-admin', f.state.seq + 1);
    await expectLogRejected(extendLog(f.state, [await devicesEntry(f, f.server, f.bob.id, f.bob.after(0))]), 'not-member', f.state.seq + 1);
    await catchUp(f, f.bob, f.alice.founder);
    expect(memberOfDevice(f.state, phone.fingerprint)?.fingerprint).toBe(f.bob.id);
    // Also an unlink, with the rotation it obliges.
    await f.bob.unlink(phone, f.bob.founder);
    const change = await catchUp(f, f.bob, f.alice.founder);
    expect(change.seed).toBeDefined();
    expect(f.state.devices.has(phone.fingerprint)).toBe(false);
  });

  it('lets a just-linked device carry its own link, and refuses devices entries for non-members and the recovery key', async () => {
    const f = await fixture();
    const { device: phone } = await f.bob.link();
    await catchUp(f, f.bob, phone);
    expect(f.state.members.get(f.bob.id)?.chain?.seq).toBe(1);
    await f.dave.link();
    await expectLogRejected(extendLog(f.state, [await devicesEntry(f, f.alice.founder, f.dave.id, f.dave.after(0))]), 'not-member', f.state.seq + 1);
    await expectLogRejected(extendLog(f.state, [await devicesEntry(f, f.alice.founder, f.state.recovery!, f.dave.after(0))]), 'malformed', f.state.seq + 1);
  });
});

describe('an unlinked device', () => {
  /** Bob with a phone that wrote a note and sent a box in generation 0, then unlinked (rotation by Bob). */
  async function unlinkedPhone() {
    const f = await fixture();
    const phone = await bobLinksPhone(f);
    const seed0 = f.seed;
    const before = await noteBy(f, phone, 0, seed0, { title: 'Before', body: 'written while linked' });
    const boxBefore = await sealKeyBox(phone, f.state.groupId, 0, seed0, { kind: 'member', id: f.carol.founder.fingerprint }, f.carol.founder.boxKeys.publicBytes);
    await f.bob.unlink(phone, f.bob.founder);
    await catchUp(f, f.bob, f.bob.founder);
    const seeds = new Map([
      [0, seed0],
      [1, f.seed],
    ]);
    return { f, phone, before, boxBefore, seeds };
  }

  it('cannot sign a group entry after the log learned of its unlink (device-unlinked)', async () => {
    const { f, phone } = await unlinkedPhone();
    const seq = f.state.seq + 1;
    await expectLogRejected(extendLog(f.state, [await nextEntry(f.state, phone, 'leave', {}, f.clock())]), 'device-unlinked', seq);
    const rotate = await nextEntry(f.state, phone, 'rotate', { rotation: (await makeRotation(f.state.groupId, 2, f.seed)).rotation }, f.clock());
    await expectLogRejected(extendLog(f.state, [rotate]), 'device-unlinked', seq);
    // Nor carry its own person's chain.
    const { device: laptop } = await f.bob.link();
    await expectLogRejected(extendLog(f.state, [await devicesEntry(f, phone, f.bob.id, f.bob.after(2))]), 'device-unlinked', seq);
    expect(laptop).toBeDefined();
    expect(memberOfDevice(f.state, phone.fingerprint)).toBeUndefined();
    expect(personOfDevice(f.state, phone.fingerprint)).toBe(f.bob.id);
  });

  it("cannot sign its person's chain either, in the chain or in the log (device-unlinked)", async () => {
    const { f, phone } = await unlinkedPhone();
    const intruder = await generateIdentity();
    const link = await linkEntry(f.bob.state, phone, intruder.bundle, await signConsent(intruder, nextPosition(f.bob.state, phone.fingerprint)), f.bob.state.lastAt);
    await expectChainRejected(extendChain(f.bob.state, [link]), 'device-unlinked', 3);
    await expectLogRejected(extendLog(f.state, [await devicesEntry(f, f.bob.founder, f.bob.id, [link])]), 'device-unlinked', f.state.seq + 1);
  });

  it('reads nothing new: no box of the new generation for it, and its own notes and boxes of the new generation are refused', async () => {
    const { f, phone, seeds } = await unlinkedPhone();
    const { boxes } = await sealToRecipients(f.state, f.alice.founder, 1, f.seed, f.clock());
    expect(boxes.map((b) => b.recipient.id)).not.toContain(phone.fingerprint);
    expect(boxes.map((b) => b.recipient.id)).toContain(f.bob.founder.fingerprint);
    const after = await noteBy(f, phone, 1, f.seed, { title: 'After', body: 'with a leaked key' });
    await expectNoteRefused(open(f, after, seeds), 'unknown-author');
    const boxAfter = await sealKeyBox(phone, f.state.groupId, 1, f.seed, { kind: 'member', id: f.carol.founder.fingerprint }, f.carol.founder.boxKeys.publicBytes);
    await expect(openKeyBox(boxAfter, openerFor(f.carol.founder), f.state)).rejects.toBeInstanceOf(KeyBoxError);
  });

  it('keeps what it wrote and sent before its unlink', async () => {
    const { f, before, boxBefore, seeds } = await unlinkedPhone();
    await expect(open(f, before, seeds)).resolves.toMatchObject({ title: 'Before' });
    const opened = await openKeyBox(boxBefore, openerFor(f.carol.founder), f.state);
    expect(opened && toBase64url(opened)).toBe(toBase64url(seeds.get(0)!));
  });

  it("cancels the open invites the unlinked device wrote for its admin person", async () => {
    const f = await fixture();
    const { device: tablet } = await f.alice.link();
    await catchUp(f, f.alice, f.alice.founder);
    expect(isAdmin(f.state, tablet.fingerprint)).toBe(true);
    await grow(f, (await createInvite(f.state, tablet, { role: 'member', expiresAt: T0 + 2 * HOUR, at: f.clock() })).entry);
    await grow(f, (await createInvite(f.state, f.alice.founder, { role: 'member', expiresAt: T0 + 2 * HOUR, at: f.clock() })).entry);
    await f.alice.unlink(tablet, f.alice.founder);
    await catchUp(f, f.alice, f.alice.founder);
    const [byTablet, byFounder] = [...f.state.invites.values()];
    expect(byTablet!.author).toBe(tablet.fingerprint);
    expect(byTablet!.revokedAt).toBe(f.state.seq);
    expect(byFounder!.revokedAt).toBeUndefined();
    expect(isAdmin(f.state, tablet.fingerprint)).toBe(false);
  });
});

describe('linked devices act for their person', () => {
  it("an admin's linked device is an admin, one person: it may not remove its own person, only leave", async () => {
    const f = await fixture();
    const { device: tablet } = await f.alice.link();
    await catchUp(f, f.alice, f.alice.founder);
    const role = await nextEntry(f.state, tablet, 'role', { member: f.bob.id, role: 'admin' }, f.clock());
    await grow(f, role);
    expect(f.state.members.get(f.bob.id)?.role).toBe('admin');
    const self = await nextEntry(f.state, tablet, 'remove', { member: f.alice.id, rotation: (await makeRotation(f.state.groupId, 1, f.seed)).rotation }, f.clock());
    await expectLogRejected(extendLog(f.state, [self]), 'malformed', f.state.seq + 1);
    // Demoting the last human admin is refused whichever device asks.
    const demoteBob = await nextEntry(f.state, tablet, 'role', { member: f.bob.id, role: 'member' }, f.clock());
    await grow(f, demoteBob);
    const last = await nextEntry(f.state, tablet, 'role', { member: f.alice.id, role: 'member' }, f.clock());
    await expectLogRejected(extendLog(f.state, [last]), 'last-admin', f.state.seq + 1);
  });

  it('a removal or a leave takes every device of the person', async () => {
    const f = await fixture();
    const phone = await bobLinksPhone(f);
    const removal = await removeMember(f.state, f.alice.founder, f.bob.id, f.seed, f.clock());
    expect(removal.state.devices.has(phone.fingerprint)).toBe(false);
    expect(removal.state.devices.has(f.bob.founder.fingerprint)).toBe(false);
    expect(removal.state.departedDevices.get(phone.fingerprint)?.how).toBe('removed');
    expect(removal.boxes.map((b) => b.recipient.id)).not.toContain(phone.fingerprint);
    const left = await extendLog(f.state, [await nextEntry(f.state, phone, 'leave', {}, f.clock())]);
    expect(left.members.has(f.bob.id)).toBe(false);
    expect(devicesOf(left, f.bob.id)).toEqual([]);
    expect(left.owedRotation?.member).toBe(f.bob.id);
  });
});

describe('the recovery key', () => {
  it('has no chain to change, and restores a group to a new person whose devices then change as anyone\'s', async () => {
    const f = await fixture();
    expect(f.state.members.get(f.state.recovery!)?.chain).toBeNull();
    const { identity } = await recoveryIdentityFromCode(f.recoveryCode);
    // Boxes the recovery key holds: generation 0's, from group creation.
    const group0 = await sealKeyBox(f.alice.founder, f.state.groupId, 0, f.seed, { kind: 'member', id: identity.fingerprint }, identity.boxKeys.publicBytes);
    const fresh = await TestPerson.found();
    const restored = await restoreWithRecoveryCode(f.recoveryCode, f.state, [group0], fresh.founder, fresh.chain());
    expect(restored.state.members.get(fresh.id)).toMatchObject({ role: 'admin', via: 'admin' });
    expect(restored.state.recoveryUses.at(-1)).toMatchObject({ device: fresh.id, recoveryKey: identity.fingerprint });
    f.state = restored.state;
    const { device: second } = await fresh.link();
    await catchUp(f, fresh, fresh.founder);
    expect(isAdmin(f.state, second.fingerprint)).toBe(true);
  });
});

describe('replay stays deterministic and total', () => {
  it('a log of people, devices entries and rotations replays whole, in pieces and from a copy to the same state', async () => {
    const f = await fixture();
    const phone = await bobLinksPhone(f);
    const { device: tablet } = await f.alice.link();
    await catchUp(f, f.alice, f.alice.founder);
    await f.bob.unlink(phone, f.bob.founder);
    await catchUp(f, f.bob, f.alice.founder);
    await f.alice.unlink(f.alice.founder, tablet);
    await catchUp(f, f.alice, tablet);
    const whole = await replayLog(f.log);
    expect(whole).toEqual(f.state);
    let stepwise = await replayLog(f.log.slice(0, 1));
    for (const entry of f.log.slice(1)) stepwise = await extendLog(stepwise, [entry]);
    expect(stepwise).toEqual(whole);
    expect(await replayLog(structuredClone(f.log))).toEqual(whole);
    // The person keeps the founding device's name after it was unlinked.
    expect(whole.members.get(f.alice.id)?.chain?.devices.has(f.alice.founder.fingerprint)).toBe(false);
    expect(isAdmin(whole, tablet.fingerprint)).toBe(true);
    expect(whole.generations).toHaveLength(3);
  });

  it('a devices entry whose chain entries were changed in any byte, re-signed by the person, is refused with a LogVerificationError (never another exception)', async () => {
    const f = await fixture();
    const phone = await bobLinksPhone(f);
    await f.bob.link({ certifier: phone });
    await f.bob.unlink(phone, f.bob.founder);
    const entries = f.bob.after(1);
    const { rotation } = await makeRotation(f.state.groupId, 1, f.seed);
    const at = f.clock();
    const honest = await nextEntry(f.state, f.bob.founder, 'devices', { person: f.bob.id, entries, rotation }, at);
    await expect(extendLog(f.state, [honest])).resolves.toBeDefined();
    const text = new TextEncoder().encode(JSON.stringify(entries));
    let reached = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.integer({ min: 1, max: 255 }), async (index, mask) => {
        const bytes = new Uint8Array(text);
        bytes[index % bytes.length] = bytes[index % bytes.length]! ^ mask;
        let tampered: unknown;
        try {
          tampered = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
        } catch {
          return;
        }
        let entry: LogEntry;
        try {
          entry = await nextEntry(f.state, f.bob.founder, 'devices', { person: f.bob.id, entries: tampered as DeviceEntry[], rotation }, at);
        } catch {
          return;
        }
        reached++;
        await expect(extendLog(f.state, [entry])).rejects.toBeInstanceOf(LogVerificationError);
      }),
      { numRuns: 150 },
    );
    expect(reached).toBeGreaterThan(30);
  });
});

describe('asking for the key over the peer channel', () => {
  /** Runs a key handover between a joiner device and a holder device on the same validated state. */
  async function handover(state: GroupState, joiner: DeviceIdentity, holder: DeviceIdentity, seed: Uint8Array, trustOf: (person: Fingerprint) => TrustState, shownQr?: { secret: string; for: Fingerprint }, qrSecret?: string) {
    const [ja, hb] = memoryChannelPair();
    const confirmed: Fingerprint[] = [];
    const joinerMachine = new JoinerHandshake(joiner, state, { expectedPeer: holder.fingerprint, ...(qrSecret ? { qrSecret } : {}) });
    const holderMachine = new HolderHandshake(holder, state, {
      seedFor: (g) => (g === currentGeneration(state) ? seed : undefined),
      trustOf,
      ...(shownQr ? { shownQr, onQrConfirmed: (person: Fingerprint) => confirmed.push(person) } : {}),
    });
    const [joined, held] = await Promise.all([runHandshake(ja, joinerMachine, { timeoutMs: 5_000, closeGraceMs: 20 }), runHandshake(hb, holderMachine, { timeoutMs: 5_000, closeGraceMs: 20 })]);
    return { joined, held, confirmed };
  }

  it("hands the key to a verified person's newly linked device: trust is in the person, the box goes to the device", async () => {
    const f = await fixture();
    const phone = await bobLinksPhone(f);
    const asked: Fingerprint[] = [];
    const { joined, held } = await handover(f.state, phone, f.alice.founder, f.seed, (person) => (asked.push(person), person === f.bob.id ? 'verified' : 'unverified'));
    expect(joined).toMatchObject({ kind: 'received', generation: 0 });
    expect(held).toMatchObject({ kind: 'sent', peer: phone.fingerprint });
    expect(asked).toEqual([f.bob.id]);
  });

  it('a QR shown for a person is confirmed by any of their devices, and reported as the person', async () => {
    const f = await fixture();
    const phone = await bobLinksPhone(f);
    const secret = newQrSecret();
    const { joined, confirmed } = await handover(f.state, phone, f.alice.founder, f.seed, () => 'unverified', { secret, for: f.bob.id }, secret);
    expect(joined.kind).toBe('received');
    expect(confirmed).toEqual([f.bob.id]);
  });

  it('refuses an unlinked device asking for the key, whatever the trust in its former person', async () => {
    const f = await fixture();
    const phone = await bobLinksPhone(f);
    await f.bob.unlink(phone, f.bob.founder);
    await catchUp(f, f.bob, f.bob.founder);
    const { joined, held } = await handover(f.state, phone, f.alice.founder, f.seed, () => 'verified');
    expect(held).toMatchObject({ kind: 'refused', reason: 'not-a-member', by: 'me' });
    expect(joined.kind).toBe('refused');
  });
});

describe('people with several devices create and join', () => {
  it('a linked device creates a group for its person: the id derives from the founding bundle, every current device speaks for the creator', async () => {
    const carol = await TestPerson.found();
    const { device: phone } = await carol.link();
    const group = await createGroup(phone, { at: T0, chain: carol.chain() });
    expect(group.state.creator).toBe(carol.id);
    expect(devicesOf(group.state, carol.id).map((d) => d.fingerprint).sort()).toEqual([carol.founder.fingerprint, phone.fingerprint].sort());
    // The creator's other device gets generation 0 too; the device that made it keeps it.
    expect(group.boxes.map((b) => b.recipient.id)).toContain(carol.founder.fingerprint);
    expect(group.boxes.map((b) => b.recipient.id)).not.toContain(phone.fingerprint);
    // Signed by a device the chain has unlinked, the create entry has no signer among the creator's devices.
    await carol.unlink(phone, carol.founder);
    const byUnlinked = await createGroup(phone, { at: T0, chain: carol.chain() }).catch((error: unknown) => error);
    expect(byUnlinked).toBeInstanceOf(LogVerificationError);
    expect((byUnlinked as LogVerificationError).reason).toBe('bad-signature');
  });

  it("a person accepts an invite from a linked device; the acceptance binds the founding bundle, so it cannot carry another person's chain", async () => {
    const f = await fixture();
    const invite = await createInvite(f.state, f.alice.founder, { role: 'member', expiresAt: T0 + 2 * HOUR, at: f.clock() });
    await grow(f, invite.entry);
    const keys = await inviteKeysFromCode(invite.code);
    const { device: phone } = await f.dave.link();
    const add = await acceptInvite(f.state, keys, phone, f.clock(), f.dave.chain());
    const joined = await extendLog(f.state, [add]);
    expect(joined.members.get(f.dave.id)).toMatchObject({ via: 'invite', invite: keys.inviteId });
    expect(memberOfDevice(joined, phone.fingerprint)?.fingerprint).toBe(f.dave.id);
    expect(memberOfDevice(joined, f.dave.founder.fingerprint)?.fingerprint).toBe(f.dave.id);
    // The server keeps Dave's acceptance and swaps in Mallory's chain, signed by Mallory's device.
    const mallory = await TestPerson.found();
    if (add.op !== 'add') throw new Error('an add');
    const swapped = await nextEntry(f.state, mallory.founder, 'add', { ...add.body, member: mallory.chain() }, f.clock());
    await expectLogRejected(extendLog(f.state, [swapped]), 'bad-signature', f.state.seq + 1);
  });
});

describe('a removed device asking for boxes through the mailbox', () => {
  it('is skipped: unlinked in a chain the holder pinned (before the log knows), or no longer in the log (after)', async () => {
    const f = await fixture();
    const phone = await bobLinksPhone(f);
    const trusted = (person: Fingerprint): TrustState => (person === f.bob.id ? 'verified' : 'unverified');
    const generation = currentGeneration(f.state);
    // While linked, the phone of a verified person gets a box.
    const linked = await sealForRequests(f.state, f.alice.founder, generation, f.seed, [phone.fingerprint], trusted);
    expect(linked.result.sent).toEqual([phone.fingerprint]);
    // Bob unlinks it; Alice's device has pinned Bob's new chain, the log has not caught up yet.
    await f.bob.unlink(phone, f.bob.founder);
    const pinnedOnly = await sealForRequests(f.state, f.alice.founder, generation, f.seed, [phone.fingerprint], trusted, new Set([phone.fingerprint]));
    expect(pinnedOnly.result).toEqual({ sent: [], skipped: [{ fingerprint: phone.fingerprint, reason: 'unlinked' }] });
    expect(pinnedOnly.boxes).toEqual([]);
    // Once the log has the unlink, it is nobody's device here.
    await catchUp(f, f.bob, f.bob.founder);
    const after = await sealForRequests(f.state, f.alice.founder, currentGeneration(f.state), f.seed, [phone.fingerprint, f.bob.founder.fingerprint], trusted);
    expect(after.result.skipped).toEqual([{ fingerprint: phone.fingerprint, reason: 'not-a-member' }]);
    expect(after.result.sent).toEqual([f.bob.founder.fingerprint]);
  });
});
