/**
 * Every screen reacts: whatever a page shows that changed on this device — the key
 * arrived, the log moved (members, roles), notes written by others, a removal, key
 * requests waiting — is followed by a `conclave.changed` for the group, and no request
 * leaves the group "waiting for the key" while a box for it is on the server.
 *
 * The bug these pin down: after a rotation, a page's `group.detail` synced the log to
 * the new generation without opening the box waiting for this device, so the side
 * panel showed "Waiting for the group's key"; the box was then opened silently (by a
 * listing, or by the tick's sync) with no broadcast, so the panel kept the banner until
 * it was reopened.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GroupId } from '@conclave/shared/protocol';
import { startServer, type TestServer } from '../../../storage-api/test/support/server.ts';
import { harbourWith, MemoryNetwork, newDevice, type TestDevice } from './support.ts';


describe('every change a page shows is told to the pages', () => {
  let server: TestServer;
  const network = new MemoryNetwork();
  const devices: TestDevice[] = [];
  let ana: TestDevice, ben: TestDevice, carl: TestDevice;
  let groupId: GroupId;

  async function device(label: string, name: string): Promise<TestDevice> {
    const d = await newDevice(label, network, server.url);
    devices.push(d);
    await d.ask({ type: 'identity.create', displayName: name });
    return d;
  }

  const told = (d: TestDevice) => d.events.some((e) => e.groupId === groupId);

  beforeAll(async () => {
    server = await startServer('sqlite', { config: { logLevel: 'silent' } });
    ana = await device('ana', 'Ana');
    ben = await device('ben', 'Ben');
    carl = await device('carl', 'Carl');
    groupId = await harbourWith(ana, [ben, carl]);
  });

  afterAll(async () => {
    for (const d of devices) await d.close().catch(() => undefined);
    await server?.close();
  });

  it('after a rotation, a page that syncs the group (its detail) finds the key, not "waiting for the key"', async () => {
    await ana.ask({ type: 'group.rotateKey', groupId });
    const detail = await ben.ask({ type: 'group.detail', groupId });
    expect(detail.generation).toBe(1);
    expect(detail.hasKey).toBe(true);
    expect((await ben.ask({ type: 'status' })).groups[0]).toMatchObject({ groupId, hasKey: true, keyWait: null });
  });

  it('a tick that picks up a rotation (and nothing else) tells the pages', async () => {
    // Counts and names known: a tick with nothing new tells nothing.
    await carl.bg.tick();
    carl.events.length = 0;
    await carl.bg.tick();
    expect(told(carl)).toBe(false);
    await ana.ask({ type: 'group.rotateKey', groupId });
    carl.events.length = 0;
    await carl.bg.tick();
    expect((await carl.ask({ type: 'status' })).groups[0]).toMatchObject({ hasKey: true });
    expect(told(carl)).toBe(true);
  });

  it('a listing that opened the new key tells the other pages (the status they show changed)', async () => {
    await ben.ask({ type: 'notes.list', groupId });
    ben.events.length = 0;
    await ben.ask({ type: 'notes.list', groupId });
    expect(told(ben)).toBe(false);
    await ana.ask({ type: 'group.rotateKey', groupId });
    ben.events.length = 0;
    await ben.ask({ type: 'notes.list', groupId });
    expect((await ben.ask({ type: 'status' })).groups[0]).toMatchObject({ hasKey: true });
    expect(told(ben)).toBe(true);
  });

  it('a role changed by an admin is told on the next sync', async () => {
    await carl.bg.tick();
    await ana.ask({ type: 'group.setRole', groupId, fingerprint: await ben.fingerprint(), role: 'admin' });
    carl.events.length = 0;
    await carl.bg.tick();
    expect(told(carl)).toBe(true);
    const detail = await carl.ask({ type: 'group.detail', groupId });
    expect(detail.members.find((m) => m.name === 'Ben')?.role).toBe('admin');
  });

  it("another member's note, its edit and its deletion are each told", async () => {
    const saved = await ana.ask({ type: 'notes.save', groupId, title: 'Tides', body: 'High water at six.' });
    if (!saved.saved) throw new Error('not saved');
    carl.events.length = 0;
    await carl.bg.tick();
    expect(told(carl)).toBe(true);
    // An editor open on it asks the newest version the cache knows (no network).
    expect(await carl.ask({ type: 'notes.header', groupId, noteId: saved.noteId })).toMatchObject({ version: saved.version, authorName: 'Ana', isMe: false, deleted: false });
    await ana.ask({ type: 'notes.save', groupId, noteId: saved.noteId, baseVersion: saved.version, title: 'Tides', body: 'High water at seven.' });
    carl.events.length = 0;
    await carl.bg.tick();
    expect(told(carl)).toBe(true);
    expect(await carl.ask({ type: 'notes.header', groupId, noteId: saved.noteId })).toMatchObject({ version: saved.version + 1, authorName: 'Ana' });
    expect(await ana.ask({ type: 'notes.header', groupId, noteId: saved.noteId })).toMatchObject({ version: saved.version + 1, isMe: true });
    await ana.ask({ type: 'notes.delete', groupId, noteId: saved.noteId, baseVersion: saved.version + 1 });
    carl.events.length = 0;
    await carl.bg.tick();
    expect(told(carl)).toBe(true);
    expect(await carl.ask({ type: 'notes.header', groupId, noteId: saved.noteId })).toMatchObject({ version: saved.version + 2, deleted: true });
  });

  it('a removal is told to the removed device', async () => {
    await ana.ask({ type: 'group.remove', groupId, fingerprint: await carl.fingerprint() });
    carl.events.length = 0;
    await carl.bg.tick();
    expect(told(carl)).toBe(true);
    expect((await carl.ask({ type: 'status' })).groups[0]).toMatchObject({ removed: true });
  });
});
