/**
 * The seed's story, in memory (the problem as first posed, DESIGN §6): Client1 creates a group and
 * writes; Client2 joins by invite, verifies the safety number and gets the key peer to
 * peer; Client3 joins while Client1 is away (mailbox), Client4 by a pre-keyed invite;
 * Client1 removes Client2, who cannot read what is written afterwards; everyone leaves
 * and the recovery code restores access on a fresh device.
 */
import { describe, expect, it } from 'vitest';
import { memoryChannelPair, runHandshake } from '../src/p2p/channel.ts';
import { currentGeneration, nextEntry } from '../src/crypto/group-log.ts';
import { createGroup, leaveGroup, removeMember, rotateKey, sealToRecipients } from '../src/crypto/group-lifecycle.ts';
import { HolderHandshake, JoinerHandshake, type HandshakeOutcome } from '../src/crypto/handshake.ts';
import { acceptInvite, createInvite, inviteKeysFromCode, inviteOpener } from '../src/crypto/invite.ts';
import { openKeyBox } from '../src/crypto/key-box.ts';
import { extendLog, replayLog } from '../src/crypto/log-replay.ts';
import { generationKeys } from '../src/crypto/generations.ts';
import { NoteOpenError } from '../src/crypto/note-envelope.ts';
import { restoreWithRecoveryCode } from '../src/crypto/recovery.ts';
import { safetyNumber, safetyNumberGroups } from '../src/crypto/safety-number.ts';
import { TestClient } from './support/client.ts';
import { MemoryServer } from './support/memory-server.ts';

const HOUR = 3600_000;

async function handover(joiner: TestClient, holder: TestClient): Promise<[HandshakeOutcome, HandshakeOutcome]> {
  const [a, b] = memoryChannelPair();
  return Promise.all([
    runHandshake(a, new JoinerHandshake(joiner.identity, joiner.group, { expectedPeer: holder.fingerprint })),
    runHandshake(b, new HolderHandshake(holder.identity, holder.group, { seedFor: holder.seedFor, trustOf: holder.trustOf })),
  ]);
}

async function joinByInvite(server: MemoryServer, joiner: TestClient, code: string): Promise<void> {
  const keys = await inviteKeysFromCode(code);
  const state = await replayLog(server.log(keys.groupId));
  const entry = await acceptInvite(state, keys, joiner.identity);
  server.append(keys.groupId, [entry]);
  await joiner.sync(server, keys.groupId);
}

describe('the seed story, in memory', () => {
  it('creates, invites, hands over, uses the mailbox and pre-keyed invites, removes, and recovers', async () => {
    const server = new MemoryServer();
    const c1 = await TestClient.create('Client1');
    const c2 = await TestClient.create('Client2');
    const c3 = await TestClient.create('Client3');
    const c4 = await TestClient.create('Client4');

    // 1. Client1 creates the group (with its recovery recipient) and writes two notes.
    const group = await createGroup(c1.identity);
    server.append(group.state.groupId, group.entries);
    server.postBoxes(group.boxes);
    c1.adopt(group.state);
    await c1.keepSeed(0, group.seed);
    const groupId = group.state.groupId;
    const first = await c1.write(server, { title: 'Plans', body: 'Meet on Friday' });
    await c1.write(server, { title: 'Budget', body: '42 coins' });
    expect(group.state.recovery).not.toBeNull();
    expect(group.state.members.get(group.state.recovery!)?.role).toBe('admin');

    // 2. Client1 invites Client2, who joins and verifies the safety number with Client1.
    await c1.sync(server, groupId);
    const invite2 = await createInvite(c1.group, c1.identity, { role: 'member', expiresAt: Date.now() + HOUR });
    server.append(groupId, [invite2.entry]);
    await joinByInvite(server, c2, invite2.code);
    await c1.sync(server, groupId);
    const seenBy1 = safetyNumber(c1.identity.bundle, c2.group.members.get(c2.fingerprint)!.bundle);
    const seenBy2 = safetyNumber(c2.identity.bundle, c2.group.members.get(c1.fingerprint)!.bundle);
    expect(seenBy1).toBe(seenBy2);
    expect(safetyNumberGroups(seenBy1)).toHaveLength(12);

    // Under the strict policy Client1 refuses until the number was compared…
    const [refusedJoiner, refusedHolder] = await handover(c2, c1);
    expect(refusedHolder).toMatchObject({ kind: 'refused', reason: 'not-verified', by: 'me' });
    expect(refusedJoiner).toMatchObject({ kind: 'refused', reason: 'not-verified', by: 'peer' });
    // …and hands the key over peer to peer once both marked each other verified.
    c1.trust.set(c2.fingerprint, 'verified');
    c2.trust.set(c1.fingerprint, 'verified');
    const [received, sent] = await handover(c2, c1);
    expect(sent).toMatchObject({ kind: 'sent', peer: c2.fingerprint, generation: 0 });
    expect(received.kind).toBe('received');
    if (received.kind !== 'received') throw new Error('no key');
    await c2.keepSeed(received.generation, received.seed);
    expect(await c2.readAll(server)).toEqual(['Budget', 'Plans']);
    const fromTwo = await c2.write(server, { title: 'Hello from Two', body: 'I can read everything' });
    expect((await c1.read(fromTwo, fromTwo.noteId)).body).toBe('I can read everything');

    // Client1 makes Client2 an admin.
    const promote = await nextEntry(c1.group, c1.identity, 'role', { member: c2.fingerprint, role: 'admin' });
    c1.adopt(await extendLog(c1.group, [promote]));
    server.append(groupId, [promote]);
    await c2.sync(server, groupId);
    expect(c2.group.members.get(c2.fingerprint)?.role).toBe('admin');

    // 3. Client1 is away. Client3 joins with an invite from Client2 and waits: no box yet.
    const invite3 = await createInvite(c2.group, c2.identity, { role: 'member', expiresAt: Date.now() + HOUR });
    server.append(groupId, [invite3.entry]);
    await joinByInvite(server, c3, invite3.code);
    expect(await c3.fetchKey(server)).toBe(false);
    // Client2 comes online, sees a member without a key and posts a box to the mailbox.
    await c2.sync(server, groupId);
    const generation = currentGeneration(c2.group);
    // Boxes go to devices: every current device of every member that has none for this generation.
    const waiting = [...c2.group.devices.values()].filter(
      (m) => server.boxesFor(groupId, { kind: 'member', id: m.fingerprint }).every((b) => b.generation !== generation) && m.fingerprint !== c2.fingerprint && m.fingerprint !== c1.fingerprint,
    );
    expect(waiting.map((m) => m.fingerprint)).toEqual([c3.fingerprint]);
    const { sealKeyBox } = await import('../src/crypto/key-box.ts');
    server.postBoxes([await sealKeyBox(c2.identity, groupId, generation, c2.seedFor(generation)!, { kind: 'member', id: c3.fingerprint }, waiting[0]!.boxKey)]);
    expect(await c3.fetchKey(server)).toBe(true);
    expect(await c3.readAll(server)).toEqual(['Budget', 'Hello from Two', 'Plans']);

    // A pre-keyed invite: Client4 reads at once with nobody online.
    await c2.sync(server, groupId);
    const invite4 = await createInvite(c2.group, c2.identity, {
      role: 'member',
      expiresAt: Date.now() + HOUR,
      prekeyed: { seed: c2.seedFor(generation)!, generation },
    });
    server.append(groupId, [invite4.entry]);
    server.postBoxes([invite4.box!]);
    const keys4 = await inviteKeysFromCode(invite4.code);
    const seenBy4 = await replayLog(server.log(groupId));
    const prekeyedSeed = await openKeyBox(server.inviteBox(groupId, keys4.inviteId), inviteOpener(keys4), seenBy4);
    expect(prekeyedSeed).not.toBeNull();
    await joinByInvite(server, c4, invite4.code);
    await c4.keepSeed(generation, prekeyedSeed!);
    expect(await c4.readAll(server)).toEqual(['Budget', 'Hello from Two', 'Plans']);
    expect(c4.group.members.get(c4.fingerprint)?.via).toBe('invite');

    // 4. Client1 returns and removes Client2: a new generation for everyone else.
    await c1.sync(server, groupId);
    const removal = await removeMember(c1.group, c1.identity, c2.fingerprint, c1.seedFor(currentGeneration(c1.group))!);
    server.append(groupId, [removal.entry]);
    server.postBoxes(removal.boxes);
    c1.adopt(removal.state);
    await c1.keepSeed(removal.generation, removal.seed);
    expect(removal.boxes.map((b) => b.recipient.id)).not.toContain(c2.fingerprint);
    const afterRemoval = await c1.write(server, { title: 'After Two left', body: 'not for Two' });
    await c2.sync(server, groupId);
    expect(c2.group.departed.get(c2.fingerprint)?.how).toBe('removed');
    expect(await c2.fetchKey(server)).toBe(false);
    await expect(c2.read(afterRemoval, afterRemoval.noteId)).rejects.toMatchObject({ reason: 'no-key' });
    // Even the old generation's key does not open it.
    const oldKey = (await generationKeys(c2.seedFor(0)!, groupId, 0)).noteKey;
    const { openNote } = await import('../src/crypto/note-envelope.ts');
    await expect(openNote(afterRemoval, c2.group, { noteId: afterRemoval.noteId }, () => oldKey)).rejects.toBeInstanceOf(NoteOpenError);
    // The removed member still reads what it read before: the UI says so.
    expect((await c2.read(first, first.noteId)).title).toBe('Plans');
    // Client3 and Client4 move on to the new generation.
    for (const c of [c3, c4]) {
      await c.sync(server, groupId);
      expect(await c.fetchKey(server)).toBe(true);
      expect((await c.read(afterRemoval, afterRemoval.noteId)).body).toBe('not for Two');
    }
    // Client2 asking Client3 for the key is refused: it was removed.
    c3.trust.set(c2.fingerprint, 'verified');
    const [, refusedRemoved] = await handover(c2, c3);
    expect(refusedRemoved).toMatchObject({ kind: 'refused', reason: 'removed' });

    // 5. Everyone leaves. A leave carries no key: the admin who stays rotates, and
    // those who stay get the new generation while those who left get nothing new.
    for (const leaver of [c3, c4, c1]) {
      await leaver.sync(server, groupId);
      const left = await leaveGroup(leaver.group, leaver.identity);
      server.append(groupId, [left.entry]);
      expect(left.state.owedRotation?.member).toBe(leaver.fingerprint);
      const admin = [c1].find((c) => c !== leaver);
      if (admin) {
        await admin.sync(server, groupId);
        const g = currentGeneration(admin.group);
        const rotated = await rotateKey(admin.group, admin.identity, admin.seedFor(g)!);
        server.append(groupId, [rotated.entry]);
        server.postBoxes(rotated.boxes);
        await admin.sync(server, groupId);
        await admin.keepSeed(rotated.generation, rotated.seed);
        expect(rotated.state.owedRotation).toBeNull();
      }
      for (const other of [c1, c3, c4]) {
        await other.sync(server, groupId);
        if (other === admin) continue;
        if (other.group.members.has(other.fingerprint)) expect(await other.fetchKey(server)).toBe(true);
        else expect(await other.fetchKey(server)).toBe(false);
      }
    }
    const final = await replayLog(server.log(groupId));
    expect([...final.members.keys()]).toEqual([final.recovery]);

    // A fresh device restores the group from the recovery code alone and reads every note.
    const c5 = await TestClient.create('Client5');
    const restore = await restoreWithRecoveryCode(group.recoveryCode, final, server.boxesFor(groupId, { kind: 'member', id: final.recovery! }), c5.identity);
    server.append(groupId, [restore.entry]);
    server.postBoxes([restore.box]);
    await c5.sync(server, groupId);
    expect(await c5.fetchKey(server)).toBe(true);
    expect(c5.group.members.get(c5.fingerprint)?.role).toBe('admin');
    expect(await c5.readAll(server)).toEqual(['After Two left', 'Budget', 'Hello from Two', 'Plans']);
    // And can invite people again: the group lives on.
    const again = await createInvite(c5.group, c5.identity, { role: 'member', expiresAt: Date.now() + HOUR });
    expect((await extendLog(c5.group, [again.entry])).invites.size).toBe(c5.group.invites.size + 1);
    // The boxes a removed or departed member could see never name them after they left.
    const sealed = await sealToRecipients(c5.group, c5.identity, currentGeneration(c5.group), c5.seedFor(currentGeneration(c5.group))!);
    expect(sealed.unreachable).toEqual([]);
    expect(sealed.boxes.map((b) => b.recipient.id)).not.toContain(c2.fingerprint);
  });
});
