/**
 * Generation keys (DESIGN §5). Generation g has a random 32-byte seed s_g; HKDF
 * derives from it the note key (wraps note content keys), the previous-seed key and
 * a public commitment. Each rotation publishes AEAD(prevKey_g, s_{g-1}) in the log,
 * so the newest seed opens every older one: a new member needs one box to read the
 * whole history, and a removed member, never given a newer seed, reads nothing new.
 */
import { labelled } from '../protocol/canonical.ts';
import { fromBase64url, toBase64url, type Bytes } from '../protocol/encoding.ts';
import type { GroupId } from '../protocol/ids.ts';
import type { Rotation } from '../protocol/schemas.ts';
import { KeyBoxError } from './errors.ts';
import type { GroupState } from './group-log.ts';
import { LABELS } from './labels.ts';
import { aeadOpen, aeadSeal, hkdfSha256, randomBytes } from './primitives.ts';

export const SEED_BYTES = 32;

export function newSeed(): Bytes {
  return randomBytes(SEED_BYTES);
}

export interface GenerationKeys {
  /** Wraps each note version's content key. */
  noteKey: Bytes;
  /** Opens the previous generation's seed. */
  prevKey: Bytes;
  /** Public: lets every member check a received seed is the one the log names. */
  commitment: string;
}

function info(label: string, groupId: GroupId, generation: number): Bytes {
  return labelled(label, { groupId, generation });
}

/** The keys of generation `generation` of group `groupId`, from its seed. */
export async function generationKeys(seed: Uint8Array, groupId: GroupId, generation: number): Promise<GenerationKeys> {
  const salt = new Uint8Array(0);
  const [noteKey, prevKey, commitment] = await Promise.all([
    hkdfSha256(seed, salt, info(LABELS.noteKey, groupId, generation), 32),
    hkdfSha256(seed, salt, info(LABELS.prevKey, groupId, generation), 32),
    hkdfSha256(seed, salt, info(LABELS.seedCommitment, groupId, generation), 32),
  ]);
  return { noteKey, prevKey, commitment: toBase64url(commitment) };
}

export async function seedCommitment(seed: Uint8Array, groupId: GroupId, generation: number): Promise<string> {
  return toBase64url(await hkdfSha256(seed, new Uint8Array(0), info(LABELS.seedCommitment, groupId, generation), 32));
}

/** A new generation after `previousSeed`: the seed (kept by the author) and the rotation (published). */
export async function makeRotation(groupId: GroupId, generation: number, previousSeed: Uint8Array): Promise<{ seed: Bytes; rotation: Rotation }> {
  const seed = newSeed();
  const keys = await generationKeys(seed, groupId, generation);
  const prevWrap = await aeadSeal(keys.prevKey, previousSeed, info(LABELS.prevWrap, groupId, generation));
  return { seed, rotation: { generation, seedCommitment: keys.commitment, prevWrap: toBase64url(prevWrap) } };
}

/**
 * Checks a seed against the commitment the validated log holds for its generation.
 * @throws {KeyBoxError} when the log has no such generation or the seed is not the one it names.
 */
export async function checkSeed(state: GroupState, generation: number, seed: Uint8Array): Promise<void> {
  const info = state.generations[generation];
  if (!info) throw new KeyBoxError(`the group log has no generation ${generation}`);
  if ((await seedCommitment(seed, state.groupId, generation)) !== info.seedCommitment) {
    throw new KeyBoxError(`the key received for generation ${generation} is not the one the group log names`);
  }
}

/**
 * Every seed from `generation` down to 0, each opened from the next and checked
 * against the log's commitment.
 * @throws {KeyBoxError | DecryptError} when the chain in the log does not open.
 */
export async function seedChain(state: GroupState, generation: number, seed: Uint8Array): Promise<Map<number, Bytes>> {
  await checkSeed(state, generation, seed);
  const seeds = new Map<number, Bytes>([[generation, new Uint8Array(seed)]]);
  let current = new Uint8Array(seed);
  for (let g = generation; g > 0; g--) {
    const wrap = state.generations[g]?.prevWrap;
    if (!wrap) throw new KeyBoxError(`the group log has no previous-key wrap for generation ${g}`);
    const { prevKey } = await generationKeys(current, state.groupId, g);
    const previous = await aeadOpen(prevKey, fromBase64url(wrap), info(LABELS.prevWrap, state.groupId, g), `the key of generation ${g - 1}`);
    await checkSeed(state, g - 1, previous);
    seeds.set(g - 1, previous);
    current = previous;
  }
  return seeds;
}
