/**
 * One door to the server (issue 11): saving one note and then showing it through the
 * background costs what the SDK needs and no more — one log sync and the put inside
 * `writeNote`'s lock, then the log sync and the get of `readNote` asked together (one
 * HTTP request: tRPC's batch link sends calls made at once as one). One sync per
 * action; the background does not sync before calling an SDK method that syncs. Counted as HTTP
 * requests the storage API's HTTP server receives, after everything the
 * group's creation started has settled. Before the SDK refactor this was 5 (three log
 * fetches).
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GroupId } from '@conclave/shared/protocol';
import { callsOf, recordRequests, type RequestRecorder } from '../../../storage-api/test/support/request-recorder.ts';
import { startServer, type TestServer } from '../../../storage-api/test/support/server.ts';
import { MemoryNetwork, newDevice, type TestDevice } from './support.ts';

describe('HTTP requests per save and show', () => {
  let server: TestServer;
  let ana: TestDevice;
  let groupId: GroupId;
  let recorder: RequestRecorder;

  beforeAll(async () => {
    server = await startServer('sqlite', { config: { logLevel: 'silent' } });
    // Every HTTP request the server's socket receives (a tRPC batch is one request).
    recorder = recordRequests(server);
    ana = await newDevice('per-save-ana', new MemoryNetwork(), server.url);
    await ana.ask({ type: 'identity.create', displayName: 'Ana' });
    ({ groupId } = await ana.ask({ type: 'group.create', name: 'Counting', policy: 'verified' }));
    await ana.bg.tick();
    await ana.ask({ type: 'notes.list', groupId });
    await ana.bg.idle();
  });

  afterAll(async () => {
    await ana?.close();
    await server?.close();
  });

  it('saving one note and showing it takes 3 HTTP requests: a log sync, the put, then the log sync and the get in one batch', async () => {
    const { result: shown, requests } = await recorder.during(async () => {
      const saved = await ana.ask({ type: 'notes.save', groupId, title: 'Counted', body: 'one door' });
      if (!saved.saved) throw new Error('not saved');
      return ana.ask({ type: 'notes.read', groupId, noteId: saved.noteId });
    });
    expect(shown).toMatchObject({ title: 'Counted', body: 'one door', version: 1 });
    expect(requests).toHaveLength(3);
    expect(requests.map((p) => [...p].sort().join(','))).toEqual(['groups.log', 'notes.put', 'groups.log,notes.get']);
  });
});

describe('log fetches per action (one sync per user action)', () => {
  let server: TestServer;
  let ana: TestDevice;
  let ben: TestDevice;
  let groupId: GroupId;
  let recorder: RequestRecorder;
  const HOUR = 3_600_000;

  /** How many `groups.log` calls the server received while `run` ran (a tRPC batch may carry several procedures). */
  async function logFetches(run: () => Promise<unknown>): Promise<number> {
    return callsOf((await recorder.during(run)).requests, 'groups.log');
  }

  beforeAll(async () => {
    server = await startServer('sqlite', { config: { logLevel: 'silent' } });
    recorder = recordRequests(server);
    const network = new MemoryNetwork();
    ana = await newDevice('per-action-ana', network, server.url);
    ben = await newDevice('per-action-ben', network, server.url);
    await ana.ask({ type: 'identity.create', displayName: 'Ana' });
    await ben.ask({ type: 'identity.create', displayName: 'Ben' });
    ({ groupId } = await ana.ask({ type: 'group.create', name: 'Counting', policy: 'invite-trust' }));
    const invite = await ana.ask({ type: 'group.invite', groupId, role: 'member', expiresInMs: HOUR, prekeyed: true });
    await ben.ask({ type: 'group.join', code: invite.code });
    await ana.bg.tick();
    await ben.bg.tick();
    await ana.ask({ type: 'notes.list', groupId });
    await ben.ask({ type: 'notes.list', groupId });
    await ana.bg.idle();
    await ben.bg.idle();
  });

  afterAll(async () => {
    await ana?.close();
    await ben?.close();
    await server?.close();
  });

  it('confirming a safety number fetches the log once', async () => {
    const benPrint = await ben.fingerprint();
    expect(await logFetches(() => ana.ask({ type: 'verify.confirm', groupId, fingerprint: benPrint }))).toBe(1);
  });

  // Two in all: one by Ana's device (the handover after verifying), one by Ben's device
  // answering the live handshake that echoes the code's secret (before: 3).
  it('a scanned QR code fetches the log once on the scanning device', async () => {
    const anaPrint = await ana.fingerprint();
    const benPrint = await ben.fingerprint();
    const shown = await ben.ask({ type: 'verify.info', groupId, fingerprint: anaPrint });
    expect(await logFetches(() => ana.ask({ type: 'verify.scanned', groupId, fingerprint: benPrint, text: shown.qrText }))).toBe(2);
  });

  it('a save that meets a concurrent edit fetches the log once and still shows their version', async () => {
    const first = await ana.ask({ type: 'notes.save', groupId, title: 'Plan', body: 'v1' });
    if (!first.saved) throw new Error('not saved');
    await ben.ask({ type: 'notes.list', groupId });
    const second = await ana.ask({ type: 'notes.save', groupId, noteId: first.noteId, baseVersion: 1, title: 'Plan', body: 'v2 by Ana' });
    expect(second.saved).toBe(true);
    let answer: Awaited<ReturnType<typeof ben.ask<'notes.save'>>> | undefined;
    const fetches = await logFetches(async () => {
      answer = await ben.ask({ type: 'notes.save', groupId, noteId: first.noteId, baseVersion: 1, title: 'Plan', body: 'v2 by Ben' });
    });
    expect(answer).toMatchObject({ saved: false, conflict: { mine: { body: 'v2 by Ben' }, theirs: { version: 2, body: 'v2 by Ana' } } });
    expect(fetches).toBe(1);
  });

  it('a periodic tick of an admin holding the key fetches the log once per group', async () => {
    expect(await logFetches(() => ana.bg.tick())).toBe(1);
  });
});
