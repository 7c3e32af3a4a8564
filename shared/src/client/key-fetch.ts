/**
 * Fetching this device's key boxes (DESIGN §5): every box the server holds for this
 * device, from every sender, newest generation first. Each seed that opens is checked
 * against the log's commitment and walked down the log's links; a box or link that
 * fails is kept as an attributed fault, never a reason to stop. Once this device opens
 * the current generation from someone else's box, it posts a box to itself: that is
 * the confirmation that serves its mailbox request (and a server-side backup).
 */
import type { GenerationFault } from '../crypto/generations.ts';
import { currentGeneration } from '../crypto/group-log.ts';
import type { DeviceIdentity } from '../crypto/identity.ts';
import { openerFor, openSeedBoxes, sealKeyBox } from '../crypto/key-box.ts';
import type { KeyBox } from '../protocol/schemas.ts';
import type { ApiClient } from './api-session.ts';
import { call } from './errors.ts';
import type { GroupRecord } from './key-store.ts';

/** Adds `found` to `known`, once each (the same fault is met on every fetch). */
export function mergeFaults(known: readonly GenerationFault[] | undefined, found: readonly GenerationFault[]): GenerationFault[] | undefined {
  if (found.length === 0) return known ? [...known] : undefined;
  const merged = [...(known ?? [])];
  const keys = new Set(merged.map(faultKey));
  for (const fault of found) {
    if (keys.has(faultKey(fault))) continue;
    keys.add(faultKey(fault));
    merged.push(fault);
  }
  return merged;
}

function faultKey(fault: GenerationFault): string {
  return `${fault.kind}:${fault.generation}:${fault.author ?? '-'}:${fault.linked ?? '-'}`;
}

/**
 * Opens every box the server lists for this device at a generation it does not hold
 * yet, and returns the record with the seeds they give and the faults met (the same
 * record when nothing changed).
 */
export async function withNewestKey(api: ApiClient, identity: DeviceIdentity, record: GroupRecord): Promise<GroupRecord> {
  const { state, groupId } = record;
  if (!state.devices.has(identity.fingerprint)) return record;
  const boxes = await call('fetching key boxes', () => api.boxes.mine.query({ groupId }));
  const opened = await openBoxes(identity, record, boxes);
  if (opened === record) return record;
  const current = currentGeneration(state);
  const confirmed = boxes.some((b) => b.generation === current && b.sender === identity.fingerprint);
  const seed = opened.seeds.get(current);
  if (seed && !confirmed && !record.seeds.has(current)) {
    const box = await sealKeyBox(identity, groupId, current, seed, { kind: 'member', id: identity.fingerprint }, identity.boxKeys.publicBytes);
    await call('confirming the key arrived', () => api.boxes.post.mutate({ groupId, boxes: [box] }));
  }
  return opened;
}

/** The record with whatever `boxes` add to it; pure apart from crypto. */
export async function openBoxes(identity: DeviceIdentity, record: GroupRecord, boxes: readonly KeyBox[]): Promise<GroupRecord> {
  const { seeds, faults } = await openSeedBoxes(boxes, openerFor(identity), record.state, record.seeds);
  if (seeds.size === record.seeds.size && faults.length === 0) return record;
  const merged = mergeFaults(record.faults, faults);
  return { ...record, seeds, ...(merged ? { faults: merged } : {}) };
}
