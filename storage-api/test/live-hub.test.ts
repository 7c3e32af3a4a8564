/**
 * The live hub without a socket (services/live-hub.ts): a stream whose consumer falls
 * behind loses its queued events and gets one fresh `heads` instead; a feed that
 * reconnected makes every stream resync; a stream of a device removed while its feed
 * was down is told `removed` at the resync.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fingerprint, GroupId, LiveEvent, NoteId } from '@conclave/shared/protocol';
import { build, type App } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { LIVE_QUEUE_LIMIT } from '../src/services/live-hub.ts';
import { newDevice, type Device } from './support/clients.ts';

describe('the live hub', () => {
  let dir: string;
  let app: App;
  let url: string;
  let admin: Device;
  let groupId: GroupId;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'conclave-hub-'));
    app = await build(loadConfig({}, { dataDir: dir, logLevel: 'silent' }));
    url = await app.fastify.listen({ host: '127.0.0.1', port: 0 });
    admin = await newDevice('Admin', url);
    ({ groupId } = await admin.client.createGroup());
  });

  afterAll(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A stream of `device` read by hand (nobody consumes it between `next()` calls). */
  function open(device: Device, tokenHash: string) {
    const abort = new AbortController();
    const stream = app.deps.live.open({ device: device.fingerprint, tokenHash, expiresAt: Date.now() + 60_000, signal: abort.signal });
    return {
      async next(): Promise<LiveEvent> {
        const result = await stream.next();
        if (result.done) throw new Error('the stream ended');
        return result.value;
      },
      async close() {
        abort.abort();
        await stream.return(undefined);
      },
    };
  }

  const note = (n: number) => ({ kind: 'note' as const, groupId, noteId: `note-${String(n).padStart(16, '0')}`.slice(0, 22) as NoteId, version: 1, cursor: n + 1 });

  it(`replaces the queue of a stream more than ${LIVE_QUEUE_LIMIT} events behind by one fresh heads`, async () => {
    const stream = open(admin, 'a'.repeat(64));
    const first = await stream.next();
    expect(first.type).toBe('heads');
    // Nobody reads while more events arrive than the queue holds.
    for (let n = 0; n < LIVE_QUEUE_LIMIT + 10; n++) app.deps.live.deliver(note(n));
    await app.deps.live.settled();
    try {
      // The events queued before the overflow are gone: a fresh heads stands for them…
      expect(await stream.next()).toEqual(first);
      // …followed only by what arrived after it, then whatever comes next.
      app.deps.live.deliver(note(1000));
      await app.deps.live.settled();
      const after: LiveEvent[] = [];
      for (;;) {
        const event = await stream.next();
        after.push(event);
        if (event.type === 'note' && event.cursor === 1001) break;
      }
      expect(after.map((e) => (e.type === 'note' ? e.cursor : -1))).toEqual([...Array.from({ length: 9 }, (_, i) => LIVE_QUEUE_LIMIT + 2 + i), 1001]);
    } finally {
      await stream.close();
    }
  });

  it('keeps the queue of a stream that keeps up, in order', async () => {
    const stream = open(admin, 'b'.repeat(64));
    await stream.next();
    for (let n = 0; n < 5; n++) app.deps.live.deliver(note(n));
    await app.deps.live.settled();
    for (let n = 0; n < 5; n++) expect(await stream.next()).toMatchObject({ type: 'note', cursor: n + 1 });
    await stream.close();
  });

  it('resyncs every stream when the feed reconnects; a group left meanwhile is reported removed', async () => {
    const member = await newDevice('Member', url);
    await admin.client.addMember(groupId, member.fingerprint, 'member');
    const stream = open(member, 'c'.repeat(64));
    expect(await stream.next()).toMatchObject({ type: 'heads', groups: [{ groupId }] });
    // The removal's feed message is lost (as while a listening connection is down)…
    const deliver = app.deps.live.deliver.bind(app.deps.live);
    app.deps.live.deliver = () => undefined;
    await admin.client.removeMember(groupId, member.fingerprint);
    app.deps.live.deliver = deliver;
    // …then the feed is back: fresh heads without the group, and `removed`.
    app.deps.live.resyncAll();
    expect(await stream.next()).toEqual({ type: 'heads', groups: [] });
    expect(await stream.next()).toEqual({ type: 'removed', groupId });
    await stream.close();
    expect(app.deps.live.size).toBe(0);
  });

  it('refuses a stream over the per-session limit before any event, and counts only streams that run', async () => {
    // A stream never read holds no place.
    await open(admin, 'd'.repeat(64)).close();
    const streams = Array.from({ length: app.deps.config.liveStreamsPerSession }, () => open(admin, 'd'.repeat(64)));
    for (const stream of streams) await stream.next();
    await expect(open(admin, 'd'.repeat(64)).next()).rejects.toThrow(/open live streams/);
    await Promise.all(streams.map((s) => s.close()));
    expect(app.deps.live.size).toBe(0);
  });

  it('indexes nothing for a device that is no member', async () => {
    const stranger = await newDevice('Stranger', url);
    const stream = open(stranger, 'e'.repeat(64));
    expect(await stream.next()).toEqual({ type: 'heads', groups: [] });
    app.deps.live.deliver({ kind: 'online', groupId, device: admin.fingerprint as Fingerprint });
    app.deps.live.deliver(note(2000));
    await app.deps.live.settled();
    // The next thing it gets is its own group's first log, nothing of the other group.
    const own = await stranger.client.createGroup();
    expect(await stream.next()).toMatchObject({ type: 'log', groupId: own.groupId });
    await stream.close();
  });
});
