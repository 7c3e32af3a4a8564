/**
 * A server that rolls a group log back or forks it (DESIGN §4: "each client pins the
 * highest seq and head hash it has validated and rejects any log that does not extend
 * it"), over real HTTP on SQLite and PostgreSQL. The stored log is cut back behind the
 * API's back; the client refuses it as a rollback, then — once the server accepts a
 * different entry at the pinned position — as a fork, and adopts neither.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogVerificationError } from '@conclave/shared/crypto';
import { createInvite } from '@conclave/shared/crypto';
import { replayLog } from '@conclave/shared/crypto';
import type { GroupId } from '@conclave/shared/protocol';
import { newDevice, type Device } from './support/clients.ts';
import { cutLogBack, STORE_KINDS, startServer, type TestServer } from './support/server.ts';

const HOUR = 3600_000;

describe.each(STORE_KINDS)('a rolled-back or forked log over HTTP (%s)', (kind) => {
  let server: TestServer;
  let admin: Device;
  let groupId: GroupId;

  beforeAll(async () => {
    server = await startServer(kind);
    admin = await newDevice('Admin', server.url);
  });

  afterAll(async () => {
    await server?.close();
  });

  it('refuses a log cut back below the pinned head as a rollback, and keeps its pinned head', async () => {
    ({ groupId } = await admin.client.createGroup());
    await admin.client.invite(groupId, { role: 'member', expiresInMs: HOUR });
    await admin.client.invite(groupId, { role: 'member', expiresInMs: HOUR });
    const before = (await admin.store.load(groupId))!;
    expect(before.pinned.seq).toBe(3);

    await cutLogBack(server, groupId, 2, before.state.hashes[2]!);
    const error = await admin.client.sync(groupId).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LogVerificationError);
    expect(error).toMatchObject({ reason: 'rollback', code: 'LOG_ROLLBACK' });
    expect((await admin.store.load(groupId))!.pinned).toEqual(before.pinned);
    // Nothing is written on a log the client cannot trust.
    await expect(admin.client.writeNote(groupId, { title: 't', body: 'b' })).rejects.toMatchObject({ reason: 'rollback' });
  });

  it('refuses a different entry at the pinned position as a fork', async () => {
    const before = (await admin.store.load(groupId))!;
    // The server now holds entries 0–2; a different entry 3 is signed on that log and accepted.
    const { entries } = await admin.session.api.groups.log.query({ groupId });
    const serverState = await replayLog(entries);
    expect(serverState.seq).toBe(2);
    const other = await createInvite(serverState, admin.identity, { role: 'admin', expiresAt: Date.now() + HOUR });
    await admin.session.api.groups.append.mutate({ groupId, entries: [other.entry], boxes: [] });

    const error = await admin.client.sync(groupId).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LogVerificationError);
    expect(error).toMatchObject({ reason: 'fork', code: 'LOG_FORK', seq: 3 });
    expect((await admin.store.load(groupId))!.pinned).toEqual(before.pinned);

    // A device that never saw the old entry 3 has nothing to compare and accepts the server's log.
    const fresh = await replayLog((await admin.session.api.groups.log.query({ groupId })).entries, { pinned: null });
    expect(fresh.seq).toBe(3);
    expect(fresh.head).not.toBe(before.pinned.hash);
  });
});
