/**
 * A lying server cannot rewind or hide notes (issue 10, item 4), over real HTTP: the
 * real client against a real storage API on SQLite, whose operator edits the database
 * file behind the API's back (as e2e/support/tamper.ts does) — rolling a note back,
 * swapping a version, dropping a note without a signed deletion, and storing a late
 * note by a removed member sealed with the generation it still holds. The honest API
 * also checks the chain itself: a version whose `prev` does not name the stored
 * previous version is refused with NOTE_REJECTED.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NoteOpenError, sealNote } from '@conclave/shared/crypto';
import { noteVersionHash } from '@conclave/shared/crypto';
import { generationKeys } from '@conclave/shared/crypto';
import { currentGeneration } from '@conclave/shared/crypto';
import { toBase64url } from '@conclave/shared/protocol';
import type { GroupId, NoteId } from '@conclave/shared/protocol';
import { newDevice, type Device } from './support/clients.ts';
import { NoteOperator as Operator } from './support/note-tamper.ts';
import { startServer, type TestServer } from './support/server.ts';

const HOUR = 3_600_000;

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(NoteOpenError);
  return (error as NoteOpenError).reason;
}

describe('notes against a lying storage API (SQLite, tampered on disk)', () => {
  let server: TestServer;
  let operator: Operator;
  let ana: Device, ben: Device, carl: Device;
  let groupId: GroupId;

  beforeAll(async () => {
    server = await startServer('sqlite', { config: { logLevel: 'silent' } });
    operator = new Operator(server);
    [ana, ben, carl] = await Promise.all([newDevice('Ana', server.url), newDevice('Ben', server.url), newDevice('Carl', server.url)]);
    ({ groupId } = await ana.client.createGroup());
    for (const d of [ben, carl]) {
      expect(await d.client.join(await ana.client.invite(groupId, { role: 'member', expiresInMs: HOUR, prekeyed: true }))).toMatchObject({ hasKey: true });
    }
    // Ben keeps track of the group's notes from here on.
    await ben.client.listNotes(groupId);
  });

  afterAll(async () => {
    await server?.close();
  });

  it('the API refuses a version whose prev does not name the stored previous version (NOTE_REJECTED), and takes the right one', async () => {
    const { noteId } = await ana.client.writeNote(groupId, { title: 'Rota', body: 'Mon: Ana' });
    const [v1] = operator.versions(groupId, noteId);
    expect(v1!.prev).toBeNull();
    const generation = currentGeneration(await ana.client.state(groupId));
    const { noteKey } = await generationKeys((await ana.store.load(groupId))!.seeds.get(generation)!, groupId, generation);
    const seal = (prev: string) => sealNote(ana.identity, { groupId, noteId, version: 2, generation }, noteKey, { title: 'Rota', body: 'Tue: Ben' }, { prev });
    const wrong = await ana.session.api.notes.put.mutate({ envelope: await seal(toBase64url(new Uint8Array(32).fill(1))) }).then(
      () => null,
      (e: { data?: { conclave?: { code?: string } } }) => e.data?.conclave?.code,
    );
    expect(wrong).toBe('NOTE_REJECTED');
    await ana.session.api.notes.put.mutate({ envelope: await seal(await noteVersionHash(v1!)) });
    expect(operator.versions(groupId, noteId).map((e) => e.version)).toEqual([1, 2]);
    expect(await ben.client.noteHistory(groupId, noteId)).toMatchObject([
      { version: 2, ok: true, body: 'Tue: Ben' },
      { version: 1, ok: true, body: 'Mon: Ana', prev: null },
    ]);
  });

  it('rolled-back: a note rolled back on disk is shown flagged on a device that saw the newer version', async () => {
    const { noteId } = await ana.client.writeNote(groupId, { title: 'Door code', body: '4711' });
    await ana.client.writeNote(groupId, { title: 'Door code', body: '0815' }, { noteId, version: 2 });
    expect(await ben.client.readNote(groupId, noteId)).toMatchObject({ version: 2, warnings: [] });
    operator.rollBack(groupId, noteId, 1);
    expect(await ben.client.readNote(groupId, noteId)).toMatchObject({ version: 1, body: '4711', warnings: [{ code: 'rolled-back', seenVersion: 2 }] });
    const { notes } = await ben.client.listNotes(groupId);
    expect(notes.find((n) => n.noteId === noteId)).toMatchObject({ ok: true, version: 1, warnings: [{ code: 'rolled-back', seenVersion: 2 }] });
  });

  it('forked: another version 1 swapped in on disk is refused by a device that saw the first', async () => {
    const { noteId } = await ana.client.writeNote(groupId, { title: 'Plan', body: 'Friday' });
    await ben.client.readNote(groupId, noteId);
    const generation = currentGeneration(await ana.client.state(groupId));
    const { noteKey } = await generationKeys((await ana.store.load(groupId))!.seeds.get(generation)!, groupId, generation);
    operator.setNewest(await sealNote(ana.identity, { groupId, noteId, version: 1, generation }, noteKey, { title: 'Plan', body: 'Saturday' }));
    expect(await refusal(ben.client.readNote(groupId, noteId))).toBe('forked');
  });

  it('vanished: a note deleted from the database without a signed deletion is reported by a full listing and on reading', async () => {
    const { noteId } = await ana.client.writeNote(groupId, { title: 'Minutes', body: 'we decided' });
    expect((await ben.client.listNotes(groupId)).notes.find((n) => n.noteId === noteId)).toMatchObject({ ok: true });
    operator.vanish(groupId, noteId);
    expect((await ben.client.listNotes(groupId)).notes.find((n) => n.noteId === noteId)).toMatchObject({ ok: false, reason: 'vanished', author: ana.fingerprint });
    expect(await refusal(ben.client.readNote(groupId, noteId))).toBe('vanished');
  });

  it('a removed member\'s late writes with its old generation: flagged as late-from-departed, or refused as generation-went-back', async () => {
    const { noteId: moved } = await ana.client.writeNote(groupId, { title: 'Keys', body: 'under the mat' });
    const oldGeneration = currentGeneration(await carl.client.state(groupId));
    const oldSeed = (await carl.store.load(groupId))!.seeds.get(oldGeneration)!;
    await ana.client.removeMember(groupId, carl.fingerprint);
    await ana.client.writeNote(groupId, { title: 'Keys', body: 'in the safe' }, { noteId: moved, version: 2 });
    expect(operator.versions(groupId, moved)[1]!.generation).toBeGreaterThan(oldGeneration);
    await ben.client.readNote(groupId, moved);

    // The honest API refuses Carl; the operator stores his notes anyway.
    const { noteKey } = await generationKeys(oldSeed, groupId, oldGeneration);
    const fresh = await sealNote(carl.identity, { groupId, noteId: toBase64url(new Uint8Array(16).fill(9)) as NoteId, version: 1, generation: oldGeneration }, noteKey, { title: 'Pay me', body: 'IBAN …' });
    operator.setNewest(fresh);
    const late = await sealNote(carl.identity, { groupId, noteId: moved, version: 3, generation: oldGeneration }, noteKey, { title: 'Keys', body: 'with Carl' }, { prev: await noteVersionHash(operator.versions(groupId, moved)[1]!) });
    operator.setNewest(late);

    const { notes } = await ben.client.listNotes(groupId);
    const flagged = notes.find((n) => n.noteId === fresh.noteId);
    expect(flagged).toMatchObject({ ok: true, title: 'Pay me', author: carl.fingerprint });
    expect(flagged?.ok && flagged.warnings.map((w) => w.code)).toEqual(['late-from-departed']);
    expect(notes.find((n) => n.noteId === moved)).toMatchObject({ ok: false, reason: 'generation-went-back' });
    expect(await refusal(ben.client.readNote(groupId, moved))).toBe('generation-went-back');
  });
});
