/**
 * An unlink its own person's devices cannot bring to a group (they hold no key there)
 * still keeps the key from the unlinked device (§10b): a holder reads the requesting
 * device's chain from the server before any handover, live or by mailbox, and refuses a
 * device that chain has unlinked though its pinned copy and the log still list it; and
 * an admin whose pinned copy of a member's chain unlinks a device the log lists brings
 * that chain into the log itself, with a rotation the unlinked device cannot open.
 */
import { describe, expect, it } from 'vitest';
import { GroupClient } from '../src/client/group-client.ts';
import { MemoryKeyStore } from '../src/client/key-store.ts';
import { MemoryPersonStore } from '../src/client/person-store.ts';
import { lookUpPerson } from '../src/client/people-lookup.ts';
import { chainHead, linkEntry, nextPosition, signConsent } from '../src/crypto/device-chain.ts';
import { currentGeneration } from '../src/crypto/group-log.ts';
import { generateIdentity, type DeviceIdentity } from '../src/crypto/identity.ts';
import { openerFor, openKeyBox } from '../src/crypto/key-box.ts';
import { MemoryApi } from './support/memory-api.ts';

interface Device {
  identity: DeviceIdentity;
  client: GroupClient;
}

/** Who waits in every key mailbox (the memory API keeps none): what `mailbox.pending` answers. */
const waiting: string[] = [];

async function device(api: MemoryApi, people = new MemoryPersonStore(), identity?: DeviceIdentity): Promise<Device> {
  const id = identity ?? (await generateIdentity());
  const session = api.session(id);
  const mailbox = { ...session.api.mailbox, pending: { query: async () => waiting.map((fingerprint) => ({ fingerprint })) } };
  const withMailbox = { ...session, api: new Proxy(session.api, { get: (target, key) => (key === 'mailbox' ? mailbox : Reflect.get(target, key)) }) } as typeof session;
  return { identity: id, client: new GroupClient({ identity: id, session: withMailbox, store: new MemoryKeyStore(), people, trustOf: () => 'verified' }) };
}

/** Ana (admin of G) and Cy: Cy's laptop (founding device, holds G's key) and Cy's phone, linked, listed in G's log, holding no key for G. */
async function setUp() {
  const api = new MemoryApi();
  const ana = await device(api);
  const laptopPeople = new MemoryPersonStore();
  const laptop = await device(api, laptopPeople);
  await ana.client.publishPerson();
  await laptop.client.publishPerson();
  const { groupId } = await ana.client.createGroup();
  await ana.client.addMember(groupId, laptop.identity.fingerprint, 'member');
  await laptop.client.openGroup(groupId);
  const phoneIdentity = await generateIdentity();
  const own = await laptop.client.people.own();
  const consent = await signConsent(phoneIdentity, nextPosition(own, laptop.identity.fingerprint));
  const chain = await laptop.client.people.append([await linkEntry(own, laptop.identity, phoneIdentity.bundle, consent)]);
  const phonePeople = new MemoryPersonStore();
  await phonePeople.save({ person: chain.person, entries: (await laptopPeople.load())!.entries, head: chainHead(chain) });
  const phone = await device(api, phonePeople, phoneIdentity);
  expect((await laptop.client.sync(groupId)).devices.has(phoneIdentity.fingerprint)).toBe(true);
  // Ana pins Cy's chain with the phone in it, the laptop current.
  expect((await ana.client.sync(groupId)).devices.has(laptop.identity.fingerprint)).toBe(true);
  return { api, ana, laptop, phone, groupId, person: chain.person };
}

describe('an unlink no device of the person can bring to a group', () => {
  it('a holder refuses the unlinked device both handovers, though its pinned copy and the log still list it', async () => {
    const { ana, laptop, phone, groupId } = await setUp();
    waiting.splice(0, waiting.length, laptop.identity.fingerprint, phone.identity.fingerprint);
    // The phone unlinks the laptop on the server only; G's log never hears of it.
    await phone.client.people.unlink(laptop.identity.fingerprint);
    expect((await ana.client.sync(groupId)).devices.has(laptop.identity.fingerprint)).toBe(true);
    expect((await ana.client.heldGroup(groupId))!.state.devices.has(laptop.identity.fingerprint)).toBe(true);

    const result = await ana.client.handOverPending(groupId);
    expect(result.sent).not.toContain(laptop.identity.fingerprint);
    expect(result.skipped).toContainEqual({ fingerprint: laptop.identity.fingerprint, reason: 'unlinked' });
    // The phone, still linked, is answered.
    expect(result.sent).toEqual([phone.identity.fingerprint]);
    waiting.length = 0;

    const held = await ana.client.heldGroup(groupId, laptop.identity.fingerprint);
    expect(held!.state.devices.has(laptop.identity.fingerprint)).toBe(false);
  });

  it('the live handover reads the chain even before any mailbox round', async () => {
    const { ana, laptop, phone, groupId } = await setUp();
    await phone.client.people.unlink(laptop.identity.fingerprint);
    const held = await ana.client.heldGroup(groupId, laptop.identity.fingerprint);
    expect(held!.state.devices.has(laptop.identity.fingerprint)).toBe(false);
    // Another device of the same person is still handed to.
    expect((await ana.client.heldGroup(groupId, phone.identity.fingerprint))!.state.devices.has(phone.identity.fingerprint)).toBe(true);
  });

  it('an admin brings the unlink into the log with a rotation the laptop cannot open', async () => {
    const { api, ana, laptop, phone, groupId, person } = await setUp();
    const before = currentGeneration(await ana.client.sync(groupId));
    const report = await phone.client.unlinkDevice(laptop.identity.fingerprint);
    // The phone holds no key for G (it never opened it): it catches no group up.
    expect(report.groups.filter((g) => g.groupId === groupId && g.ok)).toEqual([]);
    // Ana meets the newer chain (a lookup, or another group's log).
    await lookUpPerson(api.session(ana.identity).api, ana.client.people, person, Date.now());
    const state = await ana.client.sync(groupId);
    expect(state.devices.has(laptop.identity.fingerprint)).toBe(false);
    expect(currentGeneration(state)).toBe(before + 1);
    const last = api.server.log(groupId).at(-1)!;
    expect(last.op).toBe('devices');
    expect(last.author).toBe(ana.identity.fingerprint);
    expect((last.body as { rotation?: unknown }).rotation).toBeDefined();
    const fresh = api.server.boxes.filter((b) => b.groupId === groupId && b.generation === before + 1);
    expect(fresh.length).toBeGreaterThan(0);
    expect(fresh.some((b) => b.recipient.kind === 'member' && b.recipient.id === laptop.identity.fingerprint)).toBe(false);
    for (const box of fresh) expect(await openKeyBox(box, openerFor(laptop.identity), state).catch(() => null)).toBeNull();
    // Ana can read on, and the phone gets the new key.
    expect(state.devices.has(phone.identity.fingerprint)).toBe(true);
    expect(fresh.some((b) => b.recipient.kind === 'member' && b.recipient.id === phone.identity.fingerprint)).toBe(true);
  });
});
