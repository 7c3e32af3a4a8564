/**
 * Key boxes (DESIGN §5): a generation seed sealed with HPKE to one recipient's box
 * key, the HPKE `info` binding group, generation and recipient, and the whole box
 * signed by the sender. The same object travels over the peer channel and through
 * the server mailbox.
 *
 * Contract (typage's stanza rule): opening a box addressed to someone else returns
 * `null`; a box addressed to you that fails any check throws.
 */
import { labelled } from '../protocol/canonical.ts';
import { fromBase64url, toBase64url, type Bytes } from '../protocol/encoding.ts';
import type { Fingerprint, GroupId } from '../protocol/ids.ts';
import { keyBoxSchema, PROTOCOL_VERSION, type KeyBox, type KeyBoxRecipient } from '../protocol/schemas.ts';
import { DecryptError, EncodingError, KeyBoxError, SeedMismatchError, SignatureError, UnknownGenerationError } from './errors.ts';
import { checkSeed, reachableSeeds, type GenerationFault, type ReachableSeeds } from './generations.ts';
import { signKeyOfDevice, type GroupState } from './group-log.ts';
import { signLabelled, verifyLabelled, type DeviceIdentity } from './identity.ts';
import { LABELS } from './labels.ts';
import { hpkeOpen, hpkeSeal, type HpkeTestOptions } from './primitives.ts';

function boxInfo(groupId: GroupId, generation: number, recipient: KeyBoxRecipient): Bytes {
  return labelled(LABELS.keyBoxInfo, { groupId, generation, recipient });
}

function unsignedPart(box: KeyBox): Omit<KeyBox, 'sig'> {
  const { sig: _sig, ...rest } = box;
  return rest;
}

/**
 * Seals `seed` of generation `generation` to one recipient and signs the box.
 * @param recipientBoxKey the recipient's X25519 public key, raw or base64url.
 */
export async function sealKeyBox(
  sender: DeviceIdentity,
  groupId: GroupId,
  generation: number,
  seed: Uint8Array,
  recipient: KeyBoxRecipient,
  recipientBoxKey: Uint8Array | string,
  testOptions?: HpkeTestOptions,
): Promise<KeyBox> {
  const key = typeof recipientBoxKey === 'string' ? fromBase64url(recipientBoxKey, 32) : recipientBoxKey;
  const { enc, ciphertext } = await hpkeSeal(key, boxInfo(groupId, generation, recipient), seed, undefined, testOptions);
  const unsigned = {
    v: PROTOCOL_VERSION,
    groupId,
    generation,
    recipient,
    sender: sender.fingerprint,
    enc: toBase64url(enc),
    ciphertext: toBase64url(ciphertext),
  };
  return { ...unsigned, sig: await signLabelled(sender, LABELS.keyBoxSignature, unsigned) };
}

/** The box key pair and the recipient id a device (or an invite) opens boxes as. */
export interface BoxOpener {
  recipient: KeyBoxRecipient;
  boxKeys: { privateKey: CryptoKey; publicKey: CryptoKey };
}

export function openerFor(identity: DeviceIdentity): BoxOpener {
  return { recipient: { kind: 'member', id: identity.fingerprint }, boxKeys: identity.boxKeys };
}

/**
 * Opens a key box with the validated group state as the judge of who may send what.
 * @returns the seed, or `null` when the box is addressed to someone else.
 * @throws {EncodingError} malformed box; {KeyBoxError} wrong group, unknown generation,
 *   a sender who was not a member during that generation, or a seed the log does not
 *   name; {SignatureError} bad sender signature; {DecryptError} the seal does not open.
 */
export async function openKeyBox(input: unknown, opener: BoxOpener, state: GroupState): Promise<Bytes | null> {
  const parsed = keyBoxSchema.safeParse(input);
  if (!parsed.success) throw new EncodingError(`key box is malformed: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  const box = parsed.data;
  if (box.recipient.kind !== opener.recipient.kind || box.recipient.id !== opener.recipient.id) return null;
  if (box.groupId !== state.groupId) throw new KeyBoxError('this key box is for another group');
  const generation = state.generations[box.generation];
  if (!generation) throw new UnknownGenerationError(`this key box is for generation ${box.generation}, which the group log does not have yet`);
  const sender = signKeyOfDevice(state, box.sender);
  if (!sender || !(generation.devices.has(box.sender) || generation.startedBy === box.sender)) {
    throw new KeyBoxError('this key box was sent by someone who was not a member of the group at that generation');
  }
  if (!(await verifyLabelled(sender, box.sig, LABELS.keyBoxSignature, unsignedPart(box)))) throw new SignatureError('key box');
  const seed = await hpkeOpen(
    opener.boxKeys,
    fromBase64url(box.enc, 32),
    boxInfo(box.groupId, box.generation, box.recipient),
    fromBase64url(box.ciphertext),
    undefined,
    'key box',
  );
  await checkSeed(state, box.generation, seed);
  return seed;
}

/** What one box held for this device gave: its seed, nothing (not ours, or the log is behind), or a fault to report. */
export type BoxExamination = { kind: 'seed'; seed: Bytes; generation: number; sender: Fingerprint } | { kind: 'skip' } | { kind: 'fault'; fault: GenerationFault };

/**
 * Opens a box like `openKeyBox` but never throws for a bad box: it says who is to blame
 * (DESIGN §5: clients try every box for them and report a box that fails). Only a box
 * whose signature verifies is attributed to its sender; anything else is `forged-box`
 * with no author (the server, or whoever altered it, made it).
 */
export async function examineKeyBox(input: unknown, opener: BoxOpener, state: GroupState): Promise<BoxExamination> {
  const claimed = keyBoxSchema.safeParse(input);
  const generation = claimed.success ? claimed.data.generation : -1;
  const at = state.generations[generation]?.at ?? 0;
  const fault = (kind: GenerationFault['kind'], author: Fingerprint | null, detail: string): BoxExamination => ({ kind: 'fault', fault: { generation, kind, author, at, detail } });
  try {
    const seed = await openKeyBox(input, opener, state);
    return seed ? { kind: 'seed', seed, generation, sender: claimed.success ? claimed.data.sender : ('' as Fingerprint) } : { kind: 'skip' };
  } catch (error) {
    if (error instanceof UnknownGenerationError) return { kind: 'skip' };
    const sender = claimed.success ? claimed.data.sender : null;
    if (error instanceof SeedMismatchError) return fault('bad-seed', sender, `a key box signed by its sender holds a key that is not the one the group log names for generation ${generation}`);
    if (error instanceof DecryptError) return fault('bad-box', sender, `a key box signed by its sender for generation ${generation} does not open`);
    if (error instanceof SignatureError || error instanceof EncodingError || error instanceof KeyBoxError) {
      return fault('forged-box', null, `a key box for generation ${generation} was not signed by a member who held that key: the server or someone in between may have altered it`);
    }
    throw error;
  }
}

/**
 * Every seed `boxes` give `opener`, newest generation first and every sender's box
 * tried, each walked down the log's links from what is already `held`; bad boxes and
 * broken links come back as attributed faults, never as a reason to stop (DESIGN §5).
 * The server chooses what it lists, so `boxes` is untrusted input.
 */
export async function openSeedBoxes(boxes: readonly unknown[], opener: BoxOpener, state: GroupState, held: ReadonlyMap<number, Uint8Array> = new Map()): Promise<ReachableSeeds> {
  let seeds = new Map<number, Bytes>([...held].map(([g, seed]) => [g, new Uint8Array(seed)]));
  const faults: GenerationFault[] = [];
  for (const box of [...boxes].sort((a, b) => generationOf(b) - generationOf(a))) {
    if (seeds.has(generationOf(box))) continue;
    const examined = await examineKeyBox(box, opener, state);
    if (examined.kind === 'fault') faults.push(examined.fault);
    if (examined.kind !== 'seed') continue;
    const reached = await reachableSeeds(state, new Map([...seeds, [examined.generation, examined.seed]]), [examined.generation]);
    seeds = reached.seeds;
    faults.push(...reached.faults);
  }
  return { seeds, faults };
}

function generationOf(box: unknown): number {
  const generation = (box as { generation?: unknown } | null)?.generation;
  return typeof generation === 'number' ? generation : -1;
}
