/**
 * The server's validated view of each group: the log replayed with the same rules the
 * clients use (shared/src/verify.ts), cached by head and extended incrementally. Any
 * number of API processes can share one database: a cached state is used only when
 * the database's head extends it.
 *
 * Replaying is the expensive part (a signature per entry), and the in-memory cache is
 * bounded, so a caller touching many groups could otherwise evict a long group and
 * force a replay from entry 0 on every request. The states this module validates are
 * therefore persisted as checkpoints (the store's `group_checkpoints`, the newest per
 * group): a miss extends the newest checkpoint, so no miss replays more than
 * `CHECKPOINT_EVERY` entries of a log that has one. A checkpoint is written at least
 * every `CHECKPOINT_EVERY` validated entries, on the append path and after a miss
 * that replayed that far.
 *
 * A checkpoint is used only if its format is this code's `CHECKPOINT_FORMAT`, its seq
 * is at or below the head, the log's entry at its seq hashes to its recorded hash, and
 * the decoded state names that group, seq and hash; then `extendLog` checks every
 * later entry links to it. Anything else is deleted and the log replayed from entry 0.
 * A checkpoint is not signed: like the log rows themselves, it is trusted as far as
 * the database is (the clients never trust the server's validation anyway).
 */
import {
  entryHash,
  extendLog,
  fromBase64url,
  PROTOCOL_VERSION,
  toBase64url,
  type EntryHash,
  type GroupId,
  type GroupState,
  type LogHead,
} from '@conclave/shared/verify';
import type { Store } from '../store/types.ts';

const CACHE_LIMIT = 256;
const READ_CHUNK = 500;
/** At most this many entries are validated between two checkpoints of a group. */
export const CHECKPOINT_EVERY = 128;
/**
 * The checkpoint encoding and the shape of `GroupState` it holds. Bump the last part
 * whenever `GroupState` changes shape: checkpoints of another format are ignored.
 */
export const CHECKPOINT_FORMAT = `group-state/v${PROTOCOL_VERSION}.1`;

// --- the checkpoint encoding ---------------------------------------------------------

/** The tag of an encoded Map, Set or byte array; no plain object of a state may use this key. */
const TAG = '$t';

function encodeValue(value: unknown, path: string): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot encode ${path}: ${value} is not a finite number`);
    return value;
  }
  if (value instanceof Uint8Array) return { [TAG]: 'bytes', v: toBase64url(value) };
  if (value instanceof Map) return { [TAG]: 'map', v: [...value].map(([k, v], i) => [encodeValue(k, `${path}<key ${i}>`), encodeValue(v, `${path}<${i}>`)]) };
  if (value instanceof Set) return { [TAG]: 'set', v: [...value].map((v, i) => encodeValue(v, `${path}<${i}>`)) };
  if (Array.isArray(value)) {
    return value.map((v, i) => {
      if (v === undefined) throw new Error(`cannot encode ${path}[${i}]: undefined`);
      return encodeValue(v, `${path}[${i}]`);
    });
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw new Error(`cannot encode ${path}: not a plain object`);
    if (TAG in value) throw new Error(`cannot encode ${path}: it has a "${TAG}" key`);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = encodeValue(v, `${path}.${k}`);
    return out;
  }
  throw new Error(`cannot encode ${path}: a ${typeof value}`);
}

function decodeValue(_key: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !(TAG in value)) return value;
  const { [TAG]: tag, v, ...rest } = value as { [TAG]: unknown; v: unknown };
  if (Object.keys(rest).length > 0) throw new Error('malformed checkpoint: a tagged value with extra keys');
  if (tag === 'bytes' && typeof v === 'string') return fromBase64url(v);
  if (tag === 'set' && Array.isArray(v)) return new Set(v);
  if (tag === 'map' && Array.isArray(v) && v.every((pair) => Array.isArray(pair) && pair.length === 2)) return new Map(v as Array<[unknown, unknown]>);
  throw new Error('malformed checkpoint: an unknown tagged value');
}

/**
 * A validated state as text: JSON with Maps, Sets and byte arrays tagged, so it decodes
 * to an equal state. Format `CHECKPOINT_FORMAT`.
 * @throws {Error} when the state holds something it cannot encode exactly.
 */
export function encodeGroupState(state: GroupState): string {
  return JSON.stringify(encodeValue(state, 'state'));
}

/**
 * The state `encodeGroupState` wrote. Checks only the encoding and the fields a
 * checkpoint is matched by: the caller matches it against the log.
 * @throws {Error} malformed text.
 */
export function decodeGroupState(text: string): GroupState {
  const state = JSON.parse(text, decodeValue) as GroupState;
  if (
    typeof state !== 'object' ||
    state === null ||
    typeof state.groupId !== 'string' ||
    typeof state.seq !== 'number' ||
    typeof state.head !== 'string' ||
    !Array.isArray(state.hashes) ||
    !(state.members instanceof Map) ||
    !Array.isArray(state.generations)
  ) {
    throw new Error('malformed checkpoint: not a group state');
  }
  return state;
}

// --- the cache -------------------------------------------------------------------------

interface Cached {
  state: GroupState;
  /** The seq of the newest checkpoint this process knows of for the group (-1: none). */
  checkpointSeq: number;
}

export class GroupStates {
  private readonly cache = new Map<GroupId, Cached>();

  private readonly checkpointEvery: number;

  /** @param options.checkpointEvery entries validated between two checkpoints (tests make it small). */
  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
    options: { checkpointEvery?: number } = {},
  ) {
    this.checkpointEvery = Math.max(1, options.checkpointEvery ?? CHECKPOINT_EVERY);
  }

  /**
   * The validated state at the database's current head, or null for an unknown group.
   * @throws {LogVerificationError} when the stored log itself breaks a rule (edited behind the API's back).
   */
  async stateOf(groupId: GroupId): Promise<GroupState | null> {
    return this.stateAt(groupId, await this.store.getHead(groupId));
  }

  /**
   * The validated state at `head`, a head the caller has just read from the database
   * (with the other reads of its call, `Store.memberView`), or null when `head` is null.
   * A write acting on the state must still check that `head` is current when it
   * commits (`Store.putNoteVersion`'s `checkedAt`).
   * @throws {LogVerificationError} when the stored log itself breaks a rule.
   */
  async stateAt(groupId: GroupId, head: LogHead | null): Promise<GroupState | null> {
    if (!head) return null;
    const cached = this.cache.get(groupId);
    if (cached && cached.state.seq === head.seq && cached.state.head === head.hash) {
      // The cached state is the one at this head (the common case): mark it used, nothing to validate.
      this.cache.delete(groupId);
      this.cache.set(groupId, cached);
      return cached.state;
    }
    const cachedIsPrefix = cached && cached.state.seq <= head.seq && !(cached.state.seq === head.seq && cached.state.head !== head.hash);
    let checkpointSeq = cached?.checkpointSeq ?? -1;
    let state: GroupState | null = null;
    if (cachedIsPrefix) {
      try {
        state = await this.catchUp(groupId, cached.state, head.seq);
      } catch {
        // The cached prefix no longer fits what the database holds: start again below.
      }
    }
    if (!state) {
      const checkpoint = await this.checkpoint(groupId, head.seq);
      if (checkpoint) {
        try {
          state = await this.catchUp(groupId, checkpoint, head.seq);
          checkpointSeq = checkpoint.seq;
        } catch {
          await this.dropCheckpoint(groupId, checkpoint.seq);
        }
      }
    }
    if (!state) {
      checkpointSeq = -1;
      state = await this.catchUp(groupId, null, head.seq);
    }
    await this.remember(groupId, state, checkpointSeq);
    return state;
  }

  private async catchUp(groupId: GroupId, from: GroupState | null, headSeq: number): Promise<GroupState> {
    let state = from;
    while (!state || state.seq < headSeq) {
      const entries = await this.store.readLog(groupId, state ? state.seq + 1 : 0, READ_CHUNK);
      if (entries.length === 0) break;
      state = await extendLog(state, entries, { now: this.now() });
    }
    if (!state) throw new Error(`group ${groupId} has a head but no entries`);
    return state;
  }

  /** The newest stored checkpoint, if it matches the log (see the module comment); a bad one is deleted. */
  private async checkpoint(groupId: GroupId, headSeq: number): Promise<GroupState | null> {
    const stored = await this.store.getCheckpoint(groupId);
    if (!stored) return null;
    let state: GroupState | null = null;
    try {
      if (stored.format === CHECKPOINT_FORMAT && stored.seq <= headSeq) {
        const [entry] = await this.store.readLog(groupId, stored.seq, 1);
        if (entry && entry.seq === stored.seq && entryHash(entry) === stored.hash) {
          const decoded = decodeGroupState(stored.data);
          const matches =
            decoded.groupId === groupId &&
            decoded.seq === stored.seq &&
            decoded.head === stored.hash &&
            decoded.hashes.length === stored.seq + 1 &&
            decoded.hashes[stored.seq] === stored.hash;
          if (matches) state = decoded;
        }
      }
    } catch {
      state = null;
    }
    if (!state) await this.dropCheckpoint(groupId, stored.seq);
    return state;
  }

  private async dropCheckpoint(groupId: GroupId, seq: number): Promise<void> {
    try {
      await this.store.deleteCheckpoint(groupId, seq);
    } catch {
      // Best effort: a bad checkpoint is never used anyway.
    }
  }

  /**
   * Records a state just validated (and, on the append path, stored) by this process;
   * persists it as the group's checkpoint when `checkpointEvery` entries or more were
   * validated since the newest checkpoint known here. A failed checkpoint write is
   * ignored: the log stays the record, the checkpoint only saves work.
   * @param checkpointSeq the newest checkpoint known for the group (by default, the cached one's).
   */
  async remember(groupId: GroupId, state: GroupState, checkpointSeq?: number): Promise<void> {
    let known = checkpointSeq ?? this.cache.get(groupId)?.checkpointSeq ?? -1;
    if (state.seq - known >= this.checkpointEvery) {
      try {
        await this.store.putCheckpoint(groupId, { seq: state.seq, hash: state.head as EntryHash, format: CHECKPOINT_FORMAT, data: encodeGroupState(state) });
        known = state.seq;
      } catch {
        // Not fatal: the next validation tries again.
      }
    }
    this.cache.delete(groupId);
    this.cache.set(groupId, { state, checkpointSeq: known });
    if (this.cache.size > CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!);
  }
}
