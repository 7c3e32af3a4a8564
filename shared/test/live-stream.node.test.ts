/**
 * The SDK's live stream (`GroupClient.live`) against a real storage API over a real
 * WebSocket: heads first, events as others write, a new connection with a new session
 * after the server forgot the old one, and the way back after the server restarted.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { LiveEvent } from '../src/protocol/events.ts';
import { liveReconnectDelayMs } from '../src/protocol/events.ts';
import type { GroupId } from '../src/protocol/ids.ts';
import type { LiveStatus, LiveStream } from '../src/client/live.ts';
import { liveUrl } from '../src/client/live.ts';
import { build } from '../../storage-api/src/app.ts';
import { newDevice, type Device } from '../../storage-api/test/support/clients.ts';
import { startServer, type TestServer } from '../../storage-api/test/support/server.ts';

const WAIT_MS = 10_000;

/** Resolves once `check` holds, polling; fails with `what` after WAIT_MS. */
async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Watch {
  events: LiveEvent[];
  statuses: LiveStatus[];
  stream: LiveStream;
}

const open: LiveStream[] = [];

function watch(device: Device): Watch {
  const events: LiveEvent[] = [];
  const statuses: LiveStatus[] = [];
  const stream = device.client.live({
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    onEvent: (e) => events.push(e),
    onStatus: (s) => statuses.push(s),
    retryDelayMs: () => 50,
  });
  open.push(stream);
  return { events, statuses, stream };
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

describe('liveUrl and the reconnect delay', () => {
  it('turns the API address into the WebSocket address', () => {
    expect(liveUrl('http://127.0.0.1:8787')).toBe('ws://127.0.0.1:8787/trpc');
    expect(liveUrl('https://notes.example/api/')).toBe('wss://notes.example/api/trpc');
  });

  it('backs off from 0.5 s to 30 s, with at most 50 % jitter', () => {
    expect(liveReconnectDelayMs(0, () => 0)).toBe(500);
    expect(liveReconnectDelayMs(1, () => 0)).toBe(1000);
    expect(liveReconnectDelayMs(20, () => 0)).toBe(30_000);
    expect(liveReconnectDelayMs(20, () => 0.999)).toBeLessThanOrEqual(45_000);
  });
});

describe('GroupClient.live against a real server', () => {
  let server: TestServer;
  let ada: Device;
  let ben: Device;
  let groupId: GroupId;

  beforeAll(async () => {
    server = await startServer('sqlite');
    ada = await newDevice('ada', server.url);
    ben = await newDevice('ben', server.url);
    ({ groupId } = await ada.client.createGroup({ policy: 'invite-trust' }));
    await ada.client.addMember(groupId, ben.fingerprint, 'member');
    ben.trust.set(ada.fingerprint, 'verified');
  });

  let restarted: Awaited<ReturnType<typeof build>> | null = null;

  afterAll(async () => {
    await restarted?.close();
    await server?.close();
  });

  it('starts with the heads of every group of the device, then says it is open', async () => {
    const w = watch(ben);
    await until('heads', () => w.events.some((e) => e.type === 'heads'));
    const heads = w.events.find((e) => e.type === 'heads');
    expect(heads?.type === 'heads' && heads.groups.map((g) => g.groupId)).toEqual([groupId]);
    await until('open', () => w.statuses.includes('open'));
  });

  it("hears another member's note and names it by id, version and cursor", async () => {
    const w = watch(ben);
    await until('heads', () => w.events.some((e) => e.type === 'heads'));
    const { noteId } = await ada.client.writeNote(groupId, { title: 'live', body: 'hello' });
    await until('the note event', () => w.events.some((e) => e.type === 'note' && e.noteId === noteId));
    const event = w.events.find((e) => e.type === 'note' && e.noteId === noteId);
    expect(event).toMatchObject({ type: 'note', groupId, noteId, version: 1 });
  });

  it('signs in again and comes back when the server no longer knows its session', async () => {
    const w = watch(ben);
    await until('heads', () => w.events.some((e) => e.type === 'heads'));
    // The session is signed out behind the client's back: the next connection is refused
    // until the stream signs in again.
    await ben.session.logout();
    const before = w.events.filter((e) => e.type === 'heads').length;
    await server.app.fastify.websocketServer?.clients.forEach((c: { terminate(): void }) => c.terminate());
    await until('heads again', () => w.events.filter((e) => e.type === 'heads').length > before);
    const { noteId } = await ada.client.writeNote(groupId, { title: 'after sign-in', body: '' });
    await until('an event on the new session', () => w.events.some((e) => e.type === 'note' && e.noteId === noteId));
  });

  it('comes back by itself after the server restarted, and learns what moved from the heads', async () => {
    const w = watch(ben);
    await until('heads', () => w.events.some((e) => e.type === 'heads'));
    const headsBefore = w.events.filter((e) => e.type === 'heads').length;
    const port = Number(new URL(server.url).port);
    await server.stop();
    await until('the stream to notice', () => w.statuses.at(-1) === 'closed');
    // The same data, the same address: the sessions stored before are still valid.
    restarted = await build(server.config);
    await restarted.fastify.listen({ host: '127.0.0.1', port });
    const { noteId } = await ada.client.writeNote(groupId, { title: 'while it reconnected', body: '' });
    const cursor = (await ada.client.changedNotes(groupId, 0)).cursor;
    await until('the note, by event or by the heads', () =>
      w.events.some((e) => (e.type === 'note' && e.noteId === noteId) || (e.type === 'heads' && w.events.filter((x) => x.type === 'heads').length > headsBefore && e.groups.some((g) => g.noteCursor >= cursor))),
    );
    expect(w.events.filter((e) => e.type === 'heads').length).toBeGreaterThan(headsBefore);
    expect(w.statuses.at(-1)).toBe('open');
  });
});
