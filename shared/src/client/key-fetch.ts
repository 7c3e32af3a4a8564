/**
 * Fetching this device's key boxes (DESIGN §5): the newest box that opens gives the
 * current seed, and the log's `prevWrap` chain every older one.
 */
import { seedChain } from '../crypto/generations.ts';
import type { DeviceIdentity } from '../crypto/identity.ts';
import { openKeyBox, openerFor } from '../crypto/key-box.ts';
import type { ApiClient } from './api-session.ts';
import { call } from './errors.ts';
import type { GroupRecord } from './key-store.ts';

/**
 * Opens the newest box the server lists for this device that is newer than what it
 * holds, and returns the record with the seeds it gives (the same record when none).
 */
export async function withNewestKey(api: ApiClient, identity: DeviceIdentity, record: GroupRecord): Promise<GroupRecord> {
  const { state, groupId } = record;
  if (!state.members.has(identity.fingerprint)) return record;
  const boxes = await call('fetching key boxes', () => api.boxes.mine.query({ groupId }));
  const newest = [...boxes].sort((a, b) => b.generation - a.generation);
  for (const box of newest) {
    // Seeds are kept as whole chains: holding this generation means holding every older one.
    if (record.seeds.has(box.generation)) break;
    let seed: Uint8Array | null;
    try {
      seed = await openKeyBox(box, openerFor(identity), state);
    } catch {
      // The server chooses what it lists: a junk box must not hide a good one.
      continue;
    }
    if (!seed) continue;
    const seeds = new Map(record.seeds);
    for (const [g, s] of await seedChain(state, box.generation, seed)) seeds.set(g, s);
    return { ...record, seeds };
  }
  return record;
}
