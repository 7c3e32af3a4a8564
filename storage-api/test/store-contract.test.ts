/**
 * The store contract (storage-api/src/store/types.ts), one suite run against both
 * stores: SQLite in a fresh temporary directory, PostgreSQL in a fresh `t_<random>`
 * schema of the test database (dropped afterwards). Entries, boxes and notes are built
 * with the protocol core where it matters, or as plain wire-shaped objects: the store
 * never validates them, it must only keep them byte for byte and enforce
 * compare-and-set.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base64urlByteLength, toBase64url } from '@conclave/shared/protocol';
import type { EntryHash, Fingerprint, GroupId, InviteId, NoteId } from '@conclave/shared/protocol';
import type { DeviceEntry, KeyBox, LogEntry, LogHead, NoteEnvelope } from '@conclave/shared/protocol';
import type { NoteHeader } from '@conclave/shared/protocol';
import { generationKeys } from '@conclave/shared/crypto';
import { createGroup, type NewGroup } from '@conclave/shared/crypto';
import { entryHash } from '@conclave/shared/crypto';
import { generateIdentity, type DeviceIdentity } from '@conclave/shared/crypto';
import { newNoteId, sealNote } from '@conclave/shared/crypto';
import { PostgresStore, withDefaultUser } from '../src/store/postgres.ts';
import { SqliteStore } from '../src/store/sqlite.ts';
import type { AppendIndexes, Store } from '../src/store/types.ts';
import { PROTOCOL_VERSION } from '@conclave/shared/protocol';

const TEST_DATABASE_URL = process.env.CONCLAVE_TEST_DATABASE_URL ?? 'postgres://127.0.0.1:5432/test';
const CONCURRENT = 20;

// ---------------------------------------------------------------------------
// the two stores

interface Harness {
  /** A migrated store (the one the cases use). */
  open(): Promise<Store>;
  /** A second, independent store on the same database (another file handle / pool). */
  another(): Promise<Store>;
  cleanup(): Promise<void>;
}

function sqliteHarness(): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'conclave-store-'));
  const opened: Store[] = [];
  return {
    async open() {
      const store = new SqliteStore(dir);
      opened.push(store);
      await store.migrate();
      return store;
    },
    async another() {
      return this.open();
    },
    async cleanup() {
      for (const store of opened) await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresHarness(): Harness {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const opened: Store[] = [];
  return {
    async open() {
      const store = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema });
      opened.push(store);
      await store.migrate();
      return store;
    },
    async another() {
      return this.open();
    },
    async cleanup() {
      for (const store of opened) await store.close();
      const client = new pg.Client({ connectionString: withDefaultUser(TEST_DATABASE_URL) });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}

const STORES: Array<[string, () => Harness]> = [
  ['sqlite', sqliteHarness],
  ['postgres', postgresHarness],
];

// ---------------------------------------------------------------------------
// wire-shaped data

const b64 = (n: number) => toBase64url(randomBytes(n));
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const newFingerprint = () => Array.from(randomBytes(52), (b) => BASE32[b & 31]).join('') as Fingerprint;
const newGroupId = () => b64(16) as GroupId;
const newInviteId = () => b64(32) as InviteId;
const newHash = () => b64(32) as EntryHash;

/** A signed-looking `rotate` entry: the store does not check signatures or hashes. */
function fakeEntry(groupId: GroupId, seq: number, author: Fingerprint, prev: EntryHash | null = newHash()): LogEntry {
  return {
    v: PROTOCOL_VERSION,
    groupId,
    seq,
    prev,
    author,
    at: 1_700_000_000_000 + seq,
    op: 'rotate',
    body: { rotation: { generation: seq + 1, seedCommitment: b64(32), links: [{ generation: seq, wrap: b64(60) }] } },
    sig: b64(64),
  };
}

function headOf(entries: LogEntry[]): LogHead {
  const last = entries[entries.length - 1]!;
  return { seq: last.seq, hash: entryHash(last) };
}

function fakeBox(groupId: GroupId, generation: number, recipient: KeyBox['recipient'], sender: Fingerprint): KeyBox {
  return { v: PROTOCOL_VERSION, groupId, generation, recipient, sender, enc: b64(32), ciphertext: b64(48), sig: b64(64) };
}

function headerOf(envelope: NoteEnvelope): NoteHeader {
  const { body, ...rest } = envelope;
  return { ...rest, bodyBytes: base64urlByteLength(body) };
}

function fakeNote(groupId: GroupId, noteId: NoteId, version: number, author: Fingerprint): NoteEnvelope {
  return {
    v: PROTOCOL_VERSION,
    groupId,
    noteId,
    version,
    generation: 0,
    author,
    at: 1_700_000_000_000 + version,
    deleted: false,
    prev: version === 1 ? null : b64(32),
    wrappedKey: b64(60),
    title: b64(40),
    body: b64(200),
    sig: b64(64),
  };
}

/** A signed-looking device chain entry: the store does not check signatures, hashes or rules. */
function fakeDeviceEntry(person: Fingerprint, seq: number): DeviceEntry {
  return {
    v: PROTOCOL_VERSION,
    person,
    seq,
    prev: seq === 0 ? null : newHash(),
    author: person,
    at: seq === 0 ? 0 : 1_700_000_000_000 + seq,
    op: 'unlink',
    body: { device: newFingerprint() },
    sig: b64(64),
  } as DeviceEntry;
}

const chainHeadAt = (seq: number): LogHead => ({ seq, hash: newHash() });

const noIndexes: AppendIndexes = { memberships: [], invites: [], boxes: [] };

// ---------------------------------------------------------------------------

describe.each(STORES)('%s store', (_kind, makeHarness) => {
  let harness: Harness;
  let store: Store;
  let alice: DeviceIdentity;
  let group: NewGroup;

  beforeAll(async () => {
    harness = makeHarness();
    store = await harness.open();
    alice = await generateIdentity();
    group = await createGroup(alice);
  });

  afterAll(async () => {
    await harness?.cleanup();
  });

  /** Appends `group`'s real `create` + `recovery` entries as a new group. */
  async function seedRealGroup(g: NewGroup, indexes: AppendIndexes = noIndexes) {
    const result = await store.appendEntries(g.state.groupId, g.entries, headOf(g.entries), indexes);
    expect(result).toEqual({ ok: true, head: headOf(g.entries) });
    return g.state.groupId;
  }

  it('migrates idempotently, also from a second instance', async () => {
    await store.migrate();
    const other = await harness.another();
    await other.migrate();
    expect(other.kind).toBe(store.kind);
  });

  it('round-trips identities', async () => {
    expect(await store.getIdentity(alice.fingerprint)).toBeNull();
    await store.putIdentity(alice.fingerprint, alice.bundle);
    expect(await store.getIdentity(alice.fingerprint)).toEqual(alice.bundle);
    await store.putIdentity(alice.fingerprint, alice.bundle);
    expect(JSON.stringify(await store.getIdentity(alice.fingerprint))).toBe(JSON.stringify(alice.bundle));
  });

  it('takes a challenge once, and never after it expired', async () => {
    const now = 1_000_000;
    await store.putChallenge('c-live', 'challenge-1', now + 1000);
    expect(await store.takeChallenge('c-live', now)).toBe('challenge-1');
    expect(await store.takeChallenge('c-live', now)).toBeNull();
    expect(await store.takeChallenge('c-unknown', now)).toBeNull();

    await store.putChallenge('c-expired', 'challenge-2', now + 1000);
    expect(await store.takeChallenge('c-expired', now + 1000)).toBeNull();
    expect(await store.takeChallenge('c-expired', now)).toBeNull(); // removed by the failed take

    await store.putChallenge('c-raced', 'challenge-3', now + 1000);
    const takes = await Promise.all(Array.from({ length: 10 }, () => store.takeChallenge('c-raced', now)));
    expect(takes.filter((t) => t !== null)).toEqual(['challenge-3']);
  });

  it('finds sessions by token hash until they expire or are deleted', async () => {
    const now = 2_000_000;
    const hash = b64(32);
    await store.putSession(hash, alice.fingerprint, now + 5000);
    expect(await store.getSession(hash, now)).toEqual({ fingerprint: alice.fingerprint, expiresAt: now + 5000 });
    expect(await store.getSession(hash, now + 4999)).not.toBeNull();
    expect(await store.getSession(hash, now + 5000)).toBeNull();
    expect(await store.getSession(b64(32), now)).toBeNull();
    await store.deleteSession(hash);
    expect(await store.getSession(hash, now)).toBeNull();
    await store.deleteSession(hash); // deleting twice is fine
  });

  it('purges expired challenges and sessions only', async () => {
    const now = 3_000_000;
    const [oldSession, liveSession] = [b64(32), b64(32)];
    await store.putSession(oldSession, alice.fingerprint, now - 1);
    await store.putSession(liveSession, alice.fingerprint, now + 60_000);
    await store.putChallenge('p-old', 'x', now);
    await store.putChallenge('p-live', 'y', now + 60_000);
    await store.purgeExpired(now);
    // Asked as if at an earlier time: a purged row is gone, not just expired.
    expect(await store.getSession(oldSession, 0)).toBeNull();
    expect(await store.getSession(liveSession, 0)).toEqual({ fingerprint: alice.fingerprint, expiresAt: now + 60_000 });
    expect(await store.takeChallenge('p-old', 0)).toBeNull();
    expect(await store.takeChallenge('p-live', now)).toBe('y');
  });

  it("appends a person's device chain with compare-and-set and keeps the device index with it", async () => {
    const person = newFingerprint();
    const [phone, tablet] = [newFingerprint(), newFingerprint()];
    expect(await store.getChain(person)).toBeNull();
    expect(await store.appendChain(person, [fakeDeviceEntry(person, 1)], chainHeadAt(1), { linked: [], unlinked: [] })).toEqual({ ok: false, head: null });
    const found = [fakeDeviceEntry(person, 0), fakeDeviceEntry(person, 1)];
    const head1 = chainHeadAt(1);
    expect(await store.appendChain(person, found, head1, { linked: [{ device: person, seq: 0 }, { device: phone, seq: 1 }], unlinked: [] })).toEqual({ ok: true, head: head1 });
    expect(await store.getChain(person)).toEqual({ entries: found, head: head1 });
    // A stale append (at seq 1 again, or a new found entry) loses and changes nothing.
    expect(await store.appendChain(person, [fakeDeviceEntry(person, 1)], chainHeadAt(1), { linked: [{ device: tablet, seq: 1 }], unlinked: [] })).toEqual({ ok: false, head: head1 });
    expect(await store.appendChain(person, [fakeDeviceEntry(person, 0)], chainHeadAt(0), { linked: [], unlinked: [] })).toEqual({ ok: false, head: head1 });
    expect(await store.deviceStanding(tablet)).toBeNull();
    expect(await store.deviceStanding(phone)).toEqual({ person, unlinkedSeq: null });

    const unlink = fakeDeviceEntry(person, 2);
    const head2 = chainHeadAt(2);
    expect(await store.appendChain(person, [unlink], head2, { linked: [], unlinked: [{ device: phone, seq: 2 }] })).toEqual({ ok: true, head: head2 });
    expect(await store.deviceStanding(phone)).toEqual({ person, unlinkedSeq: 2 });
    expect(await store.unlinkedDevices([phone, person, tablet])).toEqual(new Set([phone]));
    expect(await store.unlinkedDevices([])).toEqual(new Set());
    expect((await store.getChain(person))?.entries).toEqual([...found, unlink]);
  });

  it('keeps one person per device, ever: a claimed device fails the whole append', async () => {
    const [alicePerson, bobPerson, shared] = [newFingerprint(), newFingerprint(), newFingerprint()];
    await store.appendChain(alicePerson, [fakeDeviceEntry(alicePerson, 0)], chainHeadAt(0), { linked: [{ device: alicePerson, seq: 0 }], unlinked: [] });
    const bobHead = chainHeadAt(0);
    await store.appendChain(bobPerson, [fakeDeviceEntry(bobPerson, 0)], bobHead, { linked: [{ device: bobPerson, seq: 0 }], unlinked: [] });
    expect((await store.appendChain(alicePerson, [fakeDeviceEntry(alicePerson, 1)], chainHeadAt(1), { linked: [{ device: shared, seq: 1 }], unlinked: [] })).ok).toBe(true);
    const claim = await store.appendChain(bobPerson, [fakeDeviceEntry(bobPerson, 1)], chainHeadAt(1), { linked: [{ device: shared, seq: 1 }], unlinked: [] });
    expect(claim).toEqual({ ok: false, claimed: { device: shared, person: alicePerson } });
    expect(await store.getChain(bobPerson)).toMatchObject({ head: bobHead });
    expect((await store.getChain(bobPerson))?.entries).toHaveLength(1);
    // A founding device already linked elsewhere cannot found a person either.
    expect(await store.appendChain(shared, [fakeDeviceEntry(shared, 0)], chainHeadAt(0), { linked: [{ device: shared, seq: 0 }], unlinked: [] })).toEqual({
      ok: false,
      claimed: { device: shared, person: alicePerson },
    });
    expect(await store.getChain(shared)).toBeNull();
  });

  it(`lets exactly one of ${CONCURRENT} concurrent chain appends win, and one person claim a device, also across instances`, async () => {
    const other = await harness.another();
    const stores = [store, other];
    const person = newFingerprint();
    await store.appendChain(person, [fakeDeviceEntry(person, 0)], chainHeadAt(0), { linked: [{ device: person, seq: 0 }], unlinked: [] });
    const heads = Array.from({ length: CONCURRENT }, () => chainHeadAt(1));
    const results = await Promise.all(heads.map((head, i) => stores[i % 2]!.appendChain(person, [fakeDeviceEntry(person, 1)], head, { linked: [{ device: newFingerprint(), seq: 1 }], unlinked: [] })));
    const winners = results.flatMap((r, i) => (r.ok ? [i] : []));
    expect(winners).toHaveLength(1);
    for (const r of results) expect(r).toMatchObject({ head: heads[winners[0]!] });

    // Many people, one device: exactly one gets it.
    const device = newFingerprint();
    const people = Array.from({ length: CONCURRENT }, () => newFingerprint());
    const claims = await Promise.all(
      people.map((p, i) => stores[i % 2]!.appendChain(p, [fakeDeviceEntry(p, 0), fakeDeviceEntry(p, 1)], chainHeadAt(1), { linked: [{ device: p, seq: 0 }, { device, seq: 1 }], unlinked: [] })),
    );
    const owners = claims.flatMap((r, i) => (r.ok ? [people[i]!] : []));
    expect(owners).toHaveLength(1);
    expect(await other.deviceStanding(device)).toEqual({ person: owners[0], unlinkedSeq: null });
    for (const r of claims) if (!r.ok) expect(r).toEqual({ ok: false, claimed: { device, person: owners[0] } });
  });

  it('keeps one link offer per lookup: renewed by its device, taken by another only once expired; purged', async () => {
    const now = 5_000_000;
    const lookup = b64(16);
    const [waiting, other] = [await generateIdentity(), await generateIdentity()];
    expect(await store.findLinkOffer(lookup, now)).toBeNull();
    expect(await store.putLinkOffer(lookup, waiting.fingerprint, waiting.bundle, now + 1000, now)).toBe(true);
    expect(await store.findLinkOffer(lookup, now)).toEqual({ bundle: waiting.bundle, expiresAt: now + 1000 });
    expect(await store.putLinkOffer(lookup, other.fingerprint, other.bundle, now + 1000, now)).toBe(false);
    expect(await store.putLinkOffer(lookup, waiting.fingerprint, waiting.bundle, now + 2000, now)).toBe(true);
    expect(await store.findLinkOffer(lookup, now + 1999)).toEqual({ bundle: waiting.bundle, expiresAt: now + 2000 });
    expect(await store.findLinkOffer(lookup, now + 2000)).toBeNull();
    expect(await store.putLinkOffer(lookup, other.fingerprint, other.bundle, now + 5000, now + 2000)).toBe(true);
    expect(await store.findLinkOffer(lookup, now + 2000)).toEqual({ bundle: other.bundle, expiresAt: now + 5000 });
    const stale = b64(16);
    await store.putLinkOffer(stale, waiting.fingerprint, waiting.bundle, now + 100, now);
    await store.purgeExpired(now + 100);
    expect(await store.findLinkOffer(stale, 0)).toBeNull();
    expect(await store.findLinkOffer(lookup, 0)).not.toBeNull();
  });

  it("indexes a device its person unlinked as 'unlinked'", async () => {
    const g = await createGroup(alice);
    const phone = newFingerprint();
    await seedRealGroup(g, { memberships: [{ fingerprint: phone, status: 'unlinked', sinceSeq: 0, untilSeq: 1 }], invites: [], boxes: [] });
    expect(await store.membership(g.state.groupId, phone)).toEqual({ status: 'unlinked', untilSeq: 1 });
    expect((await store.groupsOf(phone)).map((r) => r.status)).toEqual(['unlinked']);
  });

  it('appends with compare-and-set on seq and reads ranges', async () => {
    const groupId = group.state.groupId;
    expect(await store.getHead(groupId)).toBeNull();
    expect(await store.readLog(groupId, 0, 10)).toEqual([]);

    // Not a new group's first entry: no group, so no head to report.
    expect(await store.appendEntries(groupId, [fakeEntry(groupId, 1, alice.fingerprint)], { seq: 1, hash: newHash() }, noIndexes)).toEqual({
      ok: false,
      head: null,
    });

    await seedRealGroup(group);
    const head1 = headOf(group.entries);
    expect(await store.getHead(groupId)).toEqual(head1);
    const stored = await store.readLog(groupId, 0, 10);
    expect(stored).toEqual(group.entries);
    expect(stored.map((e) => JSON.stringify(e))).toEqual(group.entries.map((e) => JSON.stringify(e)));

    // Again at seq 0, and at a gap: conflicts that report the current head, and change nothing.
    const again = await store.appendEntries(groupId, group.entries, head1, noIndexes);
    expect(again).toEqual({ ok: false, head: head1 });
    const gap = fakeEntry(groupId, 5, alice.fingerprint);
    expect(await store.appendEntries(groupId, [gap], headOf([gap]), noIndexes)).toEqual({ ok: false, head: head1 });
    const stale = fakeEntry(groupId, 1, alice.fingerprint);
    expect(await store.appendEntries(groupId, [stale], headOf([stale]), noIndexes)).toEqual({ ok: false, head: head1 });

    // seq 2..11 in two appends.
    const more = Array.from({ length: 10 }, (_, i) => fakeEntry(groupId, 2 + i, alice.fingerprint));
    expect(await store.appendEntries(groupId, more.slice(0, 3), headOf(more.slice(0, 3)), noIndexes)).toEqual({ ok: true, head: headOf(more.slice(0, 3)) });
    expect(await store.appendEntries(groupId, more.slice(3), headOf(more), noIndexes)).toEqual({ ok: true, head: headOf(more) });
    expect(await store.getHead(groupId)).toEqual(headOf(more));

    const all = [...group.entries, ...more];
    expect(await store.readLog(groupId, 0, 100)).toEqual(all);
    expect((await store.readLog(groupId, 3, 4)).map((e) => e.seq)).toEqual([3, 4, 5, 6]);
    expect((await store.readLog(groupId, 0, 100, 4)).map((e) => e.seq)).toEqual([0, 1, 2, 3, 4]);
    expect((await store.readLog(groupId, 2, 3, 10)).map((e) => e.seq)).toEqual([2, 3, 4]);
    expect((await store.readLog(groupId, 10, 100)).map((e) => e.seq)).toEqual([10, 11]);
    expect(await store.readLog(groupId, 12, 100)).toEqual([]);
    expect(await store.readLog(groupId, 5, 10, 4)).toEqual([]);
    expect(await store.readLog(groupId, 2 ** 31 - 10, 500)).toEqual([]);
    expect(await store.readLog(newGroupId(), 0, 10)).toEqual([]);
  });

  it(`lets exactly one of ${CONCURRENT} concurrent appends at the same seq win, also across instances`, async () => {
    const other = await harness.another();
    const stores = [store, other];
    const groupId = newGroupId();

    const attempt = async (seq: number, prev: EntryHash | null) => {
      const candidates = Array.from({ length: CONCURRENT }, () => fakeEntry(groupId, seq, newFingerprint(), prev));
      const results = await Promise.all(
        candidates.map((entry, i) => stores[i % 2]!.appendEntries(groupId, [entry], headOf([entry]), { ...noIndexes, invites: [{ inviteId: newInviteId() }] })),
      );
      const winners = results.flatMap((r, i) => (r.ok ? [i] : []));
      expect(winners).toHaveLength(1);
      const winner = candidates[winners[0]!]!;
      for (const r of results) expect(r.head).toEqual(headOf([winner]));
      return winner;
    };

    const first = await attempt(0, null);
    const second = await attempt(1, entryHash(first));
    for (const s of stores) {
      expect(await s.readLog(groupId, 0, 10)).toEqual([first, second]);
      expect(await s.getHead(groupId)).toEqual(headOf([second]));
    }
  });

  it('writes membership and invite indexes with the append, and only with a successful one', async () => {
    const g = await createGroup(alice);
    const groupId = g.state.groupId;
    const bob = newFingerprint();
    const carol = newFingerprint();
    const invite = newInviteId();
    const recoveryFp = g.state.recovery ?? newFingerprint();

    await seedRealGroup(g, {
      memberships: [
        { fingerprint: alice.fingerprint, status: 'member', sinceSeq: 0, untilSeq: null },
        { fingerprint: recoveryFp, status: 'member', sinceSeq: 1, untilSeq: null },
      ],
      invites: [],
      boxes: g.boxes,
    });
    let head = headOf(g.entries);

    // seq 2: invite; seq 3: bob joins.
    const e2 = fakeEntry(groupId, 2, alice.fingerprint, head.hash);
    const e3 = fakeEntry(groupId, 3, bob, entryHash(e2));
    expect(
      await store.appendEntries(groupId, [e2, e3], headOf([e3]), {
        memberships: [{ fingerprint: bob, status: 'member', sinceSeq: 3, untilSeq: null }],
        invites: [{ inviteId: invite }],
        boxes: [],
      }),
    ).toMatchObject({ ok: true });
    head = headOf([e3]);

    expect(await store.findInvite(invite)).toBe(groupId);
    expect(await store.findInvite(newInviteId())).toBeNull();
    expect(await store.membership(groupId, alice.fingerprint)).toEqual({ status: 'member', untilSeq: null });
    expect(await store.membership(groupId, bob)).toEqual({ status: 'member', untilSeq: null });
    expect(await store.membership(groupId, carol)).toBeNull();
    expect(await store.groupsOf(bob)).toEqual([{ groupId, status: 'member', untilSeq: null, head }]);

    // A losing append (stale seq) writes none of its indexes.
    const lost = fakeEntry(groupId, 3, carol);
    const lostInvite = newInviteId();
    const lostBox = fakeBox(groupId, 9, { kind: 'member', id: carol }, carol);
    expect(
      await store.appendEntries(groupId, [lost], headOf([lost]), {
        memberships: [{ fingerprint: carol, status: 'member', sinceSeq: 3, untilSeq: null }],
        invites: [{ inviteId: lostInvite }],
        boxes: [lostBox],
      }),
    ).toEqual({ ok: false, head });
    expect(await store.membership(groupId, carol)).toBeNull();
    expect(await store.findInvite(lostInvite)).toBeNull();
    expect(await store.boxesFor(groupId, { kind: 'member', id: carol })).toEqual([]);
    expect(await store.groupsOf(carol)).toEqual([]);

    // seq 4: bob removed, with the rotation's box for alice.
    const e4 = fakeEntry(groupId, 4, alice.fingerprint, head.hash);
    const box = fakeBox(groupId, 1, { kind: 'member', id: alice.fingerprint }, alice.fingerprint);
    expect(
      await store.appendEntries(groupId, [e4], headOf([e4]), {
        memberships: [{ fingerprint: bob, status: 'removed', sinceSeq: 3, untilSeq: 4 }],
        invites: [],
        boxes: [box],
      }),
    ).toMatchObject({ ok: true });
    head = headOf([e4]);
    expect(await store.membership(groupId, bob)).toEqual({ status: 'removed', untilSeq: 4 });
    expect(await store.groupsOf(bob)).toEqual([{ groupId, status: 'removed', untilSeq: 4, head }]);
    expect(await store.boxesFor(groupId, { kind: 'member', id: alice.fingerprint }, 1)).toEqual([box]);
    if (g.boxes[0]) expect(await store.boxesFor(groupId, g.boxes[0].recipient, 0)).toEqual([g.boxes[0]]);

    // Alice is in this group and in the first one (seeded elsewhere with no indexes): only indexed groups count.
    const mine = await store.groupsOf(alice.fingerprint);
    expect(mine).toContainEqual({ groupId, status: 'member', untilSeq: null, head });
  });

  it('keeps one box per (group, generation, recipient, sender): a sender replaces only its own; lists all senders by generation then sender', async () => {
    const groupId = newGroupId();
    const [bob, carol, dave, sender, other] = [newFingerprint(), newFingerprint(), newFingerprint(), newFingerprint(), newFingerprint()];
    const [first, second] = [sender, other].sort();
    const invite = newInviteId();
    const bob0 = fakeBox(groupId, 0, { kind: 'member', id: bob }, sender);
    const bob0b = fakeBox(groupId, 0, { kind: 'member', id: bob }, sender);
    const bob1 = fakeBox(groupId, 1, { kind: 'member', id: bob }, sender);
    const carol1 = fakeBox(groupId, 1, { kind: 'member', id: carol }, sender);
    const invite1 = fakeBox(groupId, 1, { kind: 'invite', id: invite }, sender);
    const elsewhere = fakeBox(newGroupId(), 1, { kind: 'member', id: bob }, sender);

    await store.putBoxes([bob0, bob1, invite1, elsewhere]);
    await store.putBoxes([bob0b, carol1]);
    expect(await store.boxesFor(groupId, { kind: 'member', id: bob })).toEqual([bob0b, bob1]);
    expect(await store.boxesFor(groupId, { kind: 'member', id: bob }, 0)).toEqual([bob0b]);
    expect(await store.boxesFor(groupId, { kind: 'member', id: bob }, 1)).toEqual([bob1]);
    expect(await store.boxesFor(groupId, { kind: 'member', id: bob }, 2)).toEqual([]);
    expect(await store.boxesFor(groupId, { kind: 'invite', id: invite })).toEqual([invite1]);
    expect(await store.boxesFor(groupId, { kind: 'member', id: carol })).toEqual([carol1]);

    // Another sender's box for the same recipient and generation is kept beside it, never over it.
    const bob1junk = fakeBox(groupId, 1, { kind: 'member', id: bob }, other);
    const invite1junk = fakeBox(groupId, 1, { kind: 'invite', id: invite }, other);
    await store.putBoxes([bob1junk, invite1junk]);
    const bySender = (a: KeyBox, b: KeyBox) => (a.sender === first ? -1 : 1) - (b.sender === first ? -1 : 1);
    expect(await store.boxesFor(groupId, { kind: 'member', id: bob }, 1)).toEqual([bob1, bob1junk].sort(bySender));
    expect(await store.boxesFor(groupId, { kind: 'member', id: bob })).toEqual([bob0b, ...[bob1, bob1junk].sort(bySender)]);
    expect(await store.boxesFor(groupId, { kind: 'invite', id: invite })).toEqual([invite1, invite1junk].sort(bySender));
    expect(second).not.toBe(first);

    // The same (recipient, sender) twice in one call: the later one stays.
    const carol1b = fakeBox(groupId, 1, { kind: 'member', id: carol }, sender);
    const carol1c = fakeBox(groupId, 1, { kind: 'member', id: carol }, sender);
    await store.putBoxes([carol1b, carol1c]);
    expect(await store.boxesFor(groupId, { kind: 'member', id: carol }, 1)).toEqual([carol1c]);
    await store.putBoxes([]);

    // A confirmation is a member's box to itself: boxes from others do not count.
    expect(await store.recipientsWithOwnBox(groupId, 1)).toEqual(new Set());
    const dave1self = fakeBox(groupId, 1, { kind: 'member', id: dave }, dave);
    const bob0self = fakeBox(groupId, 0, { kind: 'member', id: bob }, bob);
    await store.putBoxes([dave1self, bob0self, fakeBox(groupId, 1, { kind: 'invite', id: invite }, invite as unknown as Fingerprint)]);
    expect(await store.recipientsWithOwnBox(groupId, 1)).toEqual(new Set([dave]));
    expect(await store.recipientsWithOwnBox(groupId, 0)).toEqual(new Set([bob]));
    expect(await store.recipientsWithOwnBox(groupId, 7)).toEqual(new Set());
    expect(await store.boxesFor(groupId, { kind: 'member', id: dave })).toEqual([dave1self]);
  });

  it('stores the boxes that travel with an append per sender too', async () => {
    const groupId = newGroupId();
    const [bob, sender, other] = [newFingerprint(), newFingerprint(), newFingerprint()];
    const junk = fakeBox(groupId, 1, { kind: 'member', id: bob }, other);
    await store.putBoxes([junk]);
    const entries = [fakeEntry(groupId, 0, sender, null)];
    const good = fakeBox(groupId, 1, { kind: 'member', id: bob }, sender);
    expect((await store.appendEntries(groupId, entries, headOf(entries), { ...noIndexes, boxes: [good] })).ok).toBe(true);
    expect(new Set(await store.boxesFor(groupId, { kind: 'member', id: bob }, 1))).toEqual(new Set([good, junk]));
  });

  it('keeps the newest checkpoint per group: an older one never replaces it; deletes by seq', async () => {
    const [g1, g2] = [newGroupId(), newGroupId()];
    const at = (seq: number, data = `state ${seq}`) => ({ seq, hash: newHash(), format: 'group-state/test', data });
    expect(await store.getCheckpoint(g1)).toBeNull();
    const c5 = at(5);
    await store.putCheckpoint(g1, c5);
    await store.putCheckpoint(g2, at(1));
    expect(await store.getCheckpoint(g1)).toEqual(c5);
    await store.putCheckpoint(g1, at(3));
    expect(await store.getCheckpoint(g1)).toEqual(c5);
    const c9 = at(9, 'x'.repeat(100_000));
    await store.putCheckpoint(g1, c9);
    expect(await store.getCheckpoint(g1)).toEqual(c9);
    const c9b = at(9);
    await store.putCheckpoint(g1, c9b);
    expect(await store.getCheckpoint(g1)).toEqual(c9b);
    // Deleting a checkpoint that was replaced meanwhile deletes nothing.
    await store.deleteCheckpoint(g1, 5);
    expect(await store.getCheckpoint(g1)).toEqual(c9b);
    await store.deleteCheckpoint(g1, 9);
    expect(await store.getCheckpoint(g1)).toBeNull();
    await store.deleteCheckpoint(g2);
    expect(await store.getCheckpoint(g2)).toBeNull();
  });

  it('keeps one key request per member, the latest', async () => {
    const groupId = newGroupId();
    const [bob, carol] = [newFingerprint(), newFingerprint()];
    expect(await store.keyRequests(groupId)).toEqual([]);
    await store.putKeyRequest(groupId, bob, 1, 1000);
    await store.putKeyRequest(groupId, carol, 1, 2000);
    await store.putKeyRequest(newGroupId(), bob, 1, 1500);
    expect(await store.keyRequests(groupId)).toEqual([
      { fingerprint: bob, generation: 1, requestedAt: 1000 },
      { fingerprint: carol, generation: 1, requestedAt: 2000 },
    ]);
    await store.putKeyRequest(groupId, bob, 2, 3000);
    expect(await store.keyRequests(groupId)).toEqual([
      { fingerprint: carol, generation: 1, requestedAt: 2000 },
      { fingerprint: bob, generation: 2, requestedAt: 3000 },
    ]);
    // Served: only a request at or below the generation confirmed goes.
    await store.deleteKeyRequest(groupId, bob, 1);
    await store.deleteKeyRequest(groupId, carol, 1);
    expect(await store.keyRequests(groupId)).toEqual([{ fingerprint: bob, generation: 2, requestedAt: 3000 }]);
    await store.deleteKeyRequest(groupId, bob, 3);
    expect(await store.keyRequests(groupId)).toEqual([]);
  });

  it('stores note versions with compare-and-set', async () => {
    const groupId = group.state.groupId;
    const { noteKey } = await generationKeys(group.seed, groupId, 0);
    const noteId = newNoteId();
    const address = { groupId, noteId, generation: 0 };
    const v1 = await sealNote(alice, { ...address, version: 1 }, noteKey, { title: 'Door code', body: 'The code is 4711.' });
    // The store checks no chain (the API does): any 32-byte prev will do.
    const prev = toBase64url(new Uint8Array(32));
    const v2 = await sealNote(alice, { ...address, version: 2 }, noteKey, { title: 'Door code', body: 'The code is 0815 since Monday.' }, { prev });
    const v2b = await sealNote(alice, { ...address, version: 2 }, noteKey, { title: 'Door code', body: 'A competing edit.' }, { prev });
    const v4 = await sealNote(alice, { ...address, version: 4 }, noteKey, { title: 'x', body: 'y' }, { prev });

    expect(await store.getNote(groupId, noteId)).toBeNull();
    expect(await store.putNoteVersion(v2, headerOf(v2))).toEqual({ ok: false, currentVersion: 0 });
    const r1 = await store.putNoteVersion(v1, headerOf(v1));
    const r2 = await store.putNoteVersion(v2, headerOf(v2));
    if (!r1.ok || !r2.ok) throw new Error('expected both puts to succeed');
    expect(r2.cursor).toBeGreaterThan(r1.cursor);

    expect(await store.putNoteVersion(v2b, headerOf(v2b))).toEqual({ ok: false, currentVersion: 2 });
    expect(await store.putNoteVersion(v1, headerOf(v1))).toEqual({ ok: false, currentVersion: 2 });
    expect(await store.putNoteVersion(v4, headerOf(v4))).toEqual({ ok: false, currentVersion: 2 });

    const latest = await store.getNote(groupId, noteId);
    expect(latest).toEqual(v2);
    expect(JSON.stringify(latest)).toBe(JSON.stringify(v2));
    expect(await store.getNote(groupId, noteId, 1)).toEqual(v1);
    expect(await store.getNote(groupId, noteId, 2)).toEqual(v2);
    expect(await store.getNote(groupId, noteId, 3)).toBeNull();
    expect(await store.getNote(groupId, newNoteId())).toBeNull();
    expect(await store.getNote(newGroupId(), noteId)).toBeNull();
  });

  it("reads a member call's session, unlinked flag, head and note in one view", async () => {
    const now = 3_000_000;
    const g = await createGroup(alice);
    const groupId = await seedRealGroup(g);
    const person = newFingerprint();
    const [phone, tablet] = [newFingerprint(), newFingerprint()];
    await store.appendChain(person, [fakeDeviceEntry(person, 0), fakeDeviceEntry(person, 1)], chainHeadAt(1), { linked: [{ device: phone, seq: 0 }, { device: tablet, seq: 1 }], unlinked: [{ device: tablet, seq: 1 }] });
    const [phoneToken, tabletToken] = [b64(32), b64(32)];
    await store.putSession(phoneToken, phone, now + 5000);
    await store.putSession(tabletToken, tablet, now + 5000);
    const note = fakeNote(groupId, newNoteId(), 1, phone);
    expect((await store.putNoteVersion(note, headerOf(note))).ok).toBe(true);
    const head = headOf(g.entries);

    expect(await store.memberView(phoneToken, now, groupId)).toEqual({ session: { fingerprint: phone, expiresAt: now + 5000 }, unlinked: false, head });
    expect(await store.memberView(tabletToken, now, groupId)).toEqual({ session: { fingerprint: tablet, expiresAt: now + 5000 }, unlinked: true, head });
    // Expiry is exact; an unknown token or group reads as null.
    expect(await store.memberView(phoneToken, now + 5000, groupId)).toEqual({ session: null, unlinked: false, head });
    expect(await store.memberView(b64(32), now, null)).toEqual({ session: null, unlinked: false, head: null });
    expect(await store.memberView(phoneToken, now, newGroupId())).toEqual({ session: { fingerprint: phone, expiresAt: now + 5000 }, unlinked: false, head: null });
    // With a note: the newest version, a given one, or null.
    expect((await store.memberView(phoneToken, now, groupId, { noteId: note.noteId })).note).toEqual(note);
    expect((await store.memberView(phoneToken, now, groupId, { noteId: note.noteId, version: 1 })).note).toEqual(note);
    expect((await store.memberView(phoneToken, now, groupId, { noteId: note.noteId, version: 2 })).note).toBeNull();
    expect((await store.memberView(phoneToken, now, groupId, { noteId: newNoteId() })).note).toBeNull();
    expect((await store.memberView(phoneToken, now, newGroupId(), { noteId: note.noteId })).note).toBeNull();
  });

  it('puts a note only while the group head it was checked at is current', async () => {
    const g = await createGroup(alice);
    const groupId = await seedRealGroup(g);
    const head = headOf(g.entries);
    const noteId = newNoteId();
    const v1 = fakeNote(groupId, noteId, 1, alice.fingerprint);
    const v2 = fakeNote(groupId, noteId, 2, alice.fingerprint);
    expect(await store.putNoteVersion(v1, headerOf(v1), { seq: head.seq, hash: newHash() })).toEqual({ ok: false, staleHead: true });
    expect(await store.putNoteVersion(v1, headerOf(v1), { seq: head.seq + 1, hash: head.hash })).toEqual({ ok: false, staleHead: true });
    expect(await store.putNoteVersion(v1, headerOf(v1), head)).toMatchObject({ ok: true });
    // The log moves on: a put checked at the old head writes nothing.
    const next = fakeEntry(groupId, head.seq + 1, alice.fingerprint);
    expect((await store.appendEntries(groupId, [next], headOf([next]), noIndexes)).ok).toBe(true);
    expect(await store.putNoteVersion(v2, headerOf(v2), head)).toEqual({ ok: false, staleHead: true });
    expect(await store.getNote(groupId, noteId)).toEqual(v1);
    expect(await store.putNoteVersion(v2, headerOf(v2), headOf([next]))).toMatchObject({ ok: true });
    // A group that is not stored has no current head.
    const stray = fakeNote(newGroupId(), newNoteId(), 1, alice.fingerprint);
    expect(await store.putNoteVersion(stray, headerOf(stray), head)).toEqual({ ok: false, staleHead: true });
  });

  it('refuses a put whose author device is unlinked when it commits, though the group head did not move', async () => {
    const g = await createGroup(alice);
    const groupId = await seedRealGroup(g);
    const head = headOf(g.entries);
    const person = newFingerprint();
    const phone = newFingerprint();
    await store.appendChain(person, [fakeDeviceEntry(person, 0), fakeDeviceEntry(person, 1)], chainHeadAt(1), { linked: [{ device: person, seq: 0 }, { device: phone, seq: 1 }], unlinked: [] });
    const noteId = newNoteId();
    const v1 = fakeNote(groupId, noteId, 1, phone);
    expect(await store.putNoteVersion(v1, headerOf(v1), head)).toMatchObject({ ok: true });
    // The person unlinks the phone: a chain append, which does not move the group's head.
    await store.appendChain(person, [fakeDeviceEntry(person, 2)], chainHeadAt(2), { linked: [], unlinked: [{ device: phone, seq: 2 }] });
    const v2 = fakeNote(groupId, noteId, 2, phone);
    expect(await store.putNoteVersion(v2, headerOf(v2), head)).toEqual({ ok: false, unlinked: true });
    expect(await store.putNoteVersion(v2, headerOf(v2))).toEqual({ ok: false, unlinked: true });
    expect(await store.getNote(groupId, noteId)).toEqual(v1);
  });

  it('an append to a group completes while puts to it keep flowing from two instances (the puts do not starve it)', async () => {
    const other = await harness.another();
    const g = await createGroup(alice);
    const groupId = await seedRealGroup(g);
    let stop = false;
    let puts = 0;
    // Four loops per instance, each putting a new note as soon as its last one is stored: the group's queue never empties.
    const loop = async (s: Store) => {
      while (!stop) {
        const n = fakeNote(groupId, newNoteId(), 1, alice.fingerprint);
        expect((await s.putNoteVersion(n, headerOf(n))).ok).toBe(true);
        puts++;
      }
    };
    const loops = [store, other].flatMap((s) => Array.from({ length: 4 }, () => loop(s)));
    try {
      while (puts < 50) await new Promise((resolve) => setTimeout(resolve, 5));
      const before = puts;
      const started = performance.now();
      const next = fakeEntry(groupId, headOf(g.entries).seq + 1, alice.fingerprint);
      const appended = await Promise.race([
        store.appendEntries(groupId, [next], headOf([next]), noIndexes),
        new Promise<'starved'>((resolve) => setTimeout(() => resolve('starved'), 10_000)),
      ]);
      const elapsed = performance.now() - started;
      const during = puts - before;
      if (process.env.CONCLAVE_FAIRNESS_VERBOSE) console.log(`${store.kind}: append took ${elapsed.toFixed(1)} ms while ${during} puts were stored`);
      expect(appended).toEqual({ ok: true, head: headOf([next]) });
    } finally {
      stop = true;
      await Promise.all(loops);
    }
  }, 30_000);

  it(`lets exactly one of ${CONCURRENT} concurrent puts of the next version win, also across instances`, async () => {
    const other = await harness.another();
    const stores = [store, other];
    const groupId = newGroupId();
    const noteId = newNoteId();
    const author = newFingerprint();

    for (const version of [1, 2, 3]) {
      const candidates = Array.from({ length: CONCURRENT }, () => fakeNote(groupId, noteId, version, author));
      const results = await Promise.all(candidates.map((env, i) => stores[i % 2]!.putNoteVersion(env, headerOf(env))));
      const winners = results.flatMap((r, i) => (r.ok ? [i] : []));
      expect(winners).toHaveLength(1);
      for (const r of results) if (!r.ok) expect(r.currentVersion).toBe(version);
      const winner = candidates[winners[0]!]!;
      for (const s of stores) expect(await s.getNote(groupId, noteId)).toEqual(winner);
      expect(await store.getNote(groupId, noteId, version)).toEqual(winner);
    }
    const listed = await store.listNotes(groupId, 0, 10);
    expect(listed).toHaveLength(1);
    expect(listed[0]!.header.version).toBe(3);
  });

  it('lists the latest headers changed after a cursor, in change order, with a limit', async () => {
    const groupId = newGroupId();
    const author = newFingerprint();
    const [a, b, c] = [newNoteId(), newNoteId(), newNoteId()];
    const cursors: number[] = [];
    const put = async (env: NoteEnvelope) => {
      const r = await store.putNoteVersion(env, headerOf(env));
      if (!r.ok) throw new Error(`put of ${env.noteId} v${env.version} lost`);
      cursors.push(r.cursor);
      return r.cursor;
    };

    expect(await store.listNotes(groupId, 0, 10)).toEqual([]);
    const a1 = fakeNote(groupId, a, 1, author);
    const b1 = fakeNote(groupId, b, 1, author);
    const c1 = fakeNote(groupId, c, 1, author);
    const a2 = { ...fakeNote(groupId, a, 2, author), deleted: true };
    await put(a1);
    const cb = await put(b1);
    // A note in another group moves the global cursor but is not listed here.
    await put(fakeNote(newGroupId(), newNoteId(), 1, author));
    const cc = await put(c1);
    const ca = await put(a2);

    // Cursors only move forward.
    expect([...cursors].sort((x, y) => x - y)).toEqual(cursors);
    expect(new Set(cursors).size).toBe(cursors.length);

    const all = await store.listNotes(groupId, 0, 100);
    expect(all).toEqual([
      { header: headerOf(b1), cursor: cb },
      { header: headerOf(c1), cursor: cc },
      { header: headerOf(a2), cursor: ca },
    ]);
    expect(all.every((item) => !('body' in item.header))).toBe(true);
    expect(await store.listNotes(groupId, 0, 2)).toEqual(all.slice(0, 2));
    expect(await store.listNotes(groupId, cb, 100)).toEqual(all.slice(1));
    expect(await store.listNotes(groupId, cc, 1)).toEqual(all.slice(2));
    expect(await store.listNotes(groupId, ca, 100)).toEqual([]);

    // A later change to b moves it to the end, past every earlier cursor.
    const b2 = fakeNote(groupId, b, 2, author);
    const cb2 = await put(b2);
    expect(cb2).toBeGreaterThan(ca);
    expect(await store.listNotes(groupId, ca, 100)).toEqual([{ header: headerOf(b2), cursor: cb2 }]);
    expect((await store.listNotes(groupId, 0, 100)).map((i) => [i.header.noteId, i.header.version])).toEqual([
      [c, 1],
      [a, 2],
      [b, 2],
    ]);
  });

  it("gives a group's note cursor: where a list from 0 ends, 0 before any note", async () => {
    const groupId = newGroupId();
    const author = newFingerprint();
    expect(await store.noteCursor(groupId)).toBe(0);
    const a1 = fakeNote(groupId, newNoteId(), 1, author);
    const first = await store.putNoteVersion(a1, headerOf(a1));
    // Another group's change moves the global counter, not this group's cursor.
    const other = fakeNote(newGroupId(), newNoteId(), 1, author);
    await store.putNoteVersion(other, headerOf(other));
    expect(first.ok && (await store.noteCursor(groupId))).toBe(first.ok && first.cursor);
    const a2 = { ...fakeNote(groupId, a1.noteId, 2, author), deleted: true };
    const second = await store.putNoteVersion(a2, headerOf(a2));
    const listed = await store.listNotes(groupId, 0, 100);
    expect(await store.noteCursor(groupId)).toBe(listed.at(-1)!.cursor);
    expect(second.ok && second.cursor).toBe(listed.at(-1)!.cursor);
  });

  it('gives the note cursors of many groups in one call: each as noteCursor says, 0 for a group without notes', async () => {
    const author = newFingerprint();
    const [a, b, empty] = [newGroupId(), newGroupId(), newGroupId()];
    for (const groupId of [a, a, b]) {
      const note = fakeNote(groupId, newNoteId(), 1, author);
      await store.putNoteVersion(note, headerOf(note));
    }
    const cursors = await store.noteCursors([a, b, empty]);
    expect(cursors).toEqual(new Map([[a, await store.noteCursor(a)], [b, await store.noteCursor(b)], [empty, 0]]));
    expect(cursors.get(a)).toBeGreaterThan(0);
    expect(await store.noteCursors([])).toEqual(new Map());
  });

  it('hands out increasing cursors to concurrent puts of different notes', async () => {
    const other = await harness.another();
    const groupId = newGroupId();
    const author = newFingerprint();
    const envs = Array.from({ length: CONCURRENT }, () => fakeNote(groupId, newNoteId(), 1, author));
    const results = await Promise.all(envs.map((env, i) => (i % 2 ? other : store).putNoteVersion(env, headerOf(env))));
    const cursors = results.map((r) => (r.ok ? r.cursor : -1));
    expect(cursors.every((c) => c > 0)).toBe(true);
    expect(new Set(cursors).size).toBe(CONCURRENT);
    const listed = await store.listNotes(groupId, 0, 1000);
    expect(listed.map((i) => i.cursor)).toEqual([...cursors].sort((x, y) => x - y));
    // Paging by cursor visits every note once.
    const seen: string[] = [];
    let since = 0;
    for (;;) {
      const page = await store.listNotes(groupId, since, 3);
      if (page.length === 0) break;
      seen.push(...page.map((i) => i.header.noteId));
      since = page[page.length - 1]!.cursor;
    }
    expect(seen.sort()).toEqual(envs.map((e) => e.noteId).sort());
  });

  it('never lets a reader paging by cursor miss a change committed concurrently', async () => {
    const other = await harness.another();
    const groupId = newGroupId();
    const author = newFingerprint();
    const envs = Array.from({ length: 120 }, () => fakeNote(groupId, newNoteId(), 1, author));
    const seen = new Set<string>();
    let since = 0;
    let writing = true;
    const readPage = async () => {
      const page = await store.listNotes(groupId, since, 7);
      for (const item of page) seen.add(item.header.noteId);
      if (page.length > 0) since = page[page.length - 1]!.cursor;
      return page.length;
    };
    const reader = (async () => {
      while (writing) {
        await readPage();
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const writers = [store, other].map(async (s, w) => {
      for (let i = w * 4; i < envs.length; i += 8) {
        const batch = envs.slice(i, i + 4);
        const results = await Promise.all(batch.map((env) => s.putNoteVersion(env, headerOf(env))));
        expect(results.every((r) => r.ok)).toBe(true);
      }
    });
    await Promise.all(writers);
    writing = false;
    await reader;
    while ((await readPage()) > 0);
    expect(seen.size).toBe(envs.length);
  });
});
