/**
 * The peer handshake and key handover (DESIGN §3, §6.3), as two sans-IO state machines:
 * they take parsed messages in and give messages out, so the same code runs over an
 * in-memory pair, Node WebRTC and a Chromium data channel (see `channel.ts`).
 *
 *   joiner → holder   hello   {my bundle, whom I expect, my log head, nonce}
 *   holder → joiner   welcome {my bundle, my log head, nonce, sig(hello, welcome)}
 *   joiner → holder   auth    {sig(hello, welcome), QR secret if I scanned yours}
 *   holder → joiner   key     {key box}            — or refuse {reason} at any step
 *
 * Both signatures cover both nonces and both fingerprints, so neither side can be
 * impersonated or replayed. The holder hands over a key only to a member of its own
 * validated log whose trust satisfies the group's policy.
 *
 * Log heads (DESIGN §4): each signature also covers both heads, so each side ends up
 * with the other's head signed (`onPeerHead`, see head-evidence.ts). A fork is believed
 * only on such a signed head (outcome `fork`, with the evidence); a peer's `refuse` is
 * unsigned and is only ever a refusal. The holder therefore answers a hello whose head
 * conflicts with or is ahead of its own with a welcome as usual, and decides after the
 * joiner's signed auth.
 */
import { toBase64url } from '../protocol/encoding.ts';
import type { Fingerprint } from '../protocol/ids.ts';
import { HANDSHAKE_MESSAGE_MAX_CHARS, PROTOCOL_VERSION, handshakeMessageSchema, type HandshakeMessage, type KeyBox, type PublicBundle } from '../protocol/schemas.ts';
import { ConclaveError } from './errors.ts';
import { compareHead, currentGeneration, logHead, memberOfDevice, type GroupState } from './group-log.ts';
import { fingerprintOf, parseBundle, signLabelled, verifyLabelled, type DeviceIdentity, type VerifiedBundle } from './identity.ts';
import { openKeyBox, openerFor, sealKeyBox } from './key-box.ts';
import { equalBytes } from '../protocol/encoding.ts';
import { LABELS } from './labels.ts';
import { randomBytes } from './primitives.ts';
import { qrSecretMatches } from './qr.ts';
import { transcript, type Auth, type HeadEvidence, type Hello, type Welcome } from './head-evidence.ts';

export type { HeadEvidence } from './head-evidence.ts';
export type RefusalReason = Extract<HandshakeMessage, { t: 'refuse' }>['reason'];

/** How a member's key is trusted on this device (DESIGN §3). */
export type TrustState = 'unverified' | 'verified' | 'key-changed' | 'removed';

export type HandshakeOutcome =
  | { kind: 'received'; peer: Fingerprint; generation: number; seed: Uint8Array }
  | { kind: 'sent'; peer: Fingerprint; generation: number }
  | { kind: 'refused'; reason: RefusalReason | 'closed'; by: 'me' | 'peer' | 'channel'; peer?: Fingerprint }
  /** The peer signed a head that conflicts with our validated log: `evidence` proves it (verifyHeadEvidence). */
  | { kind: 'fork'; peer: Fingerprint; evidence: HeadEvidence };

export interface HandshakeStep {
  send: HandshakeMessage[];
  done?: HandshakeOutcome;
  /** Called by the driver once `send` is on its way: the holder seals the key box then. */
  afterSend?: () => void;
}

/**
 * Parses one message from a peer: size-limited JSON, then the strict schema.
 * @returns the message, or null when it is malformed.
 */
export function parseHandshakeMessage(raw: unknown): HandshakeMessage | null {
  let value = raw;
  if (typeof raw === 'string') {
    if (raw.length > HANDSHAKE_MESSAGE_MAX_CHARS) return null;
    try {
      value = JSON.parse(raw);
    } catch {
      return null;
    }
  }
  const parsed = handshakeMessageSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

/**
 * Bundles that passed `parseBundle` (self-signature, usable box key), by fingerprint.
 * The fingerprint is a hash of the whole bundle, so a hit is the same bundle, checked
 * already: a device that hands over or asks again, and the joiner's check of the holder
 * it dials (started before the channel opens), do not pay the verification twice.
 * Only successes are kept; the oldest entry goes first.
 */
const verifiedBundles = new Map<Fingerprint, Promise<VerifiedBundle>>();
const VERIFIED_BUNDLES_LIMIT = 512;

/** `parseBundle`, once per distinct bundle (see `verifiedBundles`); rejects as it does. */
function parseBundleOnce(bundle: PublicBundle): Promise<VerifiedBundle> {
  const fingerprint = fingerprintOf(bundle);
  let parsed = verifiedBundles.get(fingerprint);
  if (!parsed) {
    if (verifiedBundles.size >= VERIFIED_BUNDLES_LIMIT) verifiedBundles.delete(verifiedBundles.keys().next().value!);
    parsed = parseBundle(bundle);
    verifiedBundles.set(fingerprint, parsed);
    parsed.catch(() => verifiedBundles.delete(fingerprint));
  }
  return parsed;
}

/** A bundle whose self-signature fails is a bad signature; anything else wrong with it is malformed. */
function bundleRefusal(error: unknown): RefusalReason {
  return error instanceof ConclaveError && error.is('SIGNATURE') ? 'bad-signature' : 'malformed';
}

function refuse(reason: RefusalReason, peer?: Fingerprint): HandshakeStep {
  return { send: [{ t: 'refuse', reason }], done: { kind: 'refused', reason, by: 'me', ...(peer ? { peer } : {}) } };
}

function refusedByPeer(message: HandshakeMessage, peer?: Fingerprint): HandshakeStep | null {
  if (message.t !== 'refuse') return null;
  return { send: [], done: { kind: 'refused', reason: message.reason, by: 'peer', ...(peer ? { peer } : {}) } };
}

/** The side that wants the key: it opens the channel to an online key holder. */
export class JoinerHandshake {
  private hello: Hello | undefined;
  private welcome: Welcome | undefined;
  private phase: 'new' | 'hello-sent' | 'auth-sent' | 'done' = 'new';

  constructor(
    private readonly me: DeviceIdentity,
    private readonly state: GroupState,
    private readonly options: {
      expectedPeer: Fingerprint;
      qrSecret?: string;
      /** Called with the holder's signed head, once its welcome verified and it is a member of our log. */
      onPeerHead?: (evidence: HeadEvidence) => void;
    },
  ) {}

  start(): HandshakeStep {
    // Check the bundle our log holds for the holder we dial while the channel opens: a
    // welcome from that holder carries that very bundle (same fingerprint).
    const logged = this.state.devices.get(this.options.expectedPeer)?.bundle;
    if (logged) parseBundleOnce(logged).catch(() => undefined);
    this.hello = {
      t: 'hello',
      v: PROTOCOL_VERSION,
      groupId: this.state.groupId,
      bundle: this.me.bundle,
      head: logHead(this.state),
      nonce: toBase64url(randomBytes(32)),
      expect: this.options.expectedPeer,
    };
    this.phase = 'hello-sent';
    return { send: [this.hello] };
  }

  async receive(raw: unknown): Promise<HandshakeStep> {
    const message = parseHandshakeMessage(raw);
    const peer = this.options.expectedPeer;
    if (!message) return this.finish(refuse('malformed', peer));
    const refused = refusedByPeer(message, peer);
    if (refused) return this.finish(refused);
    if (this.phase === 'hello-sent' && message.t === 'welcome') return this.finish(await this.onWelcome(message), false);
    if (this.phase === 'auth-sent' && message.t === 'key') return this.finish(await this.onKey(message.box));
    return this.finish(refuse('unexpected-message', peer));
  }

  private finish(step: HandshakeStep, terminal = true): HandshakeStep {
    if (terminal || step.done) this.phase = 'done';
    return step;
  }

  private async onWelcome(welcome: Welcome): Promise<HandshakeStep> {
    const hello = this.hello!;
    const peer = this.options.expectedPeer;
    if (welcome.groupId !== this.state.groupId) return refuse('wrong-group', peer);
    let holder;
    try {
      holder = await parseBundleOnce(welcome.bundle);
    } catch (error) {
      return refuse(bundleRefusal(error), peer);
    }
    // Key substitution: whoever answered must be the device we meant to reach.
    if (holder.fingerprint !== peer) return refuse('wrong-peer', peer);
    const { sig, ...unsigned } = welcome;
    if (!(await verifyLabelled(holder.signKey, sig, LABELS.handshakeTranscript, transcript(hello, unsigned, 'holder')))) {
      return refuse('bad-signature', peer);
    }
    if (!memberOfDevice(this.state, holder.fingerprint)) return refuse('not-a-member', peer);
    const evidence: HeadEvidence = { signer: 'holder', hello, welcome };
    this.options.onPeerHead?.(evidence);
    if (compareHead(this.state, welcome.head) === 'fork') {
      // Signed evidence of a fork. Our auth (no QR secret: this is not the moment to
      // verify anyone) gives the holder the same evidence of our head; then we stop.
      const sig = await signLabelled(this.me, LABELS.handshakeTranscript, transcript(hello, unsigned, 'joiner'));
      return { send: [{ t: 'auth', sig }], done: { kind: 'fork', peer, evidence } };
    }
    this.welcome = welcome;
    const qrSecret = this.options.qrSecret;
    const authSig = await signLabelled(this.me, LABELS.handshakeTranscript, transcript(hello, unsigned, 'joiner', qrSecret));
    this.phase = 'auth-sent';
    return { send: [{ t: 'auth', sig: authSig, ...(qrSecret ? { qrSecret } : {}) }] };
  }

  private async onKey(box: unknown): Promise<HandshakeStep> {
    const peer = this.options.expectedPeer;
    try {
      if ((box as { sender?: unknown }).sender !== peer) return refuse('wrong-peer', peer);
      const seed = await openKeyBox(box, openerFor(this.me), this.state);
      if (!seed) return refuse('malformed', peer);
      const generation = (box as { generation: number }).generation;
      return { send: [], done: { kind: 'received', peer, generation, seed } };
    } catch (error) {
      if (error instanceof ConclaveError && error.is('KEY_BOX') && (box as { generation?: number }).generation! > currentGeneration(this.state)) {
        return refuse('behind', peer);
      }
      return refuse(error instanceof ConclaveError && error.is('SIGNATURE') ? 'bad-signature' : 'malformed', peer);
    }
  }
}

export interface HolderOptions {
  /** The seed of a generation, if this device holds it. */
  seedFor: (generation: number) => Uint8Array | undefined;
  /** This device's trust in a member (a person id). */
  trustOf: (person: Fingerprint) => TrustState;
  /** The QR code this device is showing, if any: its one-time secret and the person it was made for. */
  shownQr?: { secret: string; for: Fingerprint };
  /** Called with the person whose device echoed our QR secret: mark them verified. */
  onQrConfirmed?: (person: Fingerprint) => void;
  /** Called with the joiner's signed head, once its auth verified and it is a member of our log. */
  onPeerHead?: (evidence: HeadEvidence) => void;
}

/** The side that holds the key: it accepts the channel and decides whether to hand over. */
export class HolderHandshake {
  private hello: Hello | undefined;
  private welcome: Welcome | undefined;
  private joiner: Fingerprint | undefined;
  private joinerSignKey: Uint8Array | undefined;
  /** The key box sealed while the welcome travels; sent only if every check of the auth passes. */
  private prepared: { generation: number; seed: Uint8Array; box: Promise<KeyBox | null> } | undefined;
  private phase: 'awaiting-hello' | 'awaiting-auth' | 'done' = 'awaiting-hello';

  constructor(
    private readonly me: DeviceIdentity,
    private readonly state: GroupState,
    private readonly options: HolderOptions,
  ) {}

  start(): HandshakeStep {
    return { send: [] };
  }

  async receive(raw: unknown): Promise<HandshakeStep> {
    return this.receiveMessage(parseHandshakeMessage(raw));
  }

  /** `receive` for a message already parsed with `parseHandshakeMessage` (null: it was malformed). */
  async receiveMessage(message: HandshakeMessage | null): Promise<HandshakeStep> {
    let step: HandshakeStep;
    if (!message) step = refuse('malformed', this.joiner);
    else if (message.t === 'refuse') step = refusedByPeer(message, this.joiner)!;
    else if (this.phase === 'awaiting-hello' && message.t === 'hello') step = await this.onHello(message);
    else if (this.phase === 'awaiting-auth' && message.t === 'auth') step = await this.onAuth(message.sig, message.qrSecret);
    else step = refuse('unexpected-message', this.joiner);
    if (step.done) this.phase = 'done';
    return step;
  }

  private async onHello(hello: Hello): Promise<HandshakeStep> {
    if (hello.groupId !== this.state.groupId) return refuse('wrong-group');
    if (hello.expect !== this.me.fingerprint) return refuse('wrong-peer');
    let joiner;
    try {
      joiner = await parseBundleOnce(hello.bundle);
    } catch (error) {
      return refuse(bundleRefusal(error));
    }
    this.joiner = joiner.fingerprint;
    this.joinerSignKey = joiner.signKey;
    // Heads that conflict or are ahead are decided after the auth, on the joiner's signature.
    // Say nothing signed to someone who is not in our log.
    if (!memberOfDevice(this.state, this.joiner)) {
      return refuse(wasRemoved(this.state, this.joiner) ? 'removed' : 'not-a-member', this.joiner);
    }
    const unsigned: Omit<Welcome, 'sig'> = {
      t: 'welcome',
      v: PROTOCOL_VERSION,
      groupId: this.state.groupId,
      bundle: this.me.bundle,
      head: logHead(this.state),
      nonce: toBase64url(randomBytes(32)),
    };
    this.hello = hello;
    this.welcome = { ...unsigned, sig: await signLabelled(this.me, LABELS.handshakeTranscript, transcript(hello, unsigned, 'holder')) };
    this.phase = 'awaiting-auth';
    return { send: [this.welcome], afterSend: () => this.prepareBox(joiner.fingerprint) };
  }

  /**
   * Seals the current seed to the joining device's logged box key as soon as the welcome
   * is on its way (while the joiner checks it and signs its auth), not after the auth. The box
   * leaves only through `onAuth`, after every check there passed; a failed seal is
   * answered there as before (`malformed`).
   */
  private prepareBox(joiner: Fingerprint): void {
    if (this.phase !== 'awaiting-auth' || this.prepared) return;
    const generation = currentGeneration(this.state);
    let seed: Uint8Array | undefined;
    try {
      seed = this.options.seedFor(generation);
    } catch {
      return; // Asked again at the auth, where a failure is answered.
    }
    if (!seed) return;
    // A copy: what is sealed is exactly what `onAuth` compares against.
    const sealed = new Uint8Array(seed);
    const box = sealKeyBox(this.me, this.state.groupId, generation, sealed, { kind: 'member', id: joiner }, this.state.devices.get(joiner)!.boxKey).catch(() => null);
    this.prepared = { generation, seed: sealed, box };
  }

  private async onAuth(sig: string, qrSecret: string | undefined): Promise<HandshakeStep> {
    const joiner = this.joiner!;
    const { sig: _own, ...unsigned } = this.welcome!;
    if (!(await verifyLabelled(this.joinerSignKey!, sig, LABELS.handshakeTranscript, transcript(this.hello!, unsigned, 'joiner', qrSecret)))) {
      return refuse('bad-signature', joiner);
    }
    // Trust and the QR are per person; the key box goes to the device on the channel.
    const member = memberOfDevice(this.state, joiner);
    if (!member) return refuse(wasRemoved(this.state, joiner) ? 'removed' : 'not-a-member', joiner);
    const person = member.fingerprint;
    const auth: Auth = { t: 'auth', sig, ...(qrSecret !== undefined ? { qrSecret } : {}) };
    const evidence: HeadEvidence = { signer: 'joiner', hello: this.hello!, welcome: this.welcome!, auth };
    this.options.onPeerHead?.(evidence);
    const heads = compareHead(this.state, this.hello!.head);
    if (heads === 'fork') return { send: [{ t: 'refuse', reason: 'fork' }], done: { kind: 'fork', peer: joiner, evidence } };
    if (heads === 'peer-ahead') return refuse('behind', joiner);
    // Echoing the secret of the QR code we show, over this authenticated channel,
    // proves the joiner scanned it in person: that is a verification (or re-verification).
    const shown = this.options.shownQr;
    const scannedOurCode = qrSecret !== undefined && shown !== undefined && shown.for === person && qrSecretMatches(shown.secret, qrSecret);
    if (scannedOurCode) this.options.onQrConfirmed?.(person);
    const trust = scannedOurCode ? 'verified' : this.options.trustOf(person);
    if (trust === 'key-changed') return refuse('key-changed', joiner);
    if (trust === 'removed') return refuse('removed', joiner);
    if (trust !== 'verified' && this.state.policy !== 'invite-trust') return refuse('not-verified', joiner);
    const generation = currentGeneration(this.state);
    const seed = this.options.seedFor(generation);
    if (!seed) return refuse('no-key', joiner);
    // The box sealed at hello, unless the seed we hold changed since (then seal again).
    const prepared = this.prepared?.generation === generation && equalBytes(this.prepared.seed, seed) ? this.prepared.box : undefined;
    const box = await (prepared ?? sealKeyBox(this.me, this.state.groupId, generation, seed, { kind: 'member', id: joiner }, this.state.devices.get(joiner)!.boxKey).catch(() => null));
    // Their logged box key cannot be sealed to (e.g. a low-order point).
    if (!box) return refuse('malformed', joiner);
    return { send: [{ t: 'key', box }], done: { kind: 'sent', peer: joiner, generation } };
  }
}

/** True when the person a device spoke for was removed (not when they left or the device was unlinked). */
function wasRemoved(state: GroupState, device: Fingerprint): boolean {
  const departed = state.departedDevices.get(device);
  return departed !== undefined && state.departed.get(departed.person)?.how === 'removed';
}
