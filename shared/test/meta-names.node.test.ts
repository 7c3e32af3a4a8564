/**
 * Names in meta notes through the SDK (issue 11 review): `GroupClient.publishMeta`
 * writes the version after the newest, retrying after a concurrent write, and
 * `changedNotes` / `listNotes` say which names the opened meta notes carry — a profile
 * only from the member it names, the group's name only from an admin — so the extension
 * and the CLI keep the same names without their own copies of these rules.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { META_TITLE, metaBody } from '../src/crypto/meta-notes.ts';
import type { GroupId } from '../src/protocol/ids.ts';
import { newDevice, type Device } from '../../storage-api/test/support/clients.ts';
import { startServer, type TestServer } from '../../storage-api/test/support/server.ts';

const HOUR = 3_600_000;

describe('meta-note names through GroupClient (real HTTP)', () => {
  let server: TestServer;
  let ana: Device, ben: Device;
  let groupId: GroupId;

  beforeAll(async () => {
    server = await startServer('sqlite', { config: { logLevel: 'silent' } });
    [ana, ben] = await Promise.all([newDevice('Ana', server.url), newDevice('Ben', server.url)]);
    ({ groupId } = await ana.client.createGroup());
    expect(await ben.client.join(await ana.client.invite(groupId, { role: 'member', expiresInMs: HOUR, prekeyed: true }))).toMatchObject({ hasKey: true });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('publishMeta writes the next version, also after a concurrent write it had not seen', async () => {
    const group = { kind: 'group-name' as const, member: null };
    expect(await ana.client.publishMeta(groupId, group, 'Harbour')).toMatchObject({ version: 1 });
    // Ben has not seen version 1: his first attempt conflicts, the retry writes version 2.
    await ana.client.setRole(groupId, ben.fingerprint, 'admin');
    expect(await ben.client.publishMeta(groupId, group, 'Harbour club')).toMatchObject({ version: 2 });
    expect(await ana.client.publishMeta(groupId, { kind: 'profile', member: ana.fingerprint }, 'Ana')).toMatchObject({ version: 1 });
    const { names } = await ana.client.changedNotes(groupId, 0);
    expect(names.groupName).toEqual({ name: 'Harbour club', version: 2 });
    expect(names.profiles.get(ana.fingerprint)).toEqual({ name: 'Ana', version: 1 });
  });

  it('a profile written by another member than the one it names is not a name', async () => {
    const metaIds = await ben.client.metaNotes(groupId);
    const anasProfile = [...metaIds].find(([, slot]) => slot.kind === 'profile' && slot.member === ana.fingerprint)![0];
    await ben.client.writeNote(groupId, { title: META_TITLE, body: metaBody('profile', 'Mallory') }, { noteId: anasProfile, version: 2 });
    const listed = await ana.client.listNotes(groupId);
    expect(listed.names.profiles.get(ana.fingerprint)).toBeUndefined();
    expect((await ana.client.changedNotes(groupId, 0)).names.profiles.has(ana.fingerprint)).toBe(false);
  });
});
