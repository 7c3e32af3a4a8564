/**
 * The seed's story over real HTTP (DESIGN §6), on SQLite and on PostgreSQL: the real
 * client (`GroupClient`) against `build(config)` listening on a loopback port.
 * Client1 creates a group and writes; Client2 joins by invite and gets the key from
 * Client1 through the mailbox; Client3 joins with a pre-keyed invite and reads at
 * once; Client1 removes Client2, who then gets no newer key and whose writes are
 * refused; everyone leaves; a fresh device restores the group from the recovery code
 * and reads every note.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiCallError, GroupClientError } from '@conclave/shared/client';
import { currentGeneration } from '@conclave/shared/crypto';
import { generationKeys } from '@conclave/shared/crypto';
import { NoteOpenError, openNote, sealNote } from '@conclave/shared/crypto';
import { noteVersionHash } from '@conclave/shared/crypto';
import { safetyNumber } from '@conclave/shared/crypto';
import type { GroupId, NoteId } from '@conclave/shared/protocol';
import { newDevice, type Device } from './support/clients.ts';
import { STORE_KINDS, startServer, type TestServer } from './support/server.ts';

const HOUR = 3600_000;

async function titles(device: Device, groupId: GroupId): Promise<string[]> {
  const { notes } = await device.client.listNotes(groupId);
  return notes.map((n) => (n.ok ? n.title : `<${n.reason}>`)).sort();
}

describe.each(STORE_KINDS)('the seed story over HTTP (%s)', (kind) => {
  let server: TestServer;
  let c1: Device, c2: Device, c3: Device;
  let groupId: GroupId;
  let recoveryCode: string;
  const written = new Map<string, { noteId: NoteId; body: string }>();

  beforeAll(async () => {
    server = await startServer(kind);
    [c1, c2, c3] = await Promise.all([newDevice('Client1', server.url), newDevice('Client2', server.url), newDevice('Client3', server.url)]);
  });

  afterAll(async () => {
    await server?.close();
  });

  async function write(device: Device, title: string, body: string): Promise<void> {
    const { noteId } = await device.client.writeNote(groupId, { title, body });
    written.set(title, { noteId, body });
  }

  it('Client1 creates a group and writes notes', async () => {
    ({ groupId, recoveryCode } = await c1.client.createGroup());
    expect(recoveryCode).toMatch(/^REC1-/);
    await write(c1, 'Plans', 'Meet on Friday');
    await write(c1, 'Budget', '42 coins');
    expect(await titles(c1, groupId)).toEqual(['Budget', 'Plans']);
    // The recovery recipient is a visible admin of the log.
    const state = await c1.client.state(groupId);
    expect(state.members.get(state.recovery!)?.role).toBe('admin');
    // The key store never holds the recovery code.
    expect(JSON.stringify([...(await c1.store.load(groupId))!.seeds.keys()])).toBe('[0]');
  });

  it('Client2 joins by invite and gets the key from Client1 through the mailbox', async () => {
    const code = await c1.client.invite(groupId, { role: 'member', expiresInMs: HOUR });
    expect(await c2.client.join(code)).toEqual({ groupId, hasKey: false });
    // Nobody has handed the key over yet: the titles cannot be opened.
    expect(await c2.client.fetchKey(groupId)).toBe(false);
    expect(await titles(c2, groupId)).toEqual(['<no-key>', '<no-key>']);
    // The same invite cannot be used twice.
    const intruder = await newDevice('Intruder', server.url);
    await expect(intruder.client.join(code)).rejects.toMatchObject({ code: 'INVITE_CLOSED' });

    // Under the 'verified' policy Client1 hands over only once the safety number matched.
    expect(await c1.client.handOverPending(groupId)).toEqual({ sent: [], skipped: [{ fingerprint: c2.fingerprint, reason: 'not-verified' }] });
    const seenBy1 = (await c1.client.sync(groupId)).members.get(c2.fingerprint)!.bundle;
    const seenBy2 = (await c2.client.state(groupId)).members.get(c1.fingerprint)!.bundle;
    expect(safetyNumber(c1.identity.bundle, seenBy1)).toBe(safetyNumber(c2.identity.bundle, seenBy2));
    c1.trust.set(c2.fingerprint, 'verified');
    expect(await c1.client.handOverPending(groupId)).toEqual({ sent: [c2.fingerprint], skipped: [] });

    expect(await c2.client.fetchKey(groupId)).toBe(true);
    expect(await titles(c2, groupId)).toEqual(['Budget', 'Plans']);
    for (const title of ['Plans', 'Budget']) {
      const { noteId, body } = written.get(title)!;
      expect(await c2.client.readNote(groupId, noteId)).toMatchObject({ title, body, author: c1.fingerprint, version: 1 });
    }
    await write(c2, 'Hello from Two', 'I can read everything');
    expect((await c1.client.readNote(groupId, written.get('Hello from Two')!.noteId)).body).toBe('I can read everything');
  });

  it('Client3 joins with a pre-keyed invite and reads at once', async () => {
    const code = await c1.client.invite(groupId, { role: 'member', expiresInMs: HOUR, prekeyed: true });
    expect(await c3.client.join(code)).toEqual({ groupId, hasKey: true });
    expect(await titles(c3, groupId)).toEqual(['Budget', 'Hello from Two', 'Plans']);
    expect((await c3.client.state(groupId)).members.get(c3.fingerprint)?.via).toBe('invite');
  });

  it('Client1 removes Client2 and writes; Client2 gets no newer key and cannot write', async () => {
    const oldGeneration = currentGeneration(await c1.client.state(groupId));
    const { generation } = await c1.client.removeMember(groupId, c2.fingerprint);
    expect(generation).toBe(oldGeneration + 1);
    await write(c1, 'After Two left', 'not for Two');

    const seen = await c2.client.sync(groupId);
    expect(seen.departed.get(c2.fingerprint)?.how).toBe('removed');
    expect(currentGeneration(seen)).toBe(generation);
    expect(await c2.client.fetchKey(groupId)).toBe(false);
    expect((await c2.store.load(groupId))!.seeds.has(generation)).toBe(false);

    // The client refuses to write for a group it is no longer in…
    await expect(c2.client.writeNote(groupId, { title: 'sneaky', body: 'x' })).rejects.toBeInstanceOf(GroupClientError);
    // …and the server refuses a note Client2 seals by hand with the key it still has.
    const oldSeed = (await c2.store.load(groupId))!.seeds.get(oldGeneration)!;
    const envelope = await sealNote(
      c2.identity,
      { groupId, noteId: written.get('Plans')!.noteId, version: 2, generation: oldGeneration },
      (await generationKeys(oldSeed, groupId, oldGeneration)).noteKey,
      { title: 'Plans', body: 'changed by Two' },
      { prev: await noteVersionHash(await c1.session.api.notes.get.query({ groupId, noteId: written.get('Plans')!.noteId, version: 1 })) },
    );
    const refused = await c2.session.api.notes.put.mutate({ envelope }).then(
      () => null,
      (error: unknown) => error,
    );
    expect(refused).not.toBeNull();
    expect((refused as { data?: { conclave?: { code?: string } } }).data?.conclave?.code).toBe('FORBIDDEN');
    // Nor can it read what is written now: the server refuses, and the old key would not open it anyway.
    await expect(c2.client.readNote(groupId, written.get('After Two left')!.noteId)).rejects.toBeInstanceOf(ApiCallError);
    const stored = await c1.session.api.notes.get.query({ groupId, noteId: written.get('After Two left')!.noteId });
    const opening = openNote(stored, seen, { noteId: stored.noteId }, async (g) => {
      const s = (await c2.store.load(groupId))!.seeds.get(g);
      return s ? (await generationKeys(s, groupId, g)).noteKey : undefined;
    });
    await expect(opening).rejects.toBeInstanceOf(NoteOpenError);
    await expect(opening).rejects.toMatchObject({ reason: 'no-key' });
    // Even the old generation's key does not open it.
    const withOldKey = openNote(stored, seen, { noteId: stored.noteId }, async () => (await generationKeys(oldSeed, groupId, oldGeneration)).noteKey);
    await expect(withOldKey).rejects.toMatchObject({ reason: 'decrypt' });
    // What Client2 read before its removal stays readable on its device (the UI says so).
    const earlier = await c1.session.api.notes.get.query({ groupId, noteId: written.get('Plans')!.noteId });
    expect((await openNote(earlier, seen, { noteId: earlier.noteId }, async () => (await generationKeys(oldSeed, groupId, oldGeneration)).noteKey)).title).toBe('Plans');

    // Client3 moves on to the new generation and reads it.
    expect(await c3.client.fetchKey(groupId)).toBe(true);
    expect((await c3.client.readNote(groupId, written.get('After Two left')!.noteId)).body).toBe('not for Two');
  });

  it('everyone leaves; a fresh device restores with the recovery code and reads every note', async () => {
    await c3.client.leave(groupId);
    expect(await c3.store.load(groupId)).toBeUndefined();
    expect(await c1.client.fetchKey(groupId)).toBe(true);
    await c1.client.leave(groupId);
    expect(await c1.store.load(groupId)).toBeUndefined();
    await expect(c1.client.listNotes(groupId)).rejects.toMatchObject({ reason: 'unknown-group' });

    const c5 = await newDevice('Client5', server.url);
    expect(await c5.client.restore(recoveryCode)).toEqual({ groupId });
    const state = await c5.client.state(groupId);
    expect([...state.members.keys()].sort()).toEqual([c5.fingerprint, state.recovery!].sort());
    expect(state.members.get(c5.fingerprint)?.role).toBe('admin');
    expect(await titles(c5, groupId)).toEqual(['After Two left', 'Budget', 'Hello from Two', 'Plans']);
    for (const [title, { noteId, body }] of written) expect(await c5.client.readNote(groupId, noteId)).toMatchObject({ title, body });
    // The group lives on: the restored device writes and invites.
    await write(c5, 'Restored', 'back again');
    expect(await c5.client.invite(groupId, { role: 'member', expiresInMs: HOUR })).toMatch(/^INV1-/);
  });
});
