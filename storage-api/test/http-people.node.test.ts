/**
 * People's device chains and link offers over real HTTP, on SQLite and PostgreSQL:
 * publishing a chain, reading it by person and by device, appending with
 * compare-and-set (a stale or rolled-back append is CONFLICT with the head), the chain
 * rules replayed by the server (a forged link refused by name), one person per device
 * (a device another person holds is `device-claimed`), and link offers by lookup with
 * their expiry.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiErrorOf, signIn, type ApiSession } from '@conclave/shared/client';
import { chainHead, generateIdentity, linkEntry, nextPosition, signConsent, type DeviceIdentity } from '@conclave/shared/crypto';
import { LINK_OFFER_MAX_MS, toBase64url } from '@conclave/shared/protocol';
import { extended, foundPerson, linkDevice, linkDeviceEntry, unlinkDevice } from './support/people.ts';
import { STORE_KINDS, startServer, type TestServer } from './support/server.ts';

interface Signed {
  identity: DeviceIdentity;
  api: ApiSession['api'];
}

async function device(server: TestServer): Promise<Signed> {
  const identity = await generateIdentity();
  return { identity, api: (await signIn(server.url, identity)).api };
}

/** The Conclave error data a call fails with. */
async function refusal(promise: Promise<unknown>): Promise<ReturnType<typeof apiErrorOf>> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, 'expected the call to be refused').not.toBeNull();
  return apiErrorOf(error);
}

describe.each(STORE_KINDS)('people and links over HTTP (%s)', (kind) => {
  let server: TestServer;
  const clock = { now: Date.now() };

  beforeAll(async () => {
    server = await startServer(kind, { now: () => clock.now });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('publishes a chain, reads it by person and by device, and appends with compare-and-set', async () => {
    const laptop = await device(server);
    const phone = await device(server);
    let person = await foundPerson(laptop.identity);
    const published = await laptop.api.people.append.mutate({ person: laptop.identity.fingerprint, entries: person.entries });
    expect(published.head).toEqual(chainHead(person.state));
    expect(await phone.api.people.get.query({ person: laptop.identity.fingerprint })).toEqual({ entries: person.entries, head: published.head });

    const linked = await linkDevice(person, laptop.identity, phone.identity, clock.now);
    // The new device itself may post its own link (it is a current device once the entry applies).
    const appended = await phone.api.people.append.mutate({ person: laptop.identity.fingerprint, entries: [linked.entry] });
    person = linked.person;
    expect(appended.head).toEqual(chainHead(person.state));
    expect(await laptop.api.people.ofDevice.query({ device: phone.identity.fingerprint })).toEqual({ entries: person.entries, head: appended.head });

    // Appending at an old position (a stale client, or a replay of entry 1) is CONFLICT with the current head.
    expect(await refusal(laptop.api.people.append.mutate({ person: laptop.identity.fingerprint, entries: [linked.entry] }))).toEqual({ code: 'CONFLICT', head: appended.head });
    // Publishing the found entry again (a rollback to a one-device chain) is CONFLICT too, and changes nothing.
    expect(await refusal(laptop.api.people.append.mutate({ person: laptop.identity.fingerprint, entries: person.entries.slice(0, 1) }))).toMatchObject({ code: 'CONFLICT', head: appended.head });
    expect((await laptop.api.people.get.query({ person: laptop.identity.fingerprint })).head).toEqual(appended.head);

    // Two devices racing for the same position: one wins, the other gets CONFLICT with the winner's head.
    const tablet = await device(server);
    const desktop = await device(server);
    const [a, b] = await Promise.all([linkDeviceEntry(person.state, laptop.identity, tablet.identity, clock.now), linkDeviceEntry(person.state, phone.identity, desktop.identity, clock.now)]);
    const results = await Promise.allSettled([
      laptop.api.people.append.mutate({ person: laptop.identity.fingerprint, entries: [a] }),
      phone.api.people.append.mutate({ person: laptop.identity.fingerprint, entries: [b] }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(apiErrorOf(lost.reason)?.code).toBe('CONFLICT');
  });

  it('unlinks a device; the unlinked device can no longer append, and it learns it was unlinked', async () => {
    const laptop = await device(server);
    const phone = await device(server);
    const founded = await foundPerson(laptop.identity);
    const { person: two, entry: link } = await linkDevice(founded, laptop.identity, phone.identity, clock.now);
    await laptop.api.people.append.mutate({ person: laptop.identity.fingerprint, entries: [...founded.entries, link] });
    const { person: one, entry: unlink } = await unlinkDevice(two, laptop.identity, phone.identity.fingerprint, clock.now);
    // The phone cannot post the entry that unlinks it: it is not a device of the result.
    expect(await refusal(phone.api.people.append.mutate({ person: laptop.identity.fingerprint, entries: [unlink] }))).toMatchObject({ code: 'FORBIDDEN' });
    await laptop.api.people.append.mutate({ person: laptop.identity.fingerprint, entries: [unlink] });
    // The unlinked device still finds the chain that names it, and sees itself unlinked there.
    expect((await phone.api.people.ofDevice.query({ device: phone.identity.fingerprint })).head).toEqual(chainHead(one.state));
    // It can never be linked back, to this person or to anyone else.
    const other = await device(server);
    const otherPerson = await foundPerson(other.identity);
    await other.api.people.append.mutate({ person: other.identity.fingerprint, entries: otherPerson.entries });
    const relink = await linkDeviceEntry(otherPerson.state, other.identity, phone.identity, clock.now);
    expect(await refusal(other.api.people.append.mutate({ person: other.identity.fingerprint, entries: [relink] }))).toEqual({ code: 'CHAIN_REJECTED', reason: 'device-claimed' });
  });

  it('refuses a device forged into a chain by name, and a chain published by another device', async () => {
    const laptop = await device(server);
    const intruder = await device(server);
    const person = await foundPerson(laptop.identity);
    await laptop.api.people.append.mutate({ person: laptop.identity.fingerprint, entries: person.entries });

    // The intruder certifies itself: the entry is signed by a device that is not the person's.
    const consent = await signConsent(intruder.identity, nextPosition(person.state, intruder.identity.fingerprint));
    const forged = await linkEntry(person.state, intruder.identity, intruder.identity.bundle, consent, clock.now);
    expect(await refusal(intruder.api.people.append.mutate({ person: laptop.identity.fingerprint, entries: [forged] }))).toEqual({ code: 'CHAIN_REJECTED', reason: 'not-a-device' });

    // A real device's link with a consent the new device never gave (made for another position).
    const victim = await generateIdentity();
    const wrongConsent = await signConsent(victim, { ...nextPosition(person.state, laptop.identity.fingerprint), seq: 7 });
    const unconsented = await linkEntry(person.state, laptop.identity, victim.bundle, wrongConsent, clock.now);
    expect(await refusal(laptop.api.people.append.mutate({ person: laptop.identity.fingerprint, entries: [unconsented] }))).toEqual({ code: 'CHAIN_REJECTED', reason: 'bad-signature' });

    // Someone else's founding chain, published by a device that is not its founder.
    const absent = await generateIdentity();
    const theirs = await foundPerson(absent);
    expect(await refusal(intruder.api.people.append.mutate({ person: absent.fingerprint, entries: theirs.entries }))).toMatchObject({ code: 'FORBIDDEN' });
    // Entries of another person under this person's name.
    expect(await refusal(intruder.api.people.append.mutate({ person: laptop.identity.fingerprint, entries: theirs.entries }))).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await refusal(intruder.api.people.get.query({ person: absent.fingerprint }))).toMatchObject({ code: 'NOT_FOUND' });
    expect(await refusal(intruder.api.people.ofDevice.query({ device: absent.fingerprint }))).toMatchObject({ code: 'NOT_FOUND' });
    // Nothing was stored by any of these.
    expect(await laptop.api.people.get.query({ person: laptop.identity.fingerprint })).toEqual({ entries: person.entries, head: chainHead(person.state) });
  });

  it('refuses a device that already speaks for another person (device-claimed)', async () => {
    const alice = await device(server);
    const bob = await device(server);
    const shared = await device(server);
    const alicePerson = await foundPerson(alice.identity);
    const bobPerson = await foundPerson(bob.identity);
    await alice.api.people.append.mutate({ person: alice.identity.fingerprint, entries: alicePerson.entries });
    await bob.api.people.append.mutate({ person: bob.identity.fingerprint, entries: bobPerson.entries });
    const { entry: toAlice } = await linkDevice(alicePerson, alice.identity, shared.identity, clock.now);
    await alice.api.people.append.mutate({ person: alice.identity.fingerprint, entries: [toAlice] });
    // The same device, consenting again, linked by Bob: refused, whoever posts it.
    const toBob = await linkDeviceEntry(bobPerson.state, bob.identity, shared.identity, clock.now);
    expect(await refusal(bob.api.people.append.mutate({ person: bob.identity.fingerprint, entries: [toBob] }))).toEqual({ code: 'CHAIN_REJECTED', reason: 'device-claimed' });
    // Alice's linked device cannot found a person of its own either, nor can Bob's founding device be linked to Alice.
    const ownChain = await foundPerson(shared.identity);
    expect(await refusal(shared.api.people.append.mutate({ person: shared.identity.fingerprint, entries: ownChain.entries }))).toEqual({ code: 'CHAIN_REJECTED', reason: 'device-claimed' });
    const aliceNow = await extended(alicePerson, [toAlice]);
    const bobToAlice = await linkDeviceEntry(aliceNow.state, alice.identity, bob.identity, clock.now);
    expect(await refusal(alice.api.people.append.mutate({ person: alice.identity.fingerprint, entries: [bobToAlice] }))).toEqual({ code: 'CHAIN_REJECTED', reason: 'device-claimed' });
    expect((await bob.api.people.ofDevice.query({ device: shared.identity.fingerprint })).entries[0]!.person).toBe(alice.identity.fingerprint);
  });

  it('keeps one link offer per lookup until it expires', async () => {
    const waiting = await device(server);
    const other = await device(server);
    const finder = await device(server);
    const lookup = toBase64url(randomBytes(16));
    expect(await refusal(finder.api.links.find.query({ lookup }))).toMatchObject({ code: 'NOT_FOUND' });
    // An offer carries the signed-in device's own bundle, for at most LINK_OFFER_MAX_MS.
    expect(await refusal(other.api.links.offer.mutate({ lookup, bundle: waiting.identity.bundle, expiresAt: clock.now + 60_000 }))).toMatchObject({ code: 'FORBIDDEN' });
    expect(await refusal(waiting.api.links.offer.mutate({ lookup, bundle: waiting.identity.bundle, expiresAt: clock.now + LINK_OFFER_MAX_MS + 1 }))).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await refusal(waiting.api.links.offer.mutate({ lookup, bundle: waiting.identity.bundle, expiresAt: clock.now }))).toMatchObject({ code: 'BAD_REQUEST' });

    const expiresAt = clock.now + 60_000;
    expect(await waiting.api.links.offer.mutate({ lookup, bundle: waiting.identity.bundle, expiresAt })).toEqual({ expiresAt });
    expect(await finder.api.links.find.query({ lookup })).toEqual({ bundle: waiting.identity.bundle, expiresAt });
    // Another device cannot take the lookup over; the same device renews its own offer.
    expect(await refusal(other.api.links.offer.mutate({ lookup, bundle: other.identity.bundle, expiresAt }))).toMatchObject({ code: 'CONFLICT' });
    await waiting.api.links.offer.mutate({ lookup, bundle: waiting.identity.bundle, expiresAt: expiresAt + 1000 });
    expect((await finder.api.links.find.query({ lookup })).expiresAt).toBe(expiresAt + 1000);

    // After expiry it is gone, and the lookup is free again.
    clock.now = expiresAt + 1000;
    expect(await refusal(finder.api.links.find.query({ lookup }))).toMatchObject({ code: 'NOT_FOUND' });
    await other.api.links.offer.mutate({ lookup, bundle: other.identity.bundle, expiresAt: clock.now + 1000 });
    expect((await finder.api.links.find.query({ lookup })).bundle).toEqual(other.identity.bundle);
    clock.now = Date.now();
    // Housekeeping purges expired offers.
    await server.app.deps.store.purgeExpired(clock.now + LINK_OFFER_MAX_MS);
    expect(await server.app.deps.store.findLinkOffer(lookup, 0)).toBeNull();
  });
});
