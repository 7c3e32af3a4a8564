/** `conclave group create|list|members|invite|remove|rotate|leave|handover`. */
import { inviteLink, type GroupClient, type HandoverResult } from '@conclave/shared/client';
import { currentGeneration, devicesOf, isAdmin, shortFingerprint, type GroupState } from '@conclave/shared/crypto';
import type { Fingerprint, GroupId, Role } from '@conclave/shared/protocol';
import type { Device } from '../device.ts';
import { CliError, EXIT } from '../errors.ts';
import { listWithNames, publishProfile, writeGroupName } from '../names.ts';
import { emit, iso, table, who } from '../output.ts';
import { isMine, myMember, whoseDevice } from '../people.ts';
import { resolveGroup, resolveMember } from '../resolve.ts';
import { confirm } from './confirm.ts';

export async function create(device: Device, name: string, options: { policy?: string; json?: boolean }): Promise<void> {
  const trimmed = name.trim();
  if (!trimmed || trimmed.length > 80) throw new CliError(EXIT.usage, 'a group name has 1 to 80 characters');
  if (options.policy && options.policy !== 'verified' && options.policy !== 'invite-trust') throw new CliError(EXIT.usage, '--policy is "verified" (the default: the key goes only to members someone verified) or "invite-trust"');
  const client = await device.client();
  const { groupId, recoveryCode } = await client.createGroup(options.policy ? { policy: options.policy as 'verified' | 'invite-trust' } : {});
  await writeGroupName(device, groupId, trimmed);
  await publishProfile(device, groupId);
  emit(ctx(device), options.json, { groupId, name: trimmed, recoveryCode }, [
    `Created the group "${trimmed}" (${groupId}).`,
    '',
    `Recovery code: ${recoveryCode}`,
    '',
    'Write the recovery code down and keep it somewhere safe, away from this computer. It restores the group on a new device (`conclave restore`) if every admin device is lost. It is shown only this once: it is stored nowhere.',
  ]);
}

function ctx(device: Device) {
  return device.ctx;
}

/** Role of the person this device speaks for, as shown. */
function myRole(state: GroupState, device: Device): Role | 'not a member' {
  return myMember(state, device)?.role ?? 'not a member';
}

export interface GroupSummaryJson {
  groupId: GroupId;
  name: string | null;
  role: Role | 'not a member';
  members: number;
  generation: number;
  holdsKey: boolean;
  synced: boolean;
}

export async function list(device: Device, options: { json?: boolean; offline?: boolean }): Promise<void> {
  const ids = await device.store.groups();
  const rows: GroupSummaryJson[] = [];
  let client: GroupClient | undefined;
  for (const groupId of ids) {
    let synced = false;
    if (!options.offline) {
      client ??= await device.client();
      await client.fetchKey(groupId);
      if (isMine(await client.state(groupId), device)) await listWithNames(device, groupId);
      synced = true;
    }
    const record = (await device.store.load(groupId))!;
    const { state } = record;
    rows.push({
      groupId,
      name: device.names.groupName(groupId) ?? null,
      role: myRole(state, device),
      members: [...state.members.keys()].filter((fp) => fp !== state.recovery).length,
      generation: currentGeneration(state),
      holdsKey: record.seeds.has(currentGeneration(state)),
      synced,
    });
  }
  const lines =
    rows.length === 0
      ? ['No groups on this device yet: `conclave group create <name>`, `conclave join <invite>` or `conclave restore <recovery code>`.']
      : table([['NAME', 'ID', 'ROLE', 'MEMBERS', 'KEY'], ...rows.map((r) => [r.name ?? '(unnamed)', r.groupId, r.role, String(r.members), r.holdsKey ? 'yes' : 'waiting'])]);
  emit(device.ctx, options.json, { groups: rows }, lines);
}

export interface MemberJson {
  /** The person's id: the fingerprint of the device that founded them (it never changes). */
  fingerprint: Fingerprint;
  name: string | null;
  role: Role;
  /** The person this device speaks for. */
  me: boolean;
  verified: boolean;
  via: string;
  /** How many devices currently speak for them. */
  devices: number;
}

export async function members(device: Device, ref: string, options: { json?: boolean }): Promise<void> {
  const groupId = await resolveGroup(device, ref);
  const client = await device.client();
  await client.fetchKey(groupId);
  const state = await client.state(groupId);
  const mine = myMember(state, device)?.fingerprint;
  if (mine) await listWithNames(device, groupId);
  const rows: MemberJson[] = [...state.members.values()]
    .filter((m) => m.fingerprint !== state.recovery)
    .map((m) => ({ fingerprint: m.fingerprint, name: device.names.memberName(m.fingerprint) ?? null, role: m.role, me: m.fingerprint === mine, verified: device.trust.trustOf(m.fingerprint) === 'verified', via: m.via, devices: devicesOf(state, m.fingerprint).length }));
  emit(device.ctx, options.json, { groupId, name: device.names.groupName(groupId) ?? null, members: rows }, table([
    ['NAME', 'FINGERPRINT', 'ROLE', 'DEVICES', 'TRUST'],
    ...rows.map((r) => [r.name ?? '(name not known yet)', shortFingerprint(r.fingerprint), r.role, `${r.devices} device${r.devices === 1 ? '' : 's'}`, r.me ? 'you' : r.verified ? 'verified' : 'not verified']),
  ]));
}

const DURATION = /^(\d+)\s*([mhd])$/;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export function parseDuration(text: string): number {
  const match = DURATION.exec(text.trim());
  if (!match) throw new CliError(EXIT.usage, `"${text}" is not a duration: write for example 30m, 12h or 7d`);
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  if (ms < 60_000 || ms > 30 * 86_400_000) throw new CliError(EXIT.usage, 'an invite lasts between 1 minute and 30 days');
  return ms;
}

export async function invite(device: Device, ref: string, options: { role?: string; expires?: string; prekeyed?: boolean; json?: boolean }): Promise<void> {
  const groupId = await resolveGroup(device, ref);
  const role = (options.role ?? 'member') as Role;
  if (role !== 'member' && role !== 'admin') throw new CliError(EXIT.usage, '--role is "member" or "admin"');
  const expiresInMs = parseDuration(options.expires ?? '7d');
  const client = await device.client();
  const code = await client.invite(groupId, { role, expiresInMs, prekeyed: Boolean(options.prekeyed) });
  const link = inviteLink(code, device.displayName);
  const expiresAt = device.ctx.now() + expiresInMs;
  emit(device.ctx, options.json, { groupId, code, link, role, prekeyed: Boolean(options.prekeyed), expiresAt }, [
    link,
    '',
    `Give this to the person you invite, and to nobody else (it works once, until ${iso(expiresAt)}).`,
    options.prekeyed
      ? 'It carries the group key: they can read as soon as they join, without anyone online. Verify them afterwards (`conclave verify`).'
      : 'After they join, compare safety numbers with them (`conclave verify <group> <their name>`): then this device hands them the key.',
  ]);
}

export async function remove(device: Device, ref: string, memberRef: string, options: { json?: boolean }): Promise<void> {
  const groupId = await resolveGroup(device, ref);
  const client = await device.client();
  const state = await client.sync(groupId);
  const member = resolveMember(device, state, memberRef);
  if (member === myMember(state, device)?.fingerprint) throw new CliError(EXIT.usage, 'that is you: to take yourself out of the group, use `conclave group leave`; to take one of your devices away, `conclave devices remove <device>` on another of them');
  if (!isAdmin(state, device.fingerprint)) throw new CliError(EXIT.refused, 'only an admin of the group can remove a member');
  const label = who(device.names.memberName(member), member);
  await confirm(device.ctx, `Remove ${label} from "${device.names.groupName(groupId) ?? groupId}"? They keep what they already read, but nothing new. [y/N] `);
  const theirDevices = devicesOf(state, member).length;
  device.progress(`Removing ${label}${theirDevices > 1 ? ` and their ${theirDevices} devices` : ''}: making a new key and sealing it to every other member's devices…`);
  const result = await client.removeMember(groupId, member);
  device.progress(`Done: the group is on key generation ${result.generation}.`);
  emit(device.ctx, options.json, { groupId, removed: member, generation: result.generation, unreachable: result.unreachable }, [
    `Removed ${label}. New key generation ${result.generation}.`,
    ...unreachableLines(result.unreachable),
  ]);
}

function unreachableLines(unreachable: Array<{ kind: string; id: string }>): string[] {
  return unreachable.length === 0 ? [] : [`The new key could not be sealed to: ${unreachable.map((r) => `${r.kind} ${r.id.slice(0, 16)}`).join(', ')}. They will not read new notes until an admin rotates again.`];
}

export async function rotate(device: Device, ref: string, options: { json?: boolean }): Promise<void> {
  const groupId = await resolveGroup(device, ref);
  const client = await device.client();
  const state = await client.sync(groupId);
  device.progress(`Making a new key and sealing it to ${state.devices.size} recipients (every device of every member, and the recovery key)…`);
  const result = await client.rotateKey(groupId);
  device.progress(`Done: key generation ${result.generation}.`);
  emit(device.ctx, options.json, { groupId, generation: result.generation, unreachable: result.unreachable }, [`New key generation ${result.generation}.`, ...unreachableLines(result.unreachable)]);
}

export async function leave(device: Device, ref: string): Promise<void> {
  const groupId = await resolveGroup(device, ref);
  const name = device.names.groupName(groupId) ?? groupId;
  await confirm(device.ctx, `Leave "${name}"? This device forgets its keys and notes; to come back you need a new invite. [y/N] `);
  const client = await device.client();
  await client.leave(groupId);
  await device.names.forgetGroup(groupId);
  emit(device.ctx, false, null, `Left "${name}". An admin's device will make a new key, so you read nothing written from now on.`);
}

/** What a handover did, per requesting device, named by the person it speaks for. */
export function handoverLines(device: Device, state: GroupState, result: HandoverResult): string[] {
  const reasons: Record<string, string> = {
    'not-verified': 'not verified yet: compare safety numbers with `conclave verify`',
    'key-changed': 'their key changed: verify them again',
    removed: 'removed from the group',
    'not-a-member': 'not a member of the group',
    unreachable: 'their key cannot be sealed to',
  };
  return [
    ...result.sent.map((fp) => `Handed the key to ${whoseDevice(device, state, fp)}.`),
    ...result.skipped.map((s) => `Not handed to ${whoseDevice(device, state, s.fingerprint)}: ${reasons[s.reason] ?? s.reason}.`),
  ];
}

export async function handover(device: Device, ref: string, options: { json?: boolean }): Promise<void> {
  const groupId = await resolveGroup(device, ref);
  const client = await device.client();
  const result = await client.handOverPending(groupId);
  const lines = handoverLines(device, await client.state(groupId), result);
  emit(device.ctx, options.json, { groupId, ...result }, lines.length > 0 ? lines : ['Nobody is waiting for the key.']);
}

export async function recovery(device: Device, ref: string, options: { json?: boolean }): Promise<void> {
  const groupId = await resolveGroup(device, ref);
  const name = device.names.groupName(groupId) ?? groupId;
  await confirm(device.ctx, `Replace the recovery code of "${name}"? The old code stops working at once. [y/N] `);
  const client = await device.client();
  device.progress('Making a new recovery key and a new group key for it…');
  const made = await client.replaceRecovery(groupId);
  emit(device.ctx, options.json, { groupId, recoveryCode: made.recoveryCode, generation: made.generation }, [
    `New recovery code for "${name}": ${made.recoveryCode}`,
    '',
    'The old code no longer works. Write this one down and keep it away from this computer: it is shown only this once.',
  ]);
}
