/**
 * The verified-bundle cache: a bundle seen before skips its own verification, each
 * token's signature is still checked, and a bundle that fails is never remembered.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, type DeviceIdentity } from '@conclave/shared/crypto';
import { makeRegistrationToken } from '@conclave/shared/p2p';
import { parseBundle } from '@conclave/shared/verify';
import { createPresenceVerifier, createRegistrationVerifier } from '../src/auth.ts';
import { VerifiedBundleCache } from '../src/bundle-cache.ts';
import { makePresenceToken } from '@conclave/shared/p2p';

describe('verified bundle cache', () => {
  let alice: DeviceIdentity;
  let bob: DeviceIdentity;
  beforeAll(async () => {
    [alice, bob] = await Promise.all([generateIdentity(), generateIdentity()]);
  });

  function counting(maxEntries?: number): { cache: VerifiedBundleCache; calls: () => number } {
    let calls = 0;
    const cache = new VerifiedBundleCache(maxEntries, (input) => {
      calls++;
      return parseBundle(input);
    });
    return { cache, calls: () => calls };
  }

  it('verifies a bundle once, then checks only each token', async () => {
    const { cache, calls } = counting();
    const v = createRegistrationVerifier({ maxAgeMs: 60_000, bundles: cache });
    for (let i = 0; i < 3; i++) expect(await v.verifyRegistration(alice.fingerprint, await makeRegistrationToken(alice))).toEqual({ ok: true, id: alice.fingerprint });
    expect(calls()).toBe(1);
    // Alice's cached bundle does not let a token signed by someone else through.
    const forged = await makeRegistrationToken(bob, Date.now(), { id: alice.fingerprint, bundle: alice.bundle });
    expect(await v.verifyRegistration(alice.fingerprint, forged)).toEqual({ ok: false, reason: 'bad-signature' });
    // Nor a replay, nor a stale token.
    const token = await makeRegistrationToken(alice);
    expect((await v.verifyRegistration(alice.fingerprint, token)).ok).toBe(true);
    expect(await v.verifyRegistration(alice.fingerprint, token)).toEqual({ ok: false, reason: 'replayed' });
    expect(await v.verifyRegistration(alice.fingerprint, await makeRegistrationToken(alice, Date.now() - 120_000))).toEqual({ ok: false, reason: 'stale' });
  });

  it('never remembers a bundle that failed, and a changed bundle is verified afresh', async () => {
    const { cache, calls } = counting();
    const v = createRegistrationVerifier({ maxAgeMs: 60_000, bundles: cache });
    const bad = { ...alice.bundle, boxKey: bob.bundle.boxKey };
    for (let i = 0; i < 2; i++) expect(await v.verifyRegistration(alice.fingerprint, await makeRegistrationToken(alice, Date.now(), { bundle: bad }))).toEqual({ ok: false, reason: 'invalid-bundle' });
    expect(calls()).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('is shared by registration and presence, and stays within its bound', async () => {
    const { cache, calls } = counting(1);
    const registration = createRegistrationVerifier({ maxAgeMs: 60_000, bundles: cache });
    const presence = createPresenceVerifier({ maxAgeMs: 60_000, bundles: cache });
    expect((await registration.verifyRegistration(alice.fingerprint, await makeRegistrationToken(alice))).ok).toBe(true);
    expect(await presence.verifyPresence(await makePresenceToken(alice))).toEqual({ ok: true, id: alice.fingerprint });
    expect(calls()).toBe(1);
    expect((await registration.verifyRegistration(bob.fingerprint, await makeRegistrationToken(bob))).ok).toBe(true);
    expect(cache.size).toBe(1);
    // Alice was evicted: verified in full again.
    expect((await registration.verifyRegistration(alice.fingerprint, await makeRegistrationToken(alice))).ok).toBe(true);
    expect(calls()).toBe(3);
  });
});
