/**
 * Safety numbers (DESIGN §3): Signal's displayable-fingerprint algorithm
 * (libsignal `fingerprint.rs`, version 0), pinned by `vectors/signal-safety-number.json`.
 * Each side's 30 digits come from 5200 rounds of SHA-512 over its key and stable id;
 * the two halves are sorted, so both devices show the same 60 digits.
 */
import { canonicalJson } from '../protocol/canonical.ts';
import { concatBytes, utf8 } from '../protocol/encoding.ts';
import type { PublicBundle } from '../protocol/schemas.ts';
import { fingerprintOf } from './identity.ts';
import { sha512Sync } from './primitives.ts';

export const SAFETY_NUMBER_ITERATIONS = 5200;
const FINGERPRINT_VERSION = new Uint8Array([0, 0]);

/**
 * One party's 30 digits: start from h = 0x0000 ‖ key ‖ stableId (unhashed), then
 * `iterations` times h = SHA-512(h ‖ key) — so the first hash covers
 * 0x0000 ‖ key ‖ stableId ‖ key; the first 30 bytes of the last hash as six 5-byte
 * big-endian numbers mod 100000.
 */
export function displayableHalf(key: Uint8Array, stableId: Uint8Array, iterations = SAFETY_NUMBER_ITERATIONS): string {
  let hash: Uint8Array = concatBytes(FINGERPRINT_VERSION, key, stableId);
  for (let i = 0; i < iterations; i++) hash = sha512Sync(concatBytes(hash, key));
  let digits = '';
  for (let chunk = 0; chunk < 6; chunk++) {
    let value = 0;
    for (let i = 0; i < 5; i++) value = value * 256 + (hash[chunk * 5 + i] ?? 0);
    digits += String(value % 100000).padStart(5, '0');
  }
  return digits;
}

/** Both halves sorted and joined: the same 60 digits on both devices. */
export function combineHalves(a: string, b: string): string {
  return a < b ? a + b : b + a;
}

/** Our key input for a device: its canonical public bundle; its stable id: its fingerprint. */
function halfForBundle(bundle: PublicBundle): string {
  return displayableHalf(utf8(canonicalJson(bundle)), utf8(fingerprintOf(bundle)));
}

/** The 60-digit safety number between two devices (order of arguments does not matter). */
export function safetyNumber(mine: PublicBundle, theirs: PublicBundle): string {
  return combineHalves(halfForBundle(mine), halfForBundle(theirs));
}

/** Twelve groups of five digits, as shown on screen. */
export function safetyNumberGroups(digits: string): string[] {
  return digits.match(/\d{5}/g) ?? [];
}

/** Normalises a typed safety number (spaces, dashes, line breaks ignored) to 60 digits, or null. */
export function normaliseTypedSafetyNumber(typed: string): string | null {
  const digits = typed.replace(/[\s-]/g, '');
  return /^\d{60}$/.test(digits) ? digits : null;
}
