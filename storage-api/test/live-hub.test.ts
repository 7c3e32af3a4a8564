/**
 * The live hub without a socket (services/live-hub.ts): a stream whose consumer falls
 * behind loses its queued events and gets one fresh `heads` instead; a feed that
 * reconnected makes every stream resync; a stream of a device removed while its feed
 * was down is told `removed` at the resync.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fingerprint, GroupId, LiveEvent, NoteId } from '@conclave/shared/protocol';
import { build, type App } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { LIVE_QUEUE_LIMIT, LiveHub, SessionEnded } from '../src/services/live-hub.ts';
import { LocalFeed } from '../src/services/event-feed.ts';
import { PgEventFeed } from '../src/services/pg-event-feed.ts';
import { sha256Hex } from '../src/services/tokens.ts';
import { createCallerFactory } from '../src/trpc/init.ts';
import { appRouter } from '../src/routers/index.ts';
import { newDevice, type Device } from './support/clients.ts';
import { until } from './support/live-socket.ts';

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
  function open(device: Device, tokenHash = sha256Hex(device.session.token)) {
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
    const stream = open(admin);
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
    const stream = open(admin);
    await stream.next();
    for (let n = 0; n < 5; n++) app.deps.live.deliver(note(n));
    await app.deps.live.settled();
    for (let n = 0; n < 5; n++) expect(await stream.next()).toMatchObject({ type: 'note', cursor: n + 1 });
    await stream.close();
  });

  it('resyncs every stream when the feed reconnects; a group left meanwhile is reported removed', async () => {
    const member = await newDevice('Member', url);
    await admin.client.addMember(groupId, member.fingerprint, 'member');
    const stream = open(member);
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

  it('a device its person unlinked carries no group at its next heads, even while the logs still list it', async () => {
    const member = await newDevice('Unlinked later', url);
    await admin.client.addMember(groupId, member.fingerprint, 'member');
    const stream = open(member);
    expect(await stream.next()).toMatchObject({ type: 'heads', groups: [{ groupId }] });
    // Its person's chain unlinks it (the device index is what the hub reads; the chain rules are people.append's).
    const person = member.fingerprint;
    const head = (await app.deps.store.getChain(person))!.head;
    const unlink = { ...(await app.deps.store.getChain(person))!.entries[0]!, seq: head.seq + 1 } as never;
    expect((await app.deps.store.appendChain(person, [unlink], { seq: head.seq + 1, hash: head.hash }, { linked: [], unlinked: [{ device: member.fingerprint, seq: head.seq + 1 }] })).ok).toBe(true);
    app.deps.live.resyncAll();
    expect(await stream.next()).toEqual({ type: 'heads', groups: [] });
    expect(await stream.next()).toEqual({ type: 'removed', groupId });
    await stream.close();
  });

  it('refuses a stream over the per-session limit before any event, and counts only streams that run', async () => {
    // A stream never read holds no place.
    await open(admin).close();
    const streams = Array.from({ length: app.deps.config.liveStreamsPerSession }, () => open(admin));
    for (const stream of streams) await stream.next();
    await expect(open(admin).next()).rejects.toThrow(/open live streams/);
    await Promise.all(streams.map((s) => s.close()));
    expect(app.deps.live.size).toBe(0);
  });

  /** Resolves when `stream.next()` does, or rejects after a deadline (a stream that must move). */
  function within<T>(promise: Promise<T>, what: string, ms = 5000): Promise<T> {
    return Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms).unref())]);
  }

  it('a removal committed and fanned out while a subscribe reads the memberships: the stream does not carry the group', async () => {
    const member = await newDevice('Racer', url);
    const own = await member.client.createGroup();
    await admin.client.addMember(groupId, member.fingerprint, 'member');
    // The first read of the member's groups is answered only after the removal was fanned out.
    const store = app.deps.store;
    const groupsOf = store.groupsOf.bind(store);
    let read!: () => void;
    const readDone = new Promise<void>((resolve) => (read = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let held = false;
    store.groupsOf = async (fingerprint) => {
      const rows = await groupsOf(fingerprint);
      if (fingerprint === member.fingerprint && !held) {
        held = true;
        read();
        await gate;
      }
      return rows;
    };
    try {
      const stream = open(member);
      const heads = stream.next();
      await readDone;
      await admin.client.removeMember(groupId, member.fingerprint);
      await app.deps.live.settled();
      release();
      expect(await heads).toEqual({ type: 'heads', groups: [expect.objectContaining({ groupId: own.groupId })] });
      // A note of the group it left does not reach it: the next event is its own group's note.
      await admin.client.writeNote(groupId, { title: 'After the removal', body: '' });
      const mine = await member.client.writeNote(own.groupId, { title: 'Mine', body: '' });
      await app.deps.live.settled();
      expect(await within(stream.next(), 'its own note')).toMatchObject({ type: 'note', groupId: own.groupId, noteId: mine.noteId });
      await stream.close();
    } finally {
      store.groupsOf = groupsOf;
      release();
    }
  });

  it('a resync checks the session: a stream whose sign-out hint was lost ends (SessionEnded) at its next heads', async () => {
    const device = await newDevice('Quiet leaver', url);
    const stream = open(device);
    expect((await stream.next()).type).toBe('heads');
    // The sign-out's feed message is lost…
    const deliver = app.deps.live.deliver.bind(app.deps.live);
    app.deps.live.deliver = () => undefined;
    try {
      await device.session.api.auth.logout.mutate();
    } finally {
      app.deps.live.deliver = deliver;
    }
    // …the next heads (any resync) finds the session gone.
    app.deps.live.resyncAll();
    await expect(within(stream.next(), 'the end')).rejects.toBeInstanceOf(SessionEnded);
    await stream.close();
  });

  it('refuses to open a stream for a session that is gone (SessionEnded before any event)', async () => {
    const device = await newDevice('Gone', url);
    const tokenHash = sha256Hex(device.session.token);
    await device.session.api.auth.logout.mutate();
    await expect(open(device, tokenHash).next()).rejects.toBeInstanceOf(SessionEnded);
  });

  it("when fanning out a log fails, every stream resyncs: a device added by that entry gets the group in a fresh heads", async () => {
    const newcomer = await newDevice('Added during trouble', url);
    const stream = open(newcomer);
    expect(await stream.next()).toEqual({ type: 'heads', groups: [] });
    // The hub's handling of the entry that adds it fails once.
    const hub = app.deps.live as unknown as { apply(message: { kind: string; groupId: GroupId }): Promise<void> };
    const apply = hub.apply.bind(hub);
    let failed = false;
    hub.apply = async (message) => {
      if (!failed && message.kind === 'log' && message.groupId === groupId) {
        failed = true;
        throw new Error('validating failed');
      }
      return apply(message);
    };
    try {
      await admin.client.addMember(groupId, newcomer.fingerprint, 'member');
      await app.deps.live.settled();
    } finally {
      hub.apply = apply;
    }
    expect(failed).toBe(true);
    expect(await within(stream.next(), 'a fresh heads')).toMatchObject({ type: 'heads', groups: [expect.objectContaining({ groupId })] });
    await stream.close();
  });

  it('ends a stream at its session expiry even when that is past the longest timer: the timer is re-armed', async () => {
    const device = await newDevice('Long session', url);
    const hub = new LiveHub({ store: app.deps.store, groups: app.deps.groups, feed: new LocalFeed(), now: Date.now, streamsPerSession: 4, maxTimerMs: 20 });
    await hub.start();
    const expiresAt = Date.now() + 300;
    const stream = hub.open({ device: device.fingerprint, tokenHash: sha256Hex(device.session.token), expiresAt, signal: new AbortController().signal });
    expect((await stream.next()).value).toMatchObject({ type: 'heads' });
    await expect(within(stream.next(), 'the end')).rejects.toBeInstanceOf(SessionEnded);
    // Not at the first timer (20 ms), at the expiry.
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
  });

  it('a stream waiting for its socket to drain ends when its session is signed out', async () => {
    const device = await newDevice('Stuck', url);
    // A socket whose send buffer stays full (the client stopped reading).
    let closedWith: number | null = null;
    const socket = { bufferedAmount: 2 * 1024 * 1024, readyState: 1, OPEN: 1, close: (code: number) => (closedWith = code) };
    const caller = createCallerFactory(appRouter)({ ...app.deps, token: device.session.token, ip: '127.0.0.1', transport: 'ws', socket: socket as never });
    const events = (await caller.events.live()) as AsyncIterable<LiveEvent>;
    const iterator = events[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toMatchObject({ type: 'heads' });
    // The stream now waits in drained(); the session ends.
    // Settled at once into a value: the stream may end before the logout call returns, and that is no unhandled rejection.
    const ended = iterator.next().then(
      () => null,
      (error: unknown) => error,
    );
    await device.session.api.auth.logout.mutate();
    expect(await within(ended, 'the end')).toMatchObject({ message: expect.stringMatching(/sign in again/) });
    await until(() => (closedWith === 4401 ? true : undefined), 'the close');
  });

  it('indexes nothing for a device that is no member', async () => {
    const stranger = await newDevice('Stranger', url);
    const stream = open(stranger);
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

describe('the PostgreSQL feed reconnecting (a fake database)', () => {
  it('a listening connection that drops at once does not reset the backoff: the delays grow; every LISTEN resyncs', async () => {
    const connects: number[] = [];
    /** Each connection listens, then ends at once (a proxy accepting and closing). */
    const source = {
      schema: 'fake',
      eventChannel: 'conclave_events',
      notify: async () => undefined,
      newClient: () => {
        const client = new EventEmitter() as EventEmitter & { connect(): Promise<void>; query(): Promise<void>; end(): Promise<void> };
        client.connect = async () => {
          connects.push(performance.now());
        };
        client.query = async () => {
          setImmediate(() => client.emit('end'));
        };
        client.end = async () => undefined;
        return client as never;
      },
    };
    const feed = new PgEventFeed(source, { minBackoffMs: 10, maxBackoffMs: 10_000, stableMs: 60_000 });
    let resyncs = 0;
    await feed.start({ deliver: () => undefined, resync: () => (resyncs += 1) });
    try {
      await until(() => (connects.length >= 6 ? true : undefined), 'six connections');
      // Without the reset the gaps stay ~10 ms; with it they double: 10, 20, 40, 80, 160.
      expect(connects[5]! - connects[4]!).toBeGreaterThanOrEqual(150);
      expect(resyncs).toBeGreaterThanOrEqual(6);
    } finally {
      await feed.close();
    }
  });
});
