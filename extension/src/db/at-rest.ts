/**
 * Secrets at rest on this device (generation seeds, a recovery code waiting to be
 * saved, the pages' unfinished drafts: note text, invite codes, and the text of the
 * notes this device opened, kept so a removed member still reads what it read) are sealed with AES-256-GCM under one device key: a `CryptoKey` generated
 * with `extractable: false` and kept in the `deviceKey` table. IndexedDB keeps the key
 * object itself, so the extension can use it after a restart, but no script can
 * export its bytes, and no seed or code is ever written to the profile's files in
 * clear. Each sealed value's associated data binds what it is, its group and (for a
 * seed) its generation: a value moved to another row does not open.
 *
 * What this does not do: a copy of the whole profile also holds the browser's
 * serialization of the device key, so someone who copies the files *and* parses that
 * format can open them (docs/THREAT-MODEL.md, "A stolen device or profile copy").
 */
import { aeadOpen, aeadSeal } from '@conclave/shared/crypto';
import type { GroupId } from '@conclave/shared/protocol';
import type { ConclaveDb, SealedSeed } from './schema.ts';

/** Associated-data labels of values sealed at rest (local to this device, not protocol). */
export const AT_REST_LABELS = {
  seed: 'conclave/v2/extension/at-rest/seed',
  pendingRecovery: 'conclave/v2/extension/at-rest/pending-recovery',
  draft: 'conclave/v2/extension/at-rest/draft',
  noteBody: 'conclave/v2/extension/at-rest/note-body',
} as const;

export const DEVICE_KEY_ID = 'at-rest';

/** A generation seed as stored (defined with the schema, which stores it). */
export type { SealedSeed } from './schema.ts';

const encoder = new TextEncoder();

function aad(label: string, ...parts: Array<string | number>): Uint8Array {
  // Each part on its own line: a group id never contains a newline, a number is a number.
  return encoder.encode([label, ...parts.map(String)].join('\n'));
}

const keys = new WeakMap<ConclaveDb, Promise<CryptoKey>>();

/**
 * This device's at-rest key, made on first use. Two first uses at once agree: the key
 * is added only if none is there yet, and the one stored wins.
 */
export function deviceKey(db: ConclaveDb): Promise<CryptoKey> {
  let key = keys.get(db);
  if (!key) {
    key = loadOrCreate(db);
    keys.set(db, key);
    key.catch(() => keys.delete(db));
  }
  return key;
}

async function loadOrCreate(db: ConclaveDb): Promise<CryptoKey> {
  const existing = await db.deviceKey.get(DEVICE_KEY_ID);
  if (existing) return existing.key;
  const fresh = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  return db.transaction('rw', db.deviceKey, async () => {
    const raced = await db.deviceKey.get(DEVICE_KEY_ID);
    if (raced) return raced.key;
    await db.deviceKey.add({ id: DEVICE_KEY_ID, key: fresh });
    return fresh;
  });
}

export async function sealSeed(db: ConclaveDb, groupId: GroupId, generation: number, seed: Uint8Array): Promise<SealedSeed> {
  return { sealed: await aeadSeal(await deviceKey(db), seed, aad(AT_REST_LABELS.seed, groupId, generation)) };
}

/** @throws {DecryptError} when the value was not sealed by this device for this group and generation. */
export async function openSeed(db: ConclaveDb, groupId: GroupId, generation: number, sealed: SealedSeed): Promise<Uint8Array> {
  return aeadOpen(await deviceKey(db), sealed.sealed, aad(AT_REST_LABELS.seed, groupId, generation), 'a stored group key');
}

export async function sealSeeds(db: ConclaveDb, groupId: GroupId, seeds: ReadonlyMap<number, Uint8Array>): Promise<Map<number, SealedSeed>> {
  // Side by side: WebCrypto works on them in parallel, and every sync saves the record.
  const sealed = await Promise.all([...seeds].map(async ([generation, seed]) => [generation, await sealSeed(db, groupId, generation, seed)] as const));
  return new Map(sealed);
}

/** Every seed of a stored group row, opened. */
export async function openSeeds(db: ConclaveDb, row: { groupId: GroupId; seeds: ReadonlyMap<number, SealedSeed> }): Promise<Map<number, Uint8Array>> {
  const opened = await Promise.all([...row.seeds].map(async ([generation, sealed]) => [generation, await openSeed(db, row.groupId, generation, sealed)] as const));
  return new Map(opened);
}

export async function sealRecoveryCode(db: ConclaveDb, groupId: GroupId, code: string): Promise<Uint8Array> {
  return aeadSeal(await deviceKey(db), encoder.encode(code), aad(AT_REST_LABELS.pendingRecovery, groupId));
}

export async function openRecoveryCode(db: ConclaveDb, groupId: GroupId, sealed: Uint8Array): Promise<string> {
  return new TextDecoder().decode(await aeadOpen(await deviceKey(db), sealed, aad(AT_REST_LABELS.pendingRecovery, groupId), 'a recovery code kept until saved'));
}

/** A page's draft as stored: its JSON, sealed (the draft's name is its associated data). */
export interface SealedDraft {
  v: 'sealed-draft';
  sealed: Uint8Array;
}

export function isSealedDraft(value: unknown): value is SealedDraft {
  return typeof value === 'object' && value !== null && (value as SealedDraft).v === 'sealed-draft' && (value as SealedDraft).sealed instanceof Uint8Array;
}

export async function sealDraft(db: ConclaveDb, key: string, value: unknown): Promise<SealedDraft> {
  return { v: 'sealed-draft', sealed: await aeadSeal(await deviceKey(db), encoder.encode(JSON.stringify(value ?? null)), aad(AT_REST_LABELS.draft, key)) };
}

/** @throws {DecryptError} when the draft was not sealed by this device under this name. */
export async function openDraft(db: ConclaveDb, key: string, sealed: SealedDraft): Promise<unknown> {
  return JSON.parse(new TextDecoder().decode(await aeadOpen(await deviceKey(db), sealed.sealed, aad(AT_REST_LABELS.draft, key), 'a draft'))) as unknown;
}

/** The text of a note version this device opened, sealed (bound to its group, note and version). */
export async function sealNoteBody(db: ConclaveDb, groupId: GroupId, noteId: string, version: number, body: string): Promise<Uint8Array> {
  return aeadSeal(await deviceKey(db), encoder.encode(body), aad(AT_REST_LABELS.noteBody, groupId, noteId, version));
}

/** @throws {DecryptError} when the text was not sealed by this device for this note version. */
export async function openNoteBody(db: ConclaveDb, groupId: GroupId, noteId: string, version: number, sealed: Uint8Array): Promise<string> {
  return new TextDecoder().decode(await aeadOpen(await deviceKey(db), sealed, aad(AT_REST_LABELS.noteBody, groupId, noteId, version), 'a kept note'));
}
