/**
 * The device database (extension/src/db): every table is marked secret or public, and
 * what the background keeps survives IndexedDB's structured clone — Maps and Sets in a
 * group's state, non-extractable CryptoKeys in the identity (fake-indexeddb here;
 * Chromium stores them the same way: extension/test/platform/ checks it in a real one).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createGroup } from '@conclave/shared/crypto';
import { logHead } from '@conclave/shared/crypto';
import { generateIdentity, signLabelled, verifyLabelled } from '@conclave/shared/crypto';
import { makeRegistrationToken } from '@conclave/shared/p2p';
import { createRegistrationVerifier } from '../../../signaling-server/src/auth.ts';
import { DexieKeyStore } from '../../src/db/key-store.ts';
import { openDb, TABLE_SECRECY, type ConclaveDb } from '../../src/db/schema.ts';

const opened: ConclaveDb[] = [];
let counter = 0;
function freshDb(): ConclaveDb {
  const db = openDb(`conclave-test-${Date.now()}-${counter++}`);
  opened.push(db);
  return db;
}
afterEach(async () => {
  for (const db of opened.splice(0)) {
    db.close();
    await db.delete();
  }
});

describe('device database schema', () => {
  it('every table in openDb() has a secrecy mark, and every mark names a table', async () => {
    const db = freshDb();
    await db.open();
    const tables = db.tables.map((t) => t.name).sort();
    expect(tables).toEqual(Object.keys(TABLE_SECRECY).sort());
    for (const mark of Object.values(TABLE_SECRECY)) expect(['secret', 'public']).toContain(mark);
  });

  it('the tables holding private keys, seeds, names and plaintext are marked secret', () => {
    for (const table of ['identity', 'groups', 'names', 'notes', 'drafts', 'pendingRecovery', 'shownQr', 'deviceKey'] as const) expect(TABLE_SECRECY[table]).toBe('secret');
  });
});

describe('DexieKeyStore under fake-indexeddb', () => {
  it('round-trips a GroupRecord with its Maps, Sets and seeds', async () => {
    const db = freshDb();
    const store = new DexieKeyStore(db);
    const creator = await generateIdentity();
    const group = await createGroup(creator);
    const record = { groupId: group.state.groupId, state: group.state, pinned: logHead(group.state), seeds: new Map([[0, group.seed]]) };
    await store.save(record);
    const back = await store.load(record.groupId);
    expect(back).toBeDefined();
    expect(back!.state.members).toBeInstanceOf(Map);
    expect([...back!.state.members.keys()].sort()).toEqual([...group.state.members.keys()].sort());
    expect(back!.state.generations[0]!.people).toBeInstanceOf(Set);
    expect(back!.state.devices).toBeInstanceOf(Map);
    expect(back!.seeds).toBeInstanceOf(Map);
    expect(back!.seeds.get(0)).toEqual(group.seed);
    expect(back).toEqual(record);
    expect(await store.groups()).toEqual([record.groupId]);
    // The extension's own fields are kept across saves of the key store's part.
    await db.groups.update(record.groupId, { name: 'Book club', notesCursor: 7 });
    await store.save({ ...record, seeds: new Map([[0, group.seed], [1, new Uint8Array(32).fill(1)]]) });
    const row = await db.groups.get(record.groupId);
    expect(row).toMatchObject({ name: 'Book club', notesCursor: 7, removed: false });
    expect(row!.seeds.size).toBe(2);
    // At rest every seed is sealed under the device key: the raw row has no seed bytes.
    for (const [generation, sealed] of row!.seeds) {
      const raw = Buffer.from(sealed.sealed);
      expect(raw.length).toBe(12 + 32 + 16);
      expect(raw.indexOf(Buffer.from(generation === 0 ? group.seed : new Uint8Array(32).fill(1)))).toBe(-1);
    }
    expect((await store.load(record.groupId))!.seeds.get(1)).toEqual(new Uint8Array(32).fill(1));
    await store.remove(record.groupId);
    expect(await store.load(record.groupId)).toBeUndefined();
  });

  it('stores the identity with non-extractable CryptoKeys that still sign after reading back', async () => {
    const db = freshDb();
    const identity = await generateIdentity();
    await db.identity.put({ id: 'device', identity, displayName: 'Ana', createdAt: Date.now() });
    const row = await db.identity.get('device');
    expect(row!.identity.signKeys.privateKey).toBeInstanceOf(CryptoKey);
    expect(row!.identity.signKeys.privateKey.extractable).toBe(false);
    expect(row!.identity.boxKeys.privateKey.extractable).toBe(false);
    await expect(crypto.subtle.exportKey('pkcs8', row!.identity.signKeys.privateKey)).rejects.toThrow();
    const sig = await signLabelled(row!.identity, 'conclave/v1/test', { hello: 'world' });
    expect(await verifyLabelled(identity.signKeys.publicBytes, sig, 'conclave/v1/test', { hello: 'world' })).toBe(true);
    // …and the registration token the background makes from it is accepted by the signaling server.
    const token = await makeRegistrationToken(row!.identity);
    await expect(createRegistrationVerifier({ maxAgeMs: 60_000 }).verifyRegistration(identity.fingerprint, token, Date.now())).resolves.toEqual({ ok: true, id: identity.fingerprint });
  });
});
