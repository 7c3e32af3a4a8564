/**
 * Linking a device to this person, end to end (DESIGN §3 "Linking a device"; the peer
 * messages are in p2p/device-link.ts, the codes in crypto/link-code.ts).
 *
 * New device N: `offerLink` posts its bundle under the code's lookup and returns the QR
 * payload and the code; `accept` runs the link on an incoming channel. When it ends
 * well N has checked the chain against the server's, pinned it, and keeps every group it
 * was handed with the keys its boxes open.
 *
 * Existing device E: `linkDevice` reads a scanned payload or a typed code (finding N's
 * bundle by lookup), dials N, and once N proved the secret and consented: appends `link`
 * to the chain on the server, brings every group's copy of the chain up to date, seals
 * and posts each group's current key to N (so N can read even if E goes away now), and
 * hands N the chain, the profile and the boxes.
 */
import type { PersonState } from '../crypto/device-chain.ts';
import { chainHead, linkEntry, replayChain } from '../crypto/device-chain.ts';
import { currentGeneration, logHead, memberOfDevice } from '../crypto/group-log.ts';
import { fingerprintOf, parseBundle, type DeviceIdentity } from '../crypto/identity.ts';
import { sealKeyBox } from '../crypto/key-box.ts';
import { encodeLinkCode, linkLookup, linkProofKey, linkQrPayload, newLinkSecret, parseLinkInput } from '../crypto/link-code.ts';
import { LINK_OFFER_MAX_MS } from '../protocol/api.ts';
import type { Fingerprint, GroupId } from '../protocol/ids.ts';
import type { KeyBox, PublicBundle } from '../protocol/schemas.ts';
import type { MessageChannel } from '../p2p/channel.ts';
import { ExistingDeviceLink, NewDeviceLink, runLink, type LinkDone, type LinkRefusal, type LinkResult } from '../p2p/device-link.ts';
import { apiErrorOf, type ApiClient } from './api-session.ts';
import { call, GroupClientError, LinkError } from './errors.ts';
import type { GroupRecord, KeyStore } from './key-store.ts';
import { openBoxes, withNewestKey } from './key-fetch.ts';
import { fetchAndReplay } from './log-sync.ts';
import { assertSameLine, type PersonKeeper } from './person.ts';
import type { Profile } from './person-store.ts';

/** What the link code needs of the client. */
export interface LinkHost {
  identity: DeviceIdentity;
  api(): ApiClient;
  people: PersonKeeper;
  store: KeyStore;
  now(): number;
  /** Brings every group's copy of the person's chain up to the pinned one (GroupClient.catchUpEverywhere). */
  catchUpEverywhere(): Promise<{ groups: Array<{ groupId: GroupId; ok: boolean; reason?: string; message?: string }> }>;
}

/** The new device, linked: its person, who linked it, and the groups it now holds. */
export interface Linked {
  kind: 'linked';
  person: Fingerprint;
  by: Fingerprint;
  profile?: Profile;
  /** Groups kept with their current key. */
  groups: GroupId[];
  /** Groups kept without the current key yet (it waits in the mailbox). */
  keyless: GroupId[];
}

export type LinkOutcome = Linked | { kind: 'refused'; reason: LinkRefusal; by: 'me' | 'peer' | 'channel' };

/** Incoming channels (a PeerJS peer's connections, the extension's offscreen ports). */
export interface IncomingChannels {
  onChannel(handler: (channel: MessageChannel) => void): () => void;
}

export interface LinkOffer {
  qrPayload: string;
  code: string;
  device: Fingerprint;
  expiresAt: number;
  /** Runs the link on one incoming channel; never throws for the peer's fault. */
  accept(channel: MessageChannel, options?: { timeoutMs?: number }): Promise<LinkOutcome>;
  /** Accepts channels one at a time until one links, the offer expires or `signal` aborts. */
  wait(incoming: IncomingChannels, options?: { signal?: AbortSignal; timeoutMs?: number }): Promise<LinkOutcome>;
}

export interface LinkReport {
  device: Fingerprint;
  groups: Array<{ groupId: GroupId; ok: true } | { groupId: GroupId; ok: false; reason: string; message: string }>;
}

const REFUSAL_TEXT: Record<LinkRefusal, string> = {
  malformed: 'the other device sent something that is not part of a device link',
  'bad-proof': 'the other device does not know this link code: check the code (or the server swapped the device behind it)',
  'bad-signature': "the other device's signature does not verify",
  'wrong-device': 'the device that answered is not the one the code names',
  'chain-invalid': 'the device list handed over does not verify',
  expired: 'the link code expired: show a new one on the new device',
  'already-linked': 'the new device already belongs to this person or another one',
  declined: 'the link was declined',
  'unexpected-message': 'the other device broke the order of the link messages',
  closed: 'the connection closed before the link finished (or it took too long)',
  server: 'the storage API refused a step of the link: try again',
};

function outcomeOf(result: LinkResult<Linked>): LinkOutcome {
  return result.kind === 'linked' ? result.value : result;
}

/**
 * N: posts the offer and returns what to show.
 * @throws {GroupClientError} `already-linked` when this device has groups, its person has other devices, or
 *   the server already names it (it published an identity of its own).
 */
export async function offerLink(host: LinkHost, options: { ttlMs?: number } = {}): Promise<LinkOffer> {
  const own = await host.people.own();
  if ((await host.store.groups()).length > 0 || own.devices.size > 1 || own.unlinked.size > 0) {
    throw new GroupClientError('already-linked', 'this device already has groups or other devices of its own: link a fresh device instead');
  }
  // A device the server already names (it published its own identity) can never join another person.
  const named = await host
    .api()
    .people.ofDevice.query({ device: host.identity.fingerprint })
    .then(
      () => true,
      (error: unknown) => (apiErrorOf(error)?.code === 'NOT_FOUND' ? false : Promise.reject(error)),
    );
  if (named) throw new GroupClientError('already-linked', 'this device already published an identity of its own, and a device belongs to one person for good: link a fresh device (a new browser profile or CLI state) instead');
  const secret = newLinkSecret();
  const expiresAt = host.now() + Math.min(options.ttlMs ?? LINK_OFFER_MAX_MS, LINK_OFFER_MAX_MS);
  await call('offering this device for linking', async () => host.api().links.offer.mutate({ lookup: await linkLookup(secret), bundle: host.identity.bundle, expiresAt }));
  const proofKey = await linkProofKey(secret);
  const accept = async (channel: MessageChannel, run: { timeoutMs?: number } = {}): Promise<LinkOutcome> => {
    if (host.now() > expiresAt) {
      channel.close();
      return { kind: 'refused', reason: 'expired', by: 'me' };
    }
    const machine = new NewDeviceLink<Linked>({ me: host.identity, proofKey, finish: (done, chain, by, profile) => keepLinked(host, done, chain, by, profile) });
    return outcomeOf(await runLink(channel, machine, run));
  };
  return {
    qrPayload: linkQrPayload(host.identity.fingerprint, secret),
    code: encodeLinkCode(secret),
    device: host.identity.fingerprint,
    expiresAt,
    accept,
    wait: (incoming, run = {}) => waitForLink(incoming, accept, expiresAt - host.now(), run),
  };
}

/** One channel at a time; the first that links ends the wait. */
function waitForLink(incoming: IncomingChannels, accept: LinkOffer['accept'], remainingMs: number, options: { signal?: AbortSignal; timeoutMs?: number }): Promise<LinkOutcome> {
  return new Promise((resolve) => {
    let busy = false;
    let over = false;
    const end = (outcome: LinkOutcome) => {
      if (over) return;
      over = true;
      stop();
      clearTimeout(timer);
      resolve(outcome);
    };
    const timer = setTimeout(() => end({ kind: 'refused', reason: 'expired', by: 'me' }), Math.max(0, remainingMs));
    options.signal?.addEventListener('abort', () => end({ kind: 'refused', reason: 'closed', by: 'me' }));
    const stop = incoming.onChannel((channel) => {
      // A second dialler while one link runs is turned away (the code is for one device).
      if (busy || over) {
        channel.close();
        return;
      }
      busy = true;
      void accept(channel, options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}).then((outcome) => {
        busy = false;
        if (outcome.kind === 'linked') end(outcome);
      });
    });
  });
}

/**
 * N keeps what E handed over: the chain, checked against the server's copy (which E
 * appended to first) and pinned; then every group, validated from its log, with the
 * keys the boxes (handed over, or waiting on the server) open.
 */
async function keepLinked(host: LinkHost, done: LinkDone, chain: PersonState, by: Fingerprint, profile: Profile | undefined): Promise<Linked> {
  const { identity, api, people } = host;
  const answer = await call("reading this person's devices", () => api().people.get.query({ person: chain.person }));
  const published = await replayChain(answer.entries, { person: chain.person, now: host.now() });
  assertSameLine(published, chain);
  if (!published.devices.has(identity.fingerprint)) throw new GroupClientError('mismatch', 'the server does not list this device in the person it was linked to');
  const [entries, state] = published.seq >= chain.seq ? [answer.entries, published] : [done.chain, chain];
  await people.adopt({ person: state.person, entries, head: chainHead(state), ...(profile ? { profile } : {}) }, state);
  const groups: GroupId[] = [];
  const keyless: GroupId[] = [];
  for (const { groupId, boxes } of done.groups) {
    const record = await keepGroup(host, groupId, boxes, state.person).catch(() => null);
    if (!record) continue;
    (record.seeds.has(currentGeneration(record.state)) ? groups : keyless).push(groupId);
  }
  return { kind: 'linked', person: state.person, by, ...(profile ? { profile } : {}), groups, keyless };
}

async function keepGroup(host: LinkHost, groupId: GroupId, boxes: KeyBox[], person: Fingerprint): Promise<GroupRecord | null> {
  const state = await fetchAndReplay(host.api(), groupId, host.now());
  if (memberOfDevice(state, host.identity.fingerprint)?.fingerprint !== person) return null;
  await host.people.observeGroup(state);
  let record: GroupRecord = { groupId, state, pinned: logHead(state), seeds: new Map() };
  record = await openBoxes(host.identity, record, boxes.filter((b) => b.groupId === groupId));
  if (!record.seeds.has(currentGeneration(state))) record = await withNewestKey(host.api(), host.identity, record);
  await host.store.save(record);
  // Still without the key (the linking device held none to hand over): ask the mailbox, as a joiner does.
  if (!record.seeds.has(currentGeneration(state))) await call('asking for the key', () => host.api().mailbox.request.mutate({ groupId }));
  return record;
}

/**
 * E: links the device a scanned payload or typed code names.
 * @throws {EncodingError} a mistyped code; {LinkError} when the link did not happen.
 */
export async function linkDevice(
  host: LinkHost,
  scanned: string,
  connect: (peer: Fingerprint) => MessageChannel,
  options: { confirm?: (device: { fingerprint: Fingerprint }) => Promise<boolean>; timeoutMs?: number } = {},
): Promise<LinkReport> {
  const input = parseLinkInput(scanned);
  const device = input.device ?? (await deviceByLookup(host, input.secret));
  await host.people.publish();
  const person = await host.people.refresh();
  const chain = await host.people.chain();
  const profile = (await host.people.record()).profile;
  const machine = await ExistingDeviceLink.open<LinkReport>({
    me: host.identity,
    chain,
    person,
    proofKey: await linkProofKey(input.secret),
    device,
    ...(options.confirm ? { confirm: (fingerprint: Fingerprint) => options.confirm!({ fingerprint }) } : {}),
    commit: (bundle, consent) => commitLink(host, person, bundle, consent, profile),
  });
  let channel: MessageChannel;
  try {
    channel = connect(device);
  } catch {
    throw new LinkError('closed', 'channel', REFUSAL_TEXT.closed);
  }
  const result = await runLink(channel, machine, options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {});
  if (result.kind !== 'linked') throw new LinkError(result.reason, result.by, REFUSAL_TEXT[result.reason]);
  return result.value;
}

/** The new device's fingerprint from a typed code: its bundle by lookup (self-signature checked). */
async function deviceByLookup(host: LinkHost, secret: Uint8Array): Promise<Fingerprint> {
  const found = await call('finding the new device', async () => host.api().links.find.query({ lookup: await linkLookup(secret) }));
  const { bundle } = await parseBundle(found.bundle);
  // Whether this is really the device showing the code is proved over the channel (the MAC).
  return fingerprintOf(bundle);
}

/** E's commit: the chain on the server, every group brought up to date, the keys sealed to the new device. */
async function commitLink(host: LinkHost, person: PersonState, bundle: PublicBundle, consent: string, profile: Profile | undefined) {
  const device = fingerprintOf(bundle);
  await host.people.append([await linkEntry(person, host.identity, bundle, consent, host.now())]);
  const caughtUp = await host.catchUpEverywhere();
  const report: LinkReport = { device, groups: [] };
  const groups: LinkDone['groups'] = [];
  for (const outcome of caughtUp.groups) {
    if (!outcome.ok) {
      report.groups.push({ groupId: outcome.groupId, ok: false, reason: outcome.reason ?? 'failed', message: outcome.message ?? '' });
      continue;
    }
    const record = await host.store.load(outcome.groupId);
    if (!record?.state.devices.has(device)) {
      report.groups.push({ groupId: outcome.groupId, ok: false, reason: 'not-member', message: 'the group log does not list the new device yet: it is caught up at the next sync' });
      continue;
    }
    const generation = currentGeneration(record.state);
    const seed = record.seeds.get(generation);
    if (!seed) {
      // Handed over without a key: the new device keeps the group and asks the mailbox.
      groups.push({ groupId: outcome.groupId, boxes: [] });
      report.groups.push({ groupId: outcome.groupId, ok: false, reason: 'no-key', message: 'this device holds no current key of the group to hand over: the new device asks the mailbox' });
      continue;
    }
    const box = await sealKeyBox(host.identity, outcome.groupId, generation, seed, { kind: 'member', id: device }, bundle.boxKey);
    // Posted first: the new device can fetch it even if this device goes away before `done` arrives.
    await call('handing the key to the new device', () => host.api().boxes.post.mutate({ groupId: outcome.groupId, boxes: [box] }));
    groups.push({ groupId: outcome.groupId, boxes: [box] });
    report.groups.push({ groupId: outcome.groupId, ok: true });
  }
  return { chain: await host.people.chain(), ...(profile ? { profile } : {}), groups, result: report };
}
