/**
 * A page's port wakes a restarted background (`wake`, called by page-ports.ts): the
 * worker was stopped and starts again with no tick and no stream; the page's port makes
 * it open the stream, so another member's note reaches it live. A second wake while
 * the stream is open changes nothing (no new stream).
 *
 * Every wait is for a condition, with a deadline; nothing is timed.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { GroupId } from '@conclave/shared/protocol';
import { startServer, type TestServer } from '../../../storage-api/test/support/server.ts';
import { MemoryNetwork, newDevice, type TestDevice } from './support.ts';

const HOUR = 3_600_000;

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** `ws`'s WebSocket, counting the sockets it opened. */
function countedWebSocket(): { WebSocket: typeof globalThis.WebSocket; opened(): number } {
  let opened = 0;
  class Counted extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      opened++;
    }
  }
  return { WebSocket: Counted as unknown as typeof globalThis.WebSocket, opened: () => opened };
}

describe('a page port wakes a restarted background', () => {
  let server: TestServer;
  const network = new MemoryNetwork();
  let ana: TestDevice, ben: TestDevice;
  let groupId: GroupId;
  const benSocket = countedWebSocket();

  beforeAll(async () => {
    server = await startServer('sqlite', { config: { logLevel: 'silent' } });
    ana = await newDevice('ana-wake', network, server.url, { live: true });
    ben = await newDevice('ben-wake', network, server.url, { live: benSocket.WebSocket });
    await ana.ask({ type: 'identity.create', displayName: 'Ana' });
    await ben.ask({ type: 'identity.create', displayName: 'Ben' });
    ({ groupId } = await ana.ask({ type: 'group.create', name: 'Harbour', policy: 'verified' }));
    const invite = await ana.ask({ type: 'group.invite', groupId, role: 'member', expiresInMs: HOUR, prekeyed: true });
    expect(await ben.ask({ type: 'group.join', code: invite.code })).toMatchObject({ hasKey: true });
  });

  afterAll(async () => {
    await ana?.close().catch(() => undefined);
    await ben?.close().catch(() => undefined);
    await server?.close();
  });

  it('opens the stream, and a note from another member arrives with no tick', async () => {
    // The worker was stopped: the new one holds no stream until something starts it.
    await ben.restart();
    const before = benSocket.opened();
    ben.bg.wake();
    await until("Ben's new background opened its stream", () => benSocket.opened() > before);
    await ben.bg.idle();
    const opened = benSocket.opened();

    ben.events.length = 0;
    const saved = await ana.ask({ type: 'notes.save', groupId, title: 'Tides', body: 'High water at six.' });
    if (!saved.saved) throw new Error('not saved');
    await until("Ben's cache holds the note", async () => (await ben.db.notes.get([groupId, saved.noteId] as never))?.title === 'Tides');
    await until("Ben's pages were told", () => ben.events.some((e) => e.groupId === groupId));

    // Another page opening while the stream is open: no new stream.
    ben.bg.wake();
    await ben.bg.idle();
    expect(benSocket.opened()).toBe(opened);
  });
});
