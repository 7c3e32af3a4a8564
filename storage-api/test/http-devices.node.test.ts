/**
 * A person with several devices in a group, over real HTTP, on SQLite and PostgreSQL:
 * every current device of a member acts for that member (reads, writes notes signed by
 * itself, receives its own key boxes); a device linked to a member's chain may read the
 * log and append the `devices` entry that brings the group up to date; a device its
 * person unlinked is refused boxes, notes and appends at once (before the group's log
 * catches up), gets no box of the rotation, and is marked `unlinked` in groups.mine;
 * a device of a removed member is refused boxes too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiErrorOf, signIn, type ApiSession } from '@conclave/shared/client';
import {
  createGroup,
  createInvite,
  currentGeneration,
  generateIdentity,
  generationKeys,
  newNoteId,
  openerFor,
  openKeyBox,
  removeMember,
  sealKeyBox,
  sealNote,
  type DeviceIdentity,
  type GroupState,
} from '@conclave/shared/crypto';
import type { GroupId } from '@conclave/shared/protocol';
import { devicesEntry, foundPerson, linkDevice, unlinkDevice, type Person } from './support/people.ts';
import { openLive } from './support/live-socket.ts';
import { STORE_KINDS, startServer, type TestServer } from './support/server.ts';

interface Signed {
  identity: DeviceIdentity;
  api: ApiSession['api'];
}

async function device(server: TestServer, identity?: DeviceIdentity): Promise<Signed> {
  const id = identity ?? (await generateIdentity());
  return { identity: id, api: (await signIn(server.url, id)).api };
}

async function refusal(promise: Promise<unknown>): Promise<ReturnType<typeof apiErrorOf>> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, 'expected the call to be refused').not.toBeNull();
  return apiErrorOf(error);
}

/** A person with two devices (chain published) and a group they created with that chain. */
interface TwoDeviceGroup {
  laptop: Signed;
  phone: Signed;
  person: Person;
  groupId: GroupId;
  state: GroupState;
  seed: Uint8Array;
}

async function twoDeviceGroup(server: TestServer): Promise<TwoDeviceGroup> {
  const laptop = await device(server);
  const phone = await device(server);
  const { person } = await linkDevice(await foundPerson(laptop.identity), laptop.identity, phone.identity);
  await laptop.api.people.append.mutate({ person: laptop.identity.fingerprint, entries: person.entries });
  const group = await createGroup(laptop.identity, { chain: person.entries });
  await laptop.api.groups.create.mutate({ entries: group.entries, boxes: group.boxes });
  return { laptop, phone, person, groupId: group.state.groupId, state: group.state, seed: group.seed };
}

async function noteBy(author: DeviceIdentity, groupId: GroupId, generation: number, seed: Uint8Array) {
  const { noteKey } = await generationKeys(seed, groupId, generation);
  return sealNote(author, { groupId, noteId: newNoteId(), version: 1, generation }, noteKey, { title: 'from a device', body: 'hello' }, { prev: null });
}

describe.each(STORE_KINDS)('a person with several devices in a group, over HTTP (%s)', (kind) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startServer(kind);
  });

  afterAll(async () => {
    await server?.close();
  });

  it('every current device acts for its member: reads the log, opens its own box, writes notes it signed', async () => {
    const g = await twoDeviceGroup(server);
    // Generation 0 was sealed to each device of the person, and to the recovery key.
    const boxes = await g.phone.api.boxes.mine.query({ groupId: g.groupId });
    expect(boxes.map((b) => b.recipient.id)).toEqual([g.phone.identity.fingerprint]);
    expect(await openKeyBox(boxes[0], openerFor(g.phone.identity), g.state)).toEqual(g.seed);
    expect((await g.phone.api.groups.log.query({ groupId: g.groupId })).head.seq).toBe(g.state.seq);
    const envelope = await noteBy(g.phone.identity, g.groupId, 0, g.seed);
    await g.phone.api.notes.put.mutate({ envelope });
    expect((await g.laptop.api.notes.get.query({ groupId: g.groupId, noteId: envelope.noteId })).author).toBe(g.phone.identity.fingerprint);
    // Both devices list the group as members; a stranger does not.
    expect(await g.phone.api.groups.mine.query()).toEqual([{ groupId: g.groupId, head: { seq: g.state.seq, hash: g.state.head }, status: 'member' }]);
    const stranger = await device(server);
    expect(await refusal(stranger.api.boxes.mine.query({ groupId: g.groupId }))).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('a newly linked device reads the log before it lists it and brings the group up to date itself', async () => {
    const g = await twoDeviceGroup(server);
    const tablet = await device(server);
    const { person, entry } = await linkDevice(g.person, g.laptop.identity, tablet.identity);
    await g.laptop.api.people.append.mutate({ person: g.laptop.identity.fingerprint, entries: [entry] });
    // Not in the log yet: no boxes, no notes, but the log is readable (its chain names it under a current member).
    expect(await refusal(tablet.api.boxes.mine.query({ groupId: g.groupId }))).toMatchObject({ code: 'FORBIDDEN' });
    const log = await tablet.api.groups.log.query({ groupId: g.groupId });
    expect(log.head.seq).toBe(g.state.seq);
    const caughtUp = await devicesEntry(g.state, tablet.identity, g.laptop.identity.fingerprint, [entry], g.seed);
    await tablet.api.groups.append.mutate({ groupId: g.groupId, entries: [caughtUp.entry] });
    expect(person.state.devices.has(tablet.identity.fingerprint)).toBe(true);
    // Now it is one of the member's devices: it asks for the key, and the person's other
    // device (an admin's device: the person is the admin, whichever device asks) sees the request.
    await tablet.api.mailbox.request.mutate({ groupId: g.groupId });
    expect((await g.phone.api.mailbox.pending.query({ groupId: g.groupId })).map((p) => p.fingerprint)).toEqual([tablet.identity.fingerprint]);
    const box = await sealKeyBox(g.laptop.identity, g.groupId, 0, g.seed, { kind: 'member', id: tablet.identity.fingerprint }, tablet.identity.bundle.boxKey);
    await g.laptop.api.boxes.post.mutate({ groupId: g.groupId, boxes: [box] });
    expect(await tablet.api.boxes.mine.query({ groupId: g.groupId })).toHaveLength(1);
    // Its box to itself confirms it opened the key: the request is served.
    const own = await sealKeyBox(tablet.identity, g.groupId, 0, g.seed, { kind: 'member', id: tablet.identity.fingerprint }, tablet.identity.bundle.boxKey);
    await tablet.api.boxes.post.mutate({ groupId: g.groupId, boxes: [own] });
    expect(await g.laptop.api.mailbox.pending.query({ groupId: g.groupId })).toEqual([]);
    expect((await tablet.api.groups.mine.query()).map((m) => m.status)).toEqual(['member']);
    // A device of nobody in the group cannot append a devices entry for a member.
    const outsider = await device(server);
    expect(await refusal(outsider.api.groups.append.mutate({ groupId: g.groupId, entries: [caughtUp.entry] }))).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('an unlinked device is refused boxes, notes and appends at once, gets no new box, and is marked unlinked', async () => {
    const g = await twoDeviceGroup(server);
    const { entry: unlink } = await unlinkDevice(g.person, g.laptop.identity, g.phone.identity.fingerprint);
    await g.laptop.api.people.append.mutate({ person: g.laptop.identity.fingerprint, entries: [unlink] });

    // The chain says so before the group's log does: everything is refused already.
    expect(await refusal(g.phone.api.boxes.mine.query({ groupId: g.groupId }))).toMatchObject({ code: 'FORBIDDEN' });
    expect(await refusal(g.phone.api.notes.list.query({ groupId: g.groupId }))).toMatchObject({ code: 'FORBIDDEN' });
    expect(await refusal(g.phone.api.notes.put.mutate({ envelope: await noteBy(g.phone.identity, g.groupId, 0, g.seed) }))).toMatchObject({ code: 'FORBIDDEN' });
    expect(await refusal(g.phone.api.mailbox.request.mutate({ groupId: g.groupId }))).toMatchObject({ code: 'FORBIDDEN' });
    expect(await refusal(g.phone.api.groups.log.query({ groupId: g.groupId }))).toMatchObject({ code: 'FORBIDDEN' });

    // The laptop brings the group up to date: the unlink rotates the key, sealed to the remaining devices only.
    const caughtUp = await devicesEntry(g.state, g.laptop.identity, g.laptop.identity.fingerprint, [unlink], g.seed);
    expect(caughtUp.boxes.map((b) => b.recipient.id)).not.toContain(g.phone.identity.fingerprint);
    await g.laptop.api.groups.append.mutate({ groupId: g.groupId, entries: [caughtUp.entry], boxes: caughtUp.boxes });
    expect(currentGeneration(caughtUp.state)).toBe(1);

    // A box for the unlinked device is refused by name.
    const late = await sealKeyBox(g.laptop.identity, g.groupId, 1, caughtUp.seed, { kind: 'member', id: g.phone.identity.fingerprint }, g.phone.identity.bundle.boxKey);
    const refused = await refusal(g.laptop.api.boxes.post.mutate({ groupId: g.groupId, boxes: [late] }));
    expect(refused).toMatchObject({ code: 'BOX_REJECTED' });

    // The unlinked device: still refused, its membership row says unlinked, it reads the log up to its unlinking.
    expect(await refusal(g.phone.api.boxes.mine.query({ groupId: g.groupId, generation: 1 }))).toMatchObject({ code: 'FORBIDDEN' });
    const entry = await devicesEntry(caughtUp.state, g.phone.identity, g.laptop.identity.fingerprint, [unlink], caughtUp.seed).catch((e: unknown) => e);
    expect(entry).toBeInstanceOf(Error);
    const rotate = { ...caughtUp.entry, seq: caughtUp.state.seq + 1, prev: caughtUp.state.head, author: g.phone.identity.fingerprint };
    expect(await refusal(g.phone.api.groups.append.mutate({ groupId: g.groupId, entries: [rotate] }))).toMatchObject({ code: 'FORBIDDEN' });
    expect(await g.phone.api.groups.mine.query()).toEqual([{ groupId: g.groupId, head: { seq: caughtUp.state.seq, hash: caughtUp.state.head }, status: 'unlinked' }]);
  });

  it("an unlinked device's open stream hears nothing more at once, it is unlinked in groups.mine and no box may be sealed to it, before the log catches up", async () => {
    const g = await twoDeviceGroup(server);
    const session = await signIn(server.url, g.phone.identity);
    const live = await openLive(server.url, session.token);
    try {
      await live.waitEvent((e) => e.type === 'heads' && e.groups.some((h) => h.groupId === g.groupId), "the phone's heads");
      const { entry: unlink } = await unlinkDevice(g.person, g.laptop.identity, g.phone.identity.fingerprint);
      await g.laptop.api.people.append.mutate({ person: g.laptop.identity.fingerprint, entries: [unlink] });
      // At once: a fresh heads that lists no group.
      await live.waitEvent((e) => e.type === 'heads' && e.groups.length === 0, 'a heads without the group');
      const cutAt = live.events().length;

      // The group's log still lists the phone: a log entry, a note and a box must not reach it.
      const invite = await createInvite(g.state, g.laptop.identity, { role: 'member', expiresAt: Date.now() + 3_600_000 });
      await g.laptop.api.groups.append.mutate({ groupId: g.groupId, entries: [invite.entry] });
      await g.laptop.api.notes.put.mutate({ envelope: await noteBy(g.laptop.identity, g.groupId, 0, g.seed) });
      const box = await sealKeyBox(g.laptop.identity, g.groupId, 0, g.seed, { kind: 'member', id: g.phone.identity.fingerprint }, g.phone.identity.bundle.boxKey);
      expect(await refusal(g.laptop.api.boxes.post.mutate({ groupId: g.groupId, boxes: [box] }))).toMatchObject({ code: 'BOX_REJECTED' });
      await server.app.deps.live.settled();
      expect(live.events().slice(cutAt)).toEqual([]);

      expect(await g.phone.api.groups.mine.query()).toEqual([{ groupId: g.groupId, head: { seq: invite.entry.seq, hash: expect.any(String) }, status: 'unlinked' }]);
    } finally {
      await live.close();
    }
  });

  it("refuses a group entry that gives a member a device another person's stored chain holds (device-claimed)", async () => {
    const g = await twoDeviceGroup(server);
    // Someone else's chain certifies the phone too (with the phone's consent: its key is the attacker's, or it was fooled).
    const other = await device(server);
    const { person: claiming } = await linkDevice(await foundPerson(other.identity), other.identity, g.phone.identity);
    const group = await createGroup(other.identity, { chain: claiming.entries });
    const refused = await refusal(other.api.groups.create.mutate({ entries: group.entries, boxes: group.boxes }));
    expect(refused).toEqual({ code: 'LOG_REJECTED', reason: 'device-claimed' });
    // The same person with only its own device creates groups as usual.
    const alone = await createGroup(other.identity);
    await other.api.groups.create.mutate({ entries: alone.entries, boxes: alone.boxes });
  });

  it('every device of a removed member is refused boxes, and no device of theirs gets the new key', async () => {
    const admin = await device(server);
    const admins = await foundPerson(admin.identity);
    await admin.api.people.append.mutate({ person: admin.identity.fingerprint, entries: admins.entries });
    const group = await createGroup(admin.identity);
    await admin.api.groups.create.mutate({ entries: group.entries, boxes: group.boxes });
    // A member with two devices, added by the admin with the chain the server holds.
    const g = await twoDeviceGroup(server);
    const { nextEntry, extendLog } = await import('@conclave/shared/crypto');
    const add = await nextEntry(group.state, admin.identity, 'add', { member: g.person.entries, role: 'member' });
    const added = await extendLog(group.state, [add]);
    const { sealToRecipients } = await import('@conclave/shared/crypto');
    const sealed = await sealToRecipients(added, admin.identity, 0, group.seed);
    await admin.api.groups.append.mutate({ groupId: group.state.groupId, entries: [add] });
    await admin.api.boxes.post.mutate({ groupId: group.state.groupId, boxes: sealed.boxes.filter((b) => b.recipient.id !== admin.identity.fingerprint) });
    expect(await g.phone.api.boxes.mine.query({ groupId: group.state.groupId })).toHaveLength(1);

    const removed = await removeMember(added, admin.identity, g.laptop.identity.fingerprint, group.seed);
    expect(removed.boxes.map((b) => b.recipient.id)).not.toContain(g.phone.identity.fingerprint);
    await admin.api.groups.append.mutate({ groupId: group.state.groupId, entries: [removed.entry], boxes: removed.boxes });
    for (const gone of [g.laptop, g.phone]) {
      expect(await refusal(gone.api.boxes.mine.query({ groupId: group.state.groupId }))).toMatchObject({ code: 'FORBIDDEN' });
    }
    const mine = await g.phone.api.groups.mine.query();
    expect(mine.find((m) => m.groupId === group.state.groupId)).toMatchObject({ status: 'removed', head: { seq: removed.state.seq } });
  });
});
