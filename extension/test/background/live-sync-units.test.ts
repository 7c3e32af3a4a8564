/**
 * The live stream's own rules, with fakes for the database rows, the connections and the
 * stream (the real stream is covered by live.test.ts): a group without its key backs off
 * after an event-driven sync that did not bring the key, and starts afresh once it holds
 * it; a tick that started on an older connection does not move the stream back to it;
 * and one group's sync never runs twice at once, even when asked again right as a run
 * ends. Time is the fake timers' clock; nothing waits for real time.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Fingerprint, GroupId, LiveEvent } from '@conclave/shared/protocol';
import type { Connection } from '../../src/background/connection.ts';
import type { Ctx } from '../../src/background/context.ts';
import { LiveSync } from '../../src/background/live-sync.ts';
import { GroupSyncs } from '../../src/background/tick.ts';

const GROUP = 'AAAAAAAAAAAAAAAAAAAAAA' as GroupId;
const ME = 'm'.repeat(52) as Fingerprint;
const ANA = 'a'.repeat(52) as Fingerprint;

/** The one group row the fake database holds: generation 1 is current; `seeds` says which keys this device has. */
const row = { groupId: GROUP, state: { generations: [{}, {}], hashes: [], members: new Map() }, seeds: new Map<number, unknown>([[0, {}]]), alarm: null, removed: false, forkEvidence: [] };

vi.mock('../../src/db/key-store.ts', () => ({
  groupRowOf: async (_db: unknown, groupId: GroupId) => (groupId === GROUP ? row : undefined),
  allGroupRows: async () => [row],
}));

/** A connection whose stream is a fake: `events(e)` delivers an event, `opened` counts opens, `closed` closes. */
function fakeConnection() {
  const handlers: Array<(event: LiveEvent) => void> = [];
  const connection = {
    identity: { fingerprint: ME },
    opened: 0,
    closed: 0,
    client: {
      live: (options: { onEvent(event: LiveEvent): void }) => {
        connection.opened += 1;
        handlers.push(options.onEvent);
        return { close: async () => void (connection.closed += 1) };
      },
    },
    event: (event: LiveEvent) => handlers.at(-1)!(event),
  };
  return connection;
}

function fakeCtx(current: () => unknown): Ctx {
  return { db: {}, now: () => Date.now(), connections: { get: async () => current() } } as unknown as Ctx;
}

/** A stream on the fake connection whose group syncs count themselves; `bringKey()` makes the next sync bring the key. */
function keylessStream() {
  const connection = fakeConnection();
  let runs = 0;
  let bringsKey = false;
  const syncs = new GroupSyncs(async () => {
    runs += 1;
    if (bringsKey) row.seeds.set(1, {});
  });
  const live = new LiveSync(fakeCtx(() => connection), syncs, {});
  live.ensure(connection as unknown as Connection);
  return { connection, live, runs: () => runs, bringKey: () => void (bringsKey = true) };
}

describe('a group without its key, on live events', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    row.seeds = new Map([[0, {}]]);
  });
  afterEach(() => vi.useRealTimers());

  it('syncs once, then waits 5 s (doubling) after a sync that did not bring the key; starts afresh once it holds it', async () => {
    const { connection, live, runs, bringKey } = keylessStream();
    const online = { type: 'online', groupId: GROUP, device: ANA } as const;
    const box = { type: 'box', groupId: GROUP, generation: 1 } as const;

    // The first event syncs at once; it does not bring the key (a box this device cannot open).
    connection.event(box);
    await live.idle();
    expect(runs()).toBe(1);
    // Events within the next 5 s (an admin answering the key request the round posted,
    // its box again, another device online) do not sync at round-trip speed.
    for (const event of [box, online, box, online]) {
      connection.event(event);
      await live.idle();
    }
    expect(runs()).toBe(1);
    // After the wait, exactly one more sync runs for all of them.
    await vi.advanceTimersByTimeAsync(4_999);
    expect(runs()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await live.idle();
    expect(runs()).toBe(2);
    // Still no key: the next wait is 10 s.
    connection.event(box);
    await live.idle();
    await vi.advanceTimersByTimeAsync(9_999);
    expect(runs()).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    await live.idle();
    expect(runs()).toBe(3);

    // The sync after the next wait brings the key: the backoff is forgotten.
    bringKey();
    connection.event(online);
    await live.idle();
    await vi.advanceTimersByTimeAsync(20_000);
    await live.idle();
    expect(runs()).toBe(4);
    expect(row.seeds.has(1)).toBe(true);
    // Without the key again (a later rotation): the first event syncs at once, no wait left over.
    row.state.generations.push({});
    connection.event({ type: 'box', groupId: GROUP, generation: 2 });
    await live.idle();
    expect(runs()).toBe(5);
    row.state.generations.pop();
    await live.close();
  });

  it('a box after a wait that no box caused is fetched at once (an admin sealed it right after verifying this device)', async () => {
    const { connection, live, runs, bringKey } = keylessStream();
    // A holder came online; the round found nobody willing yet (not verified): a wait starts.
    connection.event({ type: 'online', groupId: GROUP, device: ANA });
    await live.idle();
    expect(runs()).toBe(1);
    connection.event({ type: 'online', groupId: GROUP, device: ANA });
    await live.idle();
    expect(runs()).toBe(1);
    // The admin verifies this device and seals the key: its box is fetched at once, not after the wait.
    bringKey();
    connection.event({ type: 'box', groupId: GROUP, generation: 1 });
    await live.idle();
    expect(runs()).toBe(2);
    expect(row.seeds.has(1)).toBe(true);
    await live.close();
  });
});

describe('the stream follows the current connection only', () => {
  it("a tick's connection that is no longer current is ignored; the current one opens the stream", async () => {
    const old = fakeConnection();
    const current = fakeConnection();
    const live = new LiveSync(
      fakeCtx(() => current),
      new GroupSyncs(async () => undefined),
      {},
    );
    // The settings changed: the stream was reopened on the new connection.
    live.ensure(current as unknown as Connection);
    expect(current.opened).toBe(1);
    // A tick that started before the change finishes now, with the old connection.
    await live.ensureIfCurrent(old as unknown as Connection);
    expect(old.opened).toBe(0);
    expect(current.closed).toBe(0);
    expect(live.isOpen).toBe(true);
    // The current connection's tick keeps the stream it already has (no reopen).
    await live.ensureIfCurrent(current as unknown as Connection);
    expect(current.opened).toBe(1);
    await live.close();

    // With no stream, the current connection opens it; an unreachable server opens nothing.
    await live.ensureIfCurrent(current as unknown as Connection);
    expect(current.opened).toBe(2);
    await live.close();
    const offline = new LiveSync(
      fakeCtx(() => {
        throw new Error('offline');
      }),
      new GroupSyncs(async () => undefined),
      {},
    );
    await offline.ensureIfCurrent(current as unknown as Connection);
    expect(offline.isOpen).toBe(false);
  });
});

describe('GroupSyncs between two runs', () => {
  it('a sync asked right as a run ends joins the queued run: never two runs of one group at once', async () => {
    let active = 0;
    let most = 0;
    let runs = 0;
    const gates: Array<() => void> = [];
    const syncs = new GroupSyncs(async () => {
      runs += 1;
      active += 1;
      most = Math.max(most, active);
      await new Promise<void>((resolve) => gates.push(resolve));
      active -= 1;
    });
    const first = syncs.sync(GROUP);
    // Asked as soon as the first run ends, before the run queued behind it has started.
    let inTheGap: Promise<void> | null = null;
    const asked = first.then(() => {
      inTheGap = syncs.sync(GROUP);
    });
    const queued = syncs.sync(GROUP);
    gates.shift()!();
    await asked;
    while (gates.length > 0 || active > 0) {
      gates.shift()?.();
      await Promise.resolve();
    }
    await syncs.idle();
    expect(most).toBe(1);
    expect(runs).toBe(2);
    expect(inTheGap).toBe(queued);
  });
});
