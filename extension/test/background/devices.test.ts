/**
 * Several devices per person, through the background and the real SDK (issue 13): a
 * fresh device shows a link code, an existing device of the person scans it (or the code
 * is typed), both check the fingerprint, and the new device reads every group at once;
 * another member sees one person with two devices and the same safety number; removing a
 * device changes every group's key so it reads nothing new.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GroupId } from '@conclave/shared/protocol';
import { startServer, type TestServer } from '../../../storage-api/test/support/server.ts';
import type { LinkStateView } from '../../src/messages/views.ts';
import { MemoryNetwork, newDevice, type TestDevice } from './support.ts';

const ANA = 'Ana Lindqvist';
const BEN = 'Ben Okafor';

async function until<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('linking and removing devices of one person', () => {
  let server: TestServer;
  const network = new MemoryNetwork();
  let laptop: TestDevice, phone: TestDevice, tablet: TestDevice, ben: TestDevice;
  let groupId: GroupId;

  beforeAll(async () => {
    server = await startServer('sqlite', { config: { logLevel: 'silent' } });
    laptop = await newDevice('ana-laptop', network, server.url);
    ben = await newDevice('ben', network, server.url);
    await laptop.ask({ type: 'identity.create', displayName: ANA });
    await ben.ask({ type: 'identity.create', displayName: BEN });
    ({ groupId } = await laptop.ask({ type: 'group.create', name: 'Harbour', policy: 'verified' }));
    const invite = await laptop.ask({ type: 'group.invite', groupId, role: 'member', expiresInMs: 3_600_000, prekeyed: true });
    await ben.ask({ type: 'group.join', code: invite.code });
    await laptop.ask({ type: 'notes.save', groupId, title: 'Boat keys', body: 'Under the blue pot.' });
  });

  afterAll(async () => {
    for (const device of [laptop, phone, tablet, ben]) await device?.close();
    await server?.close();
  });

  it('a fresh device linked by its scanned QR code reads the group at once, under the person’s name', async () => {
    const anaBefore = (await ben.ask({ type: 'group.detail', groupId })).members.find((m) => !m.isMe && !m.isRecovery)!;
    const safetyBefore = (await ben.ask({ type: 'verify.info', groupId, fingerprint: anaBefore.fingerprint })).safetyNumber;

    phone = await newDevice('ana-phone', network, server.url);
    // No identity yet: "Link to my identity" makes one and shows the code.
    const offered = await phone.ask({ type: 'device.offerLink' });
    if (offered.role !== 'new' || offered.phase !== 'waiting') throw new Error(`not waiting: ${JSON.stringify(offered)}`);
    expect(offered.offer.qrText).toMatch(/^conclave:v3:link:/);
    expect(offered.offer.code).toMatch(/^LNK1-/);
    // Asked again (the page reopened), the same code.
    expect(await phone.ask({ type: 'device.offerLink' })).toEqual(offered);
    expect(await phone.ask({ type: 'device.list' })).toMatchObject({ canBeLinked: true, canLinkOthers: true });

    const asked = await laptop.ask({ type: 'device.link', text: offered.offer.qrText });
    // Both screens show the new device's fingerprint: the person compares them.
    expect(asked).toMatchObject({ role: 'existing', phase: 'confirm', deviceShort: offered.offer.deviceShort });
    const done = await laptop.ask({ type: 'device.confirmLink', accept: true });
    expect(done).toMatchObject({ role: 'existing', phase: 'done', deviceShort: offered.offer.deviceShort, groups: [{ groupId, name: 'Harbour', ok: true }] });

    const linked = await until('the phone is linked', () => phone.ask({ type: 'device.linkState' }), (s: LinkStateView) => s.role === 'new' && s.phase !== 'waiting');
    expect(linked).toMatchObject({ role: 'new', phase: 'linked', name: ANA, personShort: anaBefore.short, groups: [{ groupId, name: 'Harbour', ok: true }] });
    // At once: the group, its notes and the person's name are here.
    const status = await phone.ask({ type: 'status' });
    expect(status.identity?.displayName).toBe(ANA);
    expect(status.groups).toMatchObject([{ groupId, name: 'Harbour', hasKey: true, removed: false }]);
    const notes = await phone.ask({ type: 'notes.list', groupId });
    expect(notes).toMatchObject([{ ok: true, title: 'Boat keys', authorName: ANA }]);

    // The laptop lists both devices; the phone was added by it.
    const list = await laptop.ask({ type: 'device.list' });
    expect(list.devices.filter((d) => !d.removed)).toHaveLength(2);
    expect(list.devices.find((d) => d.thisDevice)?.addedBy).toBeNull();
    expect(list.devices.find((d) => !d.thisDevice)).toMatchObject({ short: offered.offer.deviceShort, addedBy: 'this device', removed: null });
    expect(list).toMatchObject({ canLinkOthers: true, canBeLinked: false, personShort: anaBefore.short });

    // Ben sees one person with two devices, and the same safety number as before.
    await ben.ask({ type: 'group.sync', groupId });
    const detail = await ben.ask({ type: 'group.detail', groupId });
    const people = detail.members.filter((m) => !m.isRecovery);
    expect(people).toHaveLength(2);
    expect(people.find((m) => m.fingerprint === anaBefore.fingerprint)).toMatchObject({ name: ANA, devices: 2 });
    expect((await ben.ask({ type: 'verify.info', groupId, fingerprint: anaBefore.fingerprint })).safetyNumber).toEqual(safetyBefore);

    // A note the phone writes is Ana's on Ben's device.
    await phone.ask({ type: 'notes.save', groupId, title: 'From the phone', body: 'Written on the train.' });
    await ben.ask({ type: 'group.sync', groupId });
    expect((await ben.ask({ type: 'notes.list', groupId })).find((n) => n.ok && n.title === 'From the phone')).toMatchObject({ authorName: ANA });
  });

  it('a typed code links too; a mistyped one fails in words and links nothing', async () => {
    tablet = await newDevice('ana-tablet', network, server.url);
    const offered = await tablet.ask({ type: 'device.offerLink' });
    if (offered.role !== 'new' || offered.phase !== 'waiting') throw new Error('not waiting');
    const wrong = await laptop.ask({ type: 'device.link', text: 'LNK1-not-a-code' });
    expect(wrong).toMatchObject({ role: 'existing', phase: 'failed' });
    if (wrong.role === 'existing' && wrong.phase === 'failed') {
      expect(wrong.message).toMatch(/not a valid link code: a link code starts with LNK1-|not a valid link code: .*(too short|typo|cannot be in)/);
      expect(wrong.action).toMatch(/LNK1-/);
    }
    const asked = await laptop.ask({ type: 'device.link', text: offered.offer.code.toLowerCase() });
    expect(asked).toMatchObject({ phase: 'confirm', deviceShort: offered.offer.deviceShort });
    expect(await laptop.ask({ type: 'device.confirmLink', accept: true })).toMatchObject({ phase: 'done' });
    await until('the tablet is linked', () => tablet.ask({ type: 'device.linkState' }), (s: LinkStateView) => s.role === 'new' && s.phase === 'linked');
    expect((await tablet.ask({ type: 'notes.list', groupId })).some((n) => n.ok && n.title === 'Boat keys')).toBe(true);
  });

  it('a declined fingerprint links nothing', async () => {
    const spare = await newDevice('ana-spare', network, server.url);
    try {
      const offered = await spare.ask({ type: 'device.offerLink' });
      if (offered.role !== 'new' || offered.phase !== 'waiting') throw new Error('not waiting');
      expect(await laptop.ask({ type: 'device.link', text: offered.offer.qrText })).toMatchObject({ phase: 'confirm' });
      const stopped = await laptop.ask({ type: 'device.confirmLink', accept: false });
      expect(stopped).toMatchObject({ role: 'existing', phase: 'failed' });
      expect((await laptop.ask({ type: 'device.list' })).devices.filter((d) => !d.removed)).toHaveLength(3);
      expect((await spare.ask({ type: 'status' })).groups).toEqual([]);
    } finally {
      await spare.close();
    }
  });

  it('without the connection server, showing a link code says so and what to do', async () => {
    const offline = await newDevice('ana-offline', network, server.url);
    try {
      offline.transport.signalingDown = true;
      const refused = await offline.refused({ type: 'device.offerLink' });
      expect(refused.code).toBe('server-unreachable');
      expect(refused.message).toMatch(/connection server could not be reached, so your other device cannot find this one/);
      expect(refused.action).toMatch(/both devices must use the same one/);
      expect(await offline.ask({ type: 'device.linkState' })).toEqual({ role: 'none' });
    } finally {
      await offline.close();
    }
  });

  it('removing the phone from the laptop changes the key: the phone reads nothing new, Ben and the tablet do', async () => {
    const phoneFp = await phone.fingerprint();
    expect(await laptop.refused({ type: 'device.remove', device: await laptop.fingerprint() })).toMatchObject({ code: 'invalid-request' });
    const before = (await laptop.ask({ type: 'group.detail', groupId })).generation;
    const removed = await laptop.ask({ type: 'device.remove', device: phoneFp });
    expect(removed.groups).toEqual([{ groupId, name: 'Harbour', ok: true }]);
    expect((await laptop.ask({ type: 'group.detail', groupId })).generation).toBe(before + 1);
    const list = await laptop.ask({ type: 'device.list' });
    expect(list.devices.find((d) => d.fingerprint === phoneFp)?.removed).toMatchObject({ by: 'this device' });

    await laptop.ask({ type: 'notes.save', groupId, title: 'New code', body: 'The gate code is 4711 now.' });
    await phone.bg.tick();
    // It keeps what it already showed, read-only (issue 14, friction 2), and nothing new.
    expect((await phone.ask({ type: 'notes.list', groupId })).some((n) => n.ok && n.title === 'New code')).toBe(false);
    // The phone says it was removed from the person, not the person from the group.
    expect((await phone.ask({ type: 'status' })).groups[0]).toMatchObject({ groupId, removed: true, deviceUnlinked: true });
    await ben.ask({ type: 'group.sync', groupId });
    expect((await ben.ask({ type: 'notes.list', groupId })).some((n) => n.ok && n.title === 'New code')).toBe(true);
    expect((await ben.ask({ type: 'group.detail', groupId })).members.find((m) => m.name === ANA)).toMatchObject({ devices: 2 });
    await tablet.ask({ type: 'group.sync', groupId });
    expect((await tablet.ask({ type: 'notes.list', groupId })).some((n) => n.ok && n.title === 'New code')).toBe(true);
  });
});

describe('a first device with no groups yet', () => {
  it('links a second device; a group made afterwards on the first reaches the second', async () => {
    const server = await startServer('sqlite', { config: { logLevel: 'silent' } });
    const network = new MemoryNetwork();
    const first = await newDevice('solo-first', network, server.url);
    const second = await newDevice('solo-second', network, server.url, { live: true });
    try {
      await first.ask({ type: 'identity.create', displayName: 'Sol' });
      expect(await first.ask({ type: 'device.list' })).toMatchObject({ canBeLinked: true, canLinkOthers: true });
      const offered = await second.ask({ type: 'device.offerLink' });
      if (offered.role !== 'new' || offered.phase !== 'waiting') throw new Error('not waiting');
      expect(await first.ask({ type: 'device.link', text: offered.offer.code })).toMatchObject({ phase: 'confirm' });
      expect(await first.ask({ type: 'device.confirmLink', accept: true })).toMatchObject({ phase: 'done', groups: [] });
      const linked = await until('linked', () => second.ask({ type: 'device.linkState' }), (s: LinkStateView) => s.role === 'new' && s.phase === 'linked');
      expect(linked).toMatchObject({ name: 'Sol', groups: [] });
      // Having linked another, the first device can no longer be linked itself.
      expect(await first.ask({ type: 'device.list' })).toMatchObject({ canBeLinked: false });
      const { groupId } = await first.ask({ type: 'group.create', name: 'Garden', policy: 'verified' });
      await first.ask({ type: 'notes.save', groupId, title: 'Seeds', body: 'Tomatoes in March.' });
      // The group's log carries the person with both devices.
      expect((await first.ask({ type: 'group.detail', groupId })).members.find((m) => m.isMe)).toMatchObject({ devices: 2 });
      // The second device learns of it from the heads its live stream starts with, and reads it.
      await second.restart();
      await second.bg.tick();
      const status = await until('the second device keeps Garden', () => second.ask({ type: 'status' }), (s) => s.groups.some((g) => g.groupId === groupId && g.hasKey && g.name === 'Garden'));
      expect(status.groups).toHaveLength(1);
      expect((await second.ask({ type: 'notes.list', groupId })).map((n) => (n.ok ? n.title : null))).toEqual(['Seeds']);
    } finally {
      await first.close();
      await second.close();
      await server.close();
    }
  });
});
