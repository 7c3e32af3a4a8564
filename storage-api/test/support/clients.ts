/**
 * Devices for HTTP tests: a fresh identity, its own in-memory key store, a signed-in
 * session and a `GroupClient` — the same code the extension runs, against a real
 * server — whose one-device person (its device chain) is published. Trust marks stand for a compared safety number or a scanned QR code.
 */
import { GroupClient } from '@conclave/shared/client';
import { MemoryKeyStore } from '@conclave/shared/client';
import { signIn, type ApiSession } from '@conclave/shared/client';
import type { TrustState } from '@conclave/shared/crypto';
import { generateIdentity, type DeviceIdentity } from '@conclave/shared/crypto';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';

export interface Device {
  name: string;
  identity: DeviceIdentity;
  fingerprint: Fingerprint;
  session: ApiSession;
  store: MemoryKeyStore;
  client: GroupClient;
  /** Marks another device as verified (as after comparing the safety number). */
  trust: Map<Fingerprint, TrustState>;
}

/** @param options.publish publish the device's one-device person (default); a test counting calls turns it off. */
export async function newDevice(name: string, url: string, options: { publish?: boolean } = {}): Promise<Device> {
  const identity = await generateIdentity();
  const session = await signIn(url, identity);
  const store = new MemoryKeyStore();
  const trust = new Map<Fingerprint, TrustState>();
  const client = new GroupClient({
    identity,
    session,
    store,
    baseUrl: url,
    trustOf: (_groupId: GroupId, fingerprint: Fingerprint) => trust.get(fingerprint) ?? 'unverified',
  });
  // A person is added to a group by the chain the server holds (people.get): publish this device's one-device chain.
  if (options.publish ?? true) await client.publishPerson();
  return { name, identity, fingerprint: identity.fingerprint, session, store, client, trust };
}

/** Every generation seed a device's key store holds, for every group. */
export async function seedsHeld(device: Device): Promise<Uint8Array[]> {
  const seeds: Uint8Array[] = [];
  for (const groupId of await device.store.groups()) {
    const record = await device.store.load(groupId);
    if (record) seeds.push(...record.seeds.values());
  }
  return seeds;
}
