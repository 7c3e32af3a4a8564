/**
 * Several devices per person through the client SDK alone, against a real storage API
 * over HTTP (SQLite): linking a new device by QR payload and by typed code (it reads
 * every group at once, and others see one person with two devices); a wrong code and a
 * server that swaps the bundle behind a lookup are refused with nothing changed;
 * unlinking rotates every group, and the unlinked device gets no box; a group that
 * missed a change to the chain is caught up by the next sync (with a rotation when it
 * unlinks); a device unlinked in a chain this device pinned is never sealed to, even
 * while a group log still lists it; a removed member's device asking for boxes gets none;
 * and a group log holding a thief's continuation of the person's chain, at the same
 * length as the real chain (a server colluding with the thief), is a fork, never
 * "up to date" (THREAT-MODEL §4 item 9).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupClient, LinkError, MemoryKeyStore, MemoryPersonStore, signIn, type ApiSession, type LinkOutcome } from '../src/client/index.ts';
import { ApiCallError } from '../src/client/errors.ts';
import { linkDevice as linkDeviceWith, type LinkHost } from '../src/client/device-link.ts';
import { currentGeneration, devicesOf } from '../src/crypto/group-log.ts';
import { DeviceChainError } from '../src/crypto/errors.ts';
import { openerFor, openKeyBox } from '../src/crypto/key-box.ts';
import { generateIdentity, type DeviceIdentity } from '../src/crypto/identity.ts';
import { encodeLinkCode, linkQrPayload, newLinkSecret } from '../src/crypto/link-code.ts';
import { memoryChannelPair, type MessageChannel } from '../src/p2p/channel.ts';
import type { Fingerprint, GroupId } from '../src/protocol/ids.ts';
import type { KeyBox } from '../src/protocol/schemas.ts';
import { linkEntry, nextPosition, replayChain, signConsent } from '../src/crypto/device-chain.ts';
import { entryHash, nextEntry } from '../src/crypto/group-log.ts';
import { SqliteStore } from '../../storage-api/src/store/sqlite.ts';
import { startServer, type TestServer } from '../../storage-api/test/support/server.ts';

const HOUR = 3_600_000;

interface Dev {
  name: string;
  identity: DeviceIdentity;
  fingerprint: Fingerprint;
  session: ApiSession;
  store: MemoryKeyStore;
  people: MemoryPersonStore;
  client: GroupClient;
  /** Every key box this device's client appended or posted. */
  sealed: KeyBox[];
}

/** The session's API with every box the client sends recorded (what a rotation sealed, to whom). */
function recording(session: ApiSession, sealed: KeyBox[]): ApiSession {
  const api = session.api;
  const groups = new Proxy(api.groups, {
    get: (target, key) =>
      key === 'append' ? { mutate: (input: { boxes?: KeyBox[] }) => (sealed.push(...(input.boxes ?? [])), target.append.mutate(input as never)) } : Reflect.get(target, key),
  });
  const boxes = new Proxy(api.boxes, {
    get: (target, key) => (key === 'post' ? { mutate: (input: { boxes: KeyBox[] }) => (sealed.push(...input.boxes), target.post.mutate(input as never)) } : Reflect.get(target, key)),
  });
  return { ...session, api: new Proxy(api, { get: (target, key) => (key === 'groups' ? groups : key === 'boxes' ? boxes : Reflect.get(target, key)) }) };
}

async function device(server: TestServer, name: string, same?: { identity: DeviceIdentity; people: MemoryPersonStore; store: MemoryKeyStore }): Promise<Dev> {
  const identity = same?.identity ?? (await generateIdentity());
  const sealed: KeyBox[] = [];
  const session = recording(await signIn(server.url, identity), sealed);
  const store = same?.store ?? new MemoryKeyStore();
  const people = same?.people ?? new MemoryPersonStore();
  const client = new GroupClient({ identity, session, store, people, baseUrl: server.url, trustOf: () => 'verified' });
  return { name, identity, fingerprint: identity.fingerprint, session, store, people, client, sealed };
}

/**
 * Links `fresh` to `existing`'s person over an in-memory channel pair: by QR, the new
 * device accepts the one channel; by code, it waits on its incoming channels (`wait`),
 * where a stray dialler comes first and is refused without ending the wait.
 */
async function link(existing: Dev, fresh: Dev, how: 'qr' | 'code') {
  const offer = await fresh.client.offerLink();
  let accepted: Promise<LinkOutcome> | undefined;
  let deliver: ((channel: MessageChannel) => void) | undefined;
  if (how === 'code') {
    accepted = offer.wait({ onChannel: (handler) => ((deliver = handler), () => (deliver = undefined)) }, { timeoutMs: 20_000 });
    const [stray, answered] = memoryChannelPair();
    deliver!(answered);
    stray.send(JSON.stringify({ t: 'hello' }));
  }
  const connect = (peer: Fingerprint): MessageChannel => {
    expect(peer).toBe(fresh.fingerprint);
    const [e, n] = memoryChannelPair();
    if (deliver) deliver(n);
    else accepted = offer.accept(n, { timeoutMs: 20_000 });
    return e;
  };
  const report = await existing.client.linkDevice(how === 'qr' ? offer.qrPayload : offer.code, connect, { timeoutMs: 20_000 });
  return { report, outcome: await accepted! };
}

async function boxesAt(dev: Dev, groupId: GroupId, generation: number): Promise<KeyBox[] | 'refused'> {
  return dev.session.api.boxes.mine.query({ groupId }).then(
    (boxes) => boxes.filter((b) => b.generation === generation),
    () => 'refused' as const,
  );
}

describe('several devices per person through GroupClient (real HTTP)', () => {
  let server: TestServer;
  let ana: Dev, ben: Dev, laptop: Dev;
  let g1: GroupId, g2: GroupId;

  beforeAll(async () => {
    server = await startServer('sqlite');
    [ana, ben] = await Promise.all([device(server, 'Ana'), device(server, 'Ben')]);
    await ana.client.setProfile({ name: 'Ana', settings: { theme: 'dark' } });
    ({ groupId: g1 } = await ana.client.createGroup());
    ({ groupId: g2 } = await ana.client.createGroup());
    expect((await ben.client.join(await ana.client.invite(g1, { role: 'member', expiresInMs: HOUR, prekeyed: true }))).hasKey).toBe(true);
    expect((await ben.client.join(await ana.client.invite(g2, { role: 'admin', expiresInMs: HOUR, prekeyed: true }))).hasKey).toBe(true);
    await ana.client.writeNote(g1, { title: 'Plans', body: 'Friday' });
    await ben.client.writeNote(g1, { title: 'Budget', body: '42' });
    await ana.client.writeNote(g2, { title: 'Secret', body: 'only us' });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('links a device by QR: it reads every group at once, writes, and others see one person with two devices', async () => {
    laptop = await device(server, 'Laptop');
    const { report, outcome } = await link(ana, laptop, 'qr');
    expect(outcome).toMatchObject({ kind: 'linked', person: ana.fingerprint, by: ana.fingerprint, profile: { name: 'Ana', settings: { theme: 'dark' } }, keyless: [] });
    expect(outcome.kind === 'linked' && [...outcome.groups].sort()).toEqual([g1, g2].sort());
    expect(report.groups.every((g) => g.ok)).toBe(true);

    expect((await laptop.client.listNotes(g1)).notes.map((n) => n.ok && n.title).sort()).toEqual(['Budget', 'Plans']);
    expect((await laptop.client.listNotes(g2)).notes.map((n) => n.ok && n.title)).toEqual(['Secret']);
    const { cursor } = await ana.client.unreadCount(g1, 0);
    const written = await laptop.client.writeNote(g1, { title: 'From the laptop', body: 'hi' });
    expect((await ben.client.readNote(g1, written.noteId)).title).toBe('From the laptop');
    // A note from Ana's other device is news to Ben, not to Ana.
    expect((await ben.client.unreadCount(g1, cursor)).unread).toBe(1);
    expect((await ana.client.unreadCount(g1, cursor)).unread).toBe(0);

    const state = await ben.client.sync(g1);
    expect([...state.members.keys()].filter((p) => p !== state.recovery).sort()).toEqual([ana.fingerprint, ben.fingerprint].sort());
    expect(devicesOf(state, ana.fingerprint).map((d) => d.fingerprint).sort()).toEqual([ana.fingerprint, laptop.fingerprint].sort());
    expect((await laptop.client.person()).person).toBe(ana.fingerprint);
    expect((await ana.client.devices()).map((d) => [d.fingerprint, d.addedBy, d.thisDevice])).toEqual([
      [ana.fingerprint, null, true],
      [laptop.fingerprint, ana.fingerprint, false],
    ]);
  });

  it('links a device by typed code (its bundle found by lookup)', async () => {
    const phone = await device(server, 'Phone');
    const { outcome } = await link(laptop, phone, 'code');
    expect(outcome).toMatchObject({ kind: 'linked', person: ana.fingerprint, by: laptop.fingerprint });
    expect((await phone.client.listNotes(g2)).notes.map((n) => n.ok && n.title)).toEqual(['Secret']);
    await ana.client.unlinkDevice(phone.fingerprint);
  });

  it('a group the linking device holds no key of is handed over keyless: the new device asks the mailbox and gets the key from an admin', async () => {
    const { groupId: g3 } = await ben.client.createGroup();
    expect((await ana.client.join(await ben.client.invite(g3, { role: 'member', expiresInMs: HOUR }))).hasKey).toBe(false);
    const desktop = await device(server, 'Desktop');
    const { report, outcome } = await link(ana, desktop, 'qr');
    expect(report.groups.find((g) => g.groupId === g3)).toMatchObject({ ok: false, reason: 'no-key' });
    expect(outcome).toMatchObject({ kind: 'linked', keyless: [g3] });
    expect(await ben.client.pendingRequests(g3)).toContain(desktop.fingerprint);
    expect((await ben.client.handOverPending(g3)).sent).toContain(desktop.fingerprint);
    expect(await desktop.client.fetchKey(g3)).toBe(true);
    await ana.client.unlinkDevice(desktop.fingerprint);
  });

  it('a wrong code is refused and a server that swaps the bundle at lookup cannot link its device; nothing changes', async () => {
    const before = (await ana.client.devices()).length;
    const waiting = await device(server, 'Waiting');
    const offer = await waiting.client.offerLink();
    // The right device, the wrong secret: the new device refuses the offer.
    const wrongQr = linkQrPayload(waiting.fingerprint, newLinkSecret());
    const refused = await ana.client.linkDevice(wrongQr, () => {
      const [e, n] = memoryChannelPair();
      void offer.accept(n, { timeoutMs: 5_000 });
      return e;
    }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(LinkError);
    expect(refused).toMatchObject({ reason: 'bad-proof', by: 'peer' });
    // The person declines when shown the new device's fingerprint: nothing is committed.
    let shown: Fingerprint | undefined;
    const declined = await ana.client
      .linkDevice(
        offer.qrPayload,
        () => {
          const [e, n] = memoryChannelPair();
          void offer.accept(n, { timeoutMs: 5_000 });
          return e;
        },
        { confirm: async ({ fingerprint }) => ((shown = fingerprint), false) },
      )
      .catch((error: unknown) => error);
    expect(shown).toBe(waiting.fingerprint);
    expect(declined).toMatchObject({ reason: 'declined', by: 'me' });
    // A typed code nobody offered: no device behind its lookup.
    const unknown = await ana.client.linkDevice(encodeLinkCode(newLinkSecret()), () => memoryChannelPair()[0]).catch((error: unknown) => error);
    expect(unknown).toBeInstanceOf(ApiCallError);
    expect((unknown as ApiCallError).code).toBe('NOT_FOUND');

    // A server that answers the lookup with its own device's bundle: the impostor cannot prove the code.
    const impostor = await device(server, 'Impostor');
    const impostorOffer = await impostor.client.offerLink();
    const host = (ana.client as unknown as { linkHost(): LinkHost }).linkHost();
    const lying: LinkHost = {
      ...host,
      api: () =>
        new Proxy(host.api(), {
          get: (target, key) => (key === 'links' ? { ...target.links, find: { query: async () => ({ bundle: impostor.identity.bundle, expiresAt: Date.now() + HOUR }) } } : Reflect.get(target, key)),
        }),
    };
    let dialled: Fingerprint | undefined;
    const swapped = await linkDeviceWith(lying, offer.code, (peer) => {
      dialled = peer;
      const [e, n] = memoryChannelPair();
      void impostorOffer.accept(n, { timeoutMs: 5_000 });
      return e;
    }).catch((error: unknown) => error);
    expect(dialled).toBe(impostor.fingerprint);
    expect(swapped).toMatchObject({ reason: 'bad-proof' });
    expect((await ana.client.devices()).length).toBe(before);
    expect((await impostor.client.person()).person).toBe(impostor.fingerprint);
  });

  it('an admin adding a person refuses a lookup the server answers with another identity, by name', async () => {
    const [cleo, mallory] = await Promise.all([device(server, 'Cleo'), device(server, 'Mallory')]);
    await Promise.all([cleo.client.publishPerson(), mallory.client.publishPerson()]);
    const swapping: ApiSession = {
      ...ana.session,
      api: new Proxy(ana.session.api, {
        get: (target, key) =>
          key === 'people' ? { ...target.people, get: { query: () => target.people.get.query({ person: mallory.fingerprint }) } } : Reflect.get(target, key),
      }),
    };
    const admin = new GroupClient({ identity: ana.identity, session: swapping, store: ana.store, people: ana.people });
    const error = await admin.addMember(g2, cleo.fingerprint, 'member').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceChainError);
    expect(error).toMatchObject({ reason: 'wrong-person' });
    expect((await ana.client.sync(g2)).members.has(mallory.fingerprint)).toBe(false);
  });

  it('a device that published an identity of its own cannot offer itself for linking (a device belongs to one person)', async () => {
    const published = await device(server, 'Published');
    await published.client.publishPerson();
    await expect(published.client.offerLink()).rejects.toMatchObject({ reason: 'already-linked' });
    await expect(ana.client.offerLink()).rejects.toMatchObject({ reason: 'already-linked' });
  });

  it('a group that missed a chain change is caught up by the next sync; a device unlinked in a pinned chain is never sealed to', async () => {
    // A second client of Ana's device that knows only g1 (another CLI state, say).
    const onlyG1 = new MemoryKeyStore();
    await onlyG1.save((await ana.store.load(g1))!);
    const anaG1 = await device(server, 'Ana (g1 only)', { identity: ana.identity, people: ana.people, store: onlyG1 });
    const tablet = await device(server, 'Tablet');
    const { outcome } = await link(anaG1, tablet, 'qr');
    expect(outcome).toMatchObject({ kind: 'linked', groups: [g1] });
    // g2 still holds Ana's older chain; Ana's next sync of g2 appends the catch-up entry.
    const stale = (await ana.store.load(g2))!.state;
    expect(stale.devices.has(tablet.fingerprint)).toBe(false);
    const caughtUp = await ana.client.sync(g2);
    expect(caughtUp.devices.get(tablet.fingerprint)?.person).toBe(ana.fingerprint);
    // Linking takes no key from anyone: no new generation.
    expect(currentGeneration(caughtUp)).toBe(currentGeneration(stale));
    expect(caughtUp.seq).toBe(stale.seq + 1);

    expect(await ben.client.fetchKey(g2)).toBe(true);
    expect((await ben.store.load(g2))!.state.devices.has(tablet.fingerprint)).toBe(true);

    // Unlinked through the g1-only client: g1 rotates now, g2's log still lists the tablet.
    const unlinked = await anaG1.client.unlinkDevice(tablet.fingerprint);
    expect(unlinked.groups).toEqual([{ groupId: g1, ok: true, generation: expect.any(Number) }]);
    // Ben meets Ana's newer chain in g1 and pins it. Before his next sync of g2 (still
    // listing the tablet), he would not hand it the key live: his holder's view leaves it out.
    await ben.client.sync(g1);
    expect((await ben.store.load(g2))!.state.devices.has(tablet.fingerprint)).toBe(true);
    const g2Generation = currentGeneration((await ben.store.load(g2))!.state);
    expect((await ben.client.heldGroup(g2))!.state.devices.has(tablet.fingerprint)).toBe(false);
    // An admin of g2, his sync brings Ana's chain into g2 himself, with a rotation (§10b).
    const g2Ben = await ben.client.sync(g2);
    expect(g2Ben.devices.has(tablet.fingerprint)).toBe(false);
    expect(currentGeneration(g2Ben)).toBe(g2Generation + 1);
    ben.sealed.length = 0;
    const rotated = await ben.client.rotateKey(g2);
    const recipients = ben.sealed.filter((b) => b.generation === rotated.generation).map((b) => b.recipient.id);
    expect(recipients).toContain(laptop.fingerprint);
    expect(recipients).not.toContain(tablet.fingerprint);

    // Ana's next sync of g2 finds it caught up: the tablet is gone from the log too.
    const after = await ana.client.sync(g2);
    expect(after.devices.has(tablet.fingerprint)).toBe(false);
    expect(after.departedDevices.get(tablet.fingerprint)?.how).toBe('unlinked');
    expect(currentGeneration(after)).toBe(rotated.generation);
    expect(await boxesAt(tablet, g2, currentGeneration(after))).toSatisfy((b: unknown) => b === 'refused' || (Array.isArray(b) && b.length === 0));
  });

  it('unlinking a device rotates every group; the unlinked device gets no box of the new keys and reads nothing new', async () => {
    const generations = { [g1]: currentGeneration(await ana.client.sync(g1)), [g2]: currentGeneration(await ana.client.sync(g2)) };
    ana.sealed.length = 0;
    const report = await ana.client.unlinkDevice(laptop.fingerprint);
    // (Ben's third group is left aside here: Ana holds no key of it to rotate from.)
    expect(report.groups.filter((g) => g.groupId === g1 || g.groupId === g2).map((g) => [g.groupId, g.ok && g.generation]).sort()).toEqual(
      [
        [g1, generations[g1]! + 1],
        [g2, generations[g2]! + 1],
      ].sort(),
    );
    expect(ana.sealed.some((b) => b.recipient.id === laptop.fingerprint)).toBe(false);
    // Nor does any box of the new keys open for it.
    const g1State = await ana.client.state(g1);
    const newBoxes = ana.sealed.filter((b) => b.groupId === g1 && b.generation === generations[g1]! + 1);
    expect(newBoxes.length).toBeGreaterThan(0);
    for (const box of newBoxes) {
      expect(await openKeyBox(box, openerFor(laptop.identity), g1State)).toBeNull();
    }
    for (const groupId of [g1, g2]) {
      expect(await boxesAt(laptop, groupId, generations[groupId]! + 1)).toSatisfy((b: unknown) => b === 'refused' || (Array.isArray(b) && b.length === 0));
    }
    await ana.client.writeNote(g1, { title: 'After the laptop', body: 'new key' });
    await expect(laptop.client.listNotes(g1)).rejects.toThrow();
    expect((await ana.client.devices()).find((d) => d.fingerprint === laptop.fingerprint)?.unlinked?.by).toBe(ana.fingerprint);
  });

  it("a removed member's device asking for boxes gets nothing", async () => {
    const { generation } = await ana.client.removeMember(g1, ben.fingerprint);
    expect(await boxesAt(ben, g1, generation)).toSatisfy((b: unknown) => b === 'refused' || (Array.isArray(b) && b.length === 0));
  });
});

describe("a group log holding a thief's fork of the person's chain (a colluding server)", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startServer('sqlite');
  });

  afterAll(async () => {
    await server?.close();
  });

  it('after the unlink at the same seq, the catch-up reports a fork and every sync of that group fails with it', async () => {
    const [annie, thief] = await Promise.all([device(server, 'Annie'), device(server, 'Thief')]);
    expect((await link(annie, thief, 'qr')).outcome).toMatchObject({ kind: 'linked' });
    const { groupId } = await annie.client.createGroup();
    const state = await annie.client.state(groupId);
    // The thief, still Annie's device, links X into this group's copy of her chain (entry 2);
    // the server colludes: it writes the entry behind its own checks, and keeps Annie's stored chain apart.
    const x = await generateIdentity();
    const chain = state.members.get(annie.fingerprint)!.chain!;
    expect(chain.head).toBe((await replayChain((await annie.session.api.people.get.query({ person: annie.fingerprint })).entries)).head);
    const forked = await linkEntry(chain, thief.identity, x.bundle, await signConsent(x, nextPosition(chain, thief.fingerprint)));
    const entry = await nextEntry(state, thief.identity, 'devices', { person: annie.fingerprint, entries: [forked] });
    const tampered = new SqliteStore(server.dataDir!);
    try {
      expect(await tampered.appendEntries(groupId, [entry], { seq: entry.seq, hash: entryHash(entry) }, { memberships: [], invites: [], boxes: [] })).toMatchObject({ ok: true });
    } finally {
      await tampered.close();
    }
    // Annie syncs (the log's copy is ahead of her chain, on the same line so far), then unlinks the thief: her entry 2.
    expect((await annie.client.sync(groupId)).devices.get(x.fingerprint)?.person).toBe(annie.fingerprint);
    const report = await annie.client.unlinkDevice(thief.fingerprint);
    expect(report.groups).toEqual([{ groupId, ok: false, reason: 'fork', message: expect.stringContaining('entry 2') }]);
    const error = await annie.client.sync(groupId).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DeviceChainError);
    expect(error).toMatchObject({ reason: 'fork' });
  });
});
