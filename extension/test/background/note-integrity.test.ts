/**
 * The side panel tells the person when the server rewinds or hides a note (issue 10,
 * item 4): the background against a real storage API on SQLite whose operator edits the
 * database behind its back. A rolled-back note is shown with a plain warning, a note
 * dropped without a deletion record is listed as removed by the server (its title kept),
 * a late note by a removed member says who wrote it and that this device did not see it
 * before their removal, and a late version sealed with an old key is refused by name.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generationKeys } from '@conclave/shared/crypto';
import { sealNote } from '@conclave/shared/crypto';
import { noteVersionHash } from '@conclave/shared/crypto';
import { openSeeds } from '../../src/db/at-rest.ts';
import { FULL_CHECK_MS } from '../../src/background/note-cache.ts';
import type { GroupId, NoteId } from '@conclave/shared/protocol';
import { toBase64url } from '@conclave/shared/protocol';
import { NoteOperator } from '../../../storage-api/test/support/note-tamper.ts';
import { startServer, type TestServer } from '../../../storage-api/test/support/server.ts';
import { MemoryNetwork, newDevice, type TestDevice } from './support.ts';

const HOUR = 3_600_000;
const ANA = 'Anastasia Quillfeather';
const CARL = 'Carlotta Fenwright';

describe('the side panel flags notes a lying server rewound or hid', () => {
  let server: TestServer;
  let operator: NoteOperator;
  const network = new MemoryNetwork();
  const devices: TestDevice[] = [];
  let ana: TestDevice, ben: TestDevice, carl: TestDevice;
  let groupId: GroupId;

  async function device(label: string, name: string): Promise<TestDevice> {
    const d = await newDevice(label, network, server.url);
    devices.push(d);
    await d.ask({ type: 'identity.create', displayName: name });
    return d;
  }

  async function save(d: TestDevice, title: string, body = `${title} body`, edit?: { noteId: NoteId; baseVersion: number }): Promise<NoteId> {
    const saved = await d.ask({ type: 'notes.save', groupId, title, body, ...(edit ?? {}) });
    if (!saved.saved) throw new Error('not saved');
    return saved.noteId;
  }

  /** As if ten minutes had passed since Ben's device last compared the whole list. */
  async function fullCheckDue(d: TestDevice): Promise<void> {
    const row = (await d.db.seenNotes.get([groupId, '']))!;
    await d.db.seenNotes.put({ ...row, fullCheckAt: 0 } as never);
    expect(FULL_CHECK_MS).toBeGreaterThan(0);
  }

  beforeAll(async () => {
    server = await startServer('sqlite', { config: { logLevel: 'silent' } });
    operator = new NoteOperator(server);
    ana = await device('integrity-ana', ANA);
    ({ groupId } = await ana.ask({ type: 'group.create', name: 'Tide Watchers', policy: 'verified' }));
    await ana.bg.tick();
    ben = await device('integrity-ben', 'Benedikt Marrowgate');
    carl = await device('integrity-carl', CARL);
    for (const d of [ben, carl]) {
      const invite = await ana.ask({ type: 'group.invite', groupId, role: 'member', expiresInMs: HOUR, prekeyed: true });
      expect(await d.ask({ type: 'group.join', code: invite.code })).toMatchObject({ hasKey: true });
    }
    for (const d of [ana, ben, carl, ana, ben]) {
      await d.bg.tick();
      await d.ask({ type: 'notes.list', groupId });
    }
  });

  afterAll(async () => {
    for (const d of devices) await d.close().catch(() => undefined);
    await server?.close();
  });

  it('rolled-back: a note the server shows at an older version says so, in the reader and in the list', async () => {
    const noteId = await save(ana, 'Lamp oil order', 'Twenty litres.');
    await save(ana, 'Lamp oil order', 'Forty litres.', { noteId, baseVersion: 1 });
    expect((await ben.ask({ type: 'notes.read', groupId, noteId })).flags).toEqual([]);

    operator.rollBack(groupId, noteId, 1);
    const read = await ben.ask({ type: 'notes.read', groupId, noteId });
    expect(read).toMatchObject({ version: 1, body: 'Twenty litres.' });
    expect(read.flags).toEqual([
      {
        code: 'rolled-back',
        message: 'The server showed an older version of this note (version 1) than this device has already seen (version 2).',
        action: expect.stringMatching(/^A newer change may be missing from the server\. Ask whoever edited it last/),
      },
    ]);
    // The list keeps the newer version it saw, and says what the server did.
    const listed = (await ben.ask({ type: 'notes.list', groupId })).find((n) => n.noteId === noteId);
    expect(listed).toMatchObject({ ok: true, version: 2, title: 'Lamp oil order', flags: [expect.objectContaining({ code: 'rolled-back' })] });
  });

  it('vanished: a note dropped without a deletion record is listed as removed by the server, with its title', async () => {
    const noteId = await save(ana, 'Keeper rota, winter');
    const deleted = await save(ana, 'Old tide table');
    expect((await ben.ask({ type: 'notes.list', groupId })).map((n) => n.noteId)).toEqual(expect.arrayContaining([noteId, deleted]));
    await ana.ask({ type: 'notes.delete', groupId, noteId: deleted, baseVersion: 1 });
    await ben.ask({ type: 'notes.list', groupId });

    operator.vanish(groupId, noteId);
    operator.vanish(groupId, deleted);
    await fullCheckDue(ben);
    const list = await ben.ask({ type: 'notes.list', groupId });
    expect(list.find((n) => n.noteId === noteId)).toEqual({
      ok: false,
      noteId,
      version: 1,
      author: await ana.fingerprint(),
      authorName: ANA,
      reason: 'vanished',
      title: 'Keeper rota, winter',
      message: 'Removed by the server without a deletion record. Nobody in the group deleted it: this device saw it, and the server no longer has it.',
      action: "Ask a member who still has it to save it again, and tell the group's admin: the server may be losing or hiding notes.",
    });
    // A note deleted with a signed deletion is not reported when the server drops it.
    expect(list.find((n) => n.noteId === deleted)).toBeUndefined();
    // Opening it says the same.
    expect(await ben.refused({ type: 'notes.read', groupId, noteId })).toMatchObject({ code: 'verification-failed', message: expect.stringMatching(/^Removed by the server without a deletion record/) });
  });

  it('late-from-departed and generation-went-back: what a removed member writes afterwards with the key it kept', async () => {
    const moved = await save(ana, 'Where the keys are', 'Under the mat.');
    await ben.ask({ type: 'notes.list', groupId });
    const carlRow = (await carl.db.groups.get(groupId))!;
    const oldGeneration = carlRow.state.generations.length - 1;
    const oldSeed = (await openSeeds(carl.db, carlRow)).get(oldGeneration)!;
    await ana.ask({ type: 'group.remove', groupId, fingerprint: await carl.fingerprint() });
    await save(ana, 'Where the keys are', 'In the safe.', { noteId: moved, baseVersion: 1 });
    await ben.ask({ type: 'notes.list', groupId });

    const { noteKey } = await generationKeys(oldSeed, groupId, oldGeneration);
    const carlIdentity = (await carl.db.identity.get('device'))!.identity;
    const fresh = await sealNote(carlIdentity, { groupId, noteId: toBase64url(new Uint8Array(16).fill(5)) as NoteId, version: 1, generation: oldGeneration }, noteKey, {
      title: 'New bank details',
      body: 'Pay the lamp oil to me.',
    });
    operator.setNewest(fresh);
    const v2 = operator.versions(groupId, moved)[1]!;
    operator.setNewest(await sealNote(carlIdentity, { groupId, noteId: moved, version: 3, generation: oldGeneration }, noteKey, { title: 'Where the keys are', body: 'With Carl.' }, { prev: await noteVersionHash(v2) }));

    const list = await ben.ask({ type: 'notes.list', groupId });
    expect(list.find((n) => n.noteId === fresh.noteId)).toMatchObject({
      ok: true,
      title: 'New bank details',
      authorName: CARL,
      flags: [
        {
          code: 'late-from-departed',
          message: `Written by ${CARL}, who has since been removed from the group; this device did not see it before they were removed.`,
          action: expect.stringMatching(/^They should no longer be able to write here/),
        },
      ],
    });
    expect((await ben.ask({ type: 'notes.read', groupId, noteId: fresh.noteId })).flags.map((f) => f.code)).toEqual(['late-from-departed']);
    expect(list.find((n) => n.noteId === moved)).toMatchObject({
      ok: false,
      reason: 'generation-went-back',
      message: expect.stringMatching(/written with an old group key after the note had moved to a newer one/),
    });
  });
});
