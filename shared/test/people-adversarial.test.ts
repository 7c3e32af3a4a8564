/**
 * Adversarial people (DESIGN §3, §4; issue 13). Every case starts from a real group
 * whose members are people with real device chains, built through the public builders,
 * then plays a lying server, a hostile member, a thief holding an unlinked device or a
 * careless client, and checks the refusal by name: `LogVerificationError` reasons for a
 * group log, `DeviceChainError` reasons for a chain fetched on its own, `NoteOpenError`
 * reasons for notes and `KeyBoxError` for boxes.
 */
import { describe, expect, it } from 'vitest';
import { chainHead, checkPinnedChainHead, extendChain, linkEntry, nextPosition, replayChain, signConsent, unlinkEntry, type PersonState } from '../src/crypto/device-chain.ts';
import { DeviceChainError, KeyBoxError, LogVerificationError, type ChainRejection, type LogRejection } from '../src/crypto/errors.ts';
import { generationKeys, makeRotation } from '../src/crypto/generations.ts';
import { createGroup, removeMember, rotateKey, sealToRecipients } from '../src/crypto/group-lifecycle.ts';
import { currentGeneration, devicesOf, isAdmin, memberOfDevice, nextEntry, personOfDevice, signEntry, type GroupState } from '../src/crypto/group-log.ts';
import { generateIdentity, type DeviceIdentity } from '../src/crypto/identity.ts';
import { openKeyBox, openerFor, sealKeyBox } from '../src/crypto/key-box.ts';
import { extendLog, replayLog } from '../src/crypto/log-replay.ts';
import { newNoteId, NoteOpenError, openNote, sealNote, type NotePlaintext } from '../src/crypto/note-envelope.ts';
import { recoveryIdentityFromCode, restoreWithRecoveryCode } from '../src/crypto/recovery.ts';
import { metaAuthorAllowed } from '../src/crypto/meta-notes.ts';
import type { Fingerprint } from '../src/protocol/ids.ts';
import type { DeviceEntry, LogEntry, NoteEnvelope, UnsignedLogEntry } from '../src/protocol/schemas.ts';
import { devicesChange, TestPerson } from './support/people.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Date.now() - HOUR;

type Raw = Record<string, any>;

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

/** A copy of `entry` without its signature, changed by `edit`, then signed by `signer`. */
async function forge(entry: LogEntry, signer: DeviceIdentity, edit: (unsigned: Raw) => void = () => {}): Promise<LogEntry> {
  const copy = structuredClone(entry) as Raw;
  delete copy.sig;
  edit(copy);
  return signEntry(copy as UnsignedLogEntry, signer);
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
