/**
 * The text of a note version kept on this device (db/at-rest.ts `sealNoteBody`, written
 * by note-cache.ts and read back for a group that removed this device) is bound to its
 * group, note and version: a sealed text moved to another row does not open, so a
 * profile edited by someone else cannot show one note's text under another's title.
 */
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { DecryptError } from '@conclave/shared/crypto';
import type { GroupId } from '@conclave/shared/protocol';
import { openNoteBody, sealNoteBody } from '../../src/db/at-rest.ts';
import { openDb, type ConclaveDb } from '../../src/db/schema.ts';

const GROUP = 'GGGGGGGGGGGGGGGGGGGGGG' as GroupId;
const OTHER_GROUP = 'HHHHHHHHHHHHHHHHHHHHHH' as GroupId;
const NOTE = 'NNNNNNNNNNNNNNNNNNNNNN';
const OTHER_NOTE = 'MMMMMMMMMMMMMMMMMMMMMM';
const TEXT = 'High water at 06:12.';

const opened: ConclaveDb[] = [];
let counter = 0;
function freshDb(): ConclaveDb {
  const db = openDb(`conclave-at-rest-${Date.now()}-${counter++}`);
  opened.push(db);
  return db;
}
afterEach(async () => {
  for (const db of opened.splice(0)) {
    db.close();
    await db.delete();
  }
});

describe('a note text sealed at rest', () => {
  it('opens for its own group, note and version, and holds no plaintext', async () => {
    const db = freshDb();
    const sealed = await sealNoteBody(db, GROUP, NOTE, 3, TEXT);
    expect(new TextDecoder().decode(sealed)).not.toContain(TEXT);
    expect(await openNoteBody(db, GROUP, NOTE, 3, sealed)).toBe(TEXT);
  });

  it.each([
    ['another note id', GROUP, OTHER_NOTE, 3],
    ['another version', GROUP, NOTE, 2],
    ['another group', OTHER_GROUP, NOTE, 3],
  ] as const)('does not open when moved to %s', async (_where, groupId, noteId, version) => {
    const db = freshDb();
    const sealed = await sealNoteBody(db, GROUP, NOTE, 3, TEXT);
    await expect(openNoteBody(db, groupId, noteId, version, sealed)).rejects.toBeInstanceOf(DecryptError);
  });

  it('does not open on another device (another device key), nor with a byte changed', async () => {
    const db = freshDb();
    const sealed = await sealNoteBody(db, GROUP, NOTE, 3, TEXT);
    await expect(openNoteBody(freshDb(), GROUP, NOTE, 3, sealed)).rejects.toBeInstanceOf(DecryptError);
    const flipped = sealed.slice();
    flipped[flipped.length - 1]! ^= 1;
    await expect(openNoteBody(db, GROUP, NOTE, 3, flipped)).rejects.toBeInstanceOf(DecryptError);
  });
});
