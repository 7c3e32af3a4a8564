/**
 * `conclave verify <group> <member>`: shows the safety number between the person this
 * device speaks for and a member (Signal's 60 digits, shared/src/crypto/safety-number.ts,
 * over each person's founding device: the same on every device of either) and, once
 * the person confirms both screens show the same digits, records the member (a person)
 * as verified (trust.sealed). An admin device then hands the group key at once to every
 * verified member waiting in the mailbox, in that group: verifying is what lets the key
 * go (`conclave group handover` does the same later, e.g. when the request came after).
 */
import { isAdmin, normaliseTypedSafetyNumber, safetyNumber, safetyNumberGroups, type GroupState } from '@conclave/shared/crypto';
import type { HandoverResult } from '@conclave/shared/client';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import type { Device } from '../device.ts';
import { CliError, EXIT } from '../errors.ts';
import { listWithNames } from '../names.ts';
import { emit, who } from '../output.ts';
import { isMine, myMember } from '../people.ts';
import { resolveGroup, resolveMember } from '../resolve.ts';
import { handoverLines } from './groups.ts';

/**
 * @param refs `[member]` (looked up in every group this device holds) or `[group, member]`.
 */
export async function verify(device: Device, refs: string[], options: { number?: string; trustWithoutComparing?: boolean; json?: boolean }): Promise<void> {
  // Recording a verification lets an admin device seal the key to that member: a blanket
  // --yes must never stand in for comparing the digits.
  if (device.ctx.global.yes) throw new CliError(EXIT.usage, '--yes does not apply to verify: compare the safety number and pass --number "<the digits their screen shows>", or answer on a terminal (--trust-without-comparing records without comparing, if you must). Nothing was recorded.');
  if (options.number !== undefined && options.trustWithoutComparing) throw new CliError(EXIT.usage, 'pass --number or --trust-without-comparing, not both');
  const client = await device.client();
  const groupIds = refs.length > 1 ? [await resolveGroup(device, refs[0]!)] : await device.store.groups();
  const memberRef = refs[refs.length - 1]!;
  const found = new Map<Fingerprint, GroupId[]>();
  let lastNotFound: unknown = null;
  for (const groupId of groupIds) {
    await client.fetchKey(groupId);
    const groupState = await client.state(groupId);
    if (!isMine(groupState, device)) continue;
    await listWithNames(device, groupId);
    try {
      const fp = resolveMember(device, groupState, memberRef);
      found.set(fp, [...(found.get(fp) ?? []), groupId]);
    } catch (error) {
      if (!(error instanceof CliError) || error.exitCode !== EXIT.notFound || refs.length > 1) throw error;
      lastNotFound = error;
    }
  }
  if (found.size === 0) throw lastNotFound ?? new CliError(EXIT.notFound, `no member "${memberRef}" in the groups of this device: \`conclave group members <group>\` lists them.`);
  if (found.size > 1) throw new CliError(EXIT.usage, `"${memberRef}" names different people in different groups: say which group, \`conclave verify <group> ${memberRef}\`.`);
  const [member, inGroups] = [...found.entries()][0]!;
  const groupId = inGroups[0]!;
  const state = await client.state(groupId);
  const me = myMember(state, device)!;
  if (member === me.fingerprint) throw new CliError(EXIT.usage, 'that is you: verify another member (your own devices are linked with `conclave devices add`)');
  const info = state.members.get(member)!;
  // Between two people: over each one's founding device, whichever device shows it.
  const digits = safetyNumber(me.bundle, info.bundle);
  const groups = safetyNumberGroups(digits);
  const label = who(device.names.memberName(member), member);
  const shown = [groups.slice(0, 4), groups.slice(4, 8), groups.slice(8)].map((row) => `  ${row.join(' ')}`);

  let confirmed: boolean | null = null;
  if (options.number !== undefined) {
    const typed = normaliseTypedSafetyNumber(options.number);
    if (!typed) throw new CliError(EXIT.usage, '--number takes the 60 digits the other device shows (spaces and dashes are fine)');
    confirmed = typed === digits;
  } else if (options.trustWithoutComparing) {
    confirmed = true;
  } else if (device.ctx.io.ask && !options.json) {
    device.ctx.io.err(`Safety number with ${label}:\n${shown.join('\n')}\n`);
    const answer = (await device.ctx.io.ask(`Does ${label}'s screen show exactly these digits? [y/N] `)).trim().toLowerCase();
    confirmed = answer === 'y' || answer === 'yes';
  }

  const already = device.trust.trustOf(member) === 'verified';
  if (confirmed) await device.trust.markVerified(member, device.ctx.now());
  const handedOver: Array<HandoverResult & { groupId: GroupId }> = [];
  const statesAfter = new Map<GroupId, GroupState>();
  for (const id of confirmed ? inGroups : []) {
    if (!isAdmin(await client.state(id), device.fingerprint)) continue;
    try {
      const result = await client.handOverPending(id);
      handedOver.push({ groupId: id, ...result });
      statesAfter.set(id, await client.state(id));
    } catch (error) {
      device.progress(`Verified, but the key could not be handed over now (${(error as Error).message}): run \`conclave group handover ${id.slice(0, 8)}\` later.`);
    }
  }
  const value = { groupId, groups: inGroups, member, name: device.names.memberName(member) ?? null, safetyNumber: digits, digitGroups: groups, verified: confirmed === true || (confirmed === null && already), recorded: confirmed === true, handedOver };
  const lines = [`Safety number with ${label}:`, ...shown];
  if (confirmed === true) lines.push(`Recorded ${label} as verified on this device.`, ...handedOver.flatMap((h) => handoverLines(device, statesAfter.get(h.groupId)!, h)));
  else if (confirmed === false) lines.push(`The numbers do NOT match: ${label} was not verified. Someone may be in the middle: do not hand them the key, and tell an admin.`);
  else lines.push(already ? `${label} is already verified on this device.` : 'Compare it with their screen (in person or on a call you trust), then run this again with --number "<their digits>" (or answer on a terminal).');
  emit(device.ctx, options.json, value, lines);
  if (confirmed === false) throw new CliError(EXIT.refused, 'the safety numbers differ: nothing was recorded.');
}
