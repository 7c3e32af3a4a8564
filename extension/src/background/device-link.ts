/**
 * Linking a device to this person (DESIGN §3 "Linking a device"): thin adapters over
 * the SDK's `offerLink` (the new device) and `linkDevice` (an existing device), with the
 * peer channel the key handover uses (the offscreen document's PeerJS on Chrome).
 *
 * The new device shows a QR code and a typable code and waits: an existing device of
 * the person dials it (its first message is a link opening, routed here by incoming.ts),
 * checks it, certifies it, and hands it the person's chain, name and every group's key.
 * The existing device asks its person to compare the new device's fingerprint before
 * anything is committed.
 *
 * One link at a time per device, kept in memory: the pages ask where it stands
 * (`device.linkState`, told by `ctx.changed()`), so closing the popup or the options tab
 * loses nothing while the worker lives. A worker that is stopped forgets the offer (its
 * secret lives nowhere else, on purpose): the page then offers to show a new code.
 */
import { GroupClientError, LinkError, type IncomingChannels, type LinkOutcome, type LinkReport } from '@conclave/shared/client';
import { EncodingError, generateIdentity, shortFingerprint } from '@conclave/shared/crypto';
import type { LinkRefusal, MessageChannel } from '@conclave/shared/p2p';
import { addIdentity, loadIdentity, renameIdentity } from '../db/identity.ts';
import { groupRowOf, updateGroupRow } from '../db/key-store.ts';
import type { LinkedGroupView, LinkStateView } from '../messages/views.ts';
import { requireIdentity, type Connection } from './connection.ts';
import type { Ctx } from './context.ts';
import { BackgroundError, fail, toExtensionError } from './errors.ts';
import type { KeyWaits } from './key-wait.ts';

/** The name a device made for linking carries until the link brings the person's own. */
export const NEW_DEVICE_NAME = 'New device';

/** What went wrong in a link, in words for the person on either device, and what to do next. */
export const LINK_REFUSAL_WORDS: Record<LinkRefusal, { message: string; action: string }> = {
  malformed: { message: 'The other device sent something that is not part of a device link.', action: 'Start again: show a new code on the new device and scan or type it.' },
  'bad-proof': {
    message: 'The new device does not know this code, so the link was stopped. Either the code was mistyped, or someone (possibly the server) swapped the device behind it.',
    action: 'Check the code letter by letter, or scan the QR code instead. If it keeps failing, do not link: tell whoever runs your server.',
  },
  'bad-signature': { message: "The other device's signature does not check, so the link was stopped.", action: 'Show a new code on the new device and try again; if it keeps failing, do not link.' },
  'wrong-device': { message: 'The device that answered is not the one the code names, so the link was stopped.', action: 'Show a new code on the new device and try again; if it keeps failing, do not link.' },
  'chain-invalid': { message: "The list of this person's devices that came with the link does not check, so the new device refused it.", action: 'Try again from another of your devices; if it keeps failing, tell whoever runs your server.' },
  expired: { message: 'The link code expired (codes last 15 minutes).', action: 'Show a new code on the new device and scan or type it again.' },
  'already-linked': { message: 'That device already belongs to someone (you or another person), so it cannot be linked.', action: 'Use a fresh browser profile or device for the new device.' },
  declined: { message: 'The link was stopped: the fingerprint was not confirmed.', action: 'If the fingerprints did not match, do not link. Otherwise show a new code and try again.' },
  'unexpected-message': { message: 'The other device broke the order of a device link, so it was stopped.', action: 'Show a new code on the new device and try again.' },
  closed: {
    message: 'The new device could not be reached, or the connection closed before the link finished.',
    action: 'Keep the code open on the new device, check that both devices use the same servers (Options), and try again.',
  },
  server: { message: 'The storage server refused a step of the link.', action: 'Try again in a moment; if it keeps failing, check the storage server address in Options.' },
};

type Settled = Extract<LinkStateView, { phase: 'confirm' | 'done' | 'failed' | 'linked' }>;

function settled(state: LinkStateView): state is Settled {
  return state.role !== 'none' && (state.phase === 'confirm' || state.phase === 'done' || state.phase === 'failed' || state.phase === 'linked');
}

export class DeviceLinks {
  private state: LinkStateView = { role: 'none' };
  /** Handlers of the offer waiting on this device (the SDK's `wait`), fed by `incoming`. */
  private readonly handlers = new Set<(channel: MessageChannel) => void>();
  private abort: AbortController | null = null;
  private decide: ((accept: boolean) => void) | null = null;
  private waiters: Array<() => void> = [];
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly ctx: Ctx,
    private readonly waits: KeyWaits,
    /** Called once this (new) device is linked: the background syncs and opens its live stream. */
    private readonly onLinked: () => void = () => undefined,
  ) {}

  /** The link work still running (tests). */
  idle(): Promise<unknown> {
    return this.running;
  }

  view(): LinkStateView {
    if (this.state.role === 'new' && this.state.phase === 'waiting' && this.ctx.now() > this.state.offer.expiresAt) {
      this.set({ role: 'new', phase: 'failed', ...LINK_REFUSAL_WORDS.expired });
    }
    return this.state;
  }

  /** A channel whose first message opens a link: taken when an offer waits here. */
  incoming(channel: MessageChannel): boolean {
    if (this.handlers.size === 0) return false;
    for (const handler of this.handlers) handler(channel);
    return true;
  }

  /** The new device: shows its code (the same one while it is still waiting), making the identity first if there is none. */
  async offer(): Promise<LinkStateView> {
    const current = this.view();
    if (current.role === 'new' && current.phase === 'waiting') return current;
    if (current.role === 'existing' && (current.phase === 'connecting' || current.phase === 'confirm' || current.phase === 'linking')) {
      fail('invalid-request', 'This device is busy linking another device.', 'Finish or stop that first.');
    }
    const { ctx } = this;
    if (!(await loadIdentity(ctx.db))) {
      const identity = await generateIdentity();
      await addIdentity(ctx.db, { id: 'device', identity, displayName: NEW_DEVICE_NAME, createdAt: ctx.now() });
    }
    const connection = await ctx.connections.get();
    // Registered with the connection server under this device's fingerprint: the existing device dials it.
    await startPeers(ctx, 'your other device cannot find this one');
    let offer;
    try {
      offer = await connection.client.offerLink();
    } catch (error) {
      if (error instanceof GroupClientError && error.reason === 'already-linked') {
        fail('invalid-request', 'This device is already set up: it has groups or other devices of its own, so it cannot join another identity.', 'To add a device to your identity, choose "Link a new device" here and show the code on the new one.');
      }
      throw error;
    }
    const abort = new AbortController();
    this.abort?.abort();
    this.abort = abort;
    const incoming: IncomingChannels = {
      onChannel: (handler) => {
        this.handlers.add(handler);
        return () => this.handlers.delete(handler);
      },
    };
    this.set({ role: 'new', phase: 'waiting', offer: { qrText: offer.qrPayload, code: offer.code, deviceShort: shortFingerprint(offer.device), expiresAt: offer.expiresAt } });
    // `idle()` does not wait for someone to scan (up to 15 minutes), only for the work after it.
    void offer.wait(incoming, { signal: abort.signal }).then(
      (outcome) => {
        if (abort.signal.aborted) return;
        this.running = this.afterOffer(connection, outcome).catch((error: unknown) => this.set({ role: 'new', phase: 'failed', ...linkFailure(error) }));
      },
      (error: unknown) => this.set({ role: 'new', phase: 'failed', ...linkFailure(error) }),
    );
    return this.state;
  }

  /** Stops showing the code, or forgets a finished link's report. */
  cancel(): LinkStateView {
    if (this.state.role === 'existing' && (this.state.phase === 'connecting' || this.state.phase === 'linking')) {
      fail('invalid-request', 'The link is being written now and cannot be stopped halfway.', 'Wait a few seconds for it to finish.');
    }
    if (this.decide) {
      this.decide(false);
      this.decide = null;
    }
    this.abort?.abort();
    this.abort = null;
    this.handlers.clear();
    this.set({ role: 'none' });
    return this.state;
  }

  /** The existing device: links the device named by a scanned QR code or a typed code; answers at the confirmation or the end. */
  async link(text: string): Promise<LinkStateView> {
    const current = this.view();
    if ((current.role === 'existing' && !settledEnd(current)) || (current.role === 'new' && current.phase === 'waiting')) {
      fail('invalid-request', 'A link is already running on this device.', 'Finish or stop it first.');
    }
    const { ctx } = this;
    const identity = await requireIdentity(ctx.db);
    const connection = await ctx.connections.get();
    // What the new device shows as the person's name once linked.
    await connection.client.setProfile({ name: identity.displayName });
    await startPeers(ctx, 'this device cannot reach the new one');
    const myShort = shortFingerprint(identity.identity.fingerprint);
    this.set({ role: 'existing', phase: 'connecting', deviceShort: null });
    const work = connection.client
      .linkDevice(text, (peer) => ctx.transport.connect(peer), {
        confirm: ({ fingerprint }) =>
          new Promise<boolean>((resolve) => {
            this.decide = (accept) => {
              this.decide = null;
              this.set({ role: 'existing', phase: 'linking', deviceShort: shortFingerprint(fingerprint) });
              resolve(accept);
            };
            this.set({ role: 'existing', phase: 'confirm', deviceShort: shortFingerprint(fingerprint), myShort });
          }),
      })
      .then(
        async (report) => this.set({ role: 'existing', phase: 'done', deviceShort: shortFingerprint(report.device), groups: await this.reportedGroups(report) }),
        (error: unknown) => this.set({ role: 'existing', phase: 'failed', ...linkFailure(error) }),
      )
      .finally(() => ctx.changed());
    this.running = work.catch(() => undefined);
    return this.next();
  }

  /** The person compared the fingerprints: go on or stop; answers when the link ended. */
  async confirm(accept: boolean): Promise<LinkStateView> {
    if (!this.decide) fail('invalid-request', 'No device is waiting for your confirmation.', 'Scan or type the new device’s code first.');
    this.decide(accept);
    return this.next();
  }

  /** Resolves with the state once it needs the person or ended. */
  private next(): Promise<LinkStateView> {
    if (settled(this.state) && !(this.state.role === 'existing' && this.state.phase === 'confirm' && !this.decide)) return Promise.resolve(this.state);
    return new Promise((resolve) => this.waiters.push(() => resolve(this.state)));
  }

  private set(state: LinkStateView): void {
    this.state = state;
    if (settled(state) || state.role === 'none') {
      for (const wake of this.waiters.splice(0)) wake();
    }
    this.ctx.changed();
  }

  /** The new device is linked (or not): take the person's name, read every group handed over. */
  private async afterOffer(connection: Connection, outcome: LinkOutcome): Promise<void> {
    const { ctx } = this;
    this.handlers.clear();
    this.abort = null;
    if (outcome.kind !== 'linked') {
      this.set({ role: 'new', phase: 'failed', ...LINK_REFUSAL_WORDS[outcome.reason] });
      return;
    }
    const name = outcome.profile?.name?.trim();
    if (name && name.length <= 80) {
      await renameIdentity(ctx.db, name);
      await ctx.trust.learnName(outcome.person, name);
    }
    for (const groupId of [...outcome.groups, ...outcome.keyless]) await updateGroupRow(ctx.db, groupId, { removed: false });
    // The groups with their key are read at once (names, notes); the others wait for a box.
    for (const groupId of outcome.groups) await this.waits.afterKeyArrived(connection, groupId);
    for (const groupId of outcome.keyless) void this.waits.round(connection, groupId).catch(() => undefined);
    const groups: LinkedGroupView[] = [];
    for (const groupId of [...outcome.groups, ...outcome.keyless]) groups.push({ groupId, name: (await groupRowOf(ctx.db, groupId))?.name ?? null, ok: outcome.groups.includes(groupId) });
    this.set({ role: 'new', phase: 'linked', personShort: shortFingerprint(outcome.person), name: name ?? NEW_DEVICE_NAME, byShort: shortFingerprint(outcome.by), groups });
    this.onLinked();
  }

  private async reportedGroups(report: LinkReport): Promise<LinkedGroupView[]> {
    const groups: LinkedGroupView[] = [];
    for (const group of report.groups) {
      const name = (await groupRowOf(this.ctx.db, group.groupId))?.name ?? null;
      groups.push(group.ok ? { groupId: group.groupId, name, ok: true } : { groupId: group.groupId, name, ok: false, message: groupFailureWords(group.reason) });
    }
    return groups;
  }
}

/** The peer transport, started; its failure in words (both devices need the connection server). */
async function startPeers(ctx: Ctx, consequence: string): Promise<void> {
  try {
    await ctx.transport.start();
  } catch {
    fail('server-unreachable', `The connection server could not be reached, so ${consequence}.`, 'Check the connection server address in Options (both devices must use the same one), then try again.');
  }
}

function settledEnd(state: LinkStateView): boolean {
  return state.role !== 'none' && (state.phase === 'done' || state.phase === 'failed' || state.phase === 'linked');
}

/** Why a group could not be updated by a link or a removal, in words. */
export function groupFailureWords(reason: string): string {
  switch (reason) {
    case 'no-key':
      return 'This device does not hold the group key yet, so it could not hand it over: the new device asks the group for it and gets it when an admin or member comes online.';
    case 'not-member':
      return 'This device is no longer a member of this group.';
    case 'busy':
      return 'The group kept changing meanwhile: it is updated at its next sync.';
    default:
      return 'The group could not be updated now: it is updated at its next sync.';
  }
}

/** A failed link (existing device) in words. */
function linkFailure(error: unknown): { message: string; action: string } {
  if (error instanceof LinkError) return LINK_REFUSAL_WORDS[error.reason];
  if (error instanceof EncodingError) {
    return { message: `That is not a valid link code: ${error.message}.`, action: 'Type the code exactly as the new device shows it (it starts with LNK1-), or scan its QR code.' };
  }
  if (error instanceof BackgroundError) return { message: error.message, action: error.action };
  const { message, action } = toExtensionError(error, {});
  return { message, action };
}
