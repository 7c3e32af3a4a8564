/**
 * Peer alarms in the background (issue 10, items 3 and 5; DESIGN §4), against a real
 * storage API with in-memory peer channels: a peer's unsigned "fork" is only "could not
 * get the key from Ana" and blocks nothing; a signed head that contradicts ours raises
 * an alarm that names the member and clears when their device agrees; a signed head
 * the server does not show this device within the bound raises an alarm naming the
 * server, and clears when the server shows it. New notes wait while either stands.
 * Either alarm names the member whose device signed the head; the person can dismiss it
 * after checking with them, and an admin can remove that member even while frozen by it.
 */
import 'fake-indexeddb/auto';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn } from '@conclave/shared/client';
import { WITNESS_BOUND_MS } from '@conclave/shared/client';
import type { MessageChannel } from '@conclave/shared/p2p';
import type { GroupState } from '@conclave/shared/crypto';
import type { DeviceIdentity } from '@conclave/shared/crypto';
import { createInvite } from '@conclave/shared/crypto';
import { extendLog, replayLog } from '@conclave/shared/crypto';
import { serveChannel } from '@conclave/shared/p2p';
import type { GroupId } from '@conclave/shared/protocol';
import type { LogEntry } from '@conclave/shared/protocol';
import { startServer, type TestServer } from '../../../storage-api/test/support/server.ts';
import { createBackground, type Background } from '../../src/background/background.ts';
import type { Answers } from '../../src/messages/answers.ts';
import { openDb, type ConclaveDb } from '../../src/db/schema.ts';
import type { ExtensionError, Request, RequestType } from '../../src/messages/protocol.ts';
import { describeKeyWait } from '../../src/ui/popup/key-wait-text.ts';
import { AskError, MemoryNetwork, MemoryTransport } from './support.ts';

const HOUR = 3_600_000;
const ANA = 'Anastasia Quillfeather';
const BEN = 'Benedikt Marrowgate';

/** A device (as in support.ts) whose clock the test can move. */
interface Device {
  db: ConclaveDb;
  bg: Background;
  transport: MemoryTransport;
  clock: { offset: number };
  badge(): string;
  ask<K extends RequestType>(request: Extract<Request, { type: K }>): Promise<Answers[K]>;
  refused(request: Request): Promise<ExtensionError>;
  identity(): Promise<DeviceIdentity>;
}

async function device(label: string, network: MemoryNetwork, apiUrl: string, name: string): Promise<Device> {
  const db = openDb(`conclave-peer-alarm-${label}-${randomBytes(6).toString('hex')}`);
  const transport = new MemoryTransport(network, db);
  const clock = { offset: 0 };
  let badge = '';
  const bg = createBackground({ db, transport, badge: (text) => (badge = text), now: () => Date.now() + clock.offset, handshakeTimeoutMs: 5_000 });
  const d: Device = {
    db,
    bg,
    transport,
    clock,
    badge: () => badge,
    async ask(request) {
      const response = await bg.handle(request);
      if (!response.ok) throw new AskError(response.error);
      return response.data as never;
    },
    async refused(request) {
      const response = await bg.handle(request);
      if (response.ok) throw new Error(`${request.type} was expected to fail`);
      return response.error;
    },
    async identity() {
      return (await db.identity.get('device'))!.identity;
    },
  };
  await d.ask({ type: 'settings.save', apiUrl, signalingUrl: 'http://127.0.0.1:9000/peerjs', iceServers: [] });
  await d.ask({ type: 'identity.create', displayName: name });
  return d;
}

describe('peer alarms in the background', () => {
  let server: TestServer;
  const network = new MemoryNetwork();
  let ana: Device, ben: Device;
  let groupId: GroupId;
  let honest: (channel: MessageChannel) => void;

  beforeAll(async () => {
    server = await startServer('sqlite', { config: { logLevel: 'silent' } });
    ana = await device('ana', network, server.url, ANA);
    ben = await device('ben', network, server.url, BEN);
    ({ groupId } = await ana.ask({ type: 'group.create', name: 'Allotment Society', policy: 'invite-trust' }));
    await ana.bg.tick();
    honest = ana.transport.handler!;
  });

  afterAll(async () => {
    for (const d of [ana, ben]) {
      await d?.bg.idle();
      d?.db.close();
    }
    await server?.close();
  });

  /** Ana's device answers peers with `serve` (a hostile or tampered client) until `honest` is put back. */
  function anaAnswers(serve: (channel: MessageChannel) => void): void {
    ana.transport.handler = serve;
  }

  /** Ana's device, serving a state of its own choosing (signed by Ana: a real member's signature). */
  async function anaServes(state: GroupState): Promise<void> {
    const identity = await ana.identity();
    anaAnswers((channel) => void serveChannel(channel, identity, async () => ({ state, seedFor: () => undefined, trustOf: () => 'verified' })));
  }

  async function logEntries(): Promise<LogEntry[]> {
    const session = await signIn(server.url, await ana.identity());
    return (await session.api.groups.log.query({ groupId, fromSeq: 0, limit: 500 })).entries as LogEntry[];
  }

  async function benScansAna(): Promise<void> {
    const anaFp = (await ana.identity()).fingerprint;
    const benFp = (await ben.identity()).fingerprint;
    const shown = await ana.ask({ type: 'verify.info', groupId, fingerprint: benFp });
    await ben.ask({ type: 'verify.scanned', groupId, fingerprint: anaFp, text: shown.qrText });
  }

  const benAlarm = async () => (await ben.ask({ type: 'status' })).groups.find((g) => g.groupId === groupId)!.alarm;

  it('regression: an unsigned “fork” from a peer is “could not get the key from Ana”, raises no alarm and blocks no writes', async () => {
    // A peer (or the signaling server in the middle) answers Ben's hello with a bare refusal.
    anaAnswers((channel) => channel.onMessage(() => channel.send(JSON.stringify({ t: 'refuse', reason: 'fork' }))));
    const { link } = await ana.ask({ type: 'group.invite', groupId, role: 'member', expiresInMs: HOUR, prekeyed: false });
    const joined = await ben.ask({ type: 'group.join', code: link });
    expect(joined.hasKey).toBe(false);
    expect(joined.keyWait?.state).toMatchObject({ phase: 'waiting', why: 'peers-failed' });
    const words = describeKeyWait(joined.keyWait!);
    expect(words.tone).toBe('wait');
    expect(words.details).toContain(`Could not get the key from ${ANA}.`);
    expect(words.details.join(' ')).not.toMatch(/contradict|fork|history/i);
    expect(await benAlarm()).toBeNull();

    // Ana's device answers honestly again: the key comes, and Ben writes.
    anaAnswers(honest);
    await ben.bg.tick();
    expect((await ben.ask({ type: 'status' })).groups[0]).toMatchObject({ hasKey: true, alarm: null });
    expect(await ben.ask({ type: 'notes.save', groupId, title: 'Seed order', body: 'Broad beans' })).toMatchObject({ saved: true });
  });

  it('a signed head that contradicts ours raises an alarm naming the member and saying how it clears; it clears when their device agrees', async () => {
    await ana.ask({ type: 'group.invite', groupId, role: 'member', expiresInMs: HOUR, prekeyed: false });
    await ana.bg.tick();
    await ben.bg.tick();
    const entries = await logEntries();
    const seq = (await ben.db.groups.get(groupId))!.pinned.seq;
    // Ana's device holds (and signs) another entry at Ben's newest position.
    const prefix = await replayLog(entries.slice(0, seq), { now: Date.now() });
    const other = await createInvite(prefix, await ana.identity(), { role: 'member', expiresAt: Date.now() + HOUR });
    await anaServes(await extendLog(prefix, [other.entry]));

    await benScansAna();
    const alarm = await benAlarm();
    expect(alarm).toContain("device signed a different history of \"Allotment Society\"");
    expect(alarm).toContain('clears by itself when');
    expect(await ben.refused({ type: 'notes.save', groupId, title: 'x', body: 'y' })).toMatchObject({ code: 'fork' });
    await ben.bg.tick();
    expect(ben.badge()).toBe('!');
    // Syncing still works (the evidence can only resolve if it does).
    await ben.ask({ type: 'group.sync', groupId });

    // Ana's device, honest again, is asked on Ben's next tick: the heads agree, the alarm goes.
    anaAnswers(honest);
    await ben.bg.tick();
    expect(await benAlarm()).toBeNull();
    expect(ben.badge()).not.toBe('!');
    expect(await ben.ask({ type: 'notes.save', groupId, title: 'Rota', body: 'Sat' })).toMatchObject({ saved: true });
  });

  it('a signed head the server does not show this device within the bound raises an alarm naming the server; it clears when the server shows it', async () => {
    await ana.bg.tick();
    const state = (await ana.db.groups.get(groupId))!.state;
    // Ana's device has a change the server has not (yet) shown Ben.
    const invite = await createInvite(state, await ana.identity(), { role: 'member', expiresAt: Date.now() + HOUR });
    await anaServes(await extendLog(state, [invite.entry]));
    await benScansAna();
    anaAnswers(honest);

    // Within the bound: no alarm yet, but no new notes either.
    expect(await benAlarm()).toBeNull();
    const paused = await ben.refused({ type: 'notes.save', groupId, title: 'x', body: 'y' });
    expect(paused.message).toContain('has not yet shown this device changes');
    // Past the bound, still not shown: the alarm names the server.
    ben.clock.offset = WITNESS_BOUND_MS + 60_000;
    await ben.bg.tick();
    const alarm = await benAlarm();
    expect(alarm).toContain('The server has not shown this device changes to "Allotment Society" that');
    expect(alarm).toContain('clears by itself as soon as the server shows those changes');
    expect(ben.badge()).toBe('!');

    // The server shows the change: the next sync reaches the witnessed head.
    ben.clock.offset = 0;
    const session = await signIn(server.url, await ana.identity());
    await session.api.groups.append.mutate({ groupId, entries: [invite.entry], boxes: [] });
    await ben.bg.tick();
    expect(await benAlarm()).toBeNull();
    expect(await ben.ask({ type: 'notes.save', groupId, title: 'Rota', body: 'Sun' })).toMatchObject({ saved: true });
  });

  const benSummary = async () => (await ben.ask({ type: 'status' })).groups.find((g) => g.groupId === groupId)!;

  it('a person who checked with Ana dismisses the alarm her device raised: it names her, says the server or her device is wrong, and writes work again', async () => {
    const anaFp = (await ana.identity()).fingerprint;
    await ana.ask({ type: 'group.invite', groupId, role: 'member', expiresInMs: HOUR, prekeyed: false });
    await ana.bg.tick();
    await ben.bg.tick();
    const seq = (await ben.db.groups.get(groupId))!.pinned.seq;
    // Ana's device signs a made-up entry at Ben's newest position (a faulty or hostile member).
    const prefix = await replayLog((await logEntries()).slice(0, seq), { now: Date.now() });
    const madeUp = await createInvite(prefix, await ana.identity(), { role: 'member', expiresAt: Date.now() + HOUR });
    await anaServes(await extendLog(prefix, [madeUp.entry]));
    await benScansAna();

    const summary = await benSummary();
    expect(summary.alarm).toContain(`${ANA}'s device signed a different history`);
    expect(summary.alarm).toMatch(/either the server is showing one of you a different history, or Anastasia Quillfeather's device is wrong/i);
    expect(summary.peerAlarm).toEqual({ peer: anaFp, person: anaFp, name: ANA, kind: 'fork', canRemove: false });
    expect(await ben.refused({ type: 'notes.save', groupId, title: 'x', body: 'y' })).toMatchObject({ code: 'fork' });

    const answer = await ben.ask({ type: 'group.dismissPeerEvidence', groupId, peer: anaFp });
    expect(answer).toEqual({ groupId, alarm: null });
    // What the alarm is computed from is gone from the stored row, so it stays gone.
    const row = (await ben.db.groups.get(groupId))!;
    expect(row.forkEvidence ?? []).toEqual([]);
    expect(row.witnessed ?? []).toEqual([]);
    expect(await benSummary()).toMatchObject({ alarm: null, peerAlarm: null });
    expect(ben.badge()).not.toBe('!');
    expect(await ben.ask({ type: 'notes.save', groupId, title: 'Checked with Ana', body: 'All fine' })).toMatchObject({ saved: true });
    anaAnswers(honest);
  });

  it('an admin removes the member named by the alarm even while frozen by it; the alarm clears and writes work again', async () => {
    const anaFp = (await ana.identity()).fingerprint;
    const benFp = (await ben.identity()).fingerprint;
    await ana.ask({ type: 'group.setRole', groupId, fingerprint: benFp, role: 'admin' });
    await ben.bg.tick();
    // Ana's device signs a head ahead of the log that the server will never show: made up.
    const state = (await ana.db.groups.get(groupId))!.state;
    const madeUp = await createInvite(state, await ana.identity(), { role: 'member', expiresAt: Date.now() + HOUR });
    await anaServes(await extendLog(state, [madeUp.entry]));
    await benScansAna();
    anaAnswers(honest);
    ben.clock.offset = WITNESS_BOUND_MS + 60_000;
    await ben.bg.tick();
    const summary = await benSummary();
    expect(summary.alarm).toContain(`that ${ANA}'s device already has`);
    expect(summary.alarm).toMatch(/either the server is holding them back from you .* or Anastasia Quillfeather's device is wrong/i);
    expect(summary.peerAlarm).toEqual({ peer: anaFp, person: anaFp, name: ANA, kind: 'behind', canRemove: true });
    ben.clock.offset = 0;
    // Frozen: nothing new is written on this device's view...
    expect((await ben.refused({ type: 'notes.save', groupId, title: 'x', body: 'y' })).message).toContain('has not yet shown this device changes');

    // ...but removing the member whose device signed it is never blocked by that evidence.
    const removed = await ben.ask({ type: 'group.remove', groupId, fingerprint: anaFp });
    expect(removed.generation).toBeGreaterThan(0);
    expect(await benSummary()).toMatchObject({ alarm: null, peerAlarm: null });
    const row = (await ben.db.groups.get(groupId))!;
    expect(row.state.members.has(anaFp)).toBe(false);
    expect(row.witnessed ?? []).toEqual([]);
    await ben.bg.tick();
    expect(ben.badge()).not.toBe('!');
    expect(await ben.ask({ type: 'notes.save', groupId, title: 'After Ana', body: 'New key' })).toMatchObject({ saved: true });
  });
});
