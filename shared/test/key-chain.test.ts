/**
 * No member can break the group's key chain (DESIGN §4, issue: "integrity against
 * hostile members"). A hostile admin makes a bad generation — a poisoned link, a
 * commitment to a seed nobody receives, boxes for only some members, or a break
 * followed by more rotations — and each case ends with the culprit named, every
 * member still writing, the history readable by newcomers after an honest admin's
 * repair, and the recovery code still restoring everything.
 */
import { describe, expect, it } from 'vitest';
import { openBoxes } from '../src/client/key-fetch.ts';
import { canRotateFrom, needsRepair } from '../src/client/group-client.ts';
import type { GroupRecord } from '../src/client/key-store.ts';
import { sealForRequests } from '../src/client/handover.ts';
import { generationKeys, makeRotation, newSeed, reachableSeeds, type GenerationFault } from '../src/crypto/generations.ts';
import { createGroup, rotateKey, removeMember, sealToRecipients } from '../src/crypto/group-lifecycle.ts';
import { currentGeneration, logHead, nextEntry, type GroupState } from '../src/crypto/group-log.ts';
import { generateIdentity, type DeviceIdentity } from '../src/crypto/identity.ts';
import { acceptInvite, createInvite, inviteKeysFromCode } from '../src/crypto/invite.ts';
import { sealKeyBox } from '../src/crypto/key-box.ts';
import { extendLog } from '../src/crypto/log-replay.ts';
import { newNoteId, openNote, sealNote } from '../src/crypto/note-envelope.ts';
import { restoreWithRecoveryCode } from '../src/crypto/recovery.ts';
import { randomBytes } from '../src/crypto/primitives.ts';
import { toBase64url } from '../src/protocol/encoding.ts';
import type { KeyBox, LogEntry, NoteEnvelope, Rotation } from '../src/protocol/schemas.ts';

const HOUR = 3600_000;
let clock = 1_700_000_000_000;
const tick = () => (clock += 1000);

interface World {
  state: GroupState;
  boxes: KeyBox[];
  recoveryCode: string;
  alice: DeviceIdentity;
  mallory: DeviceIdentity;
  bob: DeviceIdentity;
  /** What each device holds, as its key store would. */
  held: Map<string, Map<number, Uint8Array>>;
  /** The faults each device has met, as its key store keeps them. */
  faults: Map<string, GenerationFault[]>;
  notes: NoteEnvelope[];
}

async function append(w: World, entry: LogEntry, boxes: KeyBox[] = []): Promise<void> {
  w.state = await extendLog(w.state, [entry], { now: clock });
  w.boxes.push(...boxes);
}

async function join(w: World, who: DeviceIdentity, role: 'admin' | 'member'): Promise<void> {
  const invite = await createInvite(w.state, w.alice, { role, expiresAt: clock + HOUR, at: tick() });
  await append(w, invite.entry);
  await append(w, await acceptInvite(w.state, await inviteKeysFromCode(invite.code), who, tick()));
}

/** Alice (creator), Mallory (a hostile admin) and Bob (a member) all hold generation 0; Alice wrote a note. */
async function world(): Promise<World> {
  const [alice, mallory, bob] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
  const group = await createGroup(alice, { at: tick() });
  const w: World = { state: group.state, boxes: [...group.boxes], recoveryCode: group.recoveryCode, alice, mallory, bob, held: new Map(), faults: new Map(), notes: [] };
  await join(w, mallory, 'admin');
  await join(w, bob, 'member');
  for (const d of [alice, mallory, bob]) w.held.set(d.fingerprint, new Map([[0, group.seed]]));
  await write(w, alice, 'Before the break');
  return w;
}

async function write(w: World, author: DeviceIdentity, title: string): Promise<NoteEnvelope> {
  const generation = currentGeneration(w.state);
  const seed = w.held.get(author.fingerprint)!.get(generation);
  if (!seed) throw new Error(`${title}: the author does not hold generation ${generation}`);
  const { noteKey } = await generationKeys(seed, w.state.groupId, generation);
  const note = await sealNote(author, { groupId: w.state.groupId, noteId: newNoteId(), version: 1, generation }, noteKey, { title, body: title }, { at: tick() });
  w.notes.push(note);
  return note;
}

/** Titles of every note `seeds` open; the others are listed as unreadable. */
async function readAll(w: World, seeds: ReadonlyMap<number, Uint8Array>): Promise<string[]> {
  const titles: string[] = [];
  for (const note of w.notes) {
    const seed = seeds.get(note.generation);
    if (!seed) {
      titles.push(`(unreadable: generation ${note.generation})`);
      continue;
    }
    const { noteKey } = await generationKeys(seed, w.state.groupId, note.generation);
    titles.push((await openNote(note, w.state, { noteId: note.noteId }, () => noteKey)).title);
  }
  return titles;
}

/** What a device learns from the boxes the server holds for it. */
async function receive(w: World, who: DeviceIdentity): Promise<GroupRecord> {
  const faults = w.faults.get(who.fingerprint);
  const record: GroupRecord = { groupId: w.state.groupId, state: w.state, pinned: logHead(w.state), seeds: w.held.get(who.fingerprint) ?? new Map(), ...(faults ? { faults } : {}) };
  const mine = w.boxes.filter((b) => b.recipient.kind === 'member' && b.recipient.id === who.fingerprint);
  const next = await openBoxes(who, record, mine);
  w.held.set(who.fingerprint, next.seeds);
  if (next.faults) w.faults.set(who.fingerprint, next.faults);
  return next;
}

/** Mallory's rotation whose link to the previous seed is garbage. */
async function poisonedRotation(w: World): Promise<{ seed: Uint8Array; rotation: Rotation }> {
  const g = currentGeneration(w.state);
  const made = await makeRotation(w.state.groupId, g + 1, w.held.get(w.mallory.fingerprint)!.get(g)!);
  made.rotation.links[0]!.wrap = toBase64url(randomBytes(60));
  return made;
}

async function honestRepair(w: World, admin: DeviceIdentity, record: GroupRecord): Promise<void> {
  const rotated = await rotateKey(w.state, admin, record.seeds, tick(), record.faults ?? []);
  await append(w, rotated.entry, rotated.boxes);
  w.held.set(admin.fingerprint, new Map([...record.seeds, [rotated.generation, rotated.seed]]));
}

/** A newcomer joins after everything and opens whatever its one box reaches. */
async function newcomerReads(w: World): Promise<string[]> {
  const carol = await generateIdentity();
  await join(w, carol, 'member');
  const g = currentGeneration(w.state);
  const box = await sealKeyBox(w.alice, w.state.groupId, g, w.held.get(w.alice.fingerprint)!.get(g)!, { kind: 'member', id: carol.fingerprint }, carol.bundle.boxKey);
  w.boxes.push(box);
  const record = await receive(w, carol);
  // It may still see the old broken link, but nothing is stranded any more.
  expect(needsRepair(record)).toBe(false);
  expect((record.faults ?? []).every((f) => f.kind === 'bad-link' && f.generation < g)).toBe(true);
  return readAll(w, record.seeds);
}

async function recoveryReads(w: World): Promise<string[]> {
  const device = await generateIdentity();
  const restored = await restoreWithRecoveryCode(
    w.recoveryCode,
    w.state,
    w.boxes.filter((b) => b.recipient.id === w.state.recovery),
    device,
  );
  return readAll(w, restored.seeds);
}

describe('no member can break the key chain', () => {
  it('a poisoned link is named, the member still writes, an admin repairs, and newcomers and the recovery code read everything', async () => {
    const w = await world();
    const { seed, rotation } = await poisonedRotation(w);
    const entry = await nextEntry(w.state, w.mallory, 'rotate', { rotation }, tick());
    const { boxes } = await sealToRecipients(await extendLog(w.state, [entry], { now: clock }), w.mallory, 1, seed, clock);
    // The log itself is valid: only a key holder can tell the link is bad.
    await append(w, entry, boxes);
    w.held.get(w.mallory.fingerprint)!.set(1, seed);

    const bob = await receive(w, w.bob);
    expect(bob.faults).toEqual([expect.objectContaining({ generation: 1, kind: 'bad-link', author: w.mallory.fingerprint, linked: 0, at: entry.at })]);
    // Failure is per generation: Bob holds the current key and writes.
    expect(bob.seeds.has(1)).toBe(true);
    await write(w, w.bob, 'Written at the poisoned generation');

    // Before a repair, a newcomer with one box for generation 1 cannot reach generation 0.
    const stranded = await reachableSeeds(w.state, new Map([[1, seed]]));
    expect(stranded.seeds.has(0)).toBe(false);
    expect(stranded.faults[0]).toMatchObject({ kind: 'bad-link', author: w.mallory.fingerprint });

    const alice = await receive(w, w.alice);
    expect(needsRepair(alice)).toBe(true);
    await honestRepair(w, w.alice, alice);
    expect(w.state.generations[2]!.links.map((l) => l.generation)).toEqual([1, 0]);
    expect(needsRepair(await receive(w, w.alice))).toBe(false);

    expect(await newcomerReads(w)).toEqual(['Before the break', 'Written at the poisoned generation']);
    expect(await recoveryReads(w)).toEqual(['Before the break', 'Written at the poisoned generation']);
  });

  it('a commitment to a seed nobody receives is named, and the repair continues from the newest good seed', async () => {
    const w = await world();
    const { rotation } = await makeRotation(w.state.groupId, 1, w.held.get(w.mallory.fingerprint)!.get(0)!);
    const entry = await nextEntry(w.state, w.mallory, 'rotate', { rotation }, tick());
    const next = await extendLog(w.state, [entry], { now: clock });
    // Mallory seals everyone a different seed than the one committed to.
    const { boxes } = await sealToRecipients(next, w.mallory, 1, newSeed(), clock);
    await append(w, entry, boxes);

    const bob = await receive(w, w.bob);
    expect(bob.seeds.has(1)).toBe(false);
    expect(bob.faults).toEqual([expect.objectContaining({ generation: 1, kind: 'bad-seed', author: w.mallory.fingerprint })]);
    const alice = await receive(w, w.alice);
    expect(needsRepair(alice)).toBe(true);
    await honestRepair(w, w.alice, alice);
    expect(w.state.generations[2]!.links.map((l) => l.generation)).toEqual([0]);

    // The group goes on: Bob gets the repaired key and writes; everything is readable.
    expect((await receive(w, w.bob)).seeds.has(2)).toBe(true);
    await write(w, w.bob, 'After the repair');
    expect(await newcomerReads(w)).toEqual(['Before the break', 'After the repair']);
    expect(await recoveryReads(w)).toEqual(['Before the break', 'After the repair']);
  });

  it('boxes missing for some members: any admin hands the key to members entitled before it, without asking them to verify again', async () => {
    const w = await world();
    const g = currentGeneration(w.state);
    const { seed, rotation } = await makeRotation(w.state.groupId, g + 1, w.held.get(w.mallory.fingerprint)!.get(g)!);
    const entry = await nextEntry(w.state, w.mallory, 'rotate', { rotation }, tick());
    const next = await extendLog(w.state, [entry], { now: clock });
    const { boxes } = await sealToRecipients(next, w.mallory, 1, seed, clock);
    // Bob's box is withheld.
    await append(w, entry, boxes.filter((b) => b.recipient.id !== w.bob.fingerprint));
    expect((await receive(w, w.bob)).seeds.has(1)).toBe(false);
    const alice = await receive(w, w.alice);
    expect(alice.seeds.has(1)).toBe(true);
    expect(needsRepair(alice)).toBe(false);
    // Bob asks through the mailbox; Alice has never verified him, but he held the key before.
    const answer = await sealForRequests(w.state, w.alice, 1, alice.seeds.get(1)!, [w.bob.fingerprint], () => 'unverified');
    expect(answer.result.sent).toEqual([w.bob.fingerprint]);
    w.boxes.push(...answer.boxes);
    expect((await receive(w, w.bob)).seeds.has(1)).toBe(true);
    // A newcomer who joined under this generation still needs verification.
    const dan = await generateIdentity();
    await join(w, dan, 'member');
    const refused = await sealForRequests(w.state, w.alice, 1, alice.seeds.get(1)!, [dan.fingerprint], () => 'unverified');
    expect(refused.result.skipped).toEqual([{ fingerprint: dan.fingerprint, reason: 'not-verified' }]);
  });

  it('a broken generation followed by more rotations is bridged by the repair', async () => {
    const w = await world();
    const poisoned = await poisonedRotation(w);
    const entry = await nextEntry(w.state, w.mallory, 'rotate', { rotation: poisoned.rotation }, tick());
    await append(w, entry, (await sealToRecipients(await extendLog(w.state, [entry], { now: clock }), w.mallory, 1, poisoned.seed, clock)).boxes);
    w.held.get(w.mallory.fingerprint)!.set(1, poisoned.seed);
    await write(w, w.mallory, 'At generation 1');
    // An honest remove follows before anyone notices: generation 2 links only to 1.
    const alice = await receive(w, w.alice);
    const removed = await removeMember(w.state, w.alice, w.mallory.fingerprint, alice.seeds.get(1)!, tick());
    await append(w, removed.entry, removed.boxes);
    w.held.set(w.alice.fingerprint, new Map([...alice.seeds, [2, removed.seed]]));
    await write(w, w.alice, 'At generation 2');
    // Still broken below generation 1 for anyone starting from generation 2.
    expect((await reachableSeeds(w.state, new Map([[2, removed.seed]]))).seeds.has(0)).toBe(false);
    // Alice, holding every seed and the fault, repairs: generation 3 links 2 and 0.
    const before = await receive(w, w.alice);
    expect(needsRepair(before)).toBe(true);
    await honestRepair(w, w.alice, before);
    expect(w.state.generations[3]!.links.map((l) => l.generation)).toEqual([2, 0]);
    expect(await newcomerReads(w)).toEqual(['Before the break', 'At generation 1', 'At generation 2']);
    expect(await recoveryReads(w)).toEqual(['Before the break', 'At generation 1', 'At generation 2']);
  });

  it('a box nobody signed is reported without blaming its claimed sender, and does not hide a good box', async () => {
    const w = await world();
    const alice = w.held.get(w.alice.fingerprint)!;
    const rotated = await rotateKey(w.state, w.alice, alice.get(0)!, tick());
    await append(w, rotated.entry, []);
    const good = rotated.boxes.find((b) => b.recipient.id === w.bob.fingerprint)!;
    const forged = { ...good, ciphertext: toBase64url(randomBytes(48)) };
    w.boxes.push(forged, good);
    const bob = await receive(w, w.bob);
    expect(bob.seeds.has(1)).toBe(true);
    expect(bob.faults).toEqual([expect.objectContaining({ kind: 'forged-box', author: null, generation: 1 })]);
  });

  it('an admin whose current key is only late (or withheld) does not rotate past it: that would strand what was written with it', async () => {
    const w = await world();
    const rotated = await rotateKey(w.state, w.mallory, w.held.get(w.mallory.fingerprint)!.get(0)!, tick());
    // Alice's box for generation 1 has not arrived.
    await append(w, rotated.entry, rotated.boxes.filter((b) => b.recipient.id !== w.alice.fingerprint));
    const late = await receive(w, w.alice);
    expect(late.seeds.has(1)).toBe(false);
    expect(needsRepair(late)).toBe(false);
    expect(canRotateFrom(late)).toBe(false);
    // With signed evidence that generation 1 itself is broken, the repair may skip it.
    const junk = await sealKeyBox(w.mallory, w.state.groupId, 1, newSeed(), { kind: 'member', id: w.alice.fingerprint }, w.alice.bundle.boxKey);
    w.boxes.push(junk);
    const broken = await receive(w, w.alice);
    expect(broken.faults).toEqual([expect.objectContaining({ kind: 'bad-seed', author: w.mallory.fingerprint, generation: 1 })]);
    expect(canRotateFrom(broken)).toBe(true);
  });

  it('links must name earlier generations, newest first', async () => {
    const w = await world();
    const made = await makeRotation(w.state.groupId, 1, w.held.get(w.alice.fingerprint)!.get(0)!);
    const selfLink = { ...made.rotation, links: [{ generation: 1, wrap: made.rotation.links[0]!.wrap }] };
    const entry = await nextEntry(w.state, w.alice, 'rotate', { rotation: selfLink }, tick());
    await expect(extendLog(w.state, [entry], { now: clock })).rejects.toMatchObject({ reason: 'bad-generation' });
  });
});
