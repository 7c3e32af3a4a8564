/**
 * Every device chain a group log carries agrees with the person's stored chain (THREAT-MODEL
 * §4 item 9), over real HTTP, on SQLite and PostgreSQL: a `devices` entry whose chain
 * differs from the stored one at a seq both have is refused (`LOG_REJECTED device-chain`);
 * entries beyond the stored head are stored in the chain before the log takes them (so the
 * person's own later change at that seq is a CONFLICT, never a second continuation); a
 * person never published is published by the group entry that first carries their chain;
 * and a chain append racing a group append ends with one continuation, both places agreeing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiErrorOf, signIn, type ApiSession } from '@conclave/shared/client';
import { createGroup, deviceEntryHash, generateIdentity, replayChain, replayLog, type DeviceIdentity, type GroupState } from '@conclave/shared/crypto';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import { devicesEntry, foundPerson, linkDevice, unlinkDevice, type Person } from './support/people.ts';
import { STORE_KINDS, startServer, type TestServer } from './support/server.ts';

interface Signed {
  identity: DeviceIdentity;
  api: ApiSession['api'];
}

async function device(server: TestServer): Promise<Signed> {
  const identity = await generateIdentity();
  return { identity, api: (await signIn(server.url, identity)).api };
}

async function refusal(promise: Promise<unknown>): Promise<ReturnType<typeof apiErrorOf>> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, 'expected the call to be refused').not.toBeNull();
  return apiErrorOf(error);
}

/** Ana: her laptop founded the person, the thief's device is linked to it; a group made with that chain. */
interface Stolen {
  laptop: Signed;
  thief: Signed;
  ana: Person;
  groupId: GroupId;
  state: GroupState;
  seed: Uint8Array;
}

async function stolen(server: TestServer): Promise<Stolen> {
  const laptop = await device(server);
  const thief = await device(server);
  const { person: ana } = await linkDevice(await foundPerson(laptop.identity), laptop.identity, thief.identity);
  await laptop.api.people.append.mutate({ person: laptop.identity.fingerprint, entries: ana.entries });
  const group = await createGroup(laptop.identity, { chain: ana.entries });
  await laptop.api.groups.create.mutate({ entries: group.entries, boxes: group.boxes });
  return { laptop, thief, ana, groupId: group.state.groupId, state: group.state, seed: group.seed };
}

/** The group's log copy of `person`'s chain and the stored chain, as hashes by seq. */
async function bothCopies(api: ApiSession['api'], groupId: GroupId, person: Fingerprint): Promise<{ log: string[]; stored: string[] }> {
  const { entries } = await api.groups.log.query({ groupId });
  const logChain = (await replayLog(entries)).members.get(person)!.chain!;
  const stored = await api.people.get.query({ person });
  expect(stored.entries.map(deviceEntryHash)).toEqual((await replayChain(stored.entries, { person })).hashes);
  return { log: logChain.hashes, stored: stored.entries.map(deviceEntryHash) };
}

describe.each(STORE_KINDS)("a group log's device chains agree with the stored chains, over HTTP (%s)", (kind) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startServer(kind);
  });

  afterAll(async () => {
    await server?.close();
  });

  it("refuses a thief's devices entry that forks the stored chain at a seq it has (device-chain); the honest entry still goes in", async () => {
    const s = await stolen(server);
    const ana = s.laptop.identity.fingerprint;
    // Ana links her tablet: entry 2 of the stored chain. The group's copy is still at entry 1.
    const tablet = await device(server);
    const { entry: honest } = await linkDevice(s.ana, s.laptop.identity, tablet.identity);
    await s.laptop.api.people.append.mutate({ person: ana, entries: [honest] });
    // The thief, still a current device of Ana's in the stored chain, writes its own entry 2 into the group.
    const x = await device(server);
    const { entry: forked } = await linkDevice(s.ana, s.thief.identity, x.identity);
    const fork = await devicesEntry(s.state, s.thief.identity, ana, [forked], s.seed);
    expect(await refusal(s.thief.api.groups.append.mutate({ groupId: s.groupId, entries: [fork.entry] }))).toEqual({ code: 'LOG_REJECTED', reason: 'device-chain' });
    // X never became a device of Ana's anywhere: the stored chain does not name it, and it cannot read the group.
    expect(await refusal(x.api.people.ofDevice.query({ device: x.identity.fingerprint }))).toMatchObject({ code: 'NOT_FOUND' });
    expect(await refusal(x.api.groups.log.query({ groupId: s.groupId }))).toMatchObject({ code: 'FORBIDDEN' });
    // Ana's own catch-up, with the stored entry 2, goes in.
    const caughtUp = await devicesEntry(s.state, s.laptop.identity, ana, [honest], s.seed);
    await s.laptop.api.groups.append.mutate({ groupId: s.groupId, entries: [caughtUp.entry] });
    const copies = await bothCopies(s.laptop.api, s.groupId, ana);
    expect(copies.log).toEqual(copies.stored);
  });

  it("stores a group entry's chain entries beyond the stored head before the log takes them: the person's change at that seq is then a CONFLICT", async () => {
    const s = await stolen(server);
    const ana = s.laptop.identity.fingerprint;
    const x = await device(server);
    const { entry: link } = await linkDevice(s.ana, s.thief.identity, x.identity);
    const carried = await devicesEntry(s.state, s.thief.identity, ana, [link], s.seed);
    await s.thief.api.groups.append.mutate({ groupId: s.groupId, entries: [carried.entry] });
    // The link is in Ana's stored chain now, where every device of hers sees it.
    const stored = await s.laptop.api.people.get.query({ person: ana });
    expect(stored.head.seq).toBe(2);
    expect(deviceEntryHash(stored.entries[2]!)).toBe(deviceEntryHash(link));
    expect((await x.api.people.ofDevice.query({ device: x.identity.fingerprint })).head).toEqual(stored.head);
    // Ana's unlink of the thief, built on the chain she had, meets the link first: a CONFLICT, not a second entry 2.
    const { entry: late } = await unlinkDevice(s.ana, s.laptop.identity, s.thief.identity.fingerprint);
    expect(await refusal(s.laptop.api.people.append.mutate({ person: ana, entries: [late] }))).toMatchObject({ code: 'CONFLICT' });
    const copies = await bothCopies(s.laptop.api, s.groupId, ana);
    expect(copies.log).toEqual(copies.stored);
  });

  it("refuses a new group whose creator chain is behind the stored head (device-chain): an old prefix would bring back a device since unlinked", async () => {
    const s = await stolen(server);
    const ana = s.laptop.identity.fingerprint;
    const { person: current } = await unlinkDevice(s.ana, s.laptop.identity, s.thief.identity.fingerprint);
    await s.laptop.api.people.append.mutate({ person: ana, entries: current.entries.slice(2) });
    // The chain before the unlink, which still lists the thief: refused, with what to do.
    const stale = await createGroup(s.laptop.identity, { chain: s.ana.entries });
    const error = await s.laptop.api.groups.create.mutate({ entries: stale.entries, boxes: stale.boxes }).then(() => null, (e: unknown) => e);
    expect(apiErrorOf(error)).toEqual({ code: 'LOG_REJECTED', reason: 'device-chain' });
    expect((error as Error).message).toMatch(/current devices/);
    expect(await refusal(s.thief.api.groups.log.query({ groupId: stale.state.groupId }))).toMatchObject({ code: expect.stringMatching(/FORBIDDEN|NOT_FOUND/) });
    // The current chain goes in.
    const fresh = await createGroup(s.laptop.identity, { chain: current.entries });
    await s.laptop.api.groups.create.mutate({ entries: fresh.entries, boxes: fresh.boxes });
  });

  it('publishes the chain of a person the server has never stored with the group entry that first carries it', async () => {
    const owner = await device(server);
    const group = await createGroup(owner.identity);
    await owner.api.groups.create.mutate({ entries: group.entries, boxes: group.boxes });
    const stored = await owner.api.people.get.query({ person: owner.identity.fingerprint });
    expect(stored.entries.map(deviceEntryHash)).toEqual(group.state.members.get(owner.identity.fingerprint)!.chain!.hashes);
    // A second person who never published, a founding chain that differs from the stored one: refused.
    const other = await device(server);
    const otherFounding = await foundPerson(other.identity);
    const otherGroup = await createGroup(other.identity, { chain: otherFounding.entries });
    await other.api.groups.create.mutate({ entries: otherGroup.entries, boxes: otherGroup.boxes });
    const tablet = await device(server);
    const { person: longer } = await linkDevice(otherFounding, other.identity, tablet.identity);
    await other.api.people.append.mutate({ person: other.identity.fingerprint, entries: longer.entries.slice(1) });
    const { person: forked } = await linkDevice(otherFounding, other.identity, (await device(server)).identity);
    const third = await createGroup(other.identity, { chain: forked.entries });
    expect(await refusal(other.api.groups.create.mutate({ entries: third.entries, boxes: third.boxes }))).toEqual({ code: 'LOG_REJECTED', reason: 'device-chain' });
  });

  it('a chain append racing a group append at the same seq ends with one continuation, in the chain and the log alike', async () => {
    for (let round = 0; round < 4; round += 1) {
      const s = await stolen(server);
      const ana = s.laptop.identity.fingerprint;
      const tablet = await device(server);
      const { entry: honest } = await linkDevice(s.ana, s.laptop.identity, tablet.identity);
      const x = await device(server);
      const { entry: forked } = await linkDevice(s.ana, s.thief.identity, x.identity);
      const fork = await devicesEntry(s.state, s.thief.identity, ana, [forked], s.seed);
      const [chain, log] = await Promise.allSettled([
        s.laptop.api.people.append.mutate({ person: ana, entries: [honest] }),
        s.thief.api.groups.append.mutate({ groupId: s.groupId, entries: [fork.entry] }),
      ]);
      // Exactly one entry 2 wins.
      expect([chain.status, log.status].filter((status) => status === 'fulfilled')).toHaveLength(1);
      const copies = await bothCopies(s.laptop.api, s.groupId, ana);
      expect(copies.stored).toHaveLength(3);
      expect(copies.stored[2]).toBe(deviceEntryHash(chain.status === 'fulfilled' ? honest : forked));
      expect(copies.log).toEqual(copies.stored.slice(0, copies.log.length));
    }
  });
});
