/**
 * Linking a device to the person (docs/CLI.md "Devices"; the protocol is the SDK's,
 * shared/src/client/device-link.ts):
 *
 * - `conclave devices link`, on the NEW device: posts a link offer, prints the typable
 *   code (`LNK1-…`) and the QR payload (`conclave:v3:link:…`, drawn on the terminal when
 *   the `qrcode` package is installed), stays online on the signaling server and waits
 *   for a device of the person to dial it; then it speaks for that person and reads
 *   every group it was handed.
 * - `conclave devices add [<code or payload>]`, on a device already linked: finds the
 *   new device, checks its fingerprint with the person, certifies it on the person's
 *   device chain and hands it the keys of every group.
 *
 * The code is a secret (whoever types it first can be linked), so `add` takes it like
 * `join` takes an invite: `-`, CONCLAVE_LINK_CODE, or a hidden prompt.
 */
import { GroupClientError, type Linked, type LinkOffer } from '@conclave/shared/client';
import { shortFingerprint } from '@conclave/shared/crypto';
import { channelFromDataConnection, incomingFromPeer } from '@conclave/shared/p2p';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import { paths, type Device } from '../device.ts';
import { CliError, EXIT } from '../errors.ts';
import { renameInKeyFile } from '../identity-file.ts';
import { onlinePeer } from '../live.ts';
import { runUntilStopped } from '../live-events.ts';
import { listWithNames } from '../names.ts';
import { emit, iso, oneLine, safeJson } from '../output.ts';
import { secretInput } from '../secret-input.ts';

/** The QR payload's prefix: such an input names the new device itself, so there is nothing to compare. */
const QR_PREFIX = 'conclave:v3:link:';

/** A fingerprint in groups of four, as `whoami` shows it. */
function grouped(fingerprint: Fingerprint): string {
  return fingerprint.match(/.{1,4}/g)!.join(' ');
}

/**
 * The QR code drawn with half blocks, two rows of modules per line, when the `qrcode`
 * package is installed here (it is optional). No colour escapes (the output drops control
 * characters): light modules and the quiet zone are the blocks, so on a dark terminal the
 * code reads dark on light, as scanners expect.
 */
export async function terminalQr(payload: string): Promise<string | null> {
  let create: QrCreate | undefined;
  try {
    const module = (await import('qrcode' as string)) as { create?: QrCreate; default?: { create?: QrCreate } };
    create = module.create ?? module.default?.create;
  } catch {
    return null;
  }
  if (typeof create !== 'function') return null;
  const { size, data } = create(payload, { errorCorrectionLevel: 'M' }).modules;
  const QUIET = 2;
  const light = (row: number, col: number) => row < 0 || col < 0 || row >= size || col >= size || !data[row * size + col];
  const lines: string[] = [];
  for (let row = -QUIET; row < size + QUIET; row += 2) {
    let line = '  ';
    for (let col = -QUIET; col < size + QUIET; col++) {
      const top = light(row, col);
      const bottom = row + 1 >= size + QUIET ? true : light(row + 1, col);
      line += top && bottom ? '█' : top ? '▀' : bottom ? '▄' : ' ';
    }
    lines.push(line);
  }
  return lines.join('\n');
}
type QrCreate = (text: string, options: Record<string, unknown>) => { modules: { size: number; data: ArrayLike<number | boolean> } };

const DEFAULT_WAIT_S = 10 * 60;

/** `--for <seconds>`: how long the offer stands (the server keeps it at most 15 minutes). */
function waitSeconds(value: string | undefined): number {
  if (value === undefined) return DEFAULT_WAIT_S;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 15 * 60) throw new CliError(EXIT.usage, '--for takes a number of seconds, at most 900 (a link code lasts 15 minutes at most)');
  return seconds;
}

function groupNames(device: Device, ids: readonly GroupId[]): Array<{ groupId: GroupId; name: string | null }> {
  return ids.map((groupId) => ({ groupId, name: device.names.groupName(groupId) ?? null }));
}

function groupList(groups: Array<{ groupId: GroupId; name: string | null }>): string {
  return groups.map((g) => (g.name ? `"${oneLine(g.name)}"` : g.groupId)).join(', ');
}

/** `conclave devices link` on the new device. */
export async function link(device: Device, options: { json?: boolean; for?: string }): Promise<void> {
  const seconds = waitSeconds(options.for);
  const client = await device.client();
  // Online first: a code shown while nobody can dial this device would be wasted.
  const { peer } = await onlinePeer(device, {
    doing: 'linking a device',
    without: 'this device cannot be linked from here: link it from the extension, or install @roamhq/wrtc',
  });
  try {
    let offer: LinkOffer;
    try {
      offer = await client.offerLink({ ttlMs: seconds * 1000 });
    } catch (error) {
      if (error instanceof GroupClientError && error.reason === 'already-linked') {
        throw new CliError(EXIT.refused, `this device cannot join another person: ${error.message}. Here that is a new state directory: \`conclave --home <new dir> init\`, then \`conclave --home <new dir> devices link\`. Nothing was changed.`);
      }
      throw error;
    }
    const shown = { device: offer.device, code: offer.code, qrPayload: offer.qrPayload, expiresAt: offer.expiresAt };
    if (options.json) {
      device.ctx.io.out(`${safeJson({ event: 'offer', ...shown }, 0)}\n`);
    } else {
      const qr = await terminalQr(offer.qrPayload);
      device.ctx.io.out(
        [
          'To link this device to your identity, on a device that is already yours:',
          '',
          `  conclave devices add        and type the code   ${offer.code}`,
          '',
          ...(qr ? ['or scan this code with the extension ("Link a new device"):', '', qr] : ['or, in the extension ("Link a new device"), paste:']),
          `  ${offer.qrPayload}`,
          '',
          `This device's fingerprint: ${grouped(offer.device)}`,
          'The other device shows it before it links: check they are the same.',
          `The code works once, until ${iso(offer.expiresAt)}. Give it to nobody else: whoever uses it first is linked.`,
          '',
        ].join('\n'),
      );
    }
    device.progress(`Waiting for your other device (until ${iso(offer.expiresAt)}; Ctrl-C to stop)…`);
    const abort = new AbortController();
    const stopped = runUntilStopped(null);
    void stopped.done.then(() => abort.abort());
    let outcome;
    try {
      outcome = await offer.wait(incomingFromPeer(peer), { signal: abort.signal });
    } finally {
      stopped.stop();
    }
    if (outcome.kind === 'refused') {
      if (outcome.reason === 'expired') throw new CliError(EXIT.refused, 'no device used the code before it expired: run `conclave devices link` again for a new one. Nothing was changed.');
      if (outcome.reason === 'closed' && abort.signal.aborted) throw new CliError(EXIT.cancelled, 'stopped: nothing was linked.');
      throw new CliError(EXIT.refused, `the link did not happen (${outcome.reason}): nothing was changed. Run \`conclave devices link\` again for a new code.`);
    }
    await reportLinked(device, outcome, options);
  } finally {
    peer.destroy();
  }
}

/** After a link: the person's name becomes this device's, the groups' names are learned, and it says what it reads. */
async function reportLinked(device: Device, linked: Linked, options: { json?: boolean }): Promise<void> {
  let here = device;
  const name = linked.profile?.name?.trim();
  if (name && name !== device.displayName && name.length <= 80) {
    const file = await renameInKeyFile(paths(device.ctx.global.home).keyFile, device.keyFile, device.keys.identity, name);
    here = await device.renamed(name, file);
  }
  for (const groupId of linked.groups) {
    try {
      await listWithNames(here, groupId);
    } catch (error) {
      here.progress(`Could not read the names of group ${groupId} yet (${(error as Error).message}).`);
    }
  }
  const groups = groupNames(here, linked.groups);
  const keyless = groupNames(here, linked.keyless);
  const person = `${name ? `${oneLine(name)} ` : ''}(${shortFingerprint(linked.person)})`;
  const value = { event: 'linked', person: linked.person, name: name ?? null, by: linked.by, groups, keyless };
  if (options.json) {
    here.ctx.io.out(`${safeJson(value, 0)}\n`);
    return;
  }
  emit(here.ctx, false, null, [
    `Linked: this device now speaks for ${person}, certified by device ${shortFingerprint(linked.by)}.`,
    groups.length > 0 ? `It reads ${groups.length === 1 ? 'one group' : `${groups.length} groups`}: ${groupList(groups)}.` : 'The person is in no group yet.',
    ...(keyless.length > 0 ? [`Waiting for the key of ${groupList(keyless)}: it comes by mailbox (\`conclave group list\` picks it up).`] : []),
  ]);
}

/**
 * The person at the existing device confirms the new device's fingerprint (as they
 * compare safety numbers with a member): `--device <fingerprint>` compares for them, a
 * terminal asks; a QR payload already names the device it came from.
 */
function confirmer(device: Device, input: string, expected: string | undefined) {
  const said: { no?: 'mismatch' | 'declined'; fingerprint?: Fingerprint } = {};
  const confirm = async ({ fingerprint }: { fingerprint: Fingerprint }): Promise<boolean> => {
    said.fingerprint = fingerprint;
    let yes: boolean;
    if (expected !== undefined) {
      yes = fingerprint.startsWith(expected);
      if (!yes) said.no = 'mismatch';
      return yes;
    }
    if (input.toLowerCase().startsWith(QR_PREFIX)) return true;
    device.ctx.io.err(`The new device's fingerprint:\n  ${grouped(fingerprint)}\n`);
    const answer = (await device.ctx.io.ask!('Does the new device show exactly this fingerprint? Link it to you? [y/N] ')).trim().toLowerCase();
    yes = answer === 'y' || answer === 'yes';
    if (!yes) said.no = 'declined';
    return yes;
  };
  return { confirm, said };
}

/** `--device`: the new device's fingerprint as it shows it (at least its first 16 characters; spaces ignored). */
function expectedDevice(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const typed = value.replace(/\s+/g, '').toLowerCase();
  if (!/^[a-z2-7]{16,52}$/.test(typed)) throw new CliError(EXIT.usage, '--device takes the fingerprint the new device shows (at least its first 16 characters; spaces are fine)');
  return typed;
}

/** `conclave devices add [<code or payload>]` on a device already linked. */
export async function add(device: Device, arg: string | undefined, options: { json?: boolean; device?: string }): Promise<void> {
  // --yes links nobody: the fingerprint is compared (or given with --device), as `verify` compares safety numbers.
  if (device.ctx.global.yes) throw new CliError(EXIT.usage, '--yes does not apply to devices add: compare the fingerprint on a terminal, or pass --device "<the fingerprint the new device shows>". Nothing was linked.');
  const expected = expectedDevice(options.device);
  const input = await secretInput(device.ctx, arg, { what: 'link code', env: 'CONCLAVE_LINK_CODE', prompt: 'Link code (or QR text) from the new device (not shown): ', usage: 'conclave devices add' });
  if (expected === undefined && !input.toLowerCase().startsWith(QR_PREFIX) && !device.ctx.io.ask) {
    throw new CliError(EXIT.usage, 'linking by code needs the new device\'s fingerprint checked: run this in a terminal to be asked, or pass --device "<the fingerprint the new device shows>". Nothing was linked.');
  }
  const client = await device.client();
  const { peer } = await onlinePeer(device, {
    doing: 'linking a device',
    without: 'this device cannot reach the new one: link it from the extension, or install @roamhq/wrtc',
  });
  try {
    // The name handed to the new device is the one this device shows now (a rename may have happened since `init`).
    const { profile } = await client.person();
    if (profile?.name !== device.displayName) await client.setProfile({ ...profile, name: device.displayName });
    device.progress('Reaching the new device…');
    const { confirm, said } = confirmer(device, input, expected);
    let report;
    try {
      report = await client.linkDevice(input, (fp) => channelFromDataConnection(peer.connect(fp, { reliable: true })), { confirm, timeoutMs: 120_000 });
    } catch (error) {
      if (said.no === 'mismatch') throw new CliError(EXIT.refused, `the device that answered is ${grouped(said.fingerprint!)}, not the one you gave with --device: nothing was linked. If the new device shows another fingerprint, someone else may have used the code: show a new one there (\`conclave devices link\`).`);
      if (said.no === 'declined') throw new CliError(EXIT.cancelled, 'cancelled: nothing was linked.');
      throw error;
    }
    const groups = report.groups.map((g) => ({ ...g, name: device.names.groupName(g.groupId) ?? null }));
    const label = (g: { groupId: GroupId; name: string | null }) => (g.name ? `"${oneLine(g.name)}"` : g.groupId);
    emit(device.ctx, options.json, { device: report.device, groups }, [
      `Linked device ${shortFingerprint(report.device)}: it now speaks for you, and reads your groups.`,
      ...groups.map((g) => (g.ok ? `  ${label(g)}: key handed over.` : `  ${label(g)}: key not handed over (${g.message}).`)),
      ...(groups.some((g) => !g.ok) ? ['The new device asks the mailbox for those keys; an admin device hands them over at its next sync.'] : []),
    ]);
  } finally {
    peer.destroy();
  }
}
