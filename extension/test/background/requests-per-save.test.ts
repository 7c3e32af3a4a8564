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
import { startServer, type TestServer } from '../../../storage-api/test/support/server.ts';
import { MemoryNetwork, newDevice, type TestDevice } from './support.ts';

describe('HTTP requests per save and show', () => {
  let server: TestServer;
  let ana: TestDevice;
  let groupId: GroupId;
  const seen: string[] = [];
  let counting = false;

  beforeAll(async () => {
    server = await startServer('sqlite', { config: { logLevel: 'silent' } });
    // Every HTTP request the server's socket receives (a tRPC batch is one request).
    server.app.fastify.server.on('request', (request: { url?: string }) => {
      if (counting) seen.push(request.url ?? '');
    });
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
    counting = true;
    const saved = await ana.ask({ type: 'notes.save', groupId, title: 'Counted', body: 'one door' });
    if (!saved.saved) throw new Error('not saved');
    const shown = await ana.ask({ type: 'notes.read', groupId, noteId: saved.noteId });
    counting = false;
    expect(shown).toMatchObject({ title: 'Counted', body: 'one door', version: 1 });
    const procedures = seen.map((url) => decodeURIComponent(new URL(url, 'http://x').pathname.replace(/^\/trpc\//, '')));
    expect(seen).toHaveLength(3);
    expect(procedures.map((p) => p.split(',').sort().join(','))).toEqual(['groups.log', 'notes.put', 'groups.log,notes.get']);
  });
});
