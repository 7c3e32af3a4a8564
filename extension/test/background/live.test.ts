/**
 * The background driven by the storage API's live events instead of ticks: devices
 * (each its own IndexedDB) hold the real `events.live` stream of a real storage API on
 * SQLite, over `ws`'s WebSocket, and nobody calls `tick` unless a browser starts. A
 * note reaches the others' caches, a rotation or removal reaches every member, an
 * admin hears key requests (and under invite-trust hands the key over with nothing
 * opened), a waiting joiner reads as soon as its box arrives or a device that can hand
 * it the key comes online, and a dropped stream catches up through `heads`.
 *
 * Every wait is for a condition, with a deadline; nothing is timed.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { GroupId, NoteId } from '@conclave/shared/protocol';
import { startServer, type TestServer } from '../../../storage-api/test/support/server.ts';
import { harbourWith, MemoryNetwork, newDevice, type TestDevice } from './support.ts';

const HOUR = 3_600_000;
const WAIT_MS = 15_000;

/** Resolves once `check` holds (polled); fails naming `what` after WAIT_MS. */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** `ws`'s WebSocket whose new connections can be held back (they go to a closed port), and whose open sockets can be dropped. */
function gatedWebSocket(): { WebSocket: typeof globalThis.WebSocket; hold(): void; release(): void; drop(): void } {
  let held = false;
  const open = new Set<WebSocket>();
  class Gated extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(held ? 'ws://127.0.0.1:9/trpc' : url, protocols);
      open.add(this);
      this.on('close', () => open.delete(this));
    }
  }
  return {
    WebSocket: Gated as unknown as typeof globalThis.WebSocket,
    hold: () => void (held = true),
    release: () => void (held = false),
    drop: () => {
      for (const socket of open) socket.terminate();
    },
  };
}

describe('the background on live events', () => {
  let server: TestServer;
  const network = new MemoryNetwork();
  const devices: TestDevice[] = [];
  let ana: TestDevice, ben: TestDevice, carl: TestDevice;
  let groupId: GroupId;
  const benSocket = gatedWebSocket();

  async function device(label: string, name: string, WebSocketClass?: typeof globalThis.WebSocket): Promise<TestDevice> {
    const d = await newDevice(label, network, server.url, { live: WebSocketClass ?? true });
    devices.push(d);
    // Creating the identity opens the stream (after the peer transport started).
    await d.ask({ type: 'identity.create', displayName: name });
    return d;
  }

  const told = (d: TestDevice, group: GroupId) => d.events.some((e) => e.groupId === group);
  const statusOf = async (d: TestDevice, group: GroupId) => (await d.ask({ type: 'status' })).groups.find((g) => g.groupId === group);
  const cached = async (d: TestDevice, group: GroupId, noteId: NoteId) => d.db.notes.get([group, noteId] as never);

  beforeAll(async () => {
    server = await startServer('sqlite', { config: { logLevel: 'silent' } });
    ana = await device('ana', 'Ana');
    ben = await device('ben', 'Ben', benSocket.WebSocket);
    carl = await device('carl', 'Carl');
    groupId = await harbourWith(ana, [ben, carl]);
  });

  afterAll(async () => {
    for (const d of devices) await d.close().catch(() => undefined);
    await server?.close();
  });

  it("a note written by one member reaches the others' caches and open pages, with no tick", async () => {
    ben.events.length = 0;
    carl.events.length = 0;
    const saved = await ana.ask({ type: 'notes.save', groupId, title: 'Tides', body: 'High water at six.' });
    if (!saved.saved) throw new Error('not saved');
    await until("Ben's and Carl's caches hold the note", async () => (await cached(ben, groupId, saved.noteId))?.title === 'Tides' && (await cached(carl, groupId, saved.noteId))?.title === 'Tides');
    await until('their pages were told', () => told(ben, groupId) && told(carl, groupId));
    await until('Ben counts it unread', async () => (await statusOf(ben, groupId))?.unread === 1);

    // An edit, then a deletion: each reaches them too.
    await ana.ask({ type: 'notes.save', groupId, noteId: saved.noteId, baseVersion: 1, title: 'Tides', body: 'High water at seven.' });
    await until('Ben holds the edit', async () => (await cached(ben, groupId, saved.noteId))?.version === 2);
    expect(await ben.ask({ type: 'notes.header', groupId, noteId: saved.noteId })).toMatchObject({ version: 2, authorName: 'Ana' });
    await ana.ask({ type: 'notes.delete', groupId, noteId: saved.noteId, baseVersion: 2 });
    await until('Carl holds the deletion', async () => (await cached(carl, groupId, saved.noteId))?.deleted === true);
  });

  it('a rotation reaches every member: each holds the new key with no tick', async () => {
    carl.events.length = 0;
    const rotated = await ana.ask({ type: 'group.rotateKey', groupId });
    await until('Ben and Carl hold the new key', async () => (await ben.db.groups.get(groupId))!.seeds.has(rotated.generation) && (await carl.db.groups.get(groupId))!.seeds.has(rotated.generation));
    await until("Carl's pages were told", () => told(carl, groupId));
    expect(await statusOf(carl, groupId)).toMatchObject({ hasKey: true, keyWait: null });
  });

  it('an admin hears a key request at once (popup count and badge), and a verified joiner reads as soon as the box arrives', async () => {
    const dan = await device('dan', 'Dan');
    // Nobody can hand the key over live: it must come through the mailbox.
    ana.transport.reachable = false;
    ben.transport.reachable = false;
    carl.transport.reachable = false;
    const invite = await ana.ask({ type: 'group.invite', groupId, role: 'member', expiresInMs: HOUR, prekeyed: false });
    const joined = await dan.ask({ type: 'group.join', code: invite.link });
    expect(joined).toMatchObject({ hasKey: false });
    await until("Ana's popup counts Dan as waiting", async () => (await statusOf(ana, groupId))?.pending === 1);
    await until("Ana's badge shows it", () => ana.badge() === '1');

    // Ana verifies Dan: her device answers the mailbox; Dan's reads with no tick.
    await ana.ask({ type: 'verify.confirm', groupId, fingerprint: await dan.fingerprint() });
    await until('Dan holds the key', async () => (await statusOf(dan, groupId))?.hasKey === true);
    expect(await statusOf(dan, groupId)).toMatchObject({ keyWait: null });
    await until("Dan's pages were told", () => told(dan, groupId));
    await until("Ana's popup no longer counts him", async () => (await statusOf(ana, groupId))?.pending === 0);
    for (const d of [ana, ben, carl]) d.transport.reachable = true;
  });

  it('under invite-trust the admin hands the key over with nothing opened', async () => {
    const { groupId: rota } = await ana.ask({ type: 'group.create', name: 'Rota', policy: 'invite-trust' });
    const eve = await device('eve', 'Eve');
    ana.transport.reachable = false;
    const invite = await ana.ask({ type: 'group.invite', groupId: rota, role: 'member', expiresInMs: HOUR, prekeyed: false });
    // The join asks the mailbox; Ana's background hears the request and answers it at
    // once — sometimes before the join itself has finished checking the mailbox, so the
    // join may already come back with the key.
    await eve.ask({ type: 'group.join', code: invite.link });
    await until('Eve holds the key', async () => (await statusOf(eve, rota))?.hasKey === true);
    // Through the mailbox: nobody handed it over live.
    const eveFp = await eve.fingerprint();
    expect(network.keysHanded().some((h) => h.to === eveFp)).toBe(false);
    ana.transport.reachable = true;
  });

  it('a waiting joiner dials a device that can hand it the key as soon as it comes online', async () => {
    const { groupId: watch } = await ana.ask({ type: 'group.create', name: 'Watch', policy: 'invite-trust' });
    const invite = await ana.ask({ type: 'group.invite', groupId: watch, role: 'member', expiresInMs: HOUR, prekeyed: true });
    await carl.ask({ type: 'group.join', code: invite.code });
    // Ana's and Carl's browsers close: no stream, not reachable.
    for (const d of [ana, carl]) {
      await d.bg.stop();
      d.transport.reachable = false;
    }
    const fay = await device('fay', 'Fay');
    const second = await ana.ask({ type: 'group.invite', groupId: watch, role: 'member', expiresInMs: HOUR, prekeyed: false });
    const joined = await fay.ask({ type: 'group.join', code: second.link });
    expect(joined.keyWait?.state).toMatchObject({ phase: 'waiting', why: 'nobody-online' });

    // Carl's browser starts (its first tick opens his stream): Fay hears he is online and dials him.
    carl.transport.reachable = true;
    await carl.bg.tick();
    const carlFp = await carl.fingerprint();
    const fayFp = await fay.fingerprint();
    await until('Fay holds the key', async () => (await statusOf(fay, watch))?.hasKey === true);
    expect(network.keysHanded()).toContainEqual({ from: carlFp, to: fayFp });
    ana.transport.reachable = true;
    await ana.bg.tick();
  });

  it('a removal reaches the removed device and the key reaches those who stay, with no tick', async () => {
    const gus = await device('gus', 'Gus');
    const invite = await ana.ask({ type: 'group.invite', groupId, role: 'member', expiresInMs: HOUR, prekeyed: true });
    await gus.ask({ type: 'group.join', code: invite.code });
    const removed = await ana.ask({ type: 'group.remove', groupId, fingerprint: await gus.fingerprint() });
    await until('Gus sees he was removed', async () => (await statusOf(gus, groupId))?.removed === true);
    await until('Gus was told', () => told(gus, groupId));
    await until('Ben and Carl hold the new key', async () => (await ben.db.groups.get(groupId))!.seeds.has(removed.generation) && (await carl.db.groups.get(groupId))!.seeds.has(removed.generation));
  });

  it('a dropped stream comes back and catches up through heads', async () => {
    // Ben's socket drops and cannot reconnect for a while: the note's event is missed.
    await ben.bg.idle();
    benSocket.hold();
    benSocket.drop();
    const saved = await ana.ask({ type: 'notes.save', groupId, title: 'Missed', body: 'Written while Ben was away.' });
    if (!saved.saved) throw new Error('not saved');
    await until('Carl holds it', async () => (await cached(carl, groupId, saved.noteId)) !== undefined);
    await ben.bg.idle();
    expect(await cached(ben, groupId, saved.noteId)).toBeUndefined();
    benSocket.release();
    await until('Ben holds it after reconnecting', async () => (await cached(ben, groupId, saved.noteId))?.title === 'Missed');
  });

  it('a restarted storage API: every stream reconnects by itself and events flow again', async () => {
    const port = Number(new URL(server.url).port);
    await server.stop();
    server = await startServer('sqlite', { config: { logLevel: 'silent' }, reuse: server, port });
    const saved = await ana.ask({ type: 'notes.save', groupId, title: 'After the restart', body: 'Still live.' });
    if (!saved.saved) throw new Error('not saved');
    await until('Ben and Carl hold it', async () => (await cached(ben, groupId, saved.noteId)) !== undefined && (await cached(carl, groupId, saved.noteId)) !== undefined);
  });
});
