/**
 * The server's cache of validated group states (services/group-states.ts) under a
 * hostile caller: an evicted or cold group must not be replayed from entry 0 on every
 * request. Validated states are persisted as checkpoints in the store and a miss
 * extends the newest one; a checkpoint that does not match the log (another hash at
 * its seq, ahead of the head, another format, garbage) is ignored and the log is
 * replayed from the start instead.
 *
 * The log is stored the way the append path stores it (validate, append, remember),
 * so the checkpoints are the ones that path writes; reads are counted by wrapping the
 * store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createGroup, rotateKey } from '@conclave/shared/crypto';
import { currentGeneration, logHead, type GroupState } from '@conclave/shared/crypto';
import { generateIdentity } from '@conclave/shared/crypto';
import { acceptInvite, createInvite } from '@conclave/shared/crypto';
import { extendLog, replayLog } from '@conclave/shared/crypto';
import type { EntryHash, GroupId } from '@conclave/shared/protocol';
import type { KeyBox, LogEntry } from '@conclave/shared/protocol';
import { CHECKPOINT_FORMAT, decodeGroupState, encodeGroupState, GroupStates } from '../src/services/group-states.ts';
import { SqliteStore } from '../src/store/sqlite.ts';
import type { Store } from '../src/store/types.ts';

const HOUR = 3600_000;
/** Checkpoints this often in these tests (the default is EVERY), so the logs stay short. */
const EVERY = 16;
const states = (store: Store) => new GroupStates(store, Date.now, { checkpointEvery: EVERY });

const open: Array<{ store: SqliteStore; dir: string }> = [];
afterEach(async () => {
  for (const { store, dir } of open.splice(0)) {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The store, counting the log entries every `readLog` hands out. */
function counting(store: Store): { store: Store; entriesRead: () => number; reset: () => void } {
  let read = 0;
  const wrapped = new Proxy(store, {
    get(target, name, receiver) {
      if (name === 'readLog') {
        return async (...args: Parameters<Store['readLog']>) => {
          const entries = await target.readLog(...args);
          read += entries.length;
          return entries;
        };
      }
      const value = Reflect.get(target, name, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: wrapped, entriesRead: () => read, reset: () => (read = 0) };
}

interface LongGroup {
  store: SqliteStore;
  groupId: GroupId;
  /** The state a client holds after replaying the whole log itself. */
  state: GroupState;
  entries: LogEntry[];
}

/**
 * A group whose log has `length` entries — invites, two joins, a rotation, then
 * pre-keyed invites — stored the way `groups.create`/`groups.append` store them:
 * validated, appended, then handed to the API's `GroupStates.remember`.
 */
async function longGroup(length: number): Promise<LongGroup> {
  const dir = mkdtempSync(join(tmpdir(), 'conclave-checkpoints-'));
  const store = new SqliteStore(dir);
  await store.migrate();
  open.push({ store, dir });
  const now = Date.now();
  const groups = new GroupStates(store, () => now, { checkpointEvery: EVERY });
  const owner = await generateIdentity();
  const group = await createGroup(owner, { at: now });
  let state = group.state;
  const entries = [...group.entries];
  const indexes = (boxes: KeyBox[] = []) => ({ memberships: [], invites: [], boxes });
  expect((await store.appendEntries(state.groupId, entries, logHead(state), indexes(group.boxes))).ok).toBe(true);
  await groups.remember(state.groupId, state);
  const push = async (made: LogEntry, boxes: KeyBox[] = []) => {
    state = await extendLog(state, [made], { now });
    expect((await store.appendEntries(state.groupId, [made], logHead(state), indexes(boxes))).ok).toBe(true);
    await groups.remember(state.groupId, state);
    entries.push(made);
  };
  for (let joined = 0; joined < 2; joined++) {
    const invite = await createInvite(state, owner, { role: joined ? 'admin' : 'member', expiresAt: now + HOUR, at: now });
    await push(invite.entry);
    const joiner = await generateIdentity();
    await push(await acceptInvite(state, invite.keys, joiner, now));
  }
  const rotated = await rotateKey(state, owner, new Map([[0, group.seed]]), now);
  await push(rotated.entry, rotated.boxes);
  while (entries.length < length) {
    const invite = await createInvite(state, owner, { role: 'member', expiresAt: now + HOUR, at: now, prekeyed: { seed: rotated.seed, generation: currentGeneration(state) } });
    await push(invite.entry, invite.box ? [invite.box] : []);
  }
  expect(await replayLog(entries, { now })).toEqual(state);
  return { store, groupId: state.groupId, state, entries };
}

describe('validated checkpoints of group states', () => {
  it('encodes a group state (maps, sets, bytes) and decodes it equal; refuses what it cannot encode exactly', async () => {
    const g = await longGroup(12);
    const encoded = encodeGroupState(g.state);
    expect(typeof encoded).toBe('string');
    const decoded = decodeGroupState(encoded);
    expect(decoded).toEqual(g.state);
    expect(decoded.members).toBeInstanceOf(Map);
    expect(decoded.generations[1]!.devices).toBeInstanceOf(Set);
    expect([...decoded.devices.values()][0]!.signKey).toBeInstanceOf(Uint8Array);
    // A member's device chain (a PersonState of its own maps) survives the round trip.
    expect([...decoded.members.values()][0]!.chain?.devices).toBeInstanceOf(Map);
    expect(() => encodeGroupState({ ...g.state, lastAt: Number.NaN })).toThrow();
    expect(() => encodeGroupState({ ...g.state, extra: { $t: 'map' } } as never)).toThrow();
    expect(() => decodeGroupState('{"not":"a state"')).toThrow();
  });

  it('a cold cache extends the newest checkpoint instead of replaying the log from entry 0', async () => {
    const length = 2 * EVERY + 20;
    const g = await longGroup(length);
    const checkpoint = await g.store.getCheckpoint(g.groupId);
    expect(checkpoint).not.toBeNull();
    expect(checkpoint!.format).toBe(CHECKPOINT_FORMAT);
    expect(checkpoint!.seq).toBeGreaterThanOrEqual(length - 1 - EVERY);

    // Another process (or this one after eviction) with an empty cache.
    const counted = counting(g.store);
    const cold = states(counted.store);
    const state = await cold.stateOf(g.groupId);
    expect(state).toEqual(g.state);
    expect(counted.entriesRead()).toBeLessThanOrEqual(EVERY + 1);

    // Every later miss is bounded the same way: nobody can force a replay from 0 by evicting the group.
    for (let i = 0; i < 3; i++) {
      counted.reset();
      expect(await states(counted.store).stateOf(g.groupId)).toEqual(g.state);
      expect(counted.entriesRead()).toBeLessThanOrEqual(EVERY + 1);
    }
  });

  it('a miss that replays far writes a checkpoint, so the next miss does not', async () => {
    const g = await longGroup(EVERY + 10);
    await g.store.deleteCheckpoint(g.groupId);
    const counted = counting(g.store);
    expect(await states(counted.store).stateOf(g.groupId)).toEqual(g.state);
    expect(counted.entriesRead()).toBe(g.entries.length);
    expect((await g.store.getCheckpoint(g.groupId))?.seq).toBe(g.state.seq);
    counted.reset();
    expect(await states(counted.store).stateOf(g.groupId)).toEqual(g.state);
    expect(counted.entriesRead()).toBeLessThanOrEqual(1);
  });

  it('ignores a checkpoint that does not match the log (wrong hash at its seq, tampered state, ahead of the head, another format, garbage) and replays from 0', async () => {
    const g = await longGroup(EVERY + 10);
    const good = (await g.store.getCheckpoint(g.groupId))!;
    const seq = g.state.seq - 3;
    const atSeq = await replayLog(g.entries.slice(0, seq + 1), { now: Date.now() });
    const mallory = await generateIdentity();
    // A state that makes a stranger an admin: what an attacker with the database would plant.
    const planted = (s: GroupState): GroupState => {
      const members = new Map(s.members);
      const someone = [...s.members.values()][0]!;
      members.set(mallory.fingerprint, { ...someone, fingerprint: mallory.fingerprint, bundle: mallory.bundle, role: 'admin' });
      return { ...s, members };
    };
    const otherHash = atSeq.hashes[seq - 1]!;
    const cases: Array<[string, { seq: number; hash: EntryHash; format: string; data: string }]> = [
      ['a hash that is not the log hash at its seq', { seq, hash: otherHash, format: CHECKPOINT_FORMAT, data: encodeGroupState({ ...planted(atSeq), head: otherHash, hashes: [...atSeq.hashes.slice(0, seq), otherHash] }) }],
      ['a state whose head is not the row hash', { seq, hash: atSeq.head, format: CHECKPOINT_FORMAT, data: encodeGroupState({ ...planted(atSeq), head: otherHash }) }],
      ['a state of another seq than its row', { seq, hash: atSeq.head, format: CHECKPOINT_FORMAT, data: encodeGroupState(planted(g.state)) }],
      ['a state of another group', { seq, hash: atSeq.head, format: CHECKPOINT_FORMAT, data: encodeGroupState({ ...planted(atSeq), groupId: 'A'.repeat(22) as GroupId }) }],
      ['ahead of the head', { seq: g.state.seq + 5, hash: atSeq.head, format: CHECKPOINT_FORMAT, data: encodeGroupState(planted(atSeq)) }],
      ['another format', { seq, hash: atSeq.head, format: 'group-state/v0', data: encodeGroupState(planted(atSeq)) }],
      ['garbage', { seq, hash: atSeq.head, format: CHECKPOINT_FORMAT, data: '{"$t":"map","v":[[1' }],
    ];
    for (const [what, bad] of cases) {
      await g.store.deleteCheckpoint(g.groupId);
      await g.store.putCheckpoint(g.groupId, bad);
      const counted = counting(g.store);
      const state = await states(counted.store).stateOf(g.groupId);
      expect(state, what).toEqual(g.state);
      expect(state!.members.has(mallory.fingerprint), what).toBe(false);
      // It fell back to the whole log, and replaced the bad checkpoint with a good one.
      expect(counted.entriesRead(), what).toBeGreaterThanOrEqual(g.entries.length);
      const replaced = await g.store.getCheckpoint(g.groupId);
      expect(replaced && { seq: replaced.seq, hash: replaced.hash }, what).toEqual({ seq: g.state.seq, hash: g.state.head });
    }
    expect(good.seq).toBeLessThanOrEqual(g.state.seq);
  });
});
