/**
 * `GroupClient.changedNotes` against a lying server (issue 11 review): the real SDK
 * against a real storage API on SQLite whose operator edits the database file behind
 * the API's back (storage-api/test/support/note-tamper.ts). The caller keeps what a
 * notes cache keeps — the cursor and the version it holds of each note (`known`) — and
 * lists incrementally, as the extension's background does; each lie comes back by name
 * in the answer, never as an ordinary note: a forked version is `failed: forked`, a
 * rolled-back note is `older` (never opened), a dropped note is `vanished` on the next
 * full check, and a late note by a removed member is opened with `late-from-departed`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generationKeys } from '../src/crypto/generations.ts';
import { currentGeneration } from '../src/crypto/group-log.ts';
import { sealNote } from '../src/crypto/note-envelope.ts';
import { noteVersionHash } from '../src/crypto/note-signature.ts';
import { toBase64url } from '../src/protocol/encoding.ts';
import type { GroupId, NoteId } from '../src/protocol/ids.ts';
import type { ChangedNotes } from '../src/client/note-feed.ts';
import { newDevice, type Device } from '../../storage-api/test/support/clients.ts';
import { NoteOperator } from '../../storage-api/test/support/note-tamper.ts';
import { startServer, type TestServer } from '../../storage-api/test/support/server.ts';

const HOUR = 3_600_000;

/** What a caller's notes cache keeps between listings: the cursor and the version held of each note. */
class Cache {
  cursor = 0;
  readonly held = new Map<NoteId, number>();

  constructor(
    private readonly device: Device,
    private readonly groupId: GroupId,
  ) {}

  async refresh(options: { fullCheck?: boolean } = {}): Promise<ChangedNotes> {
    const changes = await this.device.client.changedNotes(this.groupId, this.cursor, { known: async (ids) => ids.map((id) => this.held.get(id)), ...options });
    for (const note of changes.opened) this.held.set(note.noteId, note.version);
    for (const failed of changes.failed) this.held.set(failed.noteId, failed.version);
    this.cursor = changes.cursor;
    return changes;
  }
}

describe('changedNotes against a lying storage API (SQLite, tampered on disk)', () => {
  let server: TestServer;
  let operator: NoteOperator;
  let ana: Device, ben: Device, carl: Device;
  let groupId: GroupId;
  let cache: Cache;

  async function sealByAna(address: { noteId: NoteId; version: number }, body: string, prev: string | null) {
    const generation = currentGeneration(await ana.client.state(groupId));
    const { noteKey } = await generationKeys((await ana.store.load(groupId))!.seeds.get(generation)!, groupId, generation);
    return sealNote(ana.identity, { groupId, ...address, generation }, noteKey, { title: 'Plan', body }, { prev });
  }

  beforeAll(async () => {
    server = await startServer('sqlite', { config: { logLevel: 'silent' } });
    operator = new NoteOperator(server);
    [ana, ben, carl] = await Promise.all([newDevice('Ana', server.url), newDevice('Ben', server.url), newDevice('Carl', server.url)]);
    ({ groupId } = await ana.client.createGroup());
    for (const d of [ben, carl]) {
      expect(await d.client.join(await ana.client.invite(groupId, { role: 'member', expiresInMs: HOUR, prekeyed: true }))).toMatchObject({ hasKey: true });
    }
    cache = new Cache(ben, groupId);
    await cache.refresh();
  });

  afterAll(async () => {
    await server?.close();
  });

  it('forked: a version 2 chained to another version 1 than the one this device saw is a failure named forked', async () => {
    const { noteId } = await ana.client.writeNote(groupId, { title: 'Plan', body: 'Friday' });
    expect((await cache.refresh()).opened.map((n) => n.noteId)).toContain(noteId);
    const rival = await sealByAna({ noteId, version: 1 }, 'Saturday', null);
    operator.setNewest(rival);
    operator.setNewest(await sealByAna({ noteId, version: 2 }, 'Sunday', await noteVersionHash(rival)));
    const changes = await cache.refresh();
    expect(changes.opened.map((n) => n.noteId)).not.toContain(noteId);
    expect(changes.failed).toEqual([expect.objectContaining({ noteId, version: 2, reason: 'forked' })]);
  });

  it('rolled back: a note listed older than the version held is reported as older and not opened', async () => {
    const { noteId } = await ana.client.writeNote(groupId, { title: 'Door code', body: '4711' });
    await ana.client.writeNote(groupId, { title: 'Door code', body: '0815' }, { noteId, version: 2 });
    await cache.refresh();
    expect(cache.held.get(noteId)).toBe(2);
    operator.rollBack(groupId, noteId, 1);
    const changes = await cache.refresh();
    expect(changes.older).toEqual([expect.objectContaining({ noteId, version: 1 })]);
    expect([...changes.opened, ...changes.failed].map((n) => n.noteId)).not.toContain(noteId);
    // Opened again without the caller's bookkeeping, it carries the warning.
    const again = await ben.client.changedNotes(groupId, 0);
    expect(again.opened.find((n) => n.noteId === noteId)).toMatchObject({ version: 1, warnings: [{ code: 'rolled-back', seenVersion: 2 }] });
  });

  it('dropped: a note removed without a signed deletion is vanished on the next full check (and on a full listing)', async () => {
    const { noteId } = await ana.client.writeNote(groupId, { title: 'Minutes', body: 'we decided' });
    await cache.refresh();
    operator.vanish(groupId, noteId);
    expect((await cache.refresh()).vanished).toEqual([]);
    const checked = await cache.refresh({ fullCheck: true });
    expect(checked.fullChecked).toBe(true);
    expect(checked.vanished).toEqual([expect.objectContaining({ noteId, author: ana.fingerprint })]);
    expect((await ben.client.changedNotes(groupId, 0)).vanished.map((v) => v.noteId)).toContain(noteId);
  });

  it('late: a note by a removed member, sealed with the generation it kept, is opened flagged late-from-departed', async () => {
    const oldGeneration = currentGeneration(await carl.client.state(groupId));
    const oldSeed = (await carl.store.load(groupId))!.seeds.get(oldGeneration)!;
    await ana.client.removeMember(groupId, carl.fingerprint);
    await cache.refresh();
    const { noteKey } = await generationKeys(oldSeed, groupId, oldGeneration);
    const late = await sealNote(carl.identity, { groupId, noteId: toBase64url(new Uint8Array(16).fill(7)) as NoteId, version: 1, generation: oldGeneration }, noteKey, { title: 'Pay me', body: 'IBAN …' });
    // The honest API refuses Carl now; the operator stores his note anyway.
    operator.setNewest(late);
    const changes = await cache.refresh();
    const flagged = changes.opened.find((n) => n.noteId === late.noteId);
    expect(flagged).toMatchObject({ title: 'Pay me', author: carl.fingerprint });
    expect(flagged?.warnings).toEqual([expect.objectContaining({ code: 'late-from-departed', author: carl.fingerprint, how: 'removed' })]);
  });

  it('a listed version equal to one the caller could not open is opened as the newest: a rollback to it is still flagged', async () => {
    const { noteId } = await ana.client.writeNote(groupId, { title: 'Rota', body: 'Mon' });
    await ana.client.writeNote(groupId, { title: 'Rota', body: 'Tue' }, { noteId, version: 2 });
    expect(await ben.client.readNote(groupId, noteId)).toMatchObject({ version: 2 });
    operator.rollBack(groupId, noteId, 1);
    // The caller's cache holds version 1 as a failure (say its key had not arrived) and asks to open it again.
    const changes = await ben.client.changedNotes(groupId, 0, {
      known: async (ids) => ids.map((id) => (id === noteId ? 1 : undefined)),
      reopen: [{ noteId, version: 1, author: ana.fingerprint, at: 0 }],
    });
    expect(changes.opened.filter((n) => n.noteId === noteId)).toEqual([expect.objectContaining({ version: 1, warnings: [expect.objectContaining({ code: 'rolled-back', seenVersion: 2 })] })]);
  });
});
