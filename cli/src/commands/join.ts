/** `conclave join <code or link>` and `conclave restore <recovery code>`. */
import { parseInviteText } from '@conclave/shared/client';
import { currentGeneration } from '@conclave/shared/crypto';
import type { GroupId } from '@conclave/shared/protocol';
import type { Device } from '../device.ts';
import { CliError, EXIT } from '../errors.ts';
import { listWithNames } from '../names.ts';
import { emit } from '../output.ts';
import { tryLiveHandover } from '../live.ts';
import { secretInput } from '../secret-input.ts';

async function holdsKey(device: Device, groupId: GroupId): Promise<boolean> {
  const record = await device.store.load(groupId);
  return Boolean(record && record.seeds.has(currentGeneration(record.state)));
}

/** Polls the mailbox until the key arrives or `seconds` pass. */
async function waitForKey(device: Device, groupId: GroupId, seconds: number): Promise<boolean> {
  const client = await device.client();
  const until = device.ctx.now() + seconds * 1000;
  device.progress(`Waiting up to ${seconds} s for the key in the mailbox…`);
  for (;;) {
    if (await client.fetchKey(groupId)) return true;
    if (device.ctx.now() >= until) return false;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

export async function join(device: Device, arg: string | undefined, options: { wait?: string; live?: boolean; json?: boolean }): Promise<void> {
  // Checked before the invite is used: a typo here must not cost the invite.
  const seconds = options.wait === undefined ? undefined : Number(options.wait);
  if (seconds !== undefined && (options.wait!.trim() === '' || !Number.isFinite(seconds) || seconds < 0)) throw new CliError(EXIT.usage, '--wait takes a number of seconds');
  const text = await secretInput(device.ctx, arg, { what: 'invite', env: 'CONCLAVE_INVITE', prompt: 'Invite link or code (not shown): ', usage: 'conclave join' });
  const { code, inviterName } = parseInviteText(text);
  const client = await device.client();
  const joined = await client.join(code);
  const { groupId } = joined;
  let hasKey = joined.hasKey;
  let via: 'invite' | 'peer' | 'mailbox' | null = hasKey ? 'invite' : null;
  if (!hasKey && options.live) {
    hasKey = await tryLiveHandover(device, groupId);
    if (hasKey) via = 'peer';
  }
  if (!hasKey && seconds !== undefined) {
    hasKey = await waitForKey(device, groupId, seconds);
    if (hasKey) via = 'mailbox';
  }
  if (hasKey) await listWithNames(device, groupId);
  const name = device.names.groupName(groupId) ?? null;
  const inviter = inviterName ? `${inviterName}` : 'an admin';
  emit(device.ctx, options.json, { groupId, name, hasKey, via }, hasKey
    ? [`Joined ${name ? `"${name}"` : 'the group'} (${groupId}). You can read and write its notes: \`conclave notes ls ${groupId.slice(0, 8)}\`.`]
    : [
        `Joined the group (${groupId}), but this device does not have its key yet: a key request waits in the mailbox.`,
        `Compare safety numbers with ${inviter}: \`conclave group members ${groupId.slice(0, 8)}\` lists the members (their names show once you hold the key), \`conclave verify ${groupId.slice(0, 8)} <fingerprint>\` shows the number; they verify you, and their device hands you the key.`,
        `Then \`conclave group list\` (or \`conclave join --wait 60 …\`) picks it up.`,
      ]);
}

export async function restore(device: Device, arg: string | undefined, options: { json?: boolean }): Promise<void> {
  const code = await secretInput(device.ctx, arg, { what: 'recovery code', env: 'CONCLAVE_RECOVERY_CODE', prompt: 'Recovery code (not shown): ', usage: 'conclave restore' });
  const client = await device.client();
  device.progress('Restoring: checking the whole group log and opening the recovery key…');
  const { groupId } = await client.restore(code.trim());
  await client.fetchKey(groupId);
  await listWithNames(device, groupId);
  const name = device.names.groupName(groupId) ?? null;
  const hasKey = await holdsKey(device, groupId);
  emit(device.ctx, options.json, { groupId, name, hasKey }, [
    `Restored ${name ? `"${name}"` : 'the group'} (${groupId}) on this device, as an admin.`,
    'The group log records that the recovery code was used. If it may have been seen by anyone else, replace it (`conclave group recovery`) and remove any device you do not know.',
  ]);
}
