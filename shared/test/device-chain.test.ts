/**
 * A person's device chain (DESIGN §3, PROTOCOL §4a): every replay rule and every
 * rejection reason, on real chains built with real keys through the public builders
 * and then tampered with. Each refusal is checked by its `DeviceChainError` reason, its
 * code and (where it names one) the chain entry at fault.
 */
import { describe, expect, it } from 'vitest';
import {
  chainHead,
  checkPinnedChainHead,
  consentInput,
  deviceEntryHash,
  extendChain,
  founderOf,
  foundEntry,
  linkEntry,
  nextPosition,
  replayChain,
  signConsent,
  singleDeviceChain,
  unlinkEntry,
  type PersonState,
} from '../src/crypto/device-chain.ts';
import { DeviceChainError, type ChainRejection } from '../src/crypto/errors.ts';
import { generateIdentity, identityFromKeyPairs, signLabelled, type DeviceIdentity } from '../src/crypto/identity.ts';
import { LABELS } from '../src/crypto/labels.ts';
import { keyPairFromSeed, sign } from '../src/crypto/primitives.ts';
import { labelled } from '../src/protocol/canonical.ts';
import { concatBytes, fromBase64url, toBase64url, utf8 } from '../src/protocol/encoding.ts';
import type { EntryHash } from '../src/protocol/ids.ts';
import { PROTOCOL_VERSION, type DeviceEntry, type UnsignedDeviceEntry } from '../src/protocol/schemas.ts';
import { TestPerson } from './support/people.ts';

type Raw = Record<string, any>;

const HOUR_MS = 60 * 60_000;

/** What `pinned bytes` computes today (conclave/v3 labels); a change here is a protocol change. */
const PINNED = {
  person: 'rwgqiy2injq4673loifkqgoqwwob67235y6ufqugwdmkp5bfsffa',
  hashes: ['Doaa-KqGBP25Vh0vahUi8AeymvCyQAxa5kY6yTww4OY', 'o0hEuoK_uVs4dQH2eK-OZawyB5csf2Du7pc0EJscLrs'],
  consent: 'WnlSx7HUrt-snb7zISA51IkRLhKdfUXyKOyH5OpGscWw5TFAeI14DoiMImAJeAjPjEnTPWy7aQ9GFS-IQkENBg',
  sig: 'HGorXF4JkJNpYXv7UaNgTPbU3DtgVvSDGJqr1mCuAMBL4JWqNPqXm2F_CvgAstMkoa2oYPD-JzlfBDESclEHDA',
};

async function expectRejected(promise: Promise<unknown>, reason: ChainRejection, seq?: number): Promise<DeviceChainError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome, `expected the chain to be refused with '${reason}', but it was accepted`).toBeInstanceOf(DeviceChainError);
  const error = outcome as DeviceChainError;
  expect({ reason: error.reason, message: error.message }).toMatchObject({ reason });
  if (seq !== undefined) expect(error.seq).toBe(seq);
  expect(error.code).toBe(reason === 'rollback' ? 'CHAIN_ROLLBACK' : reason === 'fork' ? 'CHAIN_FORK' : 'CHAIN_INVALID');
  return error;
}

/** Signs a hand-built chain entry with `signer`. */
async function signDevice(unsigned: Raw, signer: DeviceIdentity): Promise<DeviceEntry> {
  return { ...unsigned, sig: await signLabelled(signer, LABELS.deviceEntry, unsigned) } as DeviceEntry;
}

/** A copy of `entry` without its signature, changed by `edit`, then signed by `signer`. */
function reSign(entry: DeviceEntry, signer: DeviceIdentity, edit: (unsigned: Raw) => void = () => {}): Promise<DeviceEntry> {
  const copy = structuredClone(entry) as Raw;
  delete copy.sig;
  edit(copy);
  return signDevice(copy, signer);
}

function tamper(entry: DeviceEntry, edit: (raw: Raw) => void): Raw {
  const copy = structuredClone(entry) as Raw;
  edit(copy);
  return copy;
}

function flipByte(b64: string, at = 9): string {
  const bytes = fromBase64url(b64);
  bytes[at] = bytes[at]! ^ 0x01;
  return toBase64url(bytes);
}

/** A person with two devices: founder A and B (linked by A at seq 1). */
async function twoDevices(): Promise<{ person: TestPerson; a: DeviceIdentity; b: DeviceIdentity }> {
  const person = await TestPerson.found();
  const { device: b } = await person.link();
  return { person, a: person.founder, b };
}

/** A link entry for `device` at the head of `state`, certified by `certifier`, with a consent over `position`. */
async function linkWithConsent(state: PersonState, certifier: DeviceIdentity, device: DeviceIdentity, position = nextPosition(state, certifier.fingerprint), consenter = device): Promise<DeviceEntry> {
  const consent = toBase64url(await signRaw(consenter, position, device));
  return linkEntry(state, certifier, device.bundle, consent, state.lastAt + 1);
}

async function signRaw(consenter: DeviceIdentity, position: ReturnType<typeof nextPosition>, device: DeviceIdentity): Promise<Uint8Array> {
  // signConsent covers the consenter's own bundle; a consent for another bundle is built from consentInput.
  if (consenter === device) return fromBase64url(await signConsent(device, position), 64);
  return sign(consenter.signKeys.privateKey, consentInput(position, device.bundle));
}

describe('the found entry', () => {
  it('is the same bytes wherever and whenever it is made: dated 0, signed deterministically', async () => {
    const device = await generateIdentity();
    const [first, second] = await Promise.all([foundEntry(device), foundEntry(device)]);
    expect(second).toEqual(first);
    expect(first).toMatchObject({ v: PROTOCOL_VERSION, person: device.fingerprint, seq: 0, prev: null, author: device.fingerprint, at: 0, op: 'found', body: { device: device.bundle } });
    expect(await singleDeviceChain(device)).toEqual([first]);
    const [x, y] = await Promise.all([replayChain([first]), replayChain(await singleDeviceChain(device))]);
    expect(chainHead(x)).toEqual(chainHead(y));
    expect(x.head).toBe(deviceEntryHash(first));
  });

  it('defines the person: its id is the founding fingerprint, its bundle the founding bundle', async () => {
    const device = await generateIdentity();
    const chain = await singleDeviceChain(device);
    const state = await replayChain(chain);
    expect(state.person).toBe(device.fingerprint);
    expect(state.founding).toEqual(device.bundle);
    expect(founderOf(chain)).toEqual(device.bundle);
    expect([...state.devices.keys()]).toEqual([device.fingerprint]);
    expect(state.devices.get(device.fingerprint)).toMatchObject({ addedSeq: 0, addedAt: 0, addedBy: null });
    expect(state.unlinked.size).toBe(0);
    expect(state.seq).toBe(0);
    expect(state.hashes).toEqual([state.head]);
  });

  it('must come first (malformed), at 0 with no previous entry (bad-sequence)', async () => {
    const { person, a } = await twoDevices();
    await expectRejected(replayChain(person.entries.slice(1)), 'malformed', 1);
    const found = person.entries[0]!;
    await expectRejected(replayChain([await reSign(found, a, (e) => (e.seq = 1))]), 'bad-sequence');
    await expectRejected(replayChain([await reSign(found, a, (e) => (e.prev = person.state.head))]), 'bad-sequence');
    expect(() => founderOf(person.entries.slice(1))).toThrow(DeviceChainError);
  });

  it('must name and be signed by its own device (wrong-person), with that device\'s key (bad-signature)', async () => {
    const a = await generateIdentity();
    const other = await generateIdentity();
    const found = await foundEntry(a);
    await expectRejected(replayChain([await reSign(found, a, (e) => (e.person = other.fingerprint))]), 'wrong-person', 0);
    await expectRejected(replayChain([await reSign(found, a, (e) => (e.author = other.fingerprint))]), 'wrong-person', 0);
    // Another device signs A's found entry: the signature is checked with A's key.
    await expectRejected(replayChain([await reSign(found, other)]), 'bad-signature', 0);
    // The server presents its own bundle under A's name.
    await expectRejected(replayChain([await reSign(found, other, (e) => (e.body.device = other.bundle))]), 'wrong-person', 0);
  });

  it('a second found entry is refused (bad-sequence)', async () => {
    const { person, a } = await twoDevices();
    const second = await reSign(person.entries[0]!, a, (e) => {
      e.seq = 2;
      e.prev = person.state.head;
      e.at = person.state.lastAt;
    });
    await expectRejected(extendChain(person.state, [second]), 'bad-sequence', 2);
  });
});

describe('linking a device', () => {
  it('adds it, certified by a current device, with its consent bound to the position and the certifier', async () => {
    const { person, a, b } = await twoDevices();
    expect([...person.state.devices.keys()]).toEqual([a.fingerprint, b.fingerprint]);
    expect(person.state.devices.get(b.fingerprint)).toMatchObject({ addedSeq: 1, addedBy: a.fingerprint, bundle: b.bundle });
    // B (not only the founder) may certify the next one.
    const { device: c } = await person.link({ certifier: b });
    expect(person.state.devices.get(c.fingerprint)?.addedBy).toBe(b.fingerprint);
    const replayed = await replayChain(person.entries);
    expect(chainHead(replayed)).toEqual(chainHead(person.state));
    expect(replayed.person).toBe(a.fingerprint);
  });

  it('refuses a link signed by a device that is not one of the person\'s (not-a-device): the server cannot forge one in', async () => {
    const { person } = await twoDevices();
    const server = await generateIdentity();
    const intruder = await generateIdentity();
    // The intruder even consents properly; the certifier is what is missing.
    const forged = await linkWithConsent(person.state, server, intruder);
    await expectRejected(extendChain(person.state, [forged]), 'not-a-device', 2);
    // Naming a real device as author does not help: the signature is checked with that device's key.
    const named = await reSign(forged, server, (e) => (e.author = person.founder.fingerprint));
    await expectRejected(extendChain(person.state, [named]), 'bad-signature', 2);
  });

  it('refuses a link without the new device\'s valid consent (bad-signature)', async () => {
    const { person, a } = await twoDevices();
    const n = await generateIdentity();
    const honest = await linkWithConsent(person.state, a, n);
    await expect(extendChain(person.state, [honest])).resolves.toBeDefined();
    // Consent changed after signing (re-signed by the certifier: only the consent is wrong).
    const flipped = await reSign(honest, a, (e) => (e.body.consent = flipByte(e.body.consent)));
    await expectRejected(extendChain(person.state, [flipped]), 'bad-signature', 2);
    // A consent signed by someone else (the certifier itself) for N's bundle.
    const bySomeoneElse = await linkWithConsent(person.state, a, n, undefined, a);
    await expectRejected(extendChain(person.state, [bySomeoneElse]), 'bad-signature', 2);
    // N's bundle with the server's box key: N's consent covered its own box key.
    const server = await generateIdentity();
    const swapped = await reSign(honest, a, (e) => (e.body.device = { ...n.bundle, boxKey: server.bundle.boxKey }));
    await expectRejected(extendChain(person.state, [swapped]), 'bad-signature', 2);
  });

  it('refuses a consent replayed at another position, for another certifier or for another person (bad-signature)', async () => {
    const { person, a, b } = await twoDevices();
    const n = await generateIdentity();
    const here = nextPosition(person.state, a.fingerprint);
    // Signed for seq 3 (or an older prev), used at seq 2.
    const laterSeq = await linkWithConsent(person.state, a, n, { ...here, seq: here.seq + 1 });
    await expectRejected(extendChain(person.state, [laterSeq]), 'bad-signature', 2);
    const olderPrev = await linkWithConsent(person.state, a, n, { ...here, prev: person.state.hashes[0]! });
    await expectRejected(extendChain(person.state, [olderPrev]), 'bad-signature', 2);
    // N agreed to be certified by A; B signs the link with that consent.
    const consentForA = await signConsent(n, here);
    const byB = await linkEntry(person.state, b, n.bundle, consentForA, person.state.lastAt + 1);
    await expectRejected(extendChain(person.state, [byB]), 'bad-signature', 2);
    // N agreed to join another person at the same seq: it cannot be moved into this one.
    const other = await TestPerson.found();
    await other.link();
    const elsewhere = await signConsent(n, { ...nextPosition(other.state, other.founder.fingerprint) });
    const moved = await linkEntry(person.state, a, n.bundle, elsewhere, person.state.lastAt + 1);
    await expectRejected(extendChain(person.state, [moved]), 'bad-signature', 2);
    // A consent used once cannot be used again after the chain moved on.
    const used = await linkWithConsent(person.state, a, n);
    const after = await extendChain(person.state, [used]);
    const m = await generateIdentity();
    const again = await linkEntry(after, a, m.bundle, used.op === 'link' ? used.body.consent : '', after.lastAt + 1);
    await expectRejected(extendChain(after, [again]), 'bad-signature', 3);
  });

  it('refuses a device the person has or had (device-reused): an unlinked device never comes back', async () => {
    const { person, a, b } = await twoDevices();
    await expectRejected(extendChain(person.state, [await linkWithConsent(person.state, b, a)]), 'device-reused', 2);
    await expectRejected(extendChain(person.state, [await linkWithConsent(person.state, a, b)]), 'device-reused', 2);
    await person.unlink(b, a);
    await expectRejected(extendChain(person.state, [await linkWithConsent(person.state, a, b)]), 'device-reused', 3);
  });
});

describe('unlinking a device', () => {
  it('moves it to the unlinked set, by another current device, and the person id stays when the founder goes', async () => {
    const { person, a, b } = await twoDevices();
    await person.unlink(a, b);
    expect([...person.state.devices.keys()]).toEqual([b.fingerprint]);
    expect(person.state.unlinked.get(a.fingerprint)).toMatchObject({ removedSeq: 2, removedBy: b.fingerprint, addedSeq: 0 });
    expect(person.state.person).toBe(a.fingerprint);
    expect(person.state.founding).toEqual(a.bundle);
    const replayed = await replayChain(person.entries);
    expect(chainHead(replayed)).toEqual(chainHead(person.state));
  });

  it('refuses unlinking a device that is not a current one (not-a-device)', async () => {
    const { person, a, b } = await twoDevices();
    const stranger = await generateIdentity();
    await expectRejected(extendChain(person.state, [await unlinkEntry(person.state, a, stranger.fingerprint, person.state.lastAt)]), 'not-a-device', 2);
    const { device: c } = await person.link();
    await person.unlink(b, a);
    await expectRejected(extendChain(person.state, [await unlinkEntry(person.state, c, b.fingerprint, person.state.lastAt)]), 'not-a-device', 4);
  });

  it('refuses a device unlinking itself (self-unlink), also when it is the last device', async () => {
    const { person, a, b } = await twoDevices();
    await expectRejected(extendChain(person.state, [await unlinkEntry(person.state, b, b.fingerprint, person.state.lastAt)]), 'self-unlink', 2);
    await person.unlink(b, a);
    // One device left: the only current target is the author itself (last-device cannot be reached; PROTOCOL §4a.4).
    await expectRejected(extendChain(person.state, [await unlinkEntry(person.state, a, a.fingerprint, person.state.lastAt)]), 'self-unlink', 3);
  });

  it('refuses any entry signed by a device after it was unlinked (device-unlinked)', async () => {
    const { person, a, b } = await twoDevices();
    await person.unlink(b, a);
    const n = await generateIdentity();
    await expectRejected(extendChain(person.state, [await linkWithConsent(person.state, b, n)]), 'device-unlinked', 3);
    const { device: c } = await person.link();
    await expectRejected(extendChain(person.state, [await unlinkEntry(person.state, b, c.fingerprint, person.state.lastAt)]), 'device-unlinked', 4);
  });
});

describe('order, links, time and form', () => {
  it('refuses another person\'s entry (wrong-person), a gap or a repeat (bad-sequence), a wrong prev (bad-link)', async () => {
    const { person, a } = await twoDevices();
    const n = await generateIdentity();
    const honest = await linkWithConsent(person.state, a, n);
    const other = await TestPerson.found();
    await expectRejected(extendChain(person.state, [await reSign(honest, a, (e) => (e.person = other.id))]), 'wrong-person', 2);
    await expectRejected(extendChain(person.state, [await reSign(honest, a, (e) => (e.seq = 3))]), 'bad-sequence', 3);
    await expectRejected(extendChain(person.state, [person.entries[1]]), 'bad-sequence', 1);
    await expectRejected(replayChain([...person.entries, person.entries[1]]), 'bad-sequence', 1);
    await expectRejected(extendChain(person.state, [await reSign(honest, a, (e) => (e.prev = person.state.hashes[0]))]), 'bad-link', 2);
    // Two entries swapped.
    const { person: p3 } = await twoDevices();
    await p3.link();
    await expectRejected(replayChain([p3.entries[0], p3.entries[2], p3.entries[1]]), 'bad-sequence');
  });

  it('refuses an entry dated before the one it follows, or far in the future', async () => {
    const { person, a } = await twoDevices();
    const n = await generateIdentity();
    const honest = await linkWithConsent(person.state, a, n);
    const backwards = await reSign(honest, a, (e) => (e.at = person.state.lastAt - 1));
    await expectRejected(extendChain(person.state, [backwards]), 'time-went-backwards', 2);
    const same = await reSign(honest, a, (e) => (e.at = person.state.lastAt));
    await expect(extendChain(person.state, [same])).resolves.toBeDefined();
    const now = 1_000_000_000_000;
    const future = await reSign(honest, a, (e) => (e.at = now + 11 * 60_000));
    await expectRejected(extendChain(person.state, [future], { now }), 'time-in-future', 2);
    const ahead = await reSign(honest, a, (e) => (e.at = now + 9 * 60_000));
    await expect(extendChain(person.state, [ahead], { now })).resolves.toBeDefined();
    // Entry 0 too.
    const found = await reSign(person.entries[0]!, a, (e) => (e.at = now + HOUR_MS));
    await expectRejected(replayChain([found], { now }), 'time-in-future', 0);
  });

  it('refuses a changed signature, a field changed after signing, and reports a bad signature before a later rule break', async () => {
    const { person, a } = await twoDevices();
    await person.link();
    await expectRejected(replayChain(person.entries.map((e, i) => (i === 1 ? tamper(e, (x) => (x.sig = flipByte(x.sig, 20))) : e))), 'bad-signature', 1);
    await expectRejected(replayChain(person.entries.map((e, i) => (i === 2 ? tamper(e, (x) => (x.at += 1)) : e))), 'bad-signature', 2);
    const broken: unknown[] = [...person.entries];
    broken[1] = tamper(person.entries[1]!, (x) => (x.sig = flipByte(x.sig)));
    broken[2] = await reSign(person.entries[2]!, a, (e) => (e.prev = person.state.hashes[0]));
    await expectRejected(replayChain(broken), 'bad-signature', 1);
  });

  it('refuses unknown fields, versions, ops, encodings and an empty chain (malformed)', async () => {
    const { person, a } = await twoDevices();
    const n = await generateIdentity();
    const honest = await linkWithConsent(person.state, a, n);
    for (const edit of [
      (e: Raw) => (e.extra = 1),
      (e: Raw) => (e.body.name = 'phone'),
      (e: Raw) => (e.body.device.extra = true),
      (e: Raw) => (e.v = 2),
      (e: Raw) => (e.op = 'adopt'),
      (e: Raw) => (e.sig = e.sig.slice(0, -1)),
      (e: Raw) => (e.body.consent = `${e.body.consent.slice(0, -1)}=`),
      (e: Raw) => (e.author = e.author.toUpperCase()),
      (e: Raw) => (e.seq = 2.5),
      (e: Raw) => delete e.prev,
      (e: Raw) => (e.body = null),
    ]) {
      await expectRejected(extendChain(person.state, [tamper(honest, edit)]), 'malformed', 2);
    }
    await expectRejected(extendChain(person.state, [null]), 'malformed', 2);
    await expectRejected(replayChain([]), 'malformed');
    await expectRejected(replayChain(['found']), 'malformed', 0);
  });

  it('refuses an answer that is not a list of entries (malformed), never with another exception', async () => {
    // The storage API's answers reach replay unparsed: a lying server chooses their shape.
    const { person } = await twoDevices();
    for (const notAList of [null, undefined, {}, 5, 'entries', { length: 1, 0: person.entries[0] }]) {
      await expectRejected(replayChain(notAList as never), 'malformed');
      await expectRejected(extendChain(person.state, notAList as never), 'malformed');
    }
  });
});


describe('extendChain', () => {
  it('never changes the state it was given, whether it accepts or refuses', async () => {
    const { person, a } = await twoDevices();
    const before = person.state;
    const snapshot = structuredClone(before);
    const n = await generateIdentity();
    const good = await linkWithConsent(before, a, n);
    const next = await extendChain(before, [good]);
    expect(next.devices.has(n.fingerprint)).toBe(true);
    await expectRejected(extendChain(before, [good, good]), 'bad-sequence', 2);
    const unlink = await unlinkEntry(next, n, a.fingerprint, next.lastAt);
    await expect(extendChain(next, [unlink])).resolves.toBeDefined();
    expect(before).toEqual(snapshot);
    expect(next.devices.has(a.fingerprint)).toBe(true);
    const copy = await extendChain(before, []);
    expect(copy).not.toBe(before);
    expect(copy).toEqual(before);
  });

  it('refuses a chain of another person when asked for one person (wrong-person): a lookup cannot swap identities', async () => {
    const { person } = await twoDevices();
    const mallory = await TestPerson.found();
    await mallory.link();
    await expectRejected(replayChain(mallory.entries, { person: person.id }), 'wrong-person');
    await expect(replayChain(person.entries, { person: person.id })).resolves.toBeDefined();
    // Also when continuing a chain this device already holds.
    await expectRejected(extendChain(person.state, [], { person: mallory.id }), 'wrong-person');
  });

  it('refuses a chain rolled back or forked against a pinned head (CHAIN_ROLLBACK, CHAIN_FORK)', async () => {
    const { person, a, b } = await twoDevices();
    const pinnedAt1 = chainHead(person.state);
    const fork = structuredClone(person.state) as PersonState;
    await person.unlink(b, a);
    const pinned = chainHead(person.state);
    // Rolled back: the server serves the chain from before the unlink, to keep B in.
    await expectRejected(replayChain(person.entries.slice(0, 2), { pinned }), 'rollback');
    // Forked: at seq 2 another entry (a link instead of the unlink).
    const n = await generateIdentity();
    const other = await extendChain(fork, [await linkWithConsent(fork, b, n)]);
    expect(other.seq).toBe(pinned.seq);
    expect(() => checkPinnedChainHead(other, pinned)).toThrow(DeviceChainError);
    await expectRejected(extendChain(fork, [await linkWithConsent(fork, b, n)], { pinned }), 'fork', 2);
    // Extending the pinned head is fine; so is the same head.
    await expect(replayChain(person.entries, { pinned })).resolves.toBeDefined();
    await expect(replayChain(person.entries, { pinned: pinnedAt1 })).resolves.toBeDefined();
    expect(() => checkPinnedChainHead(person.state, null)).not.toThrow();
    const forkedHash = { seq: 1, hash: person.state.hashes[0] as EntryHash };
    await expectRejected(replayChain(person.entries, { pinned: forkedHash }), 'fork', 1);
  });
});

describe('a hundred devices', () => {
  it('replays a chain of 100 devices (with unlinks among them) to the same state, deterministically', async () => {
    const person = await TestPerson.found();
    const linked: DeviceIdentity[] = [person.founder];
    const devices = await Promise.all(Array.from({ length: 99 }, () => generateIdentity()));
    for (const [i, device] of devices.entries()) {
      // Each new device is certified by one linked earlier (not always the founder).
      await person.link({ device, certifier: linked[(i * 7) % linked.length] });
      linked.push(device);
    }
    expect(person.state.devices.size).toBe(100);
    for (let i = 1; i <= 10; i++) await person.unlink(linked[i * 9]!, linked[i * 9 + 1]!);
    const [first, second] = await Promise.all([replayChain(person.entries), replayChain(structuredClone(person.entries))]);
    expect(first.seq).toBe(109);
    expect(first.devices.size).toBe(90);
    expect(first.unlinked.size).toBe(10);
    expect(first).toEqual(second);
    expect(chainHead(first)).toEqual(chainHead(person.state));
    // The same chain, validated in pieces, ends in the same state.
    const half = await replayChain(person.entries.slice(0, 50));
    expect(await extendChain(half, person.entries.slice(50))).toEqual(first);
    // One forged signature anywhere is found and named.
    const broken: unknown[] = [...person.entries];
    broken[77] = tamper(person.entries[77]!, (e) => (e.sig = flipByte(e.sig)));
    await expectRejected(replayChain(broken), 'bad-signature', 77);
  });
});

describe('pinned bytes', () => {
  /** A device from fixed key seeds: its bundle, found entry and signatures are the same bytes everywhere. */
  async function fixedDevice(fill: number): Promise<DeviceIdentity> {
    const [signKeys, boxKeys] = await Promise.all([keyPairFromSeed('Ed25519', new Uint8Array(32).fill(fill)), keyPairFromSeed('X25519', new Uint8Array(32).fill(fill + 1))]);
    return identityFromKeyPairs(signKeys, boxKeys);
  }

  it('a chain of fixed devices hashes to pinned values (labels, canonical encoding and hash input unchanged)', async () => {
    const [a, b] = await Promise.all([fixedDevice(1), fixedDevice(3)]);
    const found = await foundEntry(a);
    const state = await replayChain([found]);
    const consent = await signConsent(b, nextPosition(state, a.fingerprint));
    const link = await linkEntry(state, a, b.bundle, consent, 1_700_000_000_000);
    const chain = await replayChain([found, link], { now: 1_700_000_000_000 });
    expect({ person: chain.person, hashes: chain.hashes, consent, sig: link.sig }).toEqual(PINNED);
    // The hash as PROTOCOL §4a.2 writes it: SHA-256(label ‖ 0x00 ‖ signing input ‖ signature bytes).
    for (const [i, entry] of [found, link].entries()) {
      const { sig, ...unsigned } = entry;
      const input = concatBytes(utf8('conclave/v3/device-entry-hash'), new Uint8Array([0]), labelled('conclave/v3/device-entry', unsigned), fromBase64url(sig, 64));
      expect(toBase64url(new Uint8Array(await crypto.subtle.digest('SHA-256', input)))).toBe(chain.hashes[i]);
    }
  });
});
