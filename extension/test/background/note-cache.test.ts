/**
 * The notes cache: `notes.list` and the tick answer from this device's cache and fetch
 * only what changed on the server since the last listing — against a real storage API,
 * with HTTP calls counted through a spy on fetch (the tRPC client resolves fetch per
 * call). A note just written is not fetched back; another device's note, edit,
 * deletion and new name arrive; a note that could not be opened is kept with its
 * reason and opened again when its key arrives; a server rolling a note back to an
 * older version does not move the cached one back; a rolled-back log still raises
 * the alarm before anything cached is shown.
 */
import 'fake-indexeddb/auto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { GroupId, NoteId } from '@conclave/shared/protocol';
import { cutLogBack, startServer, type TestServer } from '../../../storage-api/test/support/server.ts';
import { MemoryNetwork, newDevice, type TestDevice } from './support.ts';

const HOUR = 3_600_000;
const ANA = 'Anastasia Quillfeather';
const BEN = 'Benedikt Marrowgate';

/** The tRPC procedures one fetch call carried (a batch names each in its path). */
function procedures(input: unknown): string[] {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : (input as Request).url;
  const path = new URL(url).pathname;
  const at = path.indexOf('/trpc/');
  return at < 0 ? [] : decodeURIComponent(path.slice(at + 6)).split(',');
}

describe('the notes cache', () => {
  let server: TestServer;
  const network = new MemoryNetwork();
  const devices: TestDevice[] = [];
  let ana: TestDevice, ben: TestDevice;
  let groupId: GroupId;
  const fetchSpy = vi.spyOn(globalThis, 'fetch');

  /** Runs `work` and counts the storage API calls it made, by procedure. */
  async function counted<T>(work: () => Promise<T>): Promise<{ result: T; gets: number; lists: number }> {
    const before = fetchSpy.mock.calls.length;
    const result = await work();
    const called = fetchSpy.mock.calls.slice(before).flatMap(([input]) => procedures(input));
    return { result, gets: called.filter((p) => p === 'notes.get').length, lists: called.filter((p) => p === 'notes.list').length };
  }

  async function device(label: string, name: string): Promise<TestDevice> {
    const d = await newDevice(label, network, server.url);
    devices.push(d);
    await d.ask({ type: 'identity.create', displayName: name });
    return d;
  }

  async function save(d: TestDevice, title: string, body = `${title} body`): Promise<NoteId> {
    const saved = await d.ask({ type: 'notes.save', groupId, title, body });
    if (!saved.saved) throw new Error('not saved');
    return saved.noteId;
  }

  const titles = (list: Array<{ ok: boolean; title?: string }>) => list.filter((n) => n.ok).map((n) => n.title);

  function serverDb<T>(run: (db: import('better-sqlite3').Database) => T): Promise<T> {
    return import('better-sqlite3').then(({ default: Database }) => {
      const db = new Database(join(server.dataDir!, 'conclave.sqlite'));
      try {
        db.pragma('busy_timeout = 5000');
        return run(db);
      } finally {
        db.close();
      }
    });
  }

  beforeAll(async () => {
    server = await startServer('sqlite', { config: { logLevel: 'silent' } });
    ana = await device('cache-ana', ANA);
    ({ groupId } = await ana.ask({ type: 'group.create', name: 'Tide Watchers', policy: 'verified' }));
    await ana.bg.tick();
    ben = await device('cache-ben', BEN);
    const invite = await ana.ask({ type: 'group.invite', groupId, role: 'member', expiresInMs: HOUR, prekeyed: true });
    expect(await ben.ask({ type: 'group.join', code: invite.code })).toMatchObject({ hasKey: true });
    // Everyone's profile and the group's name written and read once.
    for (const d of [ana, ben, ana, ben]) {
      await d.bg.tick();
      await d.ask({ type: 'notes.list', groupId });
    }
  });

  afterAll(async () => {
    fetchSpy.mockRestore();
    for (const d of devices) await d.close().catch(() => undefined);
    await server?.close();
  });

  it('a second notes.list fetches no note when nothing changed, and a note just saved is listed without being fetched', async () => {
    const quiet = await counted(() => ana.ask({ type: 'notes.list', groupId }));
    expect(quiet).toMatchObject({ result: [], gets: 0, lists: 1 });

    for (const title of ['Spring tides', 'Neap tides', 'Storm surge']) await save(ana, title);
    const mine = await counted(() => ana.ask({ type: 'notes.list', groupId }));
    expect(titles(mine.result).sort()).toEqual(['Neap tides', 'Spring tides', 'Storm surge']);
    expect(mine.result.every((n) => n.ok && n.authorName === ANA && n.authorTrust === 'verified')).toBe(true);
    expect(mine.gets).toBe(0);

    // Ben fetches the three once, then nothing.
    const first = await counted(() => ben.ask({ type: 'notes.list', groupId }));
    expect(titles(first.result).sort()).toEqual(['Neap tides', 'Spring tides', 'Storm surge']);
    expect(first.result.every((n) => n.ok && n.authorName === ANA)).toBe(true);
    expect(first.gets).toBe(3);
    const again = await counted(() => ben.ask({ type: 'notes.list', groupId }));
    expect(again.result).toEqual(first.result);
    expect(again.gets).toBe(0);
  });

  it("another device's note, edit, deletion and new name arrive with the incremental listing", async () => {
    const noteId = await save(ben, 'Buoy 7 is adrift');
    const added = await counted(() => ana.ask({ type: 'notes.list', groupId }));
    expect(added.result[0]).toMatchObject({ ok: true, noteId, version: 1, title: 'Buoy 7 is adrift', authorName: BEN, authorTrust: 'trusted-by-link' });
    expect(added.gets).toBe(1);

    await ben.ask({ type: 'notes.save', groupId, noteId, baseVersion: 1, title: 'Buoy 7 recovered', body: 'Towed back.' });
    const edited = await counted(() => ana.ask({ type: 'notes.list', groupId }));
    expect(edited.result.find((n) => n.noteId === noteId)).toMatchObject({ ok: true, version: 2, title: 'Buoy 7 recovered' });
    expect(edited.result).toHaveLength(4);
    expect(edited.gets).toBe(1);

    await ben.ask({ type: 'notes.delete', groupId, noteId, baseVersion: 2 });
    const deleted = await counted(() => ana.ask({ type: 'notes.list', groupId }));
    expect(deleted.result.map((n) => n.noteId)).not.toContain(noteId);
    expect(deleted.result).toHaveLength(3);

    // A new name travels in Ben's profile (a meta note): learnt, and still not listed as a note.
    const keep = await save(ben, 'Harbour lights');
    await ben.ask({ type: 'identity.rename', displayName: 'Ben Marrowgate' });
    const renamed = await ana.ask({ type: 'notes.list', groupId });
    expect(renamed.find((n) => n.noteId === keep)).toMatchObject({ authorName: 'Ben Marrowgate' });
    expect(renamed).toHaveLength(4);
    expect(renamed.some((n) => n.ok && n.title.startsWith('conclave:'))).toBe(false);
  });

  it('the tick lists incrementally: the new note is fetched once and counted unread, then nothing is fetched', async () => {
    await ben.bg.tick();
    await save(ben, 'Fog horn test on Friday');
    const tick = await counted(() => ana.bg.tick());
    expect(tick.gets).toBe(1);
    expect((await ana.ask({ type: 'status' })).groups[0]!.unread).toBe(1);
    const quiet = await counted(() => ana.bg.tick());
    expect(quiet.gets).toBe(0);
    expect((await ana.ask({ type: 'status' })).groups[0]!.unread).toBe(1);
    // The list already has it from the tick.
    const listed = await counted(() => ana.ask({ type: 'notes.list', groupId }));
    expect(titles(listed.result)).toContain('Fog horn test on Friday');
    expect(listed.gets).toBe(0);
    expect((await ana.ask({ type: 'status' })).groups[0]!.unread).toBe(0);
  });

  it('a note that cannot be opened is listed with its reason, and becomes readable when its key arrives', async () => {
    const known = (await ben.ask({ type: 'notes.list', groupId })).find((n) => n.ok)!;
    // A note of generation 0 that Ben has not listed yet; then a new generation.
    const old = await save(ana, 'Keeper rota, winter');
    const carl = await device('cache-carl', 'Carlotta Fenwright');
    const invite = await ana.ask({ type: 'group.invite', groupId, role: 'member', expiresInMs: HOUR, prekeyed: true });
    await carl.ask({ type: 'group.join', code: invite.code });
    await ana.ask({ type: 'group.remove', groupId, fingerprint: await carl.fingerprint() });
    // Ben reads a note he knows: his device syncs and takes generation 1's key, without listing.
    await ben.ask({ type: 'notes.read', groupId, noteId: known.noteId });
    const row = (await ben.db.groups.get(groupId))!;
    expect([...row.seeds.keys()].sort()).toEqual([0, 1]);
    expect(await ben.db.notes.get([groupId, old] as never)).toBeUndefined();
    // …and holds only the new generation's key, as a device would that was given only that one.
    const seed0 = row.seeds.get(0)!;
    await ben.db.groups.update(groupId, { seeds: new Map([[1, row.seeds.get(1)!]]) });

    const locked = await ben.ask({ type: 'notes.list', groupId });
    const failed = locked.find((n) => n.noteId === old);
    expect(failed).toEqual({
      ok: false,
      noteId: old,
      version: 1,
      author: await ana.fingerprint(),
      authorName: ANA,
      reason: 'no-key',
      message: 'Written before you could have the key.',
      action: 'Ask its author to open it and save it again, so it is written with the current key.',
    });
    // An open editor still learns that this newer version exists, and whose it is.
    expect(await ben.ask({ type: 'notes.header', groupId, noteId: old })).toEqual({ noteId: old, version: 1, author: await ana.fingerprint(), authorName: ANA, isMe: false, at: expect.any(Number), deleted: false, unopened: true });
    // A version whose signature failed: the author it claims is not named.
    const forged = 'ZZZZZZZZZZZZZZZZZZZZZA' as NoteId;
    await ben.db.notes.put({ groupId, noteId: forged, version: 7, title: '', author: await ana.fingerprint(), at: 1, deleted: false, failure: 'bad-signature' });
    expect(await ben.ask({ type: 'notes.header', groupId, noteId: forged })).toMatchObject({ version: 7, authorName: 'Someone', isMe: false, unopened: true });
    await ben.db.notes.delete([groupId, forged] as never);
    const failures = await ben.db.notes.where('groupId').equals(groupId).filter((r) => r.failure !== undefined).count();
    expect(failures).toBeGreaterThan(0);
    expect(await ben.db.notes.get([groupId, old] as never)).toMatchObject({ failure: 'no-key', failureMessage: expect.stringContaining('key') });
    // Listed again with the same keys: the failure comes from the cache, nothing is fetched.
    const same = await counted(() => ben.ask({ type: 'notes.list', groupId }));
    expect(same.result.find((n) => n.noteId === old)).toMatchObject({ ok: false, reason: 'no-key' });
    expect(same.gets).toBe(0);

    // The key arrives: only the failures are opened again.
    await ben.db.groups.update(groupId, { seeds: new Map([[0, seed0], [1, row.seeds.get(1)!]]) });
    const open = await counted(() => ben.ask({ type: 'notes.list', groupId }));
    expect(open.result.find((n) => n.noteId === old)).toMatchObject({ ok: true, title: 'Keeper rota, winter', authorName: ANA });
    expect(await ben.ask({ type: 'notes.header', groupId, noteId: old })).toMatchObject({ version: 1, authorName: ANA, unopened: false });
    expect(open.result.every((n) => n.ok)).toBe(true);
    expect(open.result.some((n) => n.ok && n.title.startsWith('conclave:'))).toBe(false);
    expect(open.gets).toBe(failures);
    expect(await ben.db.notes.where('groupId').equals(groupId).filter((r) => r.failure !== undefined).count()).toBe(0);
  });

  it('a server that rolls a note back to an older version does not move the cached newer version back', async () => {
    const noteId = await save(ana, 'Lamp oil order');
    expect(titles(await ben.ask({ type: 'notes.list', groupId }))).toContain('Lamp oil order');
    const v1Header = await serverDb((db) => (db.prepare('SELECT header FROM note_heads WHERE group_id = ? AND note_id = ?').get(groupId, noteId) as { header: string }).header);
    await ana.ask({ type: 'notes.save', groupId, noteId, baseVersion: 1, title: 'Lamp oil order (40 litres)', body: 'Forty.' });
    expect((await ben.ask({ type: 'notes.list', groupId })).find((n) => n.noteId === noteId)).toMatchObject({ version: 2, title: 'Lamp oil order (40 litres)' });

    // The server forgets version 2 and lists version 1 as a fresh change.
    await serverDb((db) =>
      db.transaction(() => {
        const { value } = db.prepare("UPDATE counters SET value = value + 1 WHERE name = 'note_change' RETURNING value").get() as { value: number };
        db.prepare('DELETE FROM note_versions WHERE group_id = ? AND note_id = ? AND version > 1').run(groupId, noteId);
        db.prepare('UPDATE note_heads SET version = 1, change_id = ?, header = ? WHERE group_id = ? AND note_id = ?').run(value, v1Header, groupId, noteId);
      })(),
    );
    const rolled = await counted(() => ben.ask({ type: 'notes.list', groupId }));
    expect(rolled.lists).toBe(1);
    expect(rolled.gets).toBe(0);
    expect(rolled.result.find((n) => n.noteId === noteId)).toMatchObject({ ok: true, version: 2, title: 'Lamp oil order (40 litres)' });
    // Counted as suspicious on the row.
    expect(await ben.db.notes.get([groupId, noteId] as never)).toMatchObject({ version: 2, rolledBackTo: 1 });
  });

  it('a rolled-back log raises the alarm before anything cached is listed', async () => {
    for (let i = 0; i < 2; i++) await ana.ask({ type: 'group.invite', groupId, role: 'member', expiresInMs: HOUR, prekeyed: false });
    expect((await ben.ask({ type: 'notes.list', groupId })).length).toBeGreaterThan(0);
    const row = (await ben.db.groups.get(groupId))!;
    const keep = row.pinned.seq - 2;
    await cutLogBack(server, groupId, keep, row.state.hashes[keep]!);
    expect(await ben.refused({ type: 'notes.list', groupId })).toMatchObject({ code: 'fork' });
    expect((await ben.ask({ type: 'status' })).groups[0]!.alarm).toContain('Tide Watchers');
    expect(await ben.refused({ type: 'notes.list', groupId })).toMatchObject({ code: 'fork' });
  });
});
