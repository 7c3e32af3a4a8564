/**
 * `conclave devices [list]` and `conclave devices remove <device>`: the devices of the
 * person this device speaks for (their device chain, validated and pinned by the SDK),
 * and unlinking a lost or sold one — which changes the key of every group the person
 * is in, so that device reads nothing new. Linking a device is in device-link.ts.
 */
import type { GroupClient } from '@conclave/shared/client';
import { shortFingerprint } from '@conclave/shared/crypto';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import type { Device } from '../device.ts';
import { CliError, EXIT } from '../errors.ts';
import { emit, iso, oneLine, table } from '../output.ts';
import { confirm } from './confirm.ts';

type OwnDevice = Awaited<ReturnType<GroupClient['devices']>>[number];
type DevicesReport = Awaited<ReturnType<GroupClient['unlinkDevice']>>;

export interface DeviceJson {
  fingerprint: Fingerprint;
  thisDevice: boolean;
  /** When it was linked; null for the device that founded the person. */
  addedAt: number | null;
  /** The device that linked it; null for the founding device. */
  addedBy: Fingerprint | null;
  /** Set once it was removed (unlinked): when, and by which device. */
  removed: { at: number; by: Fingerprint } | null;
}

function deviceJson(d: OwnDevice): DeviceJson {
  return { fingerprint: d.fingerprint, thisDevice: d.thisDevice, addedAt: d.addedBy === null ? null : d.addedAt, addedBy: d.addedBy, removed: d.unlinked ? { at: d.unlinked.at, by: d.unlinked.by } : null };
}

/** "abcd efgh ijkl mnop (this device)" */
function label(fingerprint: Fingerprint, me: Fingerprint): string {
  return `${shortFingerprint(fingerprint)}${fingerprint === me ? ' (this device)' : ''}`;
}

/** The person's name as this device shows it: the profile a link handed over, else this device's display name. */
async function personName(device: Device, client: GroupClient): Promise<string> {
  return (await client.person()).profile?.name ?? device.displayName;
}

export async function list(device: Device, options: { json?: boolean }): Promise<void> {
  const client = await device.client();
  // A fresh device (no group, no other device) is shown from what it holds, without
  // publishing it: a device the server names as a person of its own can never be
  // linked to another, and looking must not cost `conclave devices link` next.
  const local = await client.person();
  const fresh = local.devices.length === 1 && (await device.store.groups()).length === 0;
  const devices = fresh ? local.devices : await client.devices();
  const { person } = local;
  const name = await personName(device, client);
  const rows = devices.map(deviceJson);
  const current = rows.filter((r) => !r.removed);
  const removed = rows.filter((r) => r.removed);
  const me = device.fingerprint;
  emit(device.ctx, options.json, { person, name, devices: rows }, [
    `${oneLine(name)} (${shortFingerprint(person)}): ${current.length} device${current.length === 1 ? '' : 's'}.`,
    '',
    ...table([
      ['DEVICE', 'ADDED', 'BY'],
      ...current.map((r) => [`${r.thisDevice ? '* ' : '  '}${shortFingerprint(r.fingerprint)}`, r.addedAt === null ? 'founded the person' : iso(r.addedAt), r.addedBy ? label(r.addedBy, me) : '']),
    ]),
    ...(removed.length > 0 ? ['', 'Removed:', ...removed.map((r) => `  ${r.thisDevice ? '* ' : ''}${shortFingerprint(r.fingerprint)}  removed ${iso(r.removed!.at)} by ${label(r.removed!.by, me)}`)] : []),
    '',
    removed.some((r) => r.thisDevice)
      ? `* this device: it was removed, so it no longer speaks for ${oneLine(name)} and reads nothing new. It cannot be linked again: start afresh in a new state directory (\`conclave --home <new dir> init\`, then \`devices link\`).`
      : fresh
        ? '* this device. Already someone on another device? Run `conclave devices link` here before anything else, to make this a device of theirs. Link another: `conclave devices link` on the new one, then `conclave devices add` here.'
        : '* this device. Link another: `conclave devices link` on the new one, then `conclave devices add` here. Remove a lost one: `conclave devices remove <device>`.',
  ]);
}

/** One of this person's current devices, by fingerprint or a prefix of at least 4 characters (spaces ignored). */
function resolveOwnDevice(devices: readonly OwnDevice[], ref: string): OwnDevice {
  const wanted = ref.replace(/\s+/g, '').toLowerCase();
  const matches = wanted.length >= 4 ? devices.filter((d) => d.fingerprint.startsWith(wanted)) : devices.filter((d) => d.fingerprint === wanted);
  const current = matches.filter((d) => !d.unlinked);
  if (current.length === 1) return current[0]!;
  if (current.length > 1) throw new CliError(EXIT.usage, `"${ref}" matches ${current.length} of your devices: ${current.map((d) => shortFingerprint(d.fingerprint)).join('; ')}. Use more of the fingerprint.`);
  if (matches.length > 0) throw new CliError(EXIT.refused, `device ${shortFingerprint(matches[0]!.fingerprint)} was already removed: it reads nothing new. \`conclave devices\` lists your devices.`);
  throw new CliError(EXIT.notFound, `none of your devices is "${ref}": \`conclave devices\` lists them (by fingerprint; give at least 4 characters).`);
}

function groupLabel(device: Device, groupId: GroupId): string {
  const name = device.names.groupName(groupId);
  return name ? `"${oneLine(name)}"` : groupId;
}

export async function remove(device: Device, ref: string, options: { json?: boolean }): Promise<void> {
  const client = await device.client();
  const devices = await client.devices();
  const target = resolveOwnDevice(devices, ref);
  if (target.thisDevice) throw new CliError(EXIT.usage, 'a device cannot remove itself: run `conclave devices remove` on another of your devices (or leave each group with `conclave group leave`).');
  const groups = await device.store.groups();
  const short = shortFingerprint(target.fingerprint);
  await confirm(
    device.ctx,
    `Remove device ${short}? It stops speaking for you, and the key of ${groups.length === 1 ? 'your group' : `every one of your ${groups.length} groups`} is changed, so it reads nothing new (what it already read stays on it). It cannot be linked again. [y/N] `,
  );
  device.progress(`Removing device ${short}, then changing the key of ${groups.length === 1 ? 'your group' : `each of your ${groups.length} groups`}…`);
  const report: DevicesReport = await client.unlinkDevice(target.fingerprint);
  const failed = report.groups.filter((g) => !g.ok);
  emit(device.ctx, options.json, { device: target.fingerprint, groups: report.groups }, [
    `Removed device ${short}: it no longer speaks for you.`,
    ...report.groups.map((g) => (g.ok ? `  ${groupLabel(device, g.groupId)}: new key (generation ${g.generation}).` : `  ${groupLabel(device, g.groupId)}: key NOT changed yet (${g.message}).`)),
  ]);
  if (failed.length > 0) {
    throw new CliError(EXIT.refused, `the device is removed, but ${failed.length === 1 ? 'one group still has' : `${failed.length} groups still have`} the key it knows: this device changes it at its next sync of ${failed.length === 1 ? 'that group' : 'each'} — run \`conclave group list\` now, and again until no group is listed here.`);
  }
}
