/**
 * The health of a group's key chain, in words, and the admin's remedy: "Rotate the key
 * now" (also the repair of a broken generation — the SDK continues from the newest
 * good key this device holds). What the SDK's `keyHealth` reports — a rotation owed
 * since a member left, generations that could not be opened, attributed to the device
 * that made them — becomes the panel's banners.
 */
import type { GroupClient, KeyHealth } from '@conclave/shared/client';
import { isAdmin, type GroupState } from '@conclave/shared/crypto';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import type { Request } from '../messages/protocol.ts';
import type { KeyHealthView } from '../messages/views.ts';
import type { Answers } from '../messages/answers.ts';
import type { Ctx } from './context.ts';
import { fail } from './errors.ts';
import { assertUsable, groupRow, quoted, stateWhere, viaClient } from './group-state.ts';

type Req<K extends Request['type']> = Extract<Request, { type: K }>;

/** `GroupClient.keyHealth`'s answer (shared/src/client/group-client.ts). */
export type { KeyHealth };

/** The SDK's key health for a group (this device's own reading of its chain; no network). */
export function keyHealthOf(client: GroupClient, groupId: GroupId): Promise<KeyHealth> {
  return client.keyHealth(groupId);
}

type Fault = KeyHealth['faults'][number];

const FAULT_WORDS: Record<Fault['kind'], string> = {
  'bad-link': 'it does not lead back to the keys before it',
  'bad-seed': 'it is not the key its maker announced',
  'bad-box': 'the copy sent to this device cannot be opened',
  'forged-box': 'a copy of it sent to this device was not made by who it claims',
  'bad-invite': 'the invite this device joined with was made so that its key could never be opened',
};

/** Key health as the panel shows it: names instead of fingerprints, reasons in words, repaired faults left out. */
export function keyHealthView(ctx: Ctx, health: KeyHealth | null, me: Fingerprint, state: GroupState): KeyHealthView {
  if (!health) return { owedRotation: null, faults: [], canRepair: false };
  // A fault's author is a device, an owed rotation names a person: both are shown as the person.
  const who = (fingerprint: Fingerprint | null) => (fingerprint === null ? 'an unknown device' : fingerprint === me ? 'this device' : ctx.trust.labelledIn(state, fingerprint));
  return {
    owedRotation: health.owedRotation ? { name: who(health.owedRotation.member), at: health.owedRotation.at } : null,
    faults: health.faults
      .filter((f) => !f.repaired)
      .map((f) => ({ generation: f.generation, authorName: who(f.author), at: f.at, kind: f.kind, reason: FAULT_WORDS[f.kind] })),
    canRepair: health.canRepair,
  };
}

/**
 * Starts a new key generation now, sealed to every member and the recovery key. After
 * a broken generation this is the repair: it continues from the newest good key.
 */
export async function rotateKey(ctx: Ctx, request: Req<'group.rotateKey'>): Promise<Answers['group.rotateKey']> {
  const { groupId } = request;
  assertUsable(await groupRow(ctx, groupId));
  const connection = await ctx.connections.get();
  const me = connection.identity.fingerprint;
  const { state, row } = await stateWhere(ctx, connection, groupId, (s) => isAdmin(s, me));
  if (!isAdmin(state, me)) fail('not-admin', `Only an admin of ${quoted(row.name)} can start a new key.`, 'Ask one of its admins.');
  const rotated = await viaClient(ctx, connection, groupId, () => connection.client.rotateKey(groupId));
  ctx.changed(groupId);
  return { generation: rotated.generation, unreachable: rotated.unreachable.length };
}
