/**
 * The device link over the peer channel (DESIGN §3 "Linking a device"): the existing
 * device E dials the new device N (by N's fingerprint, as for the key handover) and
 *
 *   E → N  offer  {for: N, E's bundle, E's person chain, nonce, proof}
 *   N → E  accept {N's bundle, nonce, consent, proof, sig}
 *   E → N  done   {chain (with N linked), profile sealed to N, groups: [{groupId, boxes}], proof, sig}
 *
 * Every `proof` is a MAC over the transcript so far with the key derived from the link
 * secret (link-code.ts), which only the two devices hold: a server that swapped N's
 * bundle behind a typed code's lookup, or anyone who dials N, cannot pass. Every `sig`
 * is the device's own signature over the same transcript (`conclave/v3/link-transcript`).
 * The person's profile (display name, settings) is HPKE-sealed to N's box key, bound to
 * the transcript, so not even a relay in the middle of the channel reads it. Either side may send `refuse`
 * with a reason; refusals are named, never thrown. Messages are size-limited JSON
 * parsed with strict schemas.
 *
 * The machines only check and speak: what E does to commit the link (append to the
 * chain, update every group, seal the keys) and what N does with `done` (pin the chain,
 * keep the groups) come in as hooks, so this module holds no client state.
 */
import { z } from 'zod';
import { labelled } from '../protocol/canonical.ts';
import { b64uBytes, b64uVar, fingerprintSchema, groupIdSchema, type Fingerprint } from '../protocol/ids.ts';
import { deviceChainSchema, keyBoxSchema, PROTOCOL_VERSION, publicBundleSchema, type DeviceEntry, type PublicBundle } from '../protocol/schemas.ts';
import { fromBase64url, fromUtf8, toBase64url, utf8 } from '../protocol/encoding.ts';
import { nextPosition, replayChain, signConsent, type PersonState } from '../crypto/device-chain.ts';
import { fingerprintOf, parseBundle, signLabelled, verifyLabelled, type DeviceIdentity } from '../crypto/identity.ts';
import { LABELS } from '../crypto/labels.ts';
import { linkProof, linkProofHolds, type LinkRole } from '../crypto/link-code.ts';
import { hpkeOpen, hpkeSeal, randomBytes } from '../crypto/primitives.ts';
import { runMachine, type MachineStep, type MessageChannel, type PeerMachine } from './channel.ts';

/** The largest link message accepted (a `done` carries a whole chain and a box per group). */
export const LINK_MESSAGE_MAX_CHARS = 4 * 1024 * 1024;
/** A link includes the existing device's work on every group: it may take longer than a key handover. */
export const LINK_TIMEOUT_MS = 120_000;
/** The most groups one `done` hands over. */
export const MAX_LINK_GROUPS = 1000;

export const LINK_REFUSALS = ['malformed', 'bad-proof', 'bad-signature', 'wrong-device', 'chain-invalid', 'expired', 'already-linked', 'declined', 'unexpected-message', 'closed', 'server'] as const;
export type LinkRefusal = (typeof LINK_REFUSALS)[number];

const profileSchema = z.strictObject({ name: z.string().max(200).optional(), settings: z.record(z.string(), z.unknown()).optional() });
export type LinkProfile = z.infer<typeof profileSchema>;
/** The largest profile (canonical JSON) a link carries. */
export const LINK_PROFILE_MAX_BYTES = 64 * 1024;
/** HPKE `enc` and AES-128-GCM ciphertext of the profile's JSON. */
const sealedProfileSchema = z.strictObject({ enc: b64uBytes(32), ciphertext: b64uVar(16, 16 + LINK_PROFILE_MAX_BYTES) });

const offerSchema = z.strictObject({
  t: z.literal('link-offer'),
  v: z.literal(PROTOCOL_VERSION),
  for: fingerprintSchema,
  bundle: publicBundleSchema,
  chain: deviceChainSchema,
  nonce: b64uBytes(16),
  proof: b64uBytes(32),
});
const acceptSchema = z.strictObject({
  t: z.literal('link-accept'),
  bundle: publicBundleSchema,
  nonce: b64uBytes(16),
  consent: b64uBytes(64),
  proof: b64uBytes(32),
  sig: b64uBytes(64),
});
const doneSchema = z.strictObject({
  t: z.literal('link-done'),
  chain: deviceChainSchema,
  profile: sealedProfileSchema.optional(),
  groups: z.array(z.strictObject({ groupId: groupIdSchema, boxes: z.array(keyBoxSchema).max(16) })).max(MAX_LINK_GROUPS),
  proof: b64uBytes(32),
  sig: b64uBytes(64),
});
const refuseSchema = z.strictObject({ t: z.literal('link-refuse'), reason: z.enum(LINK_REFUSALS) });
const linkMessageSchema = z.discriminatedUnion('t', [offerSchema, acceptSchema, doneSchema, refuseSchema]);

export type LinkOffer = z.infer<typeof offerSchema>;
export type LinkAccept = z.infer<typeof acceptSchema>;
export type LinkDone = z.infer<typeof doneSchema>;
export type LinkMessage = z.infer<typeof linkMessageSchema>;

/** Parses one link message: size-limited JSON, then the strict schema; null when it is not one. */
export function parseLinkMessage(raw: unknown): LinkMessage | null {
  if (typeof raw !== 'string' || raw.length > LINK_MESSAGE_MAX_CHARS) return null;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return null;
  }
  const parsed = linkMessageSchema.safeParse(json);
  return parsed.success ? parsed.data : null;
}

/** Whether the first message of an incoming channel opens a device link (else: a key handshake's hello). */
export function isLinkOpening(raw: unknown): boolean {
  return parseLinkMessage(raw)?.t === 'link-offer';
}

export type LinkRefused = { kind: 'refused'; reason: LinkRefusal; by: 'me' | 'peer' | 'channel' };
export type LinkResult<T> = { kind: 'linked'; value: T } | LinkRefused;
type Step<T> = MachineStep<LinkMessage, LinkResult<T>>;

function refuse<T>(reason: LinkRefusal): Step<T> {
  return { send: [{ t: 'link-refuse', reason }], done: { kind: 'refused', reason, by: 'me' } };
}

const strip = <M extends { proof: string; sig?: string }>(m: M) => {
  const { proof: _p, sig: _s, ...rest } = m;
  return rest;
};

/** The bytes both proofs and both signatures cover: every message so far, without its proof and signature. */
function transcript(offer: LinkOffer, accept?: LinkAccept, done?: LinkDone): Uint8Array {
  return labelled(LABELS.linkProof, { offer: strip(offer), ...(accept ? { accept: strip(accept) } : {}), ...(done ? { done: strip(done) } : {}) });
}

/** The HPKE info of the sealed profile: whose it is and for which device. */
function profileInfo(person: Fingerprint, device: Fingerprint): Uint8Array {
  return labelled(LABELS.linkProfile, { person, device });
}

/** Seals the profile to the new device; the offer and acceptance are its associated data. */
async function sealProfile(profile: LinkProfile, person: Fingerprint, device: PublicBundle, aad: Uint8Array): Promise<NonNullable<LinkDone['profile']>> {
  const plaintext = utf8(JSON.stringify(profile));
  if (plaintext.length > LINK_PROFILE_MAX_BYTES) throw new Error('the profile is too large to hand over');
  const { enc, ciphertext } = await hpkeSeal(fromBase64url(device.boxKey, 32), profileInfo(person, fingerprintOf(device)), plaintext, aad);
  return { enc: toBase64url(enc), ciphertext: toBase64url(ciphertext) };
}

/** Opens the sealed profile; null when it does not open or is not a profile. */
async function openProfile(sealed: NonNullable<LinkDone['profile']>, me: DeviceIdentity, person: Fingerprint, aad: Uint8Array): Promise<LinkProfile | null> {
  try {
    const plaintext = await hpkeOpen(me.boxKeys, fromBase64url(sealed.enc, 32), profileInfo(person, me.fingerprint), fromBase64url(sealed.ciphertext), aad, 'link profile');
    const parsed = profileSchema.safeParse(JSON.parse(fromUtf8(plaintext)));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

async function proved(key: Uint8Array, role: LinkRole, bytes: Uint8Array): Promise<{ proof: string }> {
  return { proof: await linkProof(key, role, bytes) };
}

const runnerOutcomes = <T>() => ({
  closed: { kind: 'refused', reason: 'closed', by: 'channel' } as LinkResult<T>,
  broken: refuse<T>('malformed'),
});

/** What the existing device's side needs. */
export interface ExistingSideOptions<T> {
  me: DeviceIdentity;
  /** This device's person chain and its validated state. */
  chain: DeviceEntry[];
  person: PersonState;
  proofKey: Uint8Array;
  /** The new device: from the QR code, or from the lookup a typed code gives. */
  device: Fingerprint;
  /**
   * Commits the link once the new device proved itself: append it to the chain, update
   * the groups, seal their keys. Returns what `done` carries and the caller's result.
   * A throw refuses the link with `server`.
   */
  commit(device: PublicBundle, consent: string): Promise<{ chain: DeviceEntry[]; profile?: LinkProfile; groups: LinkDone['groups']; result: T }>;
  /** Asked before anything is committed (the person confirms the new device's fingerprint); false → `declined`. */
  confirm?: (device: Fingerprint) => Promise<boolean>;
}

/** E's side: offer, check the acceptance, commit, hand over. */
export class ExistingDeviceLink<T> implements PeerMachine<LinkMessage, LinkResult<T>> {
  private finished = false;

  private constructor(
    private readonly options: ExistingSideOptions<T>,
    private readonly offer: LinkOffer,
  ) {}

  /** Builds the offer (it carries a MAC, so this is async); `start` sends it. */
  static async open<T>(options: ExistingSideOptions<T>): Promise<ExistingDeviceLink<T>> {
    const { me, chain, proofKey, device } = options;
    const unsigned = { t: 'link-offer' as const, v: PROTOCOL_VERSION, for: device, bundle: me.bundle, chain, nonce: toBase64url(randomBytes(16)), proof: '' };
    return new ExistingDeviceLink(options, { ...unsigned, ...(await proved(proofKey, 'existing', transcript(unsigned))) });
  }

  start(): Step<T> {
    return { send: [this.offer] };
  }

  async receive(raw: unknown): Promise<Step<T>> {
    if (this.finished) return refuse('unexpected-message');
    const message = parseLinkMessage(raw);
    if (!message) return this.end(refuse('malformed'));
    if (message.t === 'link-refuse') return this.end({ send: [], done: { kind: 'refused', reason: message.reason, by: 'peer' } });
    if (message.t !== 'link-accept') return this.end(refuse('unexpected-message'));
    const { proofKey, device } = this.options;
    // The MAC first: without the link secret nothing else is worth checking.
    if (!(await linkProofHolds(proofKey, 'new', transcript(this.offer, message), message.proof))) return this.end(refuse('bad-proof'));
    if (fingerprintOf(message.bundle) !== device) return this.end(refuse('wrong-device'));
    let bundle: PublicBundle;
    try {
      ({ bundle } = await parseBundle(message.bundle));
    } catch {
      return this.end(refuse('bad-signature'));
    }
    if (!(await verifyLabelled(parseSignKey(bundle), message.sig, LABELS.linkTranscript, { role: 'new', transcript: toBase64url(transcript(this.offer, message)) }))) {
      return this.end(refuse('bad-signature'));
    }
    if (this.options.confirm && !(await this.options.confirm(device))) return this.end(refuse('declined'));
    let committed;
    let profile: LinkDone['profile'];
    try {
      committed = await this.options.commit(bundle, message.consent);
      if (committed.profile) profile = await sealProfile(committed.profile, this.options.person.person, bundle, transcript(this.offer, message));
    } catch {
      return this.end(refuse('server'));
    }
    const unsigned: LinkDone = { t: 'link-done', chain: committed.chain, ...(profile ? { profile } : {}), groups: committed.groups, proof: '', sig: '' };
    const bytes = transcript(this.offer, message, unsigned);
    const done: LinkDone = {
      ...unsigned,
      ...(await proved(proofKey, 'existing', bytes)),
      sig: await signLabelled(this.options.me, LABELS.linkTranscript, { role: 'existing', transcript: toBase64url(bytes) }),
    };
    return this.end({ send: [done], done: { kind: 'linked', value: committed.result } });
  }

  private end(step: Step<T>): Step<T> {
    this.finished = true;
    return step;
  }
}

function parseSignKey(bundle: PublicBundle): Uint8Array {
  return fromBase64url(bundle.signKey, 32);
}

/** What the new device's side needs. */
export interface NewSideOptions<T> {
  me: DeviceIdentity;
  proofKey: Uint8Array;
  /**
   * Keeps what `done` hands over (the chain is already checked to extend the offered one
   * with this device linked at the agreed place; the profile is opened). A throw refuses
   * with `chain-invalid`.
   */
  finish(done: LinkDone, chain: PersonState, by: Fingerprint, profile: LinkProfile | undefined): Promise<T>;
}

/** N's side: check the offer, consent, then check and keep what is handed over. */
export class NewDeviceLink<T> implements PeerMachine<LinkMessage, LinkResult<T>> {
  private offer: LinkOffer | undefined;
  private accept: LinkAccept | undefined;
  private offered: PersonState | undefined;
  private finished = false;

  constructor(private readonly options: NewSideOptions<T>) {}

  start(): Step<T> {
    return { send: [] };
  }

  async receive(raw: unknown): Promise<Step<T>> {
    if (this.finished) return refuse('unexpected-message');
    const message = parseLinkMessage(raw);
    if (!message) return this.end(refuse('malformed'));
    if (message.t === 'link-refuse') return this.end({ send: [], done: { kind: 'refused', reason: message.reason, by: 'peer' } });
    if (!this.offer) return message.t === 'link-offer' ? this.onOffer(message) : this.end(refuse('unexpected-message'));
    return message.t === 'link-done' ? this.onDone(message) : this.end(refuse('unexpected-message'));
  }

  private async onOffer(offer: LinkOffer): Promise<Step<T>> {
    const { me, proofKey } = this.options;
    if (!(await linkProofHolds(proofKey, 'existing', transcript(offer), offer.proof))) return this.end(refuse('bad-proof'));
    if (offer.for !== me.fingerprint) return this.end(refuse('wrong-device'));
    let person: PersonState;
    try {
      await parseBundle(offer.bundle);
      person = await replayChain(offer.chain);
    } catch {
      return this.end(refuse('chain-invalid'));
    }
    const certifier = fingerprintOf(offer.bundle);
    // The offering device must speak for the person whose chain it offers; this device must not already be in it.
    if (!person.devices.has(certifier)) return this.end(refuse('chain-invalid'));
    if (person.devices.has(me.fingerprint) || person.unlinked.has(me.fingerprint)) return this.end(refuse('already-linked'));
    const consent = await signConsent(me, nextPosition(person, certifier));
    const unsigned: LinkAccept = { t: 'link-accept', bundle: me.bundle, nonce: toBase64url(randomBytes(16)), consent, proof: '', sig: '' };
    const bytes = transcript(offer, unsigned);
    const accept: LinkAccept = {
      ...unsigned,
      ...(await proved(proofKey, 'new', bytes)),
      sig: await signLabelled(me, LABELS.linkTranscript, { role: 'new', transcript: toBase64url(bytes) }),
    };
    this.offer = offer;
    this.accept = accept;
    this.offered = person;
    return { send: [accept] };
  }

  private async onDone(done: LinkDone): Promise<Step<T>> {
    const offer = this.offer!;
    const bytes = transcript(offer, this.accept!, done);
    if (!(await linkProofHolds(this.options.proofKey, 'existing', bytes, done.proof))) return this.end(refuse('bad-proof'));
    if (!(await verifyLabelled(parseSignKey(offer.bundle), done.sig, LABELS.linkTranscript, { role: 'existing', transcript: toBase64url(bytes) }))) {
      return this.end(refuse('bad-signature'));
    }
    let chain: PersonState;
    try {
      // The chain handed over must continue the offered one, with this device linked right after it.
      chain = await replayChain(done.chain, { person: this.offered!.person, pinned: { seq: this.offered!.seq, hash: this.offered!.head } });
      const linked = chain.devices.get(this.options.me.fingerprint);
      if (!linked || linked.addedSeq !== this.offered!.seq + 1) throw new Error('not linked at the agreed place');
    } catch {
      return this.end(refuse('chain-invalid'));
    }
    let profile: LinkProfile | undefined;
    if (done.profile) {
      const opened = await openProfile(done.profile, this.options.me, chain.person, transcript(offer, this.accept!));
      if (!opened) return this.end(refuse('malformed'));
      profile = opened;
    }
    try {
      const value = await this.options.finish(done, chain, fingerprintOf(offer.bundle), profile);
      return this.end({ send: [], done: { kind: 'linked', value } });
    } catch {
      return this.end(refuse('chain-invalid'));
    }
  }

  private end(step: Step<T>): Step<T> {
    this.finished = true;
    return step;
  }
}

/** Runs either side of a link over `channel` (E dials N; N runs on the incoming channel). Never throws. */
export function runLink<T>(channel: MessageChannel, machine: ExistingDeviceLink<T> | NewDeviceLink<T>, options: { timeoutMs?: number; closeGraceMs?: number } = {}): Promise<LinkResult<T>> {
  return runMachine(channel, machine, runnerOutcomes<T>(), { timeoutMs: LINK_TIMEOUT_MS, ...options });
}
