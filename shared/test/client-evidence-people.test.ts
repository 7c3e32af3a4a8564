/**
 * Peer evidence is kept per device, and the exemptions that stop a member's own made-up
 * heads from locking others are per person (DESIGN §4: no single member can lock a
 * group). A person's linked device plants a signed head a million entries ahead on a
 * holder; neither the person's removal nor the unlink of that very device is held back.
 */
import { describe, expect, it } from 'vitest';
import { GroupClient } from '../src/client/group-client.ts';
import { MemoryKeyStore } from '../src/client/key-store.ts';
import { MemoryPersonStore } from '../src/client/person-store.ts';
import { chainHead, linkEntry, nextPosition, signConsent } from '../src/crypto/device-chain.ts';
import type { GroupState } from '../src/crypto/group-log.ts';
import type { HeadEvidence } from '../src/crypto/head-evidence.ts';
import { generateIdentity, type DeviceIdentity } from '../src/crypto/identity.ts';
import type { EntryHash, GroupId } from '../src/protocol/ids.ts';
import { memoryChannelPair } from '../src/p2p/channel.ts';
import { serveChannel } from '../src/p2p/holder-service.ts';
import { receiveKeyFromPeers, type JoinerTransport } from '../src/p2p/joiner-handover.ts';
import { MemoryApi } from './support/memory-api.ts';

interface Device {
  identity: DeviceIdentity;
  client: GroupClient;
}

async function device(api: MemoryApi, people = new MemoryPersonStore(), identity?: DeviceIdentity): Promise<Device> {
  const id = identity ?? (await generateIdentity());
  return { identity: id, client: new GroupClient({ identity: id, session: api.session(id), store: new MemoryKeyStore(), people }) };
}

/** `liar` dials `holder` claiming `claimed` as its head: the holder keeps the signed head as witnessed evidence. */
async function plantHead(liar: Device, holder: Device, groupId: GroupId, claimed: GroupState): Promise<void> {
  let served: Promise<unknown> | undefined;
  const transport = {
    online: async (ids: string[]) => ids.filter((id) => id === holder.identity.fingerprint),
    connect: () => {
      const [mine, theirs] = memoryChannelPair();
      served = serveChannel(
        theirs,
        holder.identity,
        async (id: GroupId) => {
          const held = await holder.client.heldGroup(id);
          return held && { ...held, notePeerHead: (e: HeadEvidence) => holder.client.notePeerHead(id, e) };
        },
        { closeGraceMs: 20 },
      );
      return mine;
    },
  } as unknown as JoinerTransport;
  await receiveKeyFromPeers(liar.identity, claimed, transport, { closeGraceMs: 20, notePeerHead: () => Promise.resolve() } as never);
  await served;
  expect((await holder.client.peerEvidence(groupId)).kind).toBe('behind');
}

/** Ana (admin) and Cy, whose second device cy2 is linked and caught up in a new group. */
async function setUp() {
  const api = new MemoryApi();
  const ana = await device(api);
  const cyPeople = new MemoryPersonStore();
  const cy = await device(api, cyPeople);
  await ana.client.publishPerson();
  await cy.client.publishPerson();
  const { groupId } = await ana.client.createGroup();
  await ana.client.addMember(groupId, cy.identity.fingerprint, 'member');
  await cy.client.openGroup(groupId);
  const cy2Identity = await generateIdentity();
  const own = await cy.client.people.own();
  const consent = await signConsent(cy2Identity, nextPosition(own, cy.identity.fingerprint));
  const chain = await cy.client.people.append([await linkEntry(own, cy.identity, cy2Identity.bundle, consent)]);
  const cy2People = new MemoryPersonStore();
  await cy2People.save({ person: chain.person, entries: (await cyPeople.load())!.entries, head: chainHead(chain) });
  const cy2 = await device(api, cy2People, cy2Identity);
  expect((await cy.client.sync(groupId)).devices.has(cy2Identity.fingerprint)).toBe(true);
  await cy2.client.openGroup(groupId);
  return { ana, cy, cy2, groupId };
}

const ahead = (state: GroupState): GroupState => ({ ...state, seq: 1_000_000, head: 'A'.repeat(43) as EntryHash });

describe('made-up heads signed by a linked device', () => {
  it('do not hold back the removal of its person', async () => {
    const { ana, cy, cy2, groupId } = await setUp();
    await plantHead(cy2, ana, groupId, ahead(await ana.client.sync(groupId)));
    await ana.client.removeMember(groupId, cy.identity.fingerprint);
    const state = await ana.client.sync(groupId);
    expect(state.members.has(cy.identity.fingerprint)).toBe(false);
    expect(state.devices.has(cy2.identity.fingerprint)).toBe(false);
  });

  it('do not hold back the unlink of that very device: the group still gets its new key', async () => {
    const { ana, cy, cy2, groupId } = await setUp();
    await plantHead(cy2, cy, groupId, ahead(await cy.client.sync(groupId)));
    const report = await cy.client.unlinkDevice(cy2.identity.fingerprint);
    expect(report.groups).toEqual([expect.objectContaining({ groupId, ok: true })]);
    const state = await ana.client.sync(groupId);
    expect(state.devices.has(cy2.identity.fingerprint)).toBe(false);
    expect(state.generations.length).toBe(2);
  });
});
