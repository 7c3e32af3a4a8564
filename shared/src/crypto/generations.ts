/**
 * Generation keys (DESIGN §5). Generation g has a random 32-byte seed s_g; HKDF
 * derives from it the note key (wraps note content keys), the previous-seed key and
 * a public commitment. Each rotation publishes links AEAD(prevKey_g, s_k) to earlier
 * seeds (normally k = g − 1), so the newest seed opens every older one: a new member
 * needs one box to read the whole history, and a removed member, never given a newer
 * seed, reads nothing new. Every link is checked against the commitment of the seed it
 * opens; a broken one is a fault of its generation alone.
 */
import { labelled } from '../protocol/canonical.ts';
import { fromBase64url, toBase64url, type Bytes } from '../protocol/encoding.ts';
import type { Fingerprint, GroupId } from '../protocol/ids.ts';
import { MAX_ROTATION_LINKS, type Rotation } from '../protocol/schemas.ts';
import { DecryptError, KeyBoxError, SeedMismatchError, UnknownGenerationError } from './errors.ts';
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

/** The associated data of a link: the generation that wraps and the generation wrapped. */
function linkInfo(groupId: GroupId, generation: number, linked: number): Bytes {
  return labelled(LABELS.prevWrap, { groupId, generation, linked });
}

/**
 * A new generation `generation`: its seed (kept by the author) and the rotation
 * (published). `earlier` gives the seeds to link: one seed means generation − 1 (the
 * usual rotation); a map links each of its generations (an admin's repair).
 */
export async function makeRotation(groupId: GroupId, generation: number, earlier: Uint8Array | ReadonlyMap<number, Uint8Array>): Promise<{ seed: Bytes; rotation: Rotation }> {
  const seed = newSeed();
  const keys = await generationKeys(seed, groupId, generation);
  const linked = earlier instanceof Uint8Array ? new Map([[generation - 1, earlier]]) : earlier;
  const order = [...linked.keys()].sort((a, b) => b - a);
  const links = await Promise.all(
    order.map(async (k) => ({ generation: k, wrap: toBase64url(await aeadSeal(keys.prevKey, linked.get(k)!, linkInfo(groupId, generation, k))) })),
  );
  return { seed, rotation: { generation, seedCommitment: keys.commitment, links } };
}

/**
 * Checks a seed against the commitment the validated log holds for its generation.
 * @throws {UnknownGenerationError} when the log has no such generation;
 *   {SeedMismatchError} when the seed is not the one it names.
 */
export async function checkSeed(state: GroupState, generation: number, seed: Uint8Array): Promise<void> {
  const info = state.generations[generation];
  if (!info) throw new UnknownGenerationError(`the group log has no generation ${generation}`);
  if ((await seedCommitment(seed, state.groupId, generation)) !== info.seedCommitment) {
    throw new SeedMismatchError(`the key received for generation ${generation} is not the one the group log names`);
  }
}

/**
 * A generation this device found broken, and who made it (DESIGN §4): a link that
 * does not open to the seed the log names (`bad-link`, by the rotation's author), a
 * box whose seed is not the committed one (`bad-seed`, by the box's signed sender), a
 * signed box that does not open (`bad-box`), a box its claimed sender never signed
 * (`forged-box`: the server or someone between; `author` is null), or a pre-keyed
 * invite logged with a box key that is not its code's (`bad-invite`, by its author).
 */
export interface GenerationFault {
  generation: number;
  kind: 'bad-link' | 'bad-seed' | 'bad-box' | 'forged-box' | 'bad-invite';
  author: Fingerprint | null;
  /** When the faulty object was made: the rotation's date for a link, else the generation's. */
  at: number;
  /** For `bad-link`: the earlier generation the broken link names. */
  linked?: number;
  detail: string;
}

export interface ReachableSeeds {
  /** Every seed held or opened, by generation. */
  seeds: Map<number, Bytes>;
  /** Links that did not open: the rest of the chain still does. */
  faults: GenerationFault[];
}

/**
 * Every seed reachable through the log's links from the `fresh` generations of `held`
 * (all of `held` when `fresh` is omitted), each checked against its commitment. Every
 * link of a generation walked is opened and checked, also when its seed is already
 * held: a recipient verifies each new generation it receives. A link that does not open
 * is a fault of its generation only: the walk goes on along every other link, so one
 * broken generation never hides the rest of the history (DESIGN §4–5).
 */
export async function reachableSeeds(state: GroupState, held: ReadonlyMap<number, Uint8Array>, fresh?: Iterable<number>): Promise<ReachableSeeds> {
  const seeds = new Map<number, Bytes>();
  const faults: GenerationFault[] = [];
  for (const [generation, seed] of held) {
    if (state.generations[generation]) seeds.set(generation, new Uint8Array(seed));
  }
  const walked = new Set<number>();
  const queue = [...(fresh ?? seeds.keys())].filter((g) => seeds.has(g));
  while (queue.length > 0) {
    queue.sort((a, b) => a - b);
    const generation = queue.pop()!;
    if (walked.has(generation)) continue;
    walked.add(generation);
    const info = state.generations[generation]!;
    if (info.links.length === 0) continue;
    const { prevKey } = await generationKeys(seeds.get(generation)!, state.groupId, generation);
    for (const link of info.links) {
      try {
        const opened = await aeadOpen(prevKey, fromBase64url(link.wrap), linkInfo(state.groupId, generation, link.generation), `the key of generation ${link.generation}`);
        await checkSeed(state, link.generation, opened);
        if (!seeds.has(link.generation)) {
          seeds.set(link.generation, opened);
          queue.push(link.generation);
        }
      } catch (error) {
        if (!(error instanceof DecryptError || error instanceof KeyBoxError)) throw error;
        faults.push({
          generation,
          kind: 'bad-link',
          author: info.startedBy,
          at: info.at,
          linked: link.generation,
          detail: `the key of generation ${generation} does not open the key of generation ${link.generation} it links to`,
        });
      }
    }
  }
  return { seeds, faults };
}

/**
 * Every seed reachable from `seed` of `generation` (see `reachableSeeds`).
 * @throws {KeyBoxError} when `seed` itself is not the one the log names.
 */
export async function seedChain(state: GroupState, generation: number, seed: Uint8Array): Promise<Map<number, Bytes>> {
  await checkSeed(state, generation, seed);
  return (await reachableSeeds(state, new Map([[generation, seed]]))).seeds;
}

/**
 * The seeds a new rotation must link so that everything this device holds stays
 * reachable from the new generation (DESIGN §4, repair): the newest held seed, then
 * each held seed that cannot be reached from those already linked through links not
 * known to be broken. With a healthy chain that is just the newest seed.
 */
export function repairLinks(state: GroupState, held: ReadonlyMap<number, Uint8Array>, faults: readonly GenerationFault[] = [], max = MAX_ROTATION_LINKS): Map<number, Uint8Array> {
  const broken = new Set(faults.filter((f) => f.kind === 'bad-link').map((f) => `${f.generation}>${f.linked}`));
  const order = [...held.keys()].filter((g) => state.generations[g]).sort((a, b) => b - a);
  const links = new Map<number, Uint8Array>();
  const reached = new Set<number>();
  const reach = (from: number) => {
    const stack = [from];
    while (stack.length > 0) {
      const g = stack.pop()!;
      if (reached.has(g)) continue;
      reached.add(g);
      for (const link of state.generations[g]?.links ?? []) if (!broken.has(`${g}>${link.generation}`)) stack.push(link.generation);
    }
  };
  for (const generation of order) {
    if (reached.has(generation)) continue;
    if (links.size >= max) break;
    links.set(generation, held.get(generation)!);
    reach(generation);
  }
  return links;
}
