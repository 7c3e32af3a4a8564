/**
 * A person's device chain (DESIGN §3): a signed, hash-linked list of the devices that
 * speak for one person. Entry 0 (`found`) is signed by the founding device, whose
 * fingerprint names the person for good; each `link` is signed by a current device and
 * carries the new device's consent; each `unlink` is signed by another current device.
 * Private keys never move: a device joins a person by being certified, not by copying.
 *
 * The rules are applied synchronously (the group log replays embedded chains with the
 * same code) and the signatures are collected for batch verification.
 */
import { labelled } from '../protocol/canonical.ts';
import { concatBytes, fromBase64url, toBase64url, utf8, type Bytes } from '../protocol/encoding.ts';
import type { EntryHash, Fingerprint } from '../protocol/ids.ts';
import { isWellFormedDeviceEntry } from '../protocol/entry-shape.ts';
import { deviceEntrySchema, PROTOCOL_VERSION, type DeviceEntry, type LogHead, type PublicBundle, type UnsignedDeviceEntry } from '../protocol/schemas.ts';
import { DeviceChainError, type ChainRejection } from './errors.ts';
import { fingerprintOf, signLabelled, type DeviceIdentity } from './identity.ts';
import { LABELS } from './labels.ts';
import { sha256NowOfParts } from './primitives.ts';
import { letBatchStart, SignatureQueue, type PendingSignature } from './signature-batch.ts';

export interface ChainDevice {
  fingerprint: Fingerprint;
  bundle: PublicBundle;
  signKey: Bytes;
  boxKey: Bytes;
  /** The chain entry that linked it (0 for the founding device). */
  addedSeq: number;
  addedAt: number;
  /** The device that certified it; null for the founding device. */
  addedBy: Fingerprint | null;
}

export interface UnlinkedDevice extends ChainDevice {
  removedSeq: number;
  removedAt: number;
  removedBy: Fingerprint;
}

/** What a validated device chain says about a person. Only ever built by replaying a chain. */
export interface PersonState {
  /** The founding device's fingerprint: the person's name everywhere (members, safety numbers). */
  person: Fingerprint;
  /** The founding device's bundle: what fingerprints and safety numbers are computed over. */
  founding: PublicBundle;
  seq: number;
  head: EntryHash;
  hashes: EntryHash[];
  lastAt: number;
  /** Current devices, in the order they were linked. */
  devices: Map<Fingerprint, ChainDevice>;
  unlinked: Map<Fingerprint, UnlinkedDevice>;
}

/** The bytes a chain entry's signature covers: every field but `sig`. */
export function deviceEntrySigningInput(entry: DeviceEntry | UnsignedDeviceEntry): Bytes {
  const { sig: _sig, ...unsigned } = entry as DeviceEntry;
  return labelled(LABELS.deviceEntry, unsigned);
}

const HASH_PREFIX = concatBytes(utf8(LABELS.deviceEntryHash), new Uint8Array([0]));

/** SHA-256(`conclave/v3/device-entry-hash` ‖ 0 ‖ signing input ‖ signature bytes). */
function deviceEntryHashOf(signingInput: Bytes, sig: string): EntryHash {
  return toBase64url(sha256NowOfParts(HASH_PREFIX, signingInput, fromBase64url(sig, 64))) as EntryHash;
}

export function deviceEntryHash(entry: DeviceEntry): EntryHash {
  return deviceEntryHashOf(deviceEntrySigningInput(entry), entry.sig);
}

/** Where a new device agrees to join: the exact position in the exact chain, and who certifies it. */
export interface ConsentPosition {
  person: Fingerprint;
  seq: number;
  prev: EntryHash;
  certifier: Fingerprint;
}

/** The bytes a new device's consent signature covers: the position and its own bundle. */
export function consentInput(position: ConsentPosition, device: PublicBundle): Bytes {
  return labelled(LABELS.deviceConsent, { ...position, device });
}

export class ChainRuleBreak extends Error {
  constructor(
    readonly reason: ChainRejection,
    readonly detail: string,
    readonly seq: number,
  ) {
    super(detail);
  }
}

function deviceOf(bundle: PublicBundle, seq: number, at: number, addedBy: Fingerprint | null): ChainDevice {
  return {
    fingerprint: fingerprintOf(bundle),
    bundle,
    signKey: fromBase64url(bundle.signKey, 32),
    boxKey: fromBase64url(bundle.boxKey, 32),
    addedSeq: seq,
    addedAt: at,
    addedBy,
  };
}

export function clonePerson(state: PersonState): PersonState {
  return { ...state, hashes: [...state.hashes], devices: new Map(state.devices), unlinked: new Map(state.unlinked) };
}

/**
 * Applies one chain entry's rules to `state` (mutating it; a fresh state for `found`) and
 * returns the signatures it needs, each tagged with `signatureSeq` (the position of the
 * log that carries the chain, or the chain entry itself).
 * @throws {ChainRuleBreak}
 */
export function applyDeviceEntry(state: PersonState | null, entry: DeviceEntry, latestAt: number, signatureSeq: number = entry.seq): { state: PersonState; signatures: PendingSignature[] } {
  const fail = (reason: ChainRejection, detail: string): never => {
    throw new ChainRuleBreak(reason, detail, entry.seq);
  };
  const signingInput = deviceEntrySigningInput(entry);
  const signatures: PendingSignature[] = [];
  const needSignature = (key: Bytes, what: string, sig: string, message: Bytes) => signatures.push({ seq: signatureSeq, what, key, sig, message });
  if (entry.at > latestAt) fail('time-in-future', `device entry ${entry.seq} is dated in the future`);

  if (state === null) {
    if (entry.op !== 'found') fail('malformed', 'a device chain must start with a found entry');
    if (entry.seq !== 0 || entry.prev !== null) fail('bad-sequence', 'the found entry must be entry 0 with no previous entry');
    const founding = entry.op === 'found' ? entry.body.device : (undefined as never);
    const device = deviceOf(founding, 0, entry.at, null);
    if (entry.person !== device.fingerprint || entry.author !== device.fingerprint) fail('wrong-person', 'the found entry must name and be signed by its own device');
    needSignature(device.signKey, `device entry 0 of ${entry.person}`, entry.sig, signingInput);
    const hash = deviceEntryHashOf(signingInput, entry.sig);
    const created: PersonState = {
      person: device.fingerprint,
      founding,
      seq: 0,
      head: hash,
      hashes: [hash],
      lastAt: entry.at,
      devices: new Map([[device.fingerprint, device]]),
      unlinked: new Map(),
    };
    return { state: created, signatures };
  }

  if (entry.person !== state.person) fail('wrong-person', `device entry ${entry.seq} belongs to another person`);
  if (entry.seq !== state.seq + 1) fail('bad-sequence', `expected device entry ${state.seq + 1}, got ${entry.seq}`);
  if (entry.prev !== state.head) fail('bad-link', `device entry ${entry.seq} does not follow device entry ${state.seq}`);
  if (entry.at < state.lastAt) fail('time-went-backwards', `device entry ${entry.seq} is dated before the entry it follows`);
  const author = state.devices.get(entry.author);
  if (!author) {
    if (state.unlinked.has(entry.author)) fail('device-unlinked', `device entry ${entry.seq} is signed by a device this person has unlinked`);
    fail('not-a-device', `device entry ${entry.seq} is signed by a device that is not one of this person's`);
  }
  needSignature(author!.signKey, `device entry ${entry.seq} of ${state.person}`, entry.sig, signingInput);

  switch (entry.op) {
    case 'found':
      fail('bad-sequence', `device entry ${entry.seq} is a second found entry`);
      break;
    case 'link': {
      const { device: bundle, consent } = entry.body;
      const device = deviceOf(bundle, entry.seq, entry.at, entry.author);
      if (device.fingerprint === state.person || state.devices.has(device.fingerprint) || state.unlinked.has(device.fingerprint)) {
        fail('device-reused', `device entry ${entry.seq} links a device this person already has or had: an unlinked device never comes back`);
      }
      const position: ConsentPosition = { person: state.person, seq: entry.seq, prev: state.head, certifier: entry.author };
      needSignature(device.signKey, `the new device's consent in device entry ${entry.seq}`, consent, consentInput(position, bundle));
      state.devices.set(device.fingerprint, device);
      break;
    }
    case 'unlink': {
      const target = state.devices.get(entry.body.device);
      if (!target) fail('not-a-device', `device entry ${entry.seq} unlinks a device that is not a current device of this person`);
      if (entry.body.device === entry.author) fail('self-unlink', `device entry ${entry.seq}: a device is unlinked by another device of the person`);
      if (state.devices.size <= 1) fail('last-device', `device entry ${entry.seq} would leave the person with no device`);
      state.devices.delete(entry.body.device);
      state.unlinked.set(entry.body.device, { ...target!, removedSeq: entry.seq, removedAt: entry.at, removedBy: entry.author });
      break;
    }
  }
  const hash = deviceEntryHashOf(signingInput, entry.sig);
  state.seq = entry.seq;
  state.head = hash;
  state.hashes.push(hash);
  state.lastAt = entry.at;
  return { state, signatures };
}

/**
 * Refuses a chain that does not extend the head this device pinned earlier.
 * @throws {DeviceChainError} `rollback` when it is shorter, `fork` when it differs.
 */
export function checkPinnedChainHead(state: PersonState, pinned: LogHead | null | undefined): void {
  if (!pinned) return;
  if (state.seq < pinned.seq) {
    throw new DeviceChainError('rollback', `the server returned ${state.person}'s device list up to entry ${state.seq}, but this device has already seen entry ${pinned.seq}`);
  }
  if (state.hashes[pinned.seq] !== pinned.hash) {
    throw new DeviceChainError('fork', `${state.person}'s device list differs from the one this device saw at entry ${pinned.seq}`, pinned.seq);
  }
}

export interface ExtendChainOptions {
  /** The head this device validated before: the result must extend it. */
  pinned?: LogHead | null;
  /** When set, the chain must be this person's (a lookup by id cannot swap the identity). */
  person?: Fingerprint;
  now?: number;
}

/** How far ahead of the replaying device's clock an entry may be dated (the group log's rule). */
const MAX_CLOCK_SKEW_MS = 10 * 60 * 1000;

/**
 * Validates `entries` as the continuation of `state` (or a whole chain when null) and
 * returns the new state; `state` itself is never changed.
 * @throws {DeviceChainError} naming the first entry that breaks a rule.
 */
export async function extendChain(state: PersonState | null, entries: readonly unknown[], options: ExtendChainOptions = {}): Promise<PersonState> {
  // A server's answer reaches here unparsed: its shape is input too.
  if (!Array.isArray(entries)) throw new DeviceChainError('malformed', 'the device chain is not a list of entries');
  let next = state ? clonePerson(state) : null;
  const pending = new SignatureQueue();
  const latestAt = (options.now ?? Date.now()) + MAX_CLOCK_SKEW_MS;
  let ruleBreak: ChainRuleBreak | undefined;
  let position = state ? state.seq + 1 : 0;
  for (const raw of entries) {
    // Fast check first; zod parses (or refuses, with its message) whatever it does not vouch for.
    const parsed = isWellFormedDeviceEntry(raw) ? { success: true as const, data: raw } : deviceEntrySchema.safeParse(raw);
    if (!parsed.success) {
      ruleBreak = new ChainRuleBreak('malformed', `device entry ${position} is malformed: ${parsed.error.issues[0]?.message ?? 'invalid'}`, position);
      break;
    }
    try {
      const applied = applyDeviceEntry(next, parsed.data, latestAt);
      next = applied.state;
      if (pending.add(applied.signatures)) await letBatchStart();
    } catch (error) {
      if (!(error instanceof ChainRuleBreak)) throw error;
      ruleBreak = error;
      break;
    }
    position++;
  }
  const bad = await pending.firstBad();
  if (bad) throw new DeviceChainError('bad-signature', `the signature on ${bad.what} is not valid`, bad.seq);
  if (ruleBreak) throw new DeviceChainError(ruleBreak.reason, ruleBreak.detail, ruleBreak.seq);
  if (!next) throw new DeviceChainError('malformed', 'the device chain is empty');
  if (options.person && next.person !== options.person) {
    throw new DeviceChainError('wrong-person', `asked for ${options.person}'s devices, got ${next.person}'s`);
  }
  checkPinnedChainHead(next, options.pinned);
  return next;
}

/** Validates a whole chain from its found entry. @throws {DeviceChainError} */
export function replayChain(entries: readonly unknown[], options: ExtendChainOptions = {}): Promise<PersonState> {
  return extendChain(null, entries, options);
}

export function chainHead(state: PersonState): LogHead {
  return { seq: state.seq, hash: state.head };
}

async function signDeviceEntry(unsigned: UnsignedDeviceEntry, author: DeviceIdentity): Promise<DeviceEntry> {
  return { ...unsigned, sig: await signLabelled(author, LABELS.deviceEntry, unsigned) } as DeviceEntry;
}

/**
 * Entry 0 of a person's chain: this device founds the person. It is dated 0 so that it is
 * the same bytes wherever it is made (Ed25519 signatures are deterministic): a device
 * that has only its identity at hand can always produce its own single-device chain.
 */
export function foundEntry(device: DeviceIdentity): Promise<DeviceEntry> {
  return signDeviceEntry({ v: PROTOCOL_VERSION, person: device.fingerprint, seq: 0, prev: null, author: device.fingerprint, at: 0, op: 'found', body: { device: device.bundle } }, device);
}

/** The founding bundle a chain names its person by (its entry 0, whatever the rest says). */
export function founderOf(chain: readonly DeviceEntry[]): PublicBundle {
  const first = chain[0];
  if (first?.op !== 'found') throw new DeviceChainError('malformed', 'a device chain must start with a found entry');
  return first.body.device;
}

/** The chain of a device that founded its own person and linked nothing yet. */
export async function singleDeviceChain(device: DeviceIdentity): Promise<DeviceEntry[]> {
  return [await foundEntry(device)];
}

/** Where the next entry of `state` goes, if `certifier` signs it. */
export function nextPosition(state: PersonState, certifier: Fingerprint): ConsentPosition {
  return { person: state.person, seq: state.seq + 1, prev: state.head, certifier };
}

/** The new device's side of a link: its signature agreeing to join at `position`. */
export function signConsent(newDevice: DeviceIdentity, position: ConsentPosition): Promise<string> {
  return signLabelled(newDevice, LABELS.deviceConsent, { ...position, device: newDevice.bundle });
}

/** The certifying device's side of a link. Validate the result with `extendChain` before sending. */
export function linkEntry(state: PersonState, certifier: DeviceIdentity, device: PublicBundle, consent: string, at: number = Date.now()): Promise<DeviceEntry> {
  const unsigned = {
    v: PROTOCOL_VERSION,
    person: state.person,
    seq: state.seq + 1,
    prev: state.head,
    author: certifier.fingerprint,
    at: Math.max(at, state.lastAt),
    op: 'link',
    body: { device, consent },
  } as UnsignedDeviceEntry;
  return signDeviceEntry(unsigned, certifier);
}

/** Unlinks `device` (lost, sold, or replaced), signed by another current device of the person. */
export function unlinkEntry(state: PersonState, author: DeviceIdentity, device: Fingerprint, at: number = Date.now()): Promise<DeviceEntry> {
  const unsigned = {
    v: PROTOCOL_VERSION,
    person: state.person,
    seq: state.seq + 1,
    prev: state.head,
    author: author.fingerprint,
    at: Math.max(at, state.lastAt),
    op: 'unlink',
    body: { device },
  } as UnsignedDeviceEntry;
  return signDeviceEntry(unsigned, author);
}
