/**
 * What a device reads from the storage API through `GroupClient` alone (issue 11: the
 * SDK owns every server call), against a real storage API over HTTP: changed notes
 * listed and opened from a cursor (`changedNotes`, one log sync inside its lock), unread
 * counts from headers only (`unreadCount`), the key mailbox an admin answers
 * (`pendingRequests`), meta note ids (`metaNotes`) and role changes (`setRole`, one
 * sync). HTTP calls are counted by procedure through a spy on fetch (the tRPC client
 * resolves fetch per call; a batch names each procedure in its path).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GroupClientError } from '../src/client/errors.ts';
import { META_TITLE, metaBody, metaNoteId } from '../src/crypto/meta-notes.ts';
import type { GroupId, NoteId } from '../src/protocol/ids.ts';
import { newDevice, type Device } from '../../storage-api/test/support/clients.ts';
import { startServer, type TestServer } from '../../storage-api/test/support/server.ts';

const HOUR = 3_600_000;

function procedures(input: unknown): string[] {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : (input as Request).url;
  const path = new URL(url).pathname;
  const at = path.indexOf('/trpc/');
  return at < 0 ? [] : decodeURIComponent(path.slice(at + 6)).split(',');
}

describe('GroupClient reads for a device (real HTTP)', () => {
  let server: TestServer;
  let ana: Device, ben: Device, cleo: Device;
  let groupId: GroupId;
  const fetchSpy = vi.spyOn(globalThis, 'fetch');

  /** Runs `work` and lists the procedures it called, and how many HTTP requests it made. */
  async function counted<T>(work: () => Promise<T>): Promise<{ result: T; calls: string[]; requests: number }> {
    const before = fetchSpy.mock.calls.length;
    const result = await work();
    const made = fetchSpy.mock.calls.slice(before);
    return { result, calls: made.flatMap(([input]) => procedures(input)), requests: made.length };
  }
  const times = (calls: string[], name: string) => calls.filter((c) => c === name).length;

  beforeAll(async () => {
    server = await startServer('sqlite');
    [ana, ben, cleo] = await Promise.all([newDevice('Ana', server.url), newDevice('Ben', server.url), newDevice('Cleo', server.url)]);
    ({ groupId } = await ana.client.createGroup());
    const code = await ana.client.invite(groupId, { role: 'member', expiresInMs: HOUR, prekeyed: true });
    expect((await ben.client.join(code)).hasKey).toBe(true);
  });

  afterAll(async () => {
    fetchSpy.mockRestore();
    await server?.close();
  });

  it('changedNotes lists and opens what changed since a cursor, with one log sync', async () => {
    const plans = await ana.client.writeNote(groupId, { title: 'Plans', body: 'Meet on Friday' });
    await ana.client.writeNote(groupId, { title: 'Budget', body: '42 coins' });
    const first = await counted(() => ben.client.changedNotes(groupId, 0));
    expect(first.result.opened.map((n) => [n.title, n.body]).sort()).toEqual([
      ['Budget', '42 coins'],
      ['Plans', 'Meet on Friday'],
    ]);
    expect(first.result).toMatchObject({ since: 0, failed: [], older: [], vanished: [], fullChecked: true, unread: 2 });
    expect(times(first.calls, 'groups.log')).toBe(1);
    expect(times(first.calls, 'notes.list')).toBe(1);
    expect(times(first.calls, 'notes.get')).toBe(2);

    // Only the edit is listed next time; a note the caller holds at that version is not fetched.
    await ana.client.writeNote(groupId, { title: 'Plans', body: 'Meet on Saturday' }, { noteId: plans.noteId, version: 2 });
    const mine = await ben.client.writeNote(groupId, { title: 'Mine', body: 'written here' });
    const next = await counted(() =>
      ben.client.changedNotes(groupId, first.result.cursor, { known: async (ids) => ids.map((id) => (id === mine.noteId ? 1 : undefined)) }),
    );
    expect(next.result.opened.map((n) => [n.title, n.body, n.version])).toEqual([['Plans', 'Meet on Saturday', 2]]);
    expect(next.result.headers.map((h) => h.noteId).sort()).toEqual([plans.noteId, mine.noteId].sort());
    // Ben's own note does not count as unread.
    expect(next.result).toMatchObject({ unread: 1, fullChecked: false, vanished: [] });
    expect(times(next.calls, 'groups.log')).toBe(1);
    expect(times(next.calls, 'notes.get')).toBe(1);
    expect(next.result.cursor).toBeGreaterThan(first.result.cursor);
  });

  it('changedNotes reports a listed version older than the one held, and opens failures again', async () => {
    const held = await ana.client.writeNote(groupId, { title: 'Held', body: 'v1' });
    const gone = 'AAAAAAAAAAAAAAAAAAAAAA' as NoteId;
    const changes = await ben.client.changedNotes(groupId, 0, {
      known: async (ids) => ids.map((id) => (id === held.noteId ? 5 : undefined)),
      reopen: [
        { noteId: held.noteId, version: 1, author: ana.fingerprint, at: 0 },
        { noteId: gone, version: 1, author: ana.fingerprint, at: 0 },
      ],
    });
    expect(changes.older.map((h) => [h.noteId, h.version])).toEqual([[held.noteId, 1]]);
    // Opened again at its version; a version the server does not have stays as it was.
    expect(changes.opened.filter((n) => n.noteId === held.noteId).map((n) => n.body)).toEqual(['v1']);
    expect(changes.opened.some((n) => n.noteId === gone) || changes.failed.some((n) => n.noteId === gone)).toBe(false);
  });

  it('changedNotes and unreadCount leave meta notes out of the count; unreadCount reads headers only', async () => {
    const meta = await ana.client.metaNotes(groupId);
    const seed0 = (await ana.store.load(groupId))!.seeds.get(0)!;
    const nameId = await metaNoteId(seed0, groupId, { kind: 'group-name', member: null });
    expect(meta.get(nameId)).toEqual({ kind: 'group-name', member: null });
    expect(meta.get(await metaNoteId(seed0, groupId, { kind: 'profile', member: ben.fingerprint }))).toEqual({ kind: 'profile', member: ben.fingerprint });
    expect(await cleo.client.groups()).toEqual([]);

    const { cursor } = await ben.client.changedNotes(groupId, 0);
    await ana.client.writeNote(groupId, { title: META_TITLE, body: metaBody('group-name', 'Garden') }, { noteId: nameId });
    const news = await ana.client.writeNote(groupId, { title: 'News', body: 'fresh' });
    await ana.client.writeNote(groupId, { title: '', body: '' }, { noteId: news.noteId, version: 2, deleted: true });
    await ana.client.writeNote(groupId, { title: 'Later', body: 'also fresh' });
    const count = await counted(() => ben.client.unreadCount(groupId, cursor));
    expect(count.result.unread).toBe(1);
    expect(count.result.cursor).toBeGreaterThan(cursor);
    expect(count.calls).toEqual(['notes.list']);
    // The same count comes with the changes themselves.
    expect((await ben.client.changedNotes(groupId, cursor)).unread).toBe(1);
  });

  it('pendingRequests lists who waits in the mailbox, until the admin hands the key over', async () => {
    const code = await ana.client.invite(groupId, { role: 'member', expiresInMs: HOUR });
    expect((await cleo.client.join(code)).hasKey).toBe(false);
    const pending = await counted(() => ana.client.pendingRequests(groupId));
    expect(pending.result).toEqual([cleo.fingerprint]);
    expect(pending.calls).toEqual(['mailbox.pending']);
    ana.trust.set(cleo.fingerprint, 'verified');
    expect((await ana.client.handOverPending(groupId)).sent).toEqual([cleo.fingerprint]);
    expect(await cleo.client.fetchKey(groupId)).toBe(true);
    expect(await ana.client.pendingRequests(groupId)).toEqual([]);
    // Cleo's first listing: every note, nothing unread of her own.
    const all = await cleo.client.changedNotes(groupId, 0);
    expect(all.opened.map((n) => n.title)).toContain('Plans');
  });

  it('changedNotes refuses a device without the key or no longer a member, by name', async () => {
    const dora = await newDevice('Dora', server.url);
    const code = await ana.client.invite(groupId, { role: 'member', expiresInMs: HOUR });
    await dora.client.join(code);
    await expect(dora.client.changedNotes(groupId, 0)).rejects.toMatchObject({ reason: 'no-key' });
    await ana.client.removeMember(groupId, dora.fingerprint);
    const refused = await dora.client.changedNotes(groupId, 0).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GroupClientError);
    expect(refused).toMatchObject({ reason: 'not-member' });
  });

  it('writeNote syncs once and puts; readNote asks for the log and the note in one HTTP request', async () => {
    // Both hold the current key (Dora's removal made a new one).
    await Promise.all([ana.client.fetchKey(groupId), ben.client.fetchKey(groupId)]);
    const write = await counted(() => ana.client.writeNote(groupId, { title: 'Counted', body: 'one door' }));
    expect(write.calls).toEqual(['groups.log', 'notes.put']);
    expect(write.requests).toBe(2);
    const read = await counted(() => ben.client.readNote(groupId, write.result.noteId));
    expect(read.result).toMatchObject({ title: 'Counted', body: 'one door', version: 1, author: ana.fingerprint, warnings: [] });
    expect(read.requests).toBe(1);
    expect(read.calls.sort()).toEqual(['groups.log', 'notes.get']);
  });

  it('readNote catches up with a new generation and takes its key on the way', async () => {
    const before = await ana.client.writeNote(groupId, { title: 'Before', body: 'generation 0' });
    const { generation } = await ana.client.rotateKey(groupId);
    expect((await ben.store.load(groupId))!.seeds.has(generation)).toBe(false);
    expect((await ben.client.readNote(groupId, before.noteId)).body).toBe('generation 0');
    expect((await ben.store.load(groupId))!.seeds.has(generation)).toBe(true);
    const after = await ana.client.writeNote(groupId, { title: 'After', body: `generation ${generation}` });
    expect((await ben.client.readNote(groupId, after.noteId)).generation).toBe(generation);
  });

  it('setRole changes a role with one log sync and one append', async () => {
    const change = await counted(() => ana.client.setRole(groupId, ben.fingerprint, 'admin'));
    expect(times(change.calls, 'groups.log')).toBe(1);
    expect(times(change.calls, 'groups.append')).toBe(1);
    expect((await ben.client.sync(groupId)).members.get(ben.fingerprint)?.role).toBe('admin');
    await ben.client.setRole(groupId, ben.fingerprint, 'member');
    expect((await ana.client.sync(groupId)).members.get(ben.fingerprint)?.role).toBe('member');
  });
});
