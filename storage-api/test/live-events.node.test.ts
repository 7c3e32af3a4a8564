/**
 * The live stream over a real WebSocket (docs/API.md "Live events"), on SQLite and on
 * PostgreSQL: who may subscribe, `heads` first, each event reaching the right devices
 * only, removal ending that group's part, a session's end ending the stream, limits,
 * heartbeats, what is refused and how, reconnecting after a server restart (with
 * tRPC's own `wsLink`), and the PostgreSQL feed's connection coming back.
 *
 * "Nothing arrives" is never checked by waiting a while: a later event that must come
 * after the one that must not (same group, or a later write observed by a member
 * first) is awaited, and the stream's events before it are checked.
 */
import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { GroupId, LiveEvent } from '@conclave/shared/protocol';
import type { AppRouter } from '../src/routers/index.ts';
import { SESSION_ENDED_CLOSE_CODE } from '../src/routers/events.ts';
import { newDevice, type Device } from './support/clients.ts';
import { openLive, openSocket, until, wsUrl, type LiveSocket } from './support/live-socket.ts';
import { pgQuery, STORE_KINDS, startServer, type TestServer } from './support/server.ts';

const eventsOf = (socket: LiveSocket, groupId: GroupId) => socket.events().filter((e) => e.type !== 'heads' && e.groupId === groupId);
const isNote = (groupId: GroupId, noteId: string) => (e: LiveEvent) => e.type === 'note' && e.groupId === groupId && e.noteId === noteId;

describe.each(STORE_KINDS)('live events over a WebSocket (%s)', (kind) => {
  let server: TestServer;
  const sockets: LiveSocket[] = [];
  let admin: Device;
  let member: Device;
  let groupId: GroupId;

  /** Opens a stream (closed after the suite) and waits for its first `heads`. */
  async function stream(device: Device): Promise<LiveSocket> {
    const socket = await openLive(server.url, device.session.token);
    sockets.push(socket);
    await socket.waitEvent((e) => e.type === 'heads', `${device.name}'s heads`);
    return socket;
  }

  beforeAll(async () => {
    server = await startServer(kind);
    admin = await newDevice('Admin', server.url);
    member = await newDevice('Member', server.url);
    ({ groupId } = await admin.client.createGroup());
    await admin.client.addMember(groupId, member.fingerprint, 'member');
    await admin.client.writeNote(groupId, { title: 'First', body: 'one' });
  });

  afterAll(async () => {
    for (const socket of sockets) await socket.close();
    // Nothing secret in the logs: no token, no connection params.
    for (const device of [admin, member]) if (device) expect(server.logs()).not.toContain(device.session.token);
    expect(server?.logs() ?? '').not.toContain('connectionParams');
    await server?.close();
  });

  describe('who may subscribe', () => {
    it('refuses a connection without connectionParams, without a token, or with a forged token: UNAUTHORIZED', async () => {
      for (const token of [null, undefined, randomBytes(32).toString('base64url')]) {
        const socket = await openLive(server.url, token);
        sockets.push(socket);
        const error = await socket.waitError(1);
        expect(error.data.conclave.code, String(token)).toBe('UNAUTHORIZED');
        expect(error.data.httpStatus).toBe(401);
        expect(error.message).toMatch(/sign in/);
        expect(socket.events()).toEqual([]);
      }
    });

    it('refuses an expired session, and ends an open stream when its session expires (UNAUTHORIZED, socket closed)', async () => {
      const clock = { offset: 0 };
      const short = await startServer(kind, { config: { sessionTtlMs: 1500 }, now: () => Date.now() + clock.offset });
      try {
        const device = await newDevice('Short', short.url);
        const open = await openLive(short.url, device.session.token);
        await open.waitEvent((e) => e.type === 'heads', 'heads');
        // Real time runs out (1.5 s): the stream fails and the socket closes.
        expect((await open.waitError(1)).data.conclave.code).toBe('UNAUTHORIZED');
        expect((await open.waitClosed()).code).toBe(SESSION_ENDED_CLOSE_CODE);

        const late = await newDevice('Late', short.url);
        clock.offset = 2000;
        const refused = await openLive(short.url, late.session.token);
        expect((await refused.waitError(1)).data.conclave.code).toBe('UNAUTHORIZED');
        await refused.close();
      } finally {
        await short.close();
      }
    });

    it('ends the stream of a session that signs out', async () => {
      const device = await newDevice('Leaving', server.url);
      const socket = await stream(device);
      await device.session.api.auth.logout.mutate();
      expect((await socket.waitError(1)).data.conclave.code).toBe('UNAUTHORIZED');
      expect((await socket.waitClosed()).code).toBe(SESSION_ENDED_CLOSE_CODE);
    });
  });

  describe('heads and membership', () => {
    it('starts with heads: every group the device is a member of, with its log head and note cursor', async () => {
      const socket = await stream(admin);
      expect(socket.messages[0]).toMatchObject({ id: 1, result: { type: 'started' } });
      const [first] = socket.events();
      const mine = await admin.session.api.groups.mine.query();
      const { cursor } = await admin.session.api.notes.list.query({ groupId, since: 0, limit: 100 });
      expect(first).toEqual({ type: 'heads', groups: [{ groupId, seq: mine[0]!.head.seq, hash: mine[0]!.head.hash, noteCursor: cursor }] });
      expect(cursor).toBeGreaterThan(0);
    });

    it('lists no group the device is not a member of', async () => {
      const stranger = await newDevice('Stranger', server.url);
      const socket = await stream(stranger);
      expect(socket.events()[0]).toEqual({ type: 'heads', groups: [] });
    });
  });

  describe('each event reaches the right devices only', () => {
    let adminLive: LiveSocket;
    let memberLive: LiveSocket;
    let newcomer: Device;
    let newcomerLive: LiveSocket;

    beforeAll(async () => {
      adminLive = await stream(admin);
      memberLive = await stream(member);
      newcomer = await newDevice('Newcomer', server.url);
      newcomerLive = await stream(newcomer);
    });

    it('tells only the devices waiting for the key that a device came online', async () => {
      // A group of its own, with its own admin: the other tests' devices hear nothing of it.
      const host = await newDevice('Host', server.url);
      const { groupId: lobby } = await host.client.createGroup({ policy: 'invite-trust' });
      const waiting = await newDevice('Waiting', server.url);
      const settled = await newDevice('Settled', server.url);
      await host.client.addMember(lobby, waiting.fingerprint, 'member');
      await host.client.addMember(lobby, settled.fingerprint, 'member');
      await waiting.client.requestKey(lobby);
      const waitingLive = await stream(waiting);
      const settledLive = await stream(settled);
      // The admin's device comes online: the member waiting in the mailbox hears it.
      const hostLive = await stream(host);
      expect(await waitingLive.waitEvent((e) => e.type === 'online' && e.device === host.fingerprint, 'online')).toEqual({ type: 'online', groupId: lobby, device: host.fingerprint });
      await server.app.deps.live.settled();
      // Nobody else hears anyone come online: not the member who holds the key, not the admin.
      expect(settledLive.events().filter((e) => e.type === 'online')).toEqual([]);
      expect(hostLive.events().filter((e) => e.type === 'online')).toEqual([]);
      expect(eventsOf(newcomerLive, lobby)).toEqual([]);
      await Promise.all([waitingLive, settledLive, hostLive].map((l) => l.close()));
    });

    it('a note: every member, with id, version and cursor', async () => {
      const { noteId, version } = await admin.client.writeNote(groupId, { title: 'Second', body: 'two' });
      const { cursor } = await admin.session.api.notes.list.query({ groupId, since: 0, limit: 100 });
      const expected = { type: 'note', groupId, noteId, version, cursor };
      expect(await adminLive.waitEvent(isNote(groupId, noteId), 'the note')).toEqual(expected);
      expect(await memberLive.waitEvent(isNote(groupId, noteId), 'the note')).toEqual(expected);
    });

    it('a key request: the admins only', async () => {
      await member.client.requestKey(groupId);
      expect(await adminLive.waitEvent((e) => e.type === 'request', 'the request')).toEqual({ type: 'request', groupId });
      // A later note of the same group reaches the member after anything before it.
      const { noteId } = await admin.client.writeNote(groupId, { title: 'After the request', body: '' });
      await memberLive.waitEvent(isNote(groupId, noteId), 'the later note');
      expect(memberLive.events().filter((e) => e.type === 'request')).toEqual([]);
    });

    it("a device added to the group: its open stream gets the group (log), then its key box; others get the log, no box", async () => {
      await admin.client.addMember(groupId, newcomer.fingerprint, 'member');
      const head = (await admin.session.api.groups.mine.query())[0]!.head;
      const log = { type: 'log', groupId, seq: head.seq, hash: head.hash };
      await newcomerLive.waitEvent((e) => e.type === 'box', "the newcomer's box");
      expect(eventsOf(newcomerLive, groupId)).toEqual([log, { type: 'box', groupId, generation: 0 }]);
      expect(await memberLive.waitEvent((e) => e.type === 'log' && e.seq === head.seq, 'the log')).toEqual(log);
      const { noteId } = await admin.client.writeNote(groupId, { title: 'Welcome', body: '' });
      await memberLive.waitEvent(isNote(groupId, noteId), 'the later note');
      expect(memberLive.events().filter((e) => e.type === 'box')).toEqual([]);
      // The newcomer gets what members get from now on.
      await newcomerLive.waitEvent(isNote(groupId, noteId), 'the note, as a member');
    });

    it('a removal: the removed device gets `removed` and nothing more of that group; its stream goes on for its other groups', async () => {
      const own = await member.client.createGroup();
      // The member's stream picks up the group it just created.
      await memberLive.waitEvent((e) => e.type === 'log' && e.groupId === own.groupId, 'its new group');

      await admin.client.removeMember(groupId, member.fingerprint);
      expect(await memberLive.waitEvent((e) => e.type === 'removed', 'removed')).toEqual({ type: 'removed', groupId });
      // The rotation's boxes: one to each remaining member.
      const generation = (await admin.client.state(groupId)).generations.length - 1;
      expect(await newcomerLive.waitEvent((e) => e.type === 'box' && e.generation === generation, 'the new box')).toEqual({ type: 'box', groupId, generation });

      const { noteId } = await admin.client.writeNote(groupId, { title: 'Without them', body: '' });
      await adminLive.waitEvent(isNote(groupId, noteId), 'the note, at the admin');
      // The hub handed the admin that note: anything for the removed device was queued before its next note.
      const later = await member.client.writeNote(own.groupId, { title: 'Mine', body: '' });
      await memberLive.waitEvent(isNote(own.groupId, later.noteId), 'a note of its own group');
      const afterRemoved = memberLive.events().slice(memberLive.events().findIndex((e) => e.type === 'removed') + 1);
      expect(afterRemoved.filter((e) => e.type !== 'heads' && e.groupId === groupId)).toEqual([]);
    });

    it('a stranger hears nothing of the group until it is added', async () => {
      const stranger = await newDevice('Stranger2', server.url);
      const strangerLive = await stream(stranger);
      await admin.client.writeNote(groupId, { title: 'Not for strangers', body: '' });
      await admin.client.addMember(groupId, stranger.fingerprint, 'member');
      const added = await strangerLive.waitEvent((e) => e.type !== 'heads' && e.groupId === groupId, 'the first event of the group');
      expect(added.type).toBe('log');
    });
  });

  describe('limits', () => {
    it('at most 4 open streams per session: the fifth is TOO_MANY_REQUESTS; closing one makes room', async () => {
      const device = await newDevice('Many', server.url);
      const socket = await openLive(server.url, device.session.token, null);
      sockets.push(socket);
      for (const id of [1, 2, 3, 4]) {
        socket.subscribe(id);
        await socket.waitEvent((e) => e.type === 'heads', `heads of ${id}`, id);
      }
      socket.subscribe(5);
      const error = await socket.waitError(5);
      expect(error.data.conclave.code).toBe('TOO_MANY_REQUESTS');
      expect(error.data.httpStatus).toBe(429);
      expect(error.message).toMatch(/open live streams/);
      // Another socket of the same session counts too.
      const second = await openLive(server.url, device.session.token, 9);
      sockets.push(second);
      expect((await second.waitError(9)).data.conclave.code).toBe('TOO_MANY_REQUESTS');
      socket.send({ id: 1, jsonrpc: '2.0', method: 'subscription.stop' });
      await socket.waitMessage((m) => m.id === 1 && m.result?.type === 'stopped', 'stopped');
      socket.subscribe(6);
      await socket.waitEvent((e) => e.type === 'heads', 'heads of 6', 6);
    });

    it('at most N open WebSockets per IP: the next upgrade is answered 429 in the error shape; closing one makes room', async () => {
      const limited = await startServer(kind, { config: { liveSocketsPerIp: 2 } });
      try {
        const open = [await openLive(limited.url, null, null), await openLive(limited.url, null, null)];
        const refused = await openSocket(limited.url, { token: null });
        expect(refused).toMatchObject({ status: 429, body: { error: { data: { code: 'TOO_MANY_REQUESTS', httpStatus: 429, conclave: { code: 'TOO_MANY_REQUESTS' } } } } });
        expect((refused as { body: { error: { message: string } } }).body.error.message).toMatch(/open WebSocket connections/);
        await open[0]!.close();
        const again = await until(async () => {
          const attempt = await openSocket(limited.url, { token: null });
          return 'ws' in attempt ? attempt : undefined;
        }, 'a free place');
        await again.close();
        await open[1]!.close();
      } finally {
        await limited.close();
      }
    });

    it('the per-IP request limit applies to the upgrade request', async () => {
      const limited = await startServer(kind, { config: { rateLimitPerMinute: 3 } });
      try {
        for (let i = 0; i < 3; i++) await fetch(`${limited.url}/health`);
        const refused = await openSocket(limited.url, { token: null });
        expect(refused).toMatchObject({ status: 429, body: { error: { data: { conclave: { code: 'TOO_MANY_REQUESTS' } } } } });
      } finally {
        await limited.close();
      }
    });
  });

  describe('what is refused, and how', () => {
    it('refuses queries and mutations over the WebSocket (BAD_REQUEST: use HTTP)', async () => {
      const socket = await openLive(server.url, admin.session.token, null);
      sockets.push(socket);
      socket.send({ id: 1, jsonrpc: '2.0', method: 'query', params: { path: 'groups.mine' } });
      socket.send({ id: 2, jsonrpc: '2.0', method: 'mutation', params: { path: 'auth.challenge' } });
      for (const id of [1, 2]) {
        const error = await socket.waitError(id);
        expect(error.data.conclave.code).toBe('BAD_REQUEST');
        expect(error.message).toMatch(/send queries and mutations over HTTP/);
      }
    });

    it('refuses events.live over HTTP, alone or in a batch, and a plain GET of /trpc (400 in the error shape)', async () => {
      const headers = { authorization: `Bearer ${admin.session.token}` };
      for (const path of ['/trpc/events.live', '/trpc/groups.mine,events.live?batch=1&input=%7B%7D', '/trpc']) {
        const response = await fetch(`${server.url}${path}`, { headers });
        const body = (await response.json()) as { error: { message: string; data: { conclave: { code: string } } } };
        expect(response.status, path).toBe(400);
        expect(body.error.data.conclave.code).toBe('BAD_REQUEST');
        expect(body.error.message).toMatch(/WebSocket/);
      }
    });

    it('answers a malformed message in the error shape; a bad connection-params message closes the socket', async () => {
      const socket = await openLive(server.url, admin.session.token, null);
      sockets.push(socket);
      socket.send('{ not json');
      socket.send({ id: 3, method: 'nonsense' });
      socket.send({ id: 4, jsonrpc: '2.0', method: 'subscription', params: { path: 'events.nothing' } });
      const parse = await socket.waitMessage((m) => m.id === null && m.error !== undefined, 'the parse error');
      expect(parse.error!.data.conclave.code).toBe('BAD_REQUEST');
      expect((await socket.waitError(4)).data.conclave.code).toBe('NOT_FOUND');
      expect(socket.messages.every((m) => m.error === undefined || m.error.data.httpStatus < 500)).toBe(true);
      // The socket still serves the stream.
      socket.subscribe(5);
      await socket.waitEvent((e) => e.type === 'heads', 'heads', 5);

      const bad = await openSocket(server.url, { rawParams: 'nope' });
      if (!('ws' in bad)) throw new Error('refused');
      const error = await bad.waitError(null);
      expect(error.data.conclave.code).toBe('BAD_REQUEST');
      await bad.waitClosed();
    });

    it('refuses a batch (a JSON array) on the WebSocket: BAD_REQUEST, none of its calls runs', async () => {
      const socket = await openLive(server.url, admin.session.token, null);
      sockets.push(socket);
      socket.send([7, 8].map((id) => ({ id, jsonrpc: '2.0', method: 'subscription', params: { path: 'events.live' } })));
      const refused = await socket.waitError(null);
      expect(refused).toMatchObject({ code: -32600, data: { code: 'BAD_REQUEST', httpStatus: 400, conclave: { code: 'BAD_REQUEST' } } });
      expect(refused.message).toMatch(/one subscribe message/);
      // The socket goes on: a single subscribe runs, and nothing of the batch ever started.
      socket.subscribe(9);
      await socket.waitEvent((e) => e.type === 'heads', 'heads', 9);
      expect(socket.messages.filter((m) => m.id === 7 || m.id === 8)).toEqual([]);
    });

    it('refuses a WebSocket upgrade to any other path (400 in the error shape), and logs no query string', async () => {
      const refused = await openSocket(server.url, { token: null, query: '/notes.list?input=QUERYSECRET' });
      expect(refused).toMatchObject({ status: 400, body: { error: { data: { conclave: { code: 'BAD_REQUEST' } } } } });
      expect((refused as { body: { error: { message: string } } }).body.error.message).toMatch(/at \/trpc only/);
      expect(server.logs()).not.toContain('QUERYSECRET');
    });

    it('closes a socket that sends a message over 64 KiB (1009)', async () => {
      const socket = await openLive(server.url, admin.session.token, null);
      socket.send('x'.repeat(65 * 1024));
      expect((await socket.waitClosed()).code).toBe(1009);
    });
  });

  describe('heartbeats', () => {
    it('answers a client PING with PONG', async () => {
      const socket = await openLive(server.url, admin.session.token);
      sockets.push(socket);
      socket.send('PING');
      await until(() => (socket.texts.includes('PONG') ? true : undefined), 'PONG');
    });

    it('PINGs a quiet socket and keeps it while it answers PONG; closes one that does not answer', async () => {
      const beating = await startServer(kind, { config: { livePingMs: 150, livePongWaitMs: 300, idleTimeoutMs: 100 } });
      try {
        const answering = await openLive(beating.url, null, null);
        answering.ws.on('message', (data) => {
          if (data.toString() === 'PING') answering.ws.send('PONG');
        });
        const silent = await openLive(beating.url, null, null);
        // Three PINGs answered, well past the HTTP idle timeout (100 ms): still open.
        await until(() => (answering.texts.filter((t) => t === 'PING').length >= 3 ? true : undefined), 'three PINGs');
        expect(answering.closeInfo).toBeNull();
        expect(silent.texts).toContain('PING');
        await silent.waitClosed();
        await answering.close();
      } finally {
        await beating.close();
      }
    });
  });

  describe('what the per-IP limit counts on a socket', () => {
    let limited: TestServer;
    beforeAll(async () => {
      // The same data with a per-IP limit of 5 (the devices were made on the main server).
      limited = await startServer(kind, { reuse: server, config: { rateLimitPerMinute: 5 } });
    });
    afterAll(async () => {
      await limited?.stop();
    });

    it('client PING/PONG texts are not counted; every other message is, and past the limit the socket closes (1008)', async () => {
      // The upgrade (1) and the connection params (2).
      const socket = await openLive(limited.url, member.session.token, null);
      sockets.push(socket);
      for (let i = 0; i < 12; i++) socket.send(i % 2 ? 'PONG' : 'PING');
      await until(() => (socket.texts.filter((t) => t === 'PONG').length === 6 ? true : undefined), 'six PONGs');
      // The subscribe (3): still within the limit.
      socket.subscribe(1);
      await socket.waitEvent((e) => e.type === 'heads', 'heads');
      expect(socket.closeInfo).toBeNull();
      // 4, 5, then 6: over.
      for (const id of [2, 3, 4]) socket.send({ id, jsonrpc: '2.0', method: 'subscription.stop' });
      expect((await socket.waitClosed()).code).toBe(1008);
    });
  });

  describe('sockets without a running subscription', () => {
    let idle: TestServer;
    beforeAll(async () => {
      idle = await startServer(kind, { reuse: server, config: { liveIdleSocketMs: 300 } });
    });
    afterAll(async () => {
      await idle?.stop();
    });

    it('are closed (4408) after the idle time: never signed in, or refused; a socket with a running stream stays open until it stops', async () => {
      const streaming = await openLive(idle.url, member.session.token);
      sockets.push(streaming);
      await streaming.waitEvent((e) => e.type === 'heads', 'heads');
      const silent = await openLive(idle.url, null, null);
      const refused = await openLive(idle.url, randomBytes(32).toString('base64url'));
      expect((await refused.waitError(1)).data.conclave.code).toBe('UNAUTHORIZED');
      // Both answer PING meanwhile, and are closed anyway.
      silent.send('PING');
      expect((await silent.waitClosed()).code).toBe(4408);
      expect((await refused.waitClosed()).code).toBe(4408);
      // Opened before them, still open: it carries a stream.
      expect(streaming.closeInfo).toBeNull();
      streaming.send({ id: 1, jsonrpc: '2.0', method: 'subscription.stop' });
      expect((await streaming.waitClosed()).code).toBe(4408);
    });
  });

  describe('recovering what was missed', () => {
    it("reconnects after a server restart (tRPC's wsLink) and gets heads showing what moved meanwhile", async () => {
      const live = await startServer(kind);
      // A second server on the same data writes while the first is down.
      const writerServer = await startServer(kind, { reuse: live });
      const port = Number(new URL(live.url).port);
      let restarted: TestServer | null = null;
      const received: LiveEvent[] = [];
      let client: ReturnType<typeof createWSClient> | null = null;
      try {
        const writer = await newDevice('Writer', writerServer.url);
        const reader = await newDevice('Reader', live.url);
        const { groupId: group } = await writer.client.createGroup();
        await writer.client.addMember(group, reader.fingerprint, 'member');
        // As a client would: the token in connectionParams (asked for at every connection), retrying quickly.
        client = createWSClient({
          url: wsUrl(live.url),
          WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
          connectionParams: () => ({ token: reader.session.token }),
          retryDelayMs: () => 50,
        });
        const trpc = createTRPCClient<AppRouter>({ links: [wsLink({ client })] });
        const sub = trpc.events.live.subscribe(undefined, { onData: (event) => received.push(event as LiveEvent) });
        const heads = () => received.filter((e): e is Extract<LiveEvent, { type: 'heads' }> => e.type === 'heads');
        await until(() => (heads().length === 1 ? true : undefined), 'the first heads');
        const before = heads()[0]!.groups.find((g) => g.groupId === group)!;

        await live.stop();
        await writer.client.writeNote(group, { title: 'While you were away', body: '' });
        const { cursor } = await writer.session.api.notes.list.query({ groupId: group, since: 0, limit: 100 });
        restarted = await startServer(kind, { reuse: live, port });

        await until(() => (heads().length === 2 ? true : undefined), 'heads after the restart');
        const after = heads()[1]!.groups.find((g) => g.groupId === group)!;
        expect(after).toEqual({ ...before, noteCursor: cursor });
        expect(cursor).toBeGreaterThan(before.noteCursor);
        sub.unsubscribe();
      } finally {
        await client?.close();
        await restarted?.stop();
        await writerServer.stop();
        await live.close();
      }
    });

    it('a client that stops reading: its send buffer is bounded, and it gets a fresh heads instead of what it missed', async () => {
      const slow = await newDevice('Slow', server.url);
      await admin.client.addMember(groupId, slow.fingerprint, 'member');
      const socket = await stream(slow);
      const serverSocket = () => [...server.app.fastify.websocketServer.clients].reduce((a, b) => (a.bufferedAmount >= b.bufferedAmount ? a : b));
      // The client stops reading: the kernel's buffers fill, then the server's send buffer.
      (socket.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
      const note = (n: number) => ({ kind: 'note' as const, groupId, noteId: `slow${String(n).padStart(17, '0')}A` as never, version: 1, cursor: n + 1 });
      let sent = 0;
      await until(async () => {
        for (let i = 0; i < 2000; i++) server.app.deps.live.deliver(note(sent++));
        await server.app.deps.live.settled();
        await new Promise((resolve) => setTimeout(resolve, 20));
        return serverSocket().bufferedAmount > 1024 * 1024 ? true : undefined;
      }, 'the send buffer to fill', 60_000);
      const buffered = serverSocket().bufferedAmount;
      // More events than the stream's queue holds: they are dropped, not buffered.
      for (let i = 0; i < 1000; i++) server.app.deps.live.deliver(note(sent++));
      await server.app.deps.live.settled();
      expect(serverSocket().bufferedAmount).toBeLessThan(buffered + 64 * 1024);
      (socket.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      await until(() => (socket.events().filter((e) => e.type === 'heads').length >= 2 ? true : undefined), 'a fresh heads', 60_000);
      const received = socket.events().filter((e) => e.type === 'note' && e.noteId.startsWith('slow')).length;
      expect(received).toBeLessThan(sent);
    }, 120_000);
  });
});

describe('the PostgreSQL event feed', () => {
  let server: TestServer;
  const sockets: LiveSocket[] = [];

  beforeAll(async () => {
    server = await startServer('postgres');
  });

  afterAll(async () => {
    for (const socket of sockets) await socket.close();
    await server?.close();
  });

  it("resyncs every stream with fresh heads when the process's listening connection drops and comes back", async () => {
    const admin = await newDevice('Admin', server.url);
    const { groupId } = await admin.client.createGroup();
    const socket = await openLive(server.url, admin.session.token);
    sockets.push(socket);
    await socket.waitEvent((e) => e.type === 'heads', 'heads');
    const headsBefore = socket.events().filter((e) => e.type === 'heads').length;
    const terminated = await pgQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [`conclave-listen:${server.schema}`]);
    expect(terminated.rowCount).toBe(1);
    await until(() => (socket.events().filter((e) => e.type === 'heads').length > headsBefore ? true : undefined), 'a fresh heads');
    // And events flow again over the new connection.
    const { noteId } = await admin.client.writeNote(groupId, { title: 'After the drop', body: '' });
    await socket.waitEvent(isNote(groupId, noteId), 'a note after the reconnect');
  });

  it('a publish whose NOTIFY fails twice: this process resyncs at once, and the others by a resync message once NOTIFY works again', async () => {
    const admin = await newDevice('Publisher', server.url);
    const { groupId } = await admin.client.createGroup();
    const socket = await openLive(server.url, admin.session.token);
    sockets.push(socket);
    await socket.waitEvent((e) => e.type === 'heads', 'heads');
    const warm = await admin.client.writeNote(groupId, { title: 'Warm', body: '' });
    await socket.waitEvent(isNote(groupId, warm.noteId), 'the first note');
    const headsCount = () => socket.events().filter((e) => e.type === 'heads').length;
    const store = server.app.deps.store as unknown as { notify(channel: string, payload: string): Promise<void> };
    const notify = store.notify.bind(store);
    const sent: string[] = [];
    let failures = 2;
    store.notify = async (channel, payload) => {
      if (failures > 0) {
        failures -= 1;
        throw new Error('notify failed');
      }
      sent.push(payload);
      return notify(channel, payload);
    };
    try {
      const before = headsCount();
      // The note's NOTIFY fails, and its retry.
      await admin.client.writeNote(groupId, { title: 'Lost hint', body: '' });
      expect(failures).toBe(0);
      await until(() => (headsCount() > before ? true : undefined), 'a fresh heads');
      // The next publish sends the owed resync first.
      const { noteId } = await admin.client.writeNote(groupId, { title: 'Next', body: '' });
      await socket.waitEvent(isNote(groupId, noteId), 'the next note');
      expect(JSON.parse(sent[0]!)).toEqual({ kind: 'resync' });
    } finally {
      store.notify = notify;
    }
  });

  it('a NOTIFY that fails once is retried: nothing is lost', async () => {
    const admin = await newDevice('Retried', server.url);
    const { groupId } = await admin.client.createGroup();
    const socket = await openLive(server.url, admin.session.token);
    sockets.push(socket);
    await socket.waitEvent((e) => e.type === 'heads', 'heads');
    // Its `online` is published before it reads further: once a note arrives, nothing else is on its way.
    const warm = await admin.client.writeNote(groupId, { title: 'Warm', body: '' });
    await socket.waitEvent(isNote(groupId, warm.noteId), 'the first note');
    const store = server.app.deps.store as unknown as { notify(channel: string, payload: string): Promise<void> };
    const notify = store.notify.bind(store);
    let failures = 1;
    store.notify = async (channel, payload) => {
      if (failures-- > 0) throw new Error('notify failed');
      return notify(channel, payload);
    };
    try {
      const { noteId } = await admin.client.writeNote(groupId, { title: 'Retried', body: '' });
      await socket.waitEvent(isNote(groupId, noteId), 'the note');
    } finally {
      store.notify = notify;
    }
  });
});
