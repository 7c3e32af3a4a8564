/**
 * Secrets at rest and the admin's remedies, through the background on devices with
 * their own databases against a real storage API: seeds and the recovery code waiting
 * to be saved are sealed under a non-extractable device key (the raw rows hold no
 * seed or code); a recovery code is never kept in a draft; leaving wipes the group's
 * drafts; "Rotate the key now" and "Replace the recovery code" (admin only); and every
 * admin is told when a recovery code added a device, until it is replaced.
 */
import 'fake-indexeddb/auto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import type { GroupState } from '@conclave/shared/crypto';
import { keyHealthView, type KeyHealth } from '../../src/background/key-care.ts';
import type { Ctx } from '../../src/background/context.ts';
import { DEVICE_KEY_ID, openSeed, sealSeed } from '../../src/db/at-rest.ts';
import { DexieKeyStore } from '../../src/db/key-store.ts';
import { peopleOnServer, type TestDevice } from './support.ts';

const HOUR = 3_600_000;

/** Every byte string and text in a stored row (Maps, Sets, arrays, objects), as a person copying the database would see it. */
function rawParts(value: unknown, out: Buffer[] = []): Buffer[] {
  if (value instanceof Uint8Array) out.push(Buffer.from(value));
  else if (typeof value === 'string') out.push(Buffer.from(value, 'utf8'));
  else if (value instanceof Map) for (const [k, v] of value) (rawParts(k, out), rawParts(v, out));
  else if (value instanceof Set) for (const v of value) rawParts(v, out);
  else if (Array.isArray(value)) for (const v of value) rawParts(v, out);
  else if (typeof value === 'object' && value !== null && !(value instanceof CryptoKey)) for (const v of Object.values(value)) rawParts(v, out);
  return out;
}
const holds = (row: unknown, needle: Uint8Array | string) => {
  const bytes = typeof needle === 'string' ? Buffer.from(needle, 'utf8') : Buffer.from(needle);
  return rawParts(row).some((part) => part.indexOf(bytes) !== -1);
};

describe('secrets at rest and the admin remedies', () => {
  const { person: device } = peopleOnServer();
  let ana: TestDevice, ben: TestDevice;
  let groupId: GroupId;
  let firstCode: string;
  let currentCode: string;

  beforeAll(async () => {
    ana = await device('ana', 'Ana');
    ben = await device('ben', 'Ben');
    ({ groupId, recoveryCode: firstCode } = await ana.ask({ type: 'group.create', name: 'Harbour', policy: 'invite-trust' }));
    currentCode = firstCode;
    const invite = await ana.ask({ type: 'group.invite', groupId, role: 'member', expiresInMs: HOUR, prekeyed: true });
    expect(await ben.ask({ type: 'group.join', code: invite.code })).toMatchObject({ hasKey: true });
  });

  it('seeds at rest are sealed under a non-extractable device key: the raw groups row holds no seed bytes', async () => {
    const record = await new DexieKeyStore(ana.db).load(groupId);
    const seed = record!.seeds.get(0)!;
    expect(seed).toHaveLength(32);
    const raw = await ana.db.groups.get(groupId);
    expect(raw!.seeds.get(0)).toMatchObject({ sealed: expect.any(Uint8Array) });
    expect(holds(raw, seed)).toBe(false);
    // The positive control: the same search finds what is there.
    expect(holds(raw, raw!.seeds.get(0)!.sealed.subarray(12, 40))).toBe(true);

    const device = await ana.db.deviceKey.get(DEVICE_KEY_ID);
    expect(device!.key).toBeInstanceOf(CryptoKey);
    expect(device!.key.extractable).toBe(false);
    expect(device!.key.algorithm).toMatchObject({ name: 'AES-GCM', length: 256 });
    await expect(crypto.subtle.exportKey('raw', device!.key)).rejects.toThrow();
    // Another device's key does not open it.
    await expect(openSeed(ben.db, groupId, 0, raw!.seeds.get(0)!)).rejects.toThrow();
  });

  it('a sealed seed opens only for its group and generation (associated data binds both)', async () => {
    const seed = new Uint8Array(32).fill(7);
    const sealed = await sealSeed(ana.db, groupId, 3, seed);
    expect(await openSeed(ana.db, groupId, 3, sealed)).toEqual(seed);
    await expect(openSeed(ana.db, groupId, 4, sealed)).rejects.toThrow();
    await expect(openSeed(ana.db, 'AAAAAAAAAAAAAAAAAAAAAA' as GroupId, 3, sealed)).rejects.toThrow();
    const flipped = { sealed: sealed.sealed.slice() };
    flipped.sealed[20]! ^= 1;
    await expect(openSeed(ana.db, groupId, 3, flipped)).rejects.toThrow();
  });

  it('the recovery code waiting to be saved is sealed at rest, and shown again until confirmed', async () => {
    const raw = await ana.db.pendingRecovery.get(groupId);
    expect(raw).toMatchObject({ groupId, replaced: false });
    expect(holds(raw, firstCode)).toBe(false);
    expect(holds(raw, firstCode.replace(/-/g, ''))).toBe(false);
    expect(await ana.ask({ type: 'group.recoveryCode', groupId })).toMatchObject({ recoveryCode: firstCode, replaced: false });
    await ana.ask({ type: 'group.confirmRecoverySaved', groupId });
    expect(await ana.db.pendingRecovery.count()).toBe(0);
  });

  it('restore input is not persisted: a draft holding a recovery code is refused, other drafts are kept', async () => {
    for (const value of [{ code: firstCode, groupId: null }, firstCode.toLowerCase(), { nested: [{ text: `my code: ${firstCode.replace(/-/g, ' ')}` }] }]) {
      const refused = await ana.refused({ type: 'draft.save', key: 'popup.restore', value });
      expect(refused).toMatchObject({ code: 'invalid-request' });
      expect(refused.message).not.toContain(firstCode);
    }
    expect(await ana.db.drafts.get('popup.restore')).toBeUndefined();
    await ana.ask({ type: 'draft.save', key: 'popup.restore', value: { groupId: null } });
    expect(await ana.ask({ type: 'draft.load', key: 'popup.restore' })).toEqual({ groupId: null });
  });

  it('drafts are sealed at rest: the raw row holds no draft text, and the page gets it back', async () => {
    const value = { title: 'Unsent plan', body: 'Meet at the old pier at dawn', invite: 'INV1-ABCD-EFGH' };
    await ana.ask({ type: 'draft.save', key: `panel.edit.${groupId}.new`, value });
    const raw = await ana.db.drafts.get(`panel.edit.${groupId}.new`);
    for (const text of ['Unsent plan', 'Meet at the old pier', 'INV1-ABCD-EFGH']) expect(holds(raw, text)).toBe(false);
    expect(await ana.ask({ type: 'draft.load', key: `panel.edit.${groupId}.new` })).toEqual(value);
    // Sealed under its own name: moved to another draft's name, it does not open (and is dropped).
    await ana.db.drafts.put({ ...raw!, key: 'popup.setup' });
    expect(await ana.ask({ type: 'draft.load', key: 'popup.setup' })).toBeNull();
    await ana.ask({ type: 'draft.clear', key: `panel.edit.${groupId}.new` });
  });

  it('rotate the key now: refused to a member; an admin starts a new generation every member gets', async () => {
    expect(await ben.refused({ type: 'group.rotateKey', groupId })).toMatchObject({ code: 'not-admin' });
    const before = (await ana.ask({ type: 'group.detail', groupId })).generation;
    const rotated = await ana.ask({ type: 'group.rotateKey', groupId });
    expect(rotated).toEqual({ generation: before + 1, unreachable: 0 });
    await ben.ask({ type: 'group.sync', groupId });
    await ben.bg.idle();
    const benDetail = await ben.ask({ type: 'group.detail', groupId });
    expect(benDetail).toMatchObject({ generation: before + 1, hasKey: true });
    // Every seed of both devices is still sealed at rest after the rotation.
    const raw = await ben.db.groups.get(groupId);
    const seeds = (await new DexieKeyStore(ben.db).load(groupId))!.seeds;
    expect(seeds.size).toBeGreaterThanOrEqual(2);
    for (const seed of seeds.values()) expect(holds(raw, seed)).toBe(false);
  });

  it('replace the recovery code: refused to a member; the old code stops working, the new one is kept sealed until confirmed', async () => {
    expect(await ben.refused({ type: 'group.replaceRecovery', groupId })).toMatchObject({ code: 'not-admin' });
    const replaced = await ana.ask({ type: 'group.replaceRecovery', groupId });
    expect(replaced.recoveryCode).toMatch(/^REC1-/);
    expect(replaced.recoveryCode).not.toBe(firstCode);
    expect(replaced).toMatchObject({ groupId, name: 'Harbour' });
    currentCode = replaced.recoveryCode;
    expect((await ana.ask({ type: 'status' })).groups[0]).toMatchObject({ recoveryUnconfirmed: true });
    const raw = await ana.db.pendingRecovery.get(groupId);
    expect(raw).toMatchObject({ replaced: true });
    expect(holds(raw, currentCode)).toBe(false);
    // The service worker restarts (the page closed): the code comes back until confirmed.
    await ana.restart();
    expect(await ana.ask({ type: 'group.recoveryCode', groupId })).toEqual({ groupId, name: 'Harbour', recoveryCode: currentCode, replaced: true });

    const cy = await device('cy', 'Cy');
    const stale = await cy.refused({ type: 'group.restore', recoveryCode: firstCode });
    expect(stale).toMatchObject({ code: 'recovery-invalid' });
    expect(stale.message).toMatch(/replaced/);
    await ana.ask({ type: 'group.confirmRecoverySaved', groupId });
    expect(await ana.refused({ type: 'group.recoveryCode', groupId })).toMatchObject({ code: 'recovery-invalid' });
  });

  it('every admin is told when a recovery code added a device, until the code is replaced', async () => {
    expect((await ana.ask({ type: 'status' })).groups[0]!.recoveryUsed).toBeNull();
    const dee = await device('dee', 'Dee');
    const deeFp = await dee.fingerprint();
    await dee.ask({ type: 'group.restore', recoveryCode: currentCode });

    await ana.ask({ type: 'group.sync', groupId });
    const told = (await ana.ask({ type: 'status' })).groups[0]!.recoveryUsed;
    expect(told).toMatchObject({ device: deeFp, isMe: false, count: 1 });
    expect(told!.at).toBeGreaterThan(Date.now() - HOUR);
    expect((await ana.ask({ type: 'group.detail', groupId })).recoveryUsed).toMatchObject({ device: deeFp });
    // The restored device is an admin too, and is told it was added by the code.
    expect((await dee.ask({ type: 'status' })).groups[0]!.recoveryUsed).toMatchObject({ isMe: true, deviceName: 'this device' });
    // A member is not told (they cannot replace it).
    await ben.ask({ type: 'group.sync', groupId });
    expect((await ben.ask({ type: 'status' })).groups[0]!.recoveryUsed).toBeNull();

    await ana.ask({ type: 'group.replaceRecovery', groupId });
    expect((await ana.ask({ type: 'status' })).groups[0]!.recoveryUsed).toBeNull();
    await dee.ask({ type: 'group.sync', groupId });
    expect((await dee.ask({ type: 'status' })).groups[0]!.recoveryUsed).toBeNull();
  });

  it('a member sees "not rotated since X left" until an admin device rotates by itself', async () => {
    const fay = await device('fay', 'Fay');
    const gus = await device('gus', 'Gus');
    for (const d of [fay, gus]) {
      const invite = await ana.ask({ type: 'group.invite', groupId, role: 'member', expiresInMs: HOUR, prekeyed: true });
      expect(await d.ask({ type: 'group.join', code: invite.code })).toMatchObject({ hasKey: true });
    }
    expect((await fay.ask({ type: 'group.detail', groupId })).keyHealth).toEqual({ owedRotation: null, faults: [], canRepair: false });
    await gus.ask({ type: 'group.leave', groupId });
    const owed = (await fay.ask({ type: 'group.detail', groupId })).keyHealth;
    expect(owed.owedRotation).toMatchObject({ name: expect.any(String), at: expect.any(Number) });
    expect(owed.canRepair).toBe(false);
    // Ana's device sees it on its next sync and rotates; then nothing is owed.
    await ana.ask({ type: 'group.sync', groupId });
    await ana.bg.idle();
    expect((await fay.ask({ type: 'group.detail', groupId })).keyHealth.owedRotation).toBeNull();
    await fay.ask({ type: 'group.sync', groupId });
    await fay.bg.idle();
    expect(await fay.ask({ type: 'group.detail', groupId })).toMatchObject({ hasKey: true, keyHealth: { owedRotation: null, faults: [] } });
  });

  it('leaving a group deletes its note drafts, invite drafts and everything else about it; other drafts stay', async () => {
    const other = 'BBBBBBBBBBBBBBBBBBBBBB';
    const drafts: Array<[string, unknown]> = [
      [`panel.edit.${groupId}.new`, { title: 'Unsent plan', body: 'Meet at the old pier' }],
      [`panel.edit.${groupId}.abc`, { title: 'Edit in progress', body: 'half written' }],
      [`popup.invite.${groupId}`, { role: 'member', code: 'INV1-…', step: 'shown' }],
      [`panel.route.${groupId}`, { view: 'notes', mode: 'edit', noteId: null }],
      ['popup.route', { screen: 'invite', groupId }],
      ['popup.setup', { displayName: 'Ben' }],
      [`panel.edit.${other}.new`, { title: 'Another group', body: 'stays' }],
    ];
    for (const [key, value] of drafts) await ben.ask({ type: 'draft.save', key, value });
    await ben.ask({ type: 'panel.open', groupId });
    await ben.ask({ type: 'group.leave', groupId });
    const left = (await ben.db.drafts.toArray()).map((d) => d.key).sort();
    expect(left).toEqual(['popup.setup', `panel.edit.${other}.new`].sort());
    expect(await ben.db.groups.get(groupId)).toBeUndefined();
  });
});

describe('key health in words', () => {
  const labelledName = (f: string) => (f === 'ZED' ? 'Zed' : `someone (${f})`);
  // Devices are named by their person (people.ts): here each device is its own person.
  const ctx = { trust: { labelledName, labelledIn: (_state: unknown, f: string) => labelledName(f) } } as unknown as Ctx;
  const me = 'ME' as Fingerprint;
  const state = {} as GroupState;

  it("names who left without a new key, and each broken key's maker, date and reason (repaired ones left out)", () => {
    const fault = (fields: Partial<KeyHealth['faults'][number]>): KeyHealth['faults'][number] => ({
      generation: 3,
      author: 'ZED' as Fingerprint,
      at: 2_000,
      kind: 'bad-link',
      detail: 'prevWrap did not open',
      repaired: false,
      ...fields,
    });
    const health: KeyHealth = {
      owedRotation: { member: 'ZED' as Fingerprint, seq: 9, at: 1_000 },
      faults: [fault({}), fault({ generation: 4, author: me, at: 3_000, kind: 'bad-box', detail: 'x' }), fault({ generation: 5, author: null, kind: 'forged-box' }), fault({ generation: 1, repaired: true })],
      holdsCurrentKey: true,
      canRepair: true,
    };
    const view = keyHealthView(ctx, health, me, state);
    expect(view.owedRotation).toEqual({ name: 'Zed', at: 1_000 });
    expect(view.faults.map((f) => f.generation)).toEqual([3, 4, 5]);
    expect(view.faults[0]).toMatchObject({ generation: 3, authorName: 'Zed', at: 2_000, kind: 'bad-link' });
    expect(view.faults[0]!.reason).toMatch(/keys before it/);
    expect(view.faults[1]).toMatchObject({ authorName: 'this device' });
    expect(view.faults[2]).toMatchObject({ authorName: 'an unknown device', kind: 'forged-box' });
    // No technical detail reaches the page.
    expect(JSON.stringify(view)).not.toContain('prevWrap');
    expect(view.canRepair).toBe(true);
    expect(keyHealthView(ctx, null, me, state)).toEqual({ owedRotation: null, faults: [], canRepair: false });
  });
});
