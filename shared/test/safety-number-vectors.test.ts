/**
 * Signal's displayable fingerprint (libsignal fingerprint.rs, version 0) against the
 * published vector: each party's 30 digits, and the sorted 60-digit concatenation.
 */
import { describe, expect, it } from 'vitest';
import { combineHalves, displayableHalf } from '../src/crypto/safety-number.ts';
import { fromHex, utf8 } from '../src/protocol/encoding.ts';
import { signalSafetyNumber } from './vectors/load.ts';

interface SignalParty {
  key_hex: string;
  stable_id_utf8: string;
  digits: string;
}

interface SignalVectorFile {
  iterations: number;
  alice: SignalParty;
  bob: SignalParty;
  displayable: string;
}

const vector: SignalVectorFile = signalSafetyNumber;

function half(party: SignalParty): string {
  return displayableHalf(fromHex(party.key_hex), utf8(party.stable_id_utf8), vector.iterations);
}

describe('Signal safety number vector', () => {
  it('uses the iteration count we ship', () => {
    expect(vector.iterations).toBe(5200);
  });

  it("alice's half", () => {
    expect(half(vector.alice)).toBe(vector.alice.digits);
  });

  it("bob's half", () => {
    expect(half(vector.bob)).toBe(vector.bob.digits);
  });

  it('the default iteration count is the vector one', () => {
    expect(displayableHalf(fromHex(vector.alice.key_hex), utf8(vector.alice.stable_id_utf8))).toBe(vector.alice.digits);
  });

  it('both orders combine to the displayable number', () => {
    const alice = half(vector.alice);
    const bob = half(vector.bob);
    expect(combineHalves(alice, bob)).toBe(vector.displayable);
    expect(combineHalves(bob, alice)).toBe(vector.displayable);
    expect(vector.displayable).toMatch(/^\d{60}$/);
  });

  it('changing one byte of the key changes the digits', () => {
    const key = fromHex(vector.alice.key_hex);
    const id = utf8(vector.alice.stable_id_utf8);
    for (const index of [0, key.length - 1]) {
      const changed = Uint8Array.from(key);
      changed[index] = (changed[index] ?? 0) ^ 0x01;
      const digits = displayableHalf(changed, id, vector.iterations);
      expect(digits).toMatch(/^\d{30}$/);
      expect(digits, `key byte ${index}`).not.toBe(vector.alice.digits);
    }
  });

  it('changing one byte of the stable id changes the digits', () => {
    const key = fromHex(vector.bob.key_hex);
    const id = utf8(vector.bob.stable_id_utf8);
    for (const index of [0, id.length - 1]) {
      const changed = Uint8Array.from(id);
      changed[index] = (changed[index] ?? 0) ^ 0x01;
      const digits = displayableHalf(key, changed, vector.iterations);
      expect(digits).toMatch(/^\d{30}$/);
      expect(digits, `id byte ${index}`).not.toBe(vector.bob.digits);
    }
  });

  it('a different iteration count changes the digits', () => {
    expect(displayableHalf(fromHex(vector.alice.key_hex), utf8(vector.alice.stable_id_utf8), vector.iterations - 1)).not.toBe(vector.alice.digits);
  });
});
