/**
 * This person's devices (DESIGN §3): the list (from the person's device chain, refreshed
 * from the storage API and pinned by the SDK) and removing a lost or sold device, which
 * changes the key of every group the person is in so that device reads nothing new.
 * Thin adapters over `GroupClient.devices`, `person` and `unlinkDevice`.
 */
import type { OwnDevice } from '@conclave/shared/client';
import { DeviceChainError, shortFingerprint } from '@conclave/shared/crypto';
import type { Fingerprint } from '@conclave/shared/protocol';
import { groupIdsOf, groupRowOf } from '../db/key-store.ts';
import type { Request } from '../messages/protocol.ts';
import type { DevicesView, DeviceView, LinkedGroupView, RemovedDeviceView } from '../messages/views.ts';
import { requireIdentity } from './connection.ts';
import type { Ctx } from './context.ts';
import { chainRejectionWords, fail, isNetworkError } from './errors.ts';
import { groupFailureWords } from './device-link.ts';

type Req<K extends Request['type']> = Extract<Request, { type: K }>;

function nameOfDevice(device: Fingerprint, me: Fingerprint): string {
  return device === me ? 'this device' : shortFingerprint(device);
}

function deviceView(device: OwnDevice, me: Fingerprint): DeviceView {
  return {
    fingerprint: device.fingerprint,
    short: shortFingerprint(device.fingerprint),
    addedAt: device.addedAt,
    addedBy: device.addedBy ? nameOfDevice(device.addedBy, me) : null,
    thisDevice: device.thisDevice,
    removed: device.unlinked ? { at: device.unlinked.at, by: nameOfDevice(device.unlinked.by, me) } : null,
  };
}

/**
 * The device list. A fresh device (no groups, no other devices) is read from this
 * device alone: publishing its own one-device identity would make it impossible to link
 * it to another one later (a device belongs to one person, ever).
 */
export async function listDevices(ctx: Ctx): Promise<DevicesView> {
  const identity = await requireIdentity(ctx.db);
  const me = identity.identity.fingerprint;
  const connection = await ctx.connections.get();
  const groups = await groupIdsOf(ctx.db);
  const local = await connection.client.person();
  const fresh = groups.length === 0 && local.devices.length === 1;
  let devices = local.devices;
  let offline = false;
  if (!fresh) {
    try {
      devices = await connection.client.devices();
    } catch (error) {
      if (!isNetworkError(error)) throw error;
      offline = true;
    }
  }
  const current = devices.filter((d) => !d.unlinked);
  return {
    person: local.person,
    personShort: shortFingerprint(local.person),
    name: identity.displayName,
    devices: devices.map((d) => deviceView(d, me)),
    // A fresh device may be someone's first device: it may link others (and then stops being linkable itself).
    canLinkOthers: true,
    canBeLinked: fresh && current.length === 1 && devices.length === 1,
    offline,
  };
}

/** Removes another device of this person; every group's key changes. A report per group. */
export async function removeDevice(ctx: Ctx, request: Req<'device.remove'>): Promise<RemovedDeviceView> {
  const identity = await requireIdentity(ctx.db);
  if (request.device === identity.identity.fingerprint) {
    fail('invalid-request', 'This is the device you are using now: a device cannot remove itself.', 'Remove it from another of your devices (or leave your groups here).');
  }
  const connection = await ctx.connections.get();
  let report;
  try {
    report = await connection.client.unlinkDevice(request.device);
  } catch (error) {
    if (error instanceof DeviceChainError) {
      switch (error.reason) {
        case 'not-a-device':
        case 'device-unlinked':
          fail('invalid-request', 'That device is not one of your current devices (it may have been removed already).', 'Look at the device list again.');
          break;
        case 'last-device':
          fail('invalid-request', 'That is your only other device left: a person keeps at least one device.', 'Link a new device first, or leave your groups.');
          break;
        case 'self-unlink':
          fail('invalid-request', 'A device cannot remove itself.', 'Remove it from another of your devices.');
          break;
        default:
          fail('fork', `Your list of devices from the storage API cannot be trusted: ${chainRejectionWords(error.reason)}.`, 'Do not remove or link devices for now, and tell whoever runs your storage server.');
      }
    }
    throw error;
  }
  const groups: LinkedGroupView[] = [];
  for (const group of report.groups) {
    const name = (await groupRowOf(ctx.db, group.groupId))?.name ?? null;
    groups.push(group.ok ? { groupId: group.groupId, name, ok: true } : { groupId: group.groupId, name, ok: false, message: groupFailureWords(group.reason) });
  }
  ctx.changed();
  return { device: request.device, deviceShort: shortFingerprint(request.device), groups };
}
