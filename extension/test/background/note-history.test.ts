/**
 * A note's history and a group's export through the background (issue 14, "Expected,
 * not there yet"), against a real storage API: the versions of a note newest first with
 * author, time and key generation (the SDK's verified chain); an earlier version
 * restored as a new version, never over someone's newer save; and every readable note
 * of the group as Markdown files, rendered as `conclave export` renders them.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noteMarkdown } from '@conclave/shared/client';
import type { GroupId, NoteId } from '@conclave/shared/protocol';
import { startServer, type TestServer } from '../../../storage-api/test/support/server.ts';
import { harbourWith, MemoryNetwork, newDevice, type TestDevice } from './support.ts';

const ANA = 'Anastasia Quillfeather';
const BEN = 'Benedikt Marrowgate';

describe('note history and export', () => {
  let server: TestServer;
  const network = new MemoryNetwork();
  const devices: TestDevice[] = [];
  let ana: TestDevice, ben: TestDevice, carl: TestDevice;
  let groupId: GroupId;
  let noteId: NoteId;

  async function device(label: string, name: string): Promise<TestDevice> {
    const d = await newDevice(label, network, server.url);
    devices.push(d);
    await d.ask({ type: 'identity.create', displayName: name });
    return d;
  }

  async function save(d: TestDevice, title: string, body: string, edit?: { noteId: NoteId; baseVersion: number }): Promise<NoteId> {
    const saved = await d.ask({ type: 'notes.save', groupId, title, body, ...(edit ?? {}) });
    if (!saved.saved) throw new Error('not saved');
    return saved.noteId;
  }

  beforeAll(async () => {
    server = await startServer('sqlite', { config: { logLevel: 'silent' } });
    ana = await device('history-ana', ANA);
    ben = await device('history-ben', BEN);
    carl = await device('history-carl', 'Carlotta Fenwright');
    groupId = await harbourWith(ana, [ben, carl]);
    // Names published (meta notes) and learned by everyone.
    for (const d of [ana, ben, carl, ana, ben]) {
      await d.bg.tick();
      await d.ask({ type: 'notes.list', groupId });
    }
    noteId = await save(ana, 'Tide tables', 'High water at 06:12.');
    await save(ben, 'Tide tables', 'High water at 06:40 (corrected).', { noteId, baseVersion: 1 });
    // A new key: the third version is sealed with generation 1.
    await ana.ask({ type: 'group.rotateKey', groupId });
    await ana.bg.tick();
    await save(ana, 'Tide tables (spring)', 'High water at 07:05.', { noteId, baseVersion: 2 });
  });

  afterAll(async () => {
    for (const d of devices) await d.close().catch(() => undefined);
    await server?.close();
  });

  it('lists every version newest first, with author, time, key generation, title and text', async () => {
    await ben.bg.tick();
    const history = await ben.ask({ type: 'notes.history', groupId, noteId });
    expect(history.noteId).toBe(noteId);
    expect(history.versions.map((v) => [v.version, v.generation, v.authorName, v.ok && v.title, v.ok && v.body])).toEqual([
      [3, 1, ANA, 'Tide tables (spring)', 'High water at 07:05.'],
      [2, 0, BEN, 'Tide tables', 'High water at 06:40 (corrected).'],
      [1, 0, ANA, 'Tide tables', 'High water at 06:12.'],
    ]);
    expect(history.versions.every((v) => !v.deleted && v.at > 0)).toBe(true);
    // Ben's own version is his; Ana's are by someone he has not verified.
    expect(history.versions.map((v) => v.authorTrust)).toEqual(['unverified', 'verified', 'unverified']);
  });

  it('restores an earlier version as a new version by the restorer, on top of the newest', async () => {
    const restored = await ben.ask({ type: 'notes.restore', groupId, noteId, version: 1, baseVersion: 3 });
    expect(restored).toEqual({ noteId, version: 4, restoredFrom: 1 });
    const read = await ana.ask({ type: 'notes.read', groupId, noteId });
    expect(read).toMatchObject({ version: 4, title: 'Tide tables', body: 'High water at 06:12.', authorName: BEN });
    const history = await ana.ask({ type: 'notes.history', groupId, noteId });
    expect(history.versions.map((v) => v.version)).toEqual([4, 3, 2, 1]);
    // The list shows the restored title at once (the cache row was written).
    const listed = await ben.ask({ type: 'notes.list', groupId });
    expect(listed.find((n) => n.noteId === noteId)).toMatchObject({ ok: true, version: 4, title: 'Tide tables' });
  });

  it('refuses to restore over a version saved since the history was opened, and says what to do', async () => {
    // Carl looked at the history when version 3 was the newest; Ben restored since.
    const refused = await carl.refused({ type: 'notes.restore', groupId, noteId, version: 2, baseVersion: 3 });
    expect(refused.code).toBe('conflict');
    expect(refused.message).toBe('Someone saved a newer version of this note since you opened its history.');
    expect(refused.action).toContain('Look at the history again');
    expect((await carl.ask({ type: 'notes.read', groupId, noteId })).version).toBe(4);
  });

  it('refuses to restore the newest version, or one the note never had', async () => {
    expect(await carl.refused({ type: 'notes.restore', groupId, noteId, version: 4, baseVersion: 4 })).toMatchObject({ code: 'invalid-request', message: 'Version 4 is already the newest.' });
    expect(await carl.refused({ type: 'notes.restore', groupId, noteId, version: 9, baseVersion: 4 })).toMatchObject({ code: 'invalid-request', message: 'This note has no version 9.' });
  });

  it('exports every readable note (not deleted ones, not the names) as the Markdown conclave export writes', async () => {
    const gone = await save(ben, 'Old ferry times', 'Withdrawn.');
    await ben.ask({ type: 'notes.delete', groupId, noteId: gone, baseVersion: 1 });
    const other = await save(ben, 'Harbour master: “call first”', 'Channel 12.\n');
    const exported = await ana.ask({ type: 'notes.export', groupId });
    expect(exported.groupName).toBe('Harbour');
    expect(exported.skipped).toEqual([]);
    expect(exported.files.map((f) => f.title)).toEqual(['Harbour master: “call first”', 'Tide tables']);
    expect(exported.files.map((f) => f.name)).toEqual([`harbour-master-call-first--${other.slice(0, 8)}.md`, `tide-tables--${noteId.slice(0, 8)}.md`]);
    const read = await ana.ask({ type: 'notes.read', groupId, noteId: other });
    const benFingerprint = await ben.fingerprint();
    const generation = (await ana.ask({ type: 'group.detail', groupId })).generation;
    expect(exported.files[0]!.text).toBe(
      noteMarkdown({
        noteId: other,
        title: read.title,
        body: read.body,
        version: 1,
        generation,
        at: read.at,
        groupId,
        groupName: 'Harbour',
        authorName: BEN,
        authorFingerprint: benFingerprint,
        authorDevice: benFingerprint,
        warnings: [],
      }),
    );
    expect(exported.files[0]!.text).toMatch(/^---\ntitle: "Harbour master: “call first”"\n[^]*\n---\n\nChannel 12\.\n$/);
    expect(exported.files[1]!.text).toContain('\nversion: 4\n');
    expect(exported.files[1]!.text).toContain(`\nauthor: "${BEN}"\n`);
  });

  it('a device removed from the group is told so, for history and export alike, and keeps the text it restored', async () => {
    expect(await carl.ask({ type: 'notes.restore', groupId, noteId, version: 2, baseVersion: 4 })).toEqual({ noteId, version: 5, restoredFrom: 2 });
    const carlFingerprint = await carl.fingerprint();
    await ana.ask({ type: 'group.remove', groupId, fingerprint: carlFingerprint });
    // What this device wrote last is among what it keeps, read-only, once removed.
    await carl.bg.tick();
    expect(await carl.ask({ type: 'notes.read', groupId, noteId })).toMatchObject({ version: 5, title: 'Tide tables', body: 'High water at 06:40 (corrected).' });
    const history = await carl.refused({ type: 'notes.history', groupId, noteId });
    expect(history.code).toBe('removed');
    const exported = await carl.refused({ type: 'notes.export', groupId });
    expect(exported.code).toBe('removed');
    expect(exported.action).toContain('Ask an admin to invite you again');
    // One check and one wording for a removed device, whatever it asked (history, export,
    // restore, a note it did not keep, a save), not a copy per module.
    const restored = await carl.refused({ type: 'notes.restore', groupId, noteId, version: 1, baseVersion: 5 });
    const unkept = await carl.refused({ type: 'notes.read', groupId, noteId: 'AAAAAAAAAAAAAAAAAAAAAA' as NoteId });
    const saved = await carl.refused({ type: 'notes.save', groupId, title: 'After', body: 'Too late.' });
    for (const refusal of [history, restored, unkept, saved]) expect(refusal).toMatchObject({ code: 'removed', action: exported.action });
  });
});
