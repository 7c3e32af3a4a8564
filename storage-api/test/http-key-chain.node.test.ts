/**
 * The key chain holds against its own members, through the client the extension runs
 * and a real server (SQLite and PostgreSQL): a leave carries no key and the first admin
 * device that syncs rotates; a hostile admin's poisoned rotation is named to every
 * member, who keep writing, and an honest admin's sync repairs it so a newcomer and the
 * recovery code read the whole history; an admin rotates or replaces the recovery code
 * by hand, and the old code stops working.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRotation } from '@conclave/shared/crypto';
import { sealToRecipients } from '@conclave/shared/crypto';
import { currentGeneration, nextEntry } from '@conclave/shared/crypto';
import { extendLog } from '@conclave/shared/crypto';
import { generateIdentity } from '@conclave/shared/crypto';
import { createInvite } from '@conclave/shared/crypto';
import type { LogBody } from '@conclave/shared/protocol';
import { randomBytes } from '@conclave/shared/crypto';
import { toBase64url } from '@conclave/shared/protocol';
import type { GroupId } from '@conclave/shared/protocol';
import { newDevice, type Device } from './support/clients.ts';
import { STORE_KINDS, startServer, type TestServer } from './support/server.ts';

const HOUR = 3600_000;

async function joinVerified(admin: Device, joiner: Device, groupId: GroupId, role: 'admin' | 'member' = 'member'): Promise<void> {
  const code = await admin.client.invite(groupId, { role, expiresInMs: HOUR, prekeyed: true });
  const joined = await joiner.client.join(code);
  expect(joined.hasKey).toBe(true);
}

async function titles(device: Device, groupId: GroupId): Promise<string[]> {
  const { notes } = await device.client.listNotes(groupId);
  return notes.map((n) => (n.ok ? n.title : `(unreadable: ${n.reason})`)).sort();
}

describe.each(STORE_KINDS)('the key chain against hostile members, over HTTP (%s)', (kind) => {
  let server: TestServer;
  let alice: Device;
  let groupId: GroupId;
  let recoveryCode: string;

  beforeAll(async () => {
    server = await startServer(kind);
    alice = await newDevice('Alice', server.url);
    ({ groupId, recoveryCode } = await alice.client.createGroup({ policy: 'invite-trust' }));
    await alice.client.writeNote(groupId, { title: 'First', body: 'one' });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('a leave carries no key: the group owes a rotation until the first admin device syncs, which rotates by itself', async () => {
    const bob = await newDevice('Bob', server.url);
    await joinVerified(alice, bob, groupId);
    const before = currentGeneration(await alice.client.state(groupId));
    await bob.client.leave(groupId);
    const raw = await alice.session.api.groups.log.query({ groupId, fromSeq: 0, limit: 500 });
    const leave = raw.entries.at(-1) as { op: string; body: object };
    expect(leave.op).toBe('leave');
    expect(leave.body).toEqual({});

    // Alice's next sync sees the owed rotation and makes it.
    const state = await alice.client.sync(groupId);
    expect(state.owedRotation).toBeNull();
    expect(currentGeneration(state)).toBe(before + 1);
    expect(state.generations.at(-1)!.startedBy).toBe(alice.fingerprint);
    const health = await alice.client.keyHealth(groupId);
    expect(health).toMatchObject({ faults: [], holdsCurrentKey: true, canRepair: false });
    expect(health.owedRotation).toBeUndefined();
  });

  it("a member's device that is not an admin reports the owed rotation and does not rotate", async () => {
    const carol = await newDevice('Carol', server.url);
    const dave = await newDevice('Dave', server.url);
    await joinVerified(alice, carol, groupId);
    await joinVerified(alice, dave, groupId);
    const generation = currentGeneration(await carol.client.sync(groupId));
    await dave.client.leave(groupId);
    const state = await carol.client.sync(groupId);
    expect(currentGeneration(state)).toBe(generation);
    const health = await carol.client.keyHealth(groupId);
    expect(health.owedRotation).toMatchObject({ member: dave.fingerprint });
    expect(health.canRepair).toBe(false);
    // Carol can still write meanwhile; the admin's next sync rotates.
    await carol.client.writeNote(groupId, { title: 'While owed', body: 'x' });
    await alice.client.sync(groupId);
    expect((await carol.client.sync(groupId)).owedRotation).toBeNull();
    expect(await carol.client.fetchKey(groupId)).toBe(true);
    await carol.client.leave(groupId);
    await alice.client.sync(groupId);
  });

  it("a hostile admin's poisoned rotation is named; members keep writing; an honest admin's sync repairs it; a newcomer and the recovery code read everything", async () => {
    const mallory = await newDevice('Mallory', server.url);
    const erin = await newDevice('Erin', server.url);
    await joinVerified(alice, mallory, groupId, 'admin');
    await joinVerified(alice, erin, groupId);
    await erin.client.writeNote(groupId, { title: 'Before the break', body: 'b' });

    // Mallory appends a rotation whose link to the previous key is garbage, sealed to everyone.
    const state = await mallory.client.sync(groupId);
    const g = currentGeneration(state);
    const record = (await mallory.store.load(groupId))!;
    const made = await makeRotation(groupId, g + 1, record.seeds.get(g)!);
    made.rotation.links[0]!.wrap = toBase64url(randomBytes(60));
    const entry = await nextEntry(state, mallory.identity, 'rotate', { rotation: made.rotation });
    const sealed = await sealToRecipients(await extendLog(state, [entry]), mallory.identity, g + 1, made.seed);
    await mallory.session.api.groups.append.mutate({ groupId, entries: [entry], boxes: sealed.boxes });

    // Erin (a member, not an admin) holds the new key, writes, and sees who broke the chain.
    expect(await erin.client.fetchKey(groupId)).toBe(true);
    await erin.client.writeNote(groupId, { title: 'At the poisoned generation', body: 'p' });
    const erinHealth = await erin.client.keyHealth(groupId);
    expect(erinHealth.faults).toEqual([expect.objectContaining({ generation: g + 1, kind: 'bad-link', author: mallory.fingerprint, at: entry.at, repaired: false })]);
    expect(erinHealth.canRepair).toBe(false);

    // Alice's next sync finds the broken link and repairs from the newest good keys.
    await alice.client.fetchKey(groupId);
    const repaired = await alice.client.sync(groupId);
    expect(currentGeneration(repaired)).toBe(g + 2);
    expect(repaired.generations[g + 2]!.links.map((l) => l.generation)).toEqual([g + 1, g]);
    expect(repaired.generations[g + 2]!.startedBy).toBe(alice.fingerprint);
    expect((await alice.client.keyHealth(groupId)).faults.every((f) => f.repaired)).toBe(true);

    const expected = ['At the poisoned generation', 'Before the break', 'First', 'While owed'];
    const frank = await newDevice('Frank', server.url);
    await joinVerified(alice, frank, groupId);
    expect(await titles(frank, groupId)).toEqual(expected);

    const restorer = await newDevice('Restorer', server.url);
    await restorer.client.restore(recoveryCode);
    expect(await titles(restorer, groupId)).toEqual(expected);
  });

  it('an admin rotates now and replaces the recovery code; the old code stops working and the new one restores', async () => {
    const before = currentGeneration(await alice.client.sync(groupId));
    const rotated = await alice.client.rotateKey(groupId);
    expect(rotated.generation).toBe(before + 1);
    const replaced = await alice.client.replaceRecovery(groupId);
    expect(replaced.generation).toBe(before + 2);
    expect(replaced.recoveryCode).not.toBe(recoveryCode);

    const late = await newDevice('Late', server.url);
    await expect(late.client.restore(recoveryCode)).rejects.toMatchObject({ code: 'RECOVERY_INVALID' });
    await late.client.restore(replaced.recoveryCode);
    expect(await titles(late, groupId)).toContain('First');
    // The group's log records both uses of a recovery code, for admins to be told.
    const uses = (await alice.client.sync(groupId)).recoveryUses;
    expect(uses.map((u) => u.device)).toContain(late.fingerprint);
    const lastUse = uses.at(-1)!;
    expect(lastUse.recoveryKey).toBe((await alice.client.state(groupId)).recovery);
  });

  it("a pre-keyed invite logged with a key that is not its code's is blamed on its author, never on the admin who sealed to it", async () => {
    const mallory = await newDevice('Mallory2', server.url);
    await joinVerified(alice, mallory, groupId, 'admin');
    const state = await mallory.client.sync(groupId);
    const g = currentGeneration(state);
    const made = await createInvite(state, mallory.identity, { role: 'member', expiresAt: Date.now() + HOUR, prekeyed: { seed: (await mallory.store.load(groupId))!.seeds.get(g)!, generation: g } });
    const stranger = await generateIdentity();
    const entry = await nextEntry(state, mallory.identity, 'invite', { ...(made.entry.body as LogBody<'invite'>), boxKey: stranger.bundle.boxKey });
    await mallory.session.api.groups.append.mutate({ groupId, entries: [entry], boxes: [] });
    // Alice's honest rotation seals the new key to every open pre-keyed invite, this one included.
    await alice.client.rotateKey(groupId);
    const joiner = await newDevice('Joiner', server.url);
    expect((await joiner.client.join(made.code)).hasKey).toBe(false);
    const health = await joiner.client.keyHealth(groupId);
    expect(health.faults).toEqual([expect.objectContaining({ kind: 'bad-invite', author: mallory.fingerprint })]);
    expect(health.faults.some((f) => f.author === alice.fingerprint)).toBe(false);
  });

  it('a member who is not an admin cannot rotate or replace the recovery code', async () => {
    const gina = await newDevice('Gina', server.url);
    await joinVerified(alice, gina, groupId);
    await expect(gina.client.rotateKey(groupId)).rejects.toMatchObject({ reason: 'not-admin' });
    await expect(gina.client.replaceRecovery(groupId)).rejects.toMatchObject({ reason: 'not-admin' });
  });
});
