/**
 * Pinning device chains on the client (shared/src/client/person.ts), with real crypto
 * and no server: a chain met in a group log or a lookup is pinned when newer; a copy
 * that forks the pinned chain is refused (`fork`); a lookup behind the pin is a
 * `rollback`, while a group log behind it is only late; and a device unlinked in a
 * pinned chain is named for every group log that still lists it; a group log whose copy
 * differs from the pinned chain at a seq both have is a `fork`, never "up to date".
 */
import { describe, expect, it } from 'vitest';
import { missingEntries } from '../src/client/devices-update.ts';
import { PersonKeeper } from '../src/client/person.ts';
import { MemoryPersonStore } from '../src/client/person-store.ts';
import type { ApiClient } from '../src/client/api-session.ts';
import { linkEntry, nextPosition, replayChain, signConsent, singleDeviceChain, unlinkEntry, type PersonState } from '../src/crypto/device-chain.ts';
import { DeviceChainError } from '../src/crypto/errors.ts';
import { createGroup } from '../src/crypto/group-lifecycle.ts';
import { generateIdentity, type DeviceIdentity } from '../src/crypto/identity.ts';
import type { DeviceEntry } from '../src/protocol/schemas.ts';

async function linked(chain: DeviceEntry[], certifier: DeviceIdentity, device: DeviceIdentity): Promise<DeviceEntry[]> {
  const state = await replayChain(chain);
  const consent = await signConsent(device, nextPosition(state, certifier.fingerprint));
  return [...chain, await linkEntry(state, certifier, device.bundle, consent)];
}

function keeper(me: DeviceIdentity, store = new MemoryPersonStore()): PersonKeeper {
  const offline = () => {
    throw new Error('no server in this test');
  };
  return new PersonKeeper(me, store, offline as unknown as () => ApiClient, Date.now);
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => null,
    (error: unknown) => error,
  );
}

describe("pinning other people's device chains", () => {
  it('pins a newer chain; a copy that forks it is refused by name', async () => {
    const [me, ana, laptop, impostor] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity(), generateIdentity()]);
    const people = keeper(me);
    const founded = await singleDeviceChain(ana);
    expect(await people.observe(await replayChain(founded))).toBe('ahead');
    const withLaptop = await replayChain(await linked(founded, ana, laptop));
    expect(await people.observe(withLaptop)).toBe('ahead');
    expect(await people.observe(await replayChain(founded))).toBe('behind');
    // Another device linked at the same place: signed by Ana's device, but a different history.
    const forked: PersonState = await replayChain(await linked(founded, ana, impostor));
    const error = await errorOf(people.observe(forked));
    expect(error).toBeInstanceOf(DeviceChainError);
    expect(error).toMatchObject({ reason: 'fork' });
  });

  it('a lookup behind the pinned chain is a rollback; a group log behind it is only late', async () => {
    const [me, ana, laptop] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
    const store = new MemoryPersonStore();
    const founded = await singleDeviceChain(ana);
    await keeper(me, store).observe(await replayChain(await linked(founded, ana, laptop)));
    // A later run of the device: the pin comes from the store.
    const people = keeper(me, store);
    expect(await people.observe(await replayChain(founded))).toBe('behind');
    expect(await errorOf(people.observe(await replayChain(founded), { asLookup: true }))).toMatchObject({ reason: 'rollback' });
  });

  it('names the devices a group log still lists but a pinned chain has unlinked', async () => {
    const [me, ana, laptop] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
    const people = keeper(me);
    const twoDevices = await linked(await singleDeviceChain(ana), ana, laptop);
    const group = await createGroup(ana, { chain: twoDevices });
    expect(group.state.devices.has(laptop.fingerprint)).toBe(true);
    expect(await people.unlinkedInPinned(group.state)).toEqual(new Set());
    const state = await replayChain(twoDevices);
    const withoutLaptop = await replayChain([...twoDevices, await unlinkEntry(state, ana, laptop.fingerprint)]);
    await people.observe(withoutLaptop);
    expect(await people.unlinkedInPinned(group.state)).toEqual(new Set([laptop.fingerprint]));
  });

  it('founds this device\'s own person once, and keeps it in the store', async () => {
    const me = await generateIdentity();
    const store = new MemoryPersonStore();
    const view = await keeper(me, store).view();
    expect(view).toEqual({ person: me.fingerprint, devices: [{ fingerprint: me.fingerprint, addedAt: 0, addedBy: null, thisDevice: true }] });
    expect((await store.load())?.entries).toEqual(await singleDeviceChain(me));
  });
});

/**
 * THREAT-MODEL §4 item 9: Ana's thief T, still one of her devices, links its own X into
 * one group's copy of her chain (entry 2); Ana then unlinks T in her real chain, also at
 * entry 2. Same length, different history: the group's copy must read as a fork.
 */
describe('a group log whose copy of a chain forks the pinned one at the same length', () => {
  async function forkedAtTwo() {
    const [ana, thief, x] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
    const withThief = await linked(await singleDeviceChain(ana), ana, thief);
    const forkedChain = await linked(withThief, thief, x);
    const realChain = [...withThief, await unlinkEntry(await replayChain(withThief), ana, thief.fingerprint)];
    const group = await createGroup(ana, { chain: forkedChain });
    return { ana, thief, x, group, real: await replayChain(realChain), realChain };
  }

  it('unlinkedInPinned refuses the copy as a fork instead of sealing to the thief and its device', async () => {
    const { ana, thief, group, real, realChain } = await forkedAtTwo();
    const people = keeper(ana);
    await people.adopt({ person: ana.fingerprint, entries: realChain, head: { seq: real.seq, hash: real.head } }, real);
    expect(group.state.devices.has(thief.fingerprint)).toBe(true);
    const error = await errorOf(people.unlinkedInPinned(group.state));
    expect(error).toBeInstanceOf(DeviceChainError);
    expect(error).toMatchObject({ reason: 'fork', seq: 2 });
  });

  it("another member's pinned chain forked by the group's copy is refused the same way", async () => {
    const { group, real } = await forkedAtTwo();
    const people = keeper(await generateIdentity());
    expect(await people.observe(real)).toBe('ahead');
    expect(await errorOf(people.unlinkedInPinned(group.state))).toMatchObject({ reason: 'fork' });
  });

  it('missingEntries names the fork instead of calling the copy up to date (same length) or continuing it (shorter)', async () => {
    const { ana, group, realChain } = await forkedAtTwo();
    const error = (() => {
      try {
        return missingEntries(group.state, ana.fingerprint, realChain);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(DeviceChainError);
    expect(error).toMatchObject({ reason: 'fork', seq: 2 });
    // Longer than the copy, and diverging before its head: a fork too.
    const longer = await linked(realChain, ana, await generateIdentity());
    expect(() => missingEntries(group.state, ana.fingerprint, longer)).toThrow(DeviceChainError);
    // The honest case: the copy is a prefix, the rest is missing.
    const honest = await createGroup(ana, { chain: realChain.slice(0, 2) });
    expect(missingEntries(honest.state, ana.fingerprint, realChain)).toEqual([realChain[2]]);
    expect(missingEntries(honest.state, ana.fingerprint, realChain.slice(0, 2))).toEqual([]);
  });
});
