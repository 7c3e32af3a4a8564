/**
 * The client's own recovery paths over real HTTP, on SQLite and PostgreSQL: a device
 * an admin adds directly opens the group from the server's log; a join whose answer
 * was lost is picked up again from the log; two admins changing the log at once both
 * get through (the loser of the compare-and-set rebuilds on the newer log); a note
 * edit that lost the race surfaces CONFLICT with the current version.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NoteConflictError } from '@conclave/shared/client';
import { acceptInvite, inviteKeysFromCode } from '@conclave/shared/crypto';
import { inviteLookupProof } from '@conclave/shared/client';
import { replayLog } from '@conclave/shared/crypto';
import type { GroupId } from '@conclave/shared/protocol';
import { newDevice, type Device } from './support/clients.ts';
import { STORE_KINDS, startServer, type TestServer } from './support/server.ts';

const HOUR = 3600_000;

describe.each(STORE_KINDS)('client membership paths over HTTP (%s)', (kind) => {
  let server: TestServer;
  let admin: Device;
  let groupId: GroupId;

  beforeAll(async () => {
    server = await startServer(kind);
    admin = await newDevice('Admin', server.url);
    ({ groupId } = await admin.client.createGroup());
    await admin.client.writeNote(groupId, { title: 'Welcome', body: 'hello' });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('a device added directly by an admin opens the group and reads at once', async () => {
    const added = await newDevice('Added', server.url);
    await expect(added.client.listNotes(groupId)).rejects.toMatchObject({ reason: 'unknown-group' });
    await admin.client.addMember(groupId, added.fingerprint, 'admin');
    expect(await added.client.openGroup(groupId)).toEqual({ groupId, hasKey: true });
    expect((await added.client.listNotes(groupId)).notes.map((n) => n.ok && n.title)).toEqual(['Welcome']);
    // A device that is not in the log is told so.
    const stranger = await newDevice('Stranger', server.url);
    await expect(stranger.client.openGroup(groupId)).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('picks up a join whose answer was lost', async () => {
    const code = await admin.client.invite(groupId, { role: 'member', expiresInMs: HOUR, prekeyed: true });
    const joiner = await newDevice('Joiner', server.url);
    // The add reached the server, but the device never heard back.
    const keys = await inviteKeysFromCode(code);
    const found = await joiner.session.api.invites.lookup.query({ inviteId: keys.inviteId, proof: await inviteLookupProof(keys, joiner.fingerprint) });
    const entry = await acceptInvite(await replayLog(found.entries), keys, joiner.identity);
    await joiner.session.api.groups.append.mutate({ groupId, entries: [entry], boxes: [] });
    expect(await joiner.store.load(groupId)).toBeUndefined();

    // Joining again finds its own acceptance in the validated log.
    const result = await joiner.client.join(code);
    expect(result.groupId).toBe(groupId);
    expect((await joiner.client.state(groupId)).invites.get(keys.inviteId)?.usedBy).toBe(joiner.fingerprint);
    // Someone else holding the same code is refused.
    const other = await newDevice('Other', server.url);
    await expect(other.client.join(code)).rejects.toMatchObject({ code: 'INVITE_CLOSED' });
  });

  it('an admin changes roles; a member cannot, and the last admin cannot be demoted', async () => {
    const owner = await newDevice('Owner', server.url);
    const { groupId: own } = await owner.client.createGroup();
    const member = await newDevice('Promoted', server.url);
    await owner.client.addMember(own, member.fingerprint, 'member');
    await member.client.openGroup(own);
    await expect(member.client.setRole(own, owner.fingerprint, 'member')).rejects.toMatchObject({ reason: 'not-admin' });
    const before = (await owner.client.sync(own)).seq;
    await owner.client.setRole(own, member.fingerprint, 'admin');
    await owner.client.setRole(own, member.fingerprint, 'admin');
    // The second call changed nothing: one entry appended.
    expect((await member.client.sync(own)).seq).toBe(before + 1);
    expect((await member.client.state(own)).members.get(member.fingerprint)?.role).toBe('admin');
    await member.client.setRole(own, member.fingerprint, 'member');
    expect((await owner.client.sync(own)).members.get(member.fingerprint)?.role).toBe('member');
    // The owner is now the only person who is an admin (the recovery key does not count).
    await expect(owner.client.setRole(own, owner.fingerprint, 'member')).rejects.toMatchObject({ name: 'LogVerificationError' });
    expect((await owner.client.sync(own)).members.get(owner.fingerprint)?.role).toBe('admin');
  });

  it('two admins changing the log at once both get through', async () => {
    const second = await newDevice('Second admin', server.url);
    await admin.client.addMember(groupId, second.fingerprint, 'admin');
    await second.client.openGroup(groupId);
    const before = (await admin.client.sync(groupId)).seq;
    const codes = await Promise.all([
      ...Array.from({ length: 3 }, () => admin.client.invite(groupId, { role: 'member', expiresInMs: HOUR })),
      ...Array.from({ length: 3 }, () => second.client.invite(groupId, { role: 'member', expiresInMs: HOUR })),
    ]);
    expect(new Set(codes).size).toBe(6);
    const after = await admin.client.sync(groupId);
    expect(after.seq).toBe(before + 6);
    expect((await second.client.sync(groupId)).head).toBe(after.head);
  });

  it('an edit that lost the race surfaces CONFLICT with the current version', async () => {
    const other = await newDevice('Editor', server.url);
    await admin.client.addMember(groupId, other.fingerprint, 'member');
    await other.client.openGroup(groupId);
    const { noteId } = await admin.client.writeNote(groupId, { title: 'Draft', body: 'v1' });
    await other.client.writeNote(groupId, { title: 'Draft', body: 'v2 by Editor' }, { noteId, version: 2 });
    const conflict = await admin.client.writeNote(groupId, { title: 'Draft', body: 'v2 by Admin' }, { noteId, version: 2 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(conflict).toBeInstanceOf(NoteConflictError);
    expect(conflict).toMatchObject({ code: 'CONFLICT', currentVersion: 2 });
    // Read the current version, merge, write the next one.
    const current = await admin.client.readNote(groupId, noteId);
    expect(current).toMatchObject({ version: 2, body: 'v2 by Editor', author: other.fingerprint });
    await admin.client.writeNote(groupId, { title: 'Draft', body: `${current.body} + Admin` }, { noteId, version: 3 });
    expect((await other.client.readNote(groupId, noteId)).body).toBe('v2 by Editor + Admin');
    // Older versions stay readable; deleting is a signed next version.
    expect((await other.client.readNote(groupId, noteId, 1)).body).toBe('v1');
    await other.client.writeNote(groupId, { title: '', body: '' }, { noteId, version: 4, deleted: true });
    const listed = (await admin.client.listNotes(groupId)).notes.find((n) => n.noteId === noteId);
    expect(listed).toMatchObject({ ok: true, deleted: true, version: 4 });
  });
});
