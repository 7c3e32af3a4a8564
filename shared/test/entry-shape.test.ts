/**
 * The fast structural check of log and chain entries (protocol/entry-shape.ts) against
 * the zod schemas it stands in for on the replay hot path. Entries of every kind come
 * from a real group; each run mutates one place of one entry (a field deleted, added,
 * retyped, a string or number nudged, a prototype swapped) and checks that:
 * - the fast check accepts only what zod accepts, and zod's output is then the entry itself;
 * - on plain JSON (what a server sends) the two agree exactly, so the fast path is taken;
 * - replaying a log carrying the mutated entry is refused with the same error as zod's
 *   parse would give (reason, message, entry), or accepted exactly when zod accepts.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { LogVerificationError } from '../src/crypto/errors.ts';
import { createGroup, leaveGroup, removeMember, replaceRecovery, rotateKey } from '../src/crypto/group-lifecycle.ts';
import { nextEntry, type GroupState } from '../src/crypto/group-log.ts';
import { generateIdentity } from '../src/crypto/identity.ts';
import { acceptInvite, createInvite, inviteKeysFromCode } from '../src/crypto/invite.ts';
import { extendLog, replayLog } from '../src/crypto/log-replay.ts';
import { isWellFormedDeviceEntry, isWellFormedLogEntry } from '../src/protocol/entry-shape.ts';
import { deviceEntrySchema, logEntrySchema, type DeviceEntry, type LogEntry } from '../src/protocol/schemas.ts';
import { devicesChange, TestPerson } from './support/people.ts';

const HOUR = 3600_000;

/** A log with every kind of entry: create (two-device chain), recovery, invites (pre-keyed too), adds, role, rotate, remove, leave, devices. */
async function everyKindOfEntry(): Promise<LogEntry[]> {
  let t = Date.now() - HOUR;
  const clock = () => (t += 1000);
  const alice = await TestPerson.found();
  const { device: alicePhone } = await alice.link();
  const [bob, carol] = await Promise.all([generateIdentity(), generateIdentity()]);
  const group = await createGroup(alice.founder, { at: clock(), chain: alice.chain() });
  const log: LogEntry[] = [...group.entries];
  let state: GroupState = group.state;
  let seed = group.seed;
  const grow = async (entry: LogEntry) => {
    state = await extendLog(state, [entry]);
    log.push(entry);
  };
  const prekeyed = await createInvite(state, alice.founder, { role: 'member', expiresAt: t + HOUR, at: clock(), prekeyed: { seed, generation: 0 } });
  await grow(prekeyed.entry);
  await grow(await acceptInvite(state, await inviteKeysFromCode(prekeyed.code), bob, clock()));
  await grow((await createInvite(state, alice.founder, { role: 'admin', expiresAt: t + HOUR, at: clock() })).entry);
  await grow(await nextEntry(state, alice.founder, 'add', { member: [...(await TestPerson.found(carol)).chain()], role: 'member' }, clock()));
  await grow(await nextEntry(state, alice.founder, 'role', { member: bob.fingerprint, role: 'admin' }, clock()));
  const rotated = await rotateKey(state, alice.founder, seed, clock());
  await grow(rotated.entry);
  seed = rotated.seed;
  const removed = await removeMember(state, alice.founder, carol.fingerprint, seed, clock());
  await grow(removed.entry);
  seed = removed.seed;
  await grow((await leaveGroup(state, bob, clock())).entry);
  const recovered = await replaceRecovery(state, alice.founder, seed, clock());
  await grow(recovered.entry);
  seed = recovered.seed;
  await alice.unlink(alicePhone, alice.founder, clock());
  await grow((await devicesChange(state, alice.founder, alice, seed, clock())).entry);
  return log;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every place in a value (the root is []), as paths of keys and indices. */
function places(value: unknown, path: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  out.push(path);
  if (Array.isArray(value)) value.forEach((v, i) => places(v, [...path, i], out));
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) places(v, [...path, k], out);
  return out;
}

const B64U = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The mutations: each turns the value at a place into something else (or removes it). */
const MUTATIONS = [
  'delete',
  'add-key',
  'null',
  'undefined',
  'zero',
  'negative',
  'fraction',
  'huge',
  'nan',
  'empty-string',
  'string',
  'true',
  'array',
  'object',
  'char',
  'truncate',
  'extend',
  'upper',
  'plus-one',
  'minus-one',
  'null-prototype',
  'class-instance',
] as const;
type Mutation = (typeof MUTATIONS)[number];

class Boxed {
  constructor(readonly value: unknown) {}
}

function mutated(value: unknown, mutation: Mutation, pick: number): unknown {
  switch (mutation) {
    case 'null':
      return null;
    case 'undefined':
      return undefined;
    case 'zero':
      return 0;
    case 'negative':
      return -1;
    case 'fraction':
      return typeof value === 'number' ? value + 0.5 : 1.5;
    case 'huge':
      return 2 ** 53;
    case 'nan':
      return Number.NaN;
    case 'empty-string':
      return '';
    case 'string':
      return 'member';
    case 'true':
      return true;
    case 'array':
      return Array.isArray(value) ? [] : [value];
    case 'object':
      return {};
    case 'char': {
      if (typeof value !== 'string' || value.length === 0) return value;
      const at = pick % value.length;
      const next = B64U[(B64U.indexOf(value[at]!) + 1 + (pick % 63)) % 64] ?? 'A';
      return value.slice(0, at) + next + value.slice(at + 1);
    }
    case 'truncate':
      return typeof value === 'string' ? value.slice(0, -1) : Array.isArray(value) ? value.slice(0, -1) : value;
    case 'extend':
      return typeof value === 'string' ? `${value}A` : Array.isArray(value) ? [...value, value[0]] : value;
    case 'upper':
      return typeof value === 'string' ? value.toUpperCase() : value;
    case 'plus-one':
      return typeof value === 'number' ? value + 1 : value;
    case 'minus-one':
      return typeof value === 'number' ? value - 1 : value;
    case 'null-prototype':
      return typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.assign(Object.create(null), value) : value;
    case 'class-instance':
      return typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.assign(new Boxed(value), value) : value;
    default:
      return value;
  }
}

/** A deep copy of `entry` with one mutation at `path` (a key deleted or added, or a value replaced). */
function mutate(entry: unknown, path: Array<string | number>, mutation: Mutation, pick: number): unknown {
  const copy = structuredClone(entry) as Json;
  if (path.length === 0) return mutation === 'add-key' ? { ...(copy as object), extra: 1 } : mutated(copy, mutation, pick);
  let parent = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (mutation === 'delete') {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else if (mutation === 'add-key') {
    const target = parent[last];
    if (typeof target === 'object' && target !== null && !Array.isArray(target)) (target as Record<string, unknown>)[`x${pick % 3}`] = 'A';
    else if (!Array.isArray(parent)) parent[`${String(last)}2`] = parent[last];
  } else {
    parent[last] = mutated(parent[last], mutation, pick);
  }
  return copy;
}

/** True when the value is what a JSON parser could give: plain objects, arrays, finite numbers, no undefined. */
function isPlainJson(value: unknown): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isPlainJson);
  if (typeof value === 'object') return Object.getPrototypeOf(value) === Object.prototype && Object.values(value).every(isPlainJson);
  return false;
}

let log: LogEntry[];
let chainEntries: DeviceEntry[];

beforeAll(async () => {
  log = await everyKindOfEntry();
  chainEntries = log.flatMap((e) => (e.op === 'create' ? e.body.creator : e.op === 'add' ? e.body.member : e.op === 'devices' ? e.body.entries : []));
}, 60_000);

describe('fast entry check vs the zod schemas', () => {
  it('accepts every entry of a real log, of every kind, as zod does', () => {
    expect(new Set(log.map((e) => e.op))).toEqual(new Set(['create', 'recovery', 'invite', 'add', 'role', 'rotate', 'remove', 'leave', 'devices']));
    expect(new Set(chainEntries.map((e) => e.op))).toEqual(new Set(['found', 'link', 'unlink']));
    for (const entry of log) expect(isWellFormedLogEntry(entry), entry.op).toBe(true);
    for (const entry of chainEntries) expect(isWellFormedDeviceEntry(entry), entry.op).toBe(true);
  });

  it('on mutated log entries: says yes only where zod accepts the entry unchanged, and agrees with zod on plain JSON', () => {
    const arbitrary = fc.record({ index: fc.nat(), place: fc.nat(), mutation: fc.constantFrom(...MUTATIONS), pick: fc.nat() });
    fc.assert(
      fc.property(arbitrary, ({ index, place, mutation, pick }) => {
        const entry = log[index % log.length]!;
        const all = places(entry);
        const candidate = mutate(entry, all[place % all.length]!, mutation, pick);
        const fast = isWellFormedLogEntry(candidate);
        const zod = logEntrySchema.safeParse(candidate);
        if (fast) {
          expect(zod.success).toBe(true);
          expect(zod.data).toStrictEqual(candidate);
        }
        if (isPlainJson(candidate)) expect(fast).toBe(zod.success);
      }),
      { numRuns: 4000 },
    );
  });

  it('on mutated device chain entries: the same', () => {
    const arbitrary = fc.record({ index: fc.nat(), place: fc.nat(), mutation: fc.constantFrom(...MUTATIONS), pick: fc.nat() });
    fc.assert(
      fc.property(arbitrary, ({ index, place, mutation, pick }) => {
        const entry = chainEntries[index % chainEntries.length]!;
        const all = places(entry);
        const candidate = mutate(entry, all[place % all.length]!, mutation, pick);
        const fast = isWellFormedDeviceEntry(candidate);
        const zod = deviceEntrySchema.safeParse(candidate);
        if (fast) {
          expect(zod.success).toBe(true);
          expect(zod.data).toStrictEqual(candidate);
        }
        if (isPlainJson(candidate)) expect(fast).toBe(zod.success);
      }),
      { numRuns: 3000 },
    );
  });

  it('says no to an array with a hole (zod reads the hole as undefined and refuses), wherever an entry holds an array', () => {
    let checked = 0;
    const entries: Array<[unknown, (value: unknown) => boolean, { safeParse(value: unknown): { success: boolean } }]> = [
      ...log.map((e) => [e, isWellFormedLogEntry, logEntrySchema] as [unknown, (value: unknown) => boolean, typeof logEntrySchema]),
      ...chainEntries.map((e) => [e, isWellFormedDeviceEntry, deviceEntrySchema] as [unknown, (value: unknown) => boolean, typeof deviceEntrySchema]),
    ];
    for (const [entry, fast, schema] of entries) {
      for (const path of places(entry)) {
        if (path.length === 0) continue;
        const copy = structuredClone(entry) as Record<string | number, unknown>;
        let parent = copy;
        for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
        const target = parent[path[path.length - 1]!];
        if (!Array.isArray(target) || target.length === 0) continue;
        // Same length, the first element a hole.
        const sparse: unknown[] = new Array<unknown>(target.length);
        for (let i = 1; i < target.length; i++) sparse[i] = target[i];
        parent[path[path.length - 1]!] = sparse;
        expect(schema.safeParse(copy).success, path.join('.')).toBe(false);
        expect(fast(copy), path.join('.')).toBe(false);
        checked++;
      }
    }
    // The log has rotation links and device chains; the chain entries have none of their own.
    expect(checked).toBeGreaterThan(2);
  });

  it('a replay with one mutated entry is refused as zod parsing would refuse it, word for word', async () => {
    const arbitrary = fc.record({ index: fc.nat(), place: fc.nat(), mutation: fc.constantFrom(...MUTATIONS), pick: fc.nat() });
    await fc.assert(
      fc.asyncProperty(arbitrary, async ({ index, place, mutation, pick }) => {
        const at = index % log.length;
        const all = places(log[at]);
        const candidate = mutate(log[at], all[place % all.length]!, mutation, pick);
        const outcome = await replayLog([...log.slice(0, at), candidate, ...log.slice(at + 1)]).then(
          () => 'accepted',
          (error: unknown) => error,
        );
        const zod = logEntrySchema.safeParse(candidate);
        if (!zod.success) {
          expect(outcome).toBeInstanceOf(LogVerificationError);
          const error = outcome as LogVerificationError;
          // A bad signature earlier in the log would come first; the log before `at` is untouched, so the parse error is the one.
          expect({ reason: error.reason, seq: error.seq, message: error.message }).toStrictEqual({
            reason: 'malformed',
            seq: at,
            message: `entry ${at} is malformed: ${zod.error.issues[0]?.message ?? 'invalid'}`,
          });
        } else if (outcome !== 'accepted') {
          // Well formed but changed: a rule or a signature refuses it, never the parse.
          expect(outcome).toBeInstanceOf(LogVerificationError);
          expect((outcome as LogVerificationError).message).not.toMatch(/^entry \d+ is malformed:/);
        }
      }),
      { numRuns: 300 },
    );
  }, 120_000);
});
