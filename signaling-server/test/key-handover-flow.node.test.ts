/**
 * The key handover as a person lives it (DESIGN §6.3, §7), with nothing faked: the real
 * storage API (SQLite in a temporary directory, real HTTP), the real signaling server,
 * Node PeerJS peers (peerjs + @roamhq/wrtc, loopback, `iceServers: []`) and a
 * `GroupClient` for every device. The joiner runs `keyWaitRound` exactly as the
 * extension wires it: presence, then the live handshake with each online member, then
 * the mailbox. Each case asserts the states the joiner's screen shows and what the
 * joiner can read afterwards — never how long anything took.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ApiSession } from '@conclave/shared/client';
import { GroupClient } from '@conclave/shared/client';
import { PeerEvidenceError, WITNESS_BOUND_MS } from '@conclave/shared/client';
import { entryHash } from '@conclave/shared/crypto';
import type { HandshakeOutcome } from '@conclave/shared/crypto';
import { createInvite } from '@conclave/shared/crypto';
import { replayLog } from '@conclave/shared/crypto';
import { NoteOpenError } from '@conclave/shared/crypto';
import { serveKeyHandover } from '@conclave/shared/p2p';
import { receiveKeyFromPeers } from '@conclave/shared/p2p';
import { keyWaitRound, type KeyWaitState, type KeyWaitSteps } from '@conclave/shared/p2p';
import { channelFromDataConnection } from '@conclave/shared/p2p';
import { fetchPresence, makePresenceToken } from '@conclave/shared/p2p';
import { makeRegistrationToken } from '@conclave/shared/p2p';
import type { Fingerprint, GroupId, NoteId } from '@conclave/shared/protocol';
import type { LogEntry } from '@conclave/shared/protocol';
import { newDevice, type Device } from '../../storage-api/test/support/clients.ts';
import { cutLogBack, startServer, type TestServer } from '../../storage-api/test/support/server.ts';
import { build, type SignalingServer } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { openPeer, Peer, type PeerInstance } from '../../scripts/node-peerjs.ts';

type DataConnection = import('peerjs').DataConnection;

const HOUR = 3600_000;
/** Generous: every case here is ended by a message, a refusal or a close, never by this timer. */
const HANDSHAKE = { timeoutMs: 10_000, closeGraceMs: 300 };
const SLOW = { timeout: 60_000 };

describe('key handover flow: storage API + signaling server + WebRTC peers', () => {
  let api: TestServer;
  let signaling: SignalingServer;
  let port: number;
  let presenceUrl: string;
  const signalingLog: string[] = [];
  const peers: PeerInstance[] = [];
  const stops: Array<() => void> = [];

  beforeAll(async () => {
    api = await startServer('sqlite');
    signaling = build(loadConfig({}, { port: 0 }), { log: (line) => signalingLog.push(line) });
    await new Promise<void>((resolve) => signaling.server.listen(0, '127.0.0.1', resolve));
    port = (signaling.server.address() as AddressInfo).port;
    presenceUrl = `http://127.0.0.1:${port}/peerjs`;
  });

  afterAll(async () => {
    for (const stop of stops) stop();
    for (const p of peers) p.destroy();
    await signaling?.close();
    // Stops the storage API and deletes its temporary data directory.
    await api?.close();
  });

  function devices(...names: string[]): Promise<Device[]> {
    return Promise.all(names.map((name) => newDevice(name, api.url)));
  }

  /** Creates a group as `admin` and writes one note before anyone else joins. */
  async function groupWithNote(admin: Device): Promise<{ groupId: GroupId; noteId: NoteId }> {
    const { groupId } = await admin.client.createGroup();
    const { noteId } = await admin.client.writeNote(groupId, { title: 'Plans', body: 'Meet on Friday at the old mill' });
    return { groupId, noteId };
  }

  /** `admin` invites `device`, which joins; returns whether the invite carried the key. */
  async function invite(admin: Device, device: Device, groupId: GroupId, prekeyed = false): Promise<boolean> {
    const code = await admin.client.invite(groupId, { role: 'member', expiresInMs: HOUR, prekeyed });
    const joined = await device.client.join(code);
    expect(joined.groupId).toBe(groupId);
    return joined.hasKey;
  }

  /** Serves live handovers as `device` on `peer`, collecting every outcome. */
  function serve(device: Device, peer: PeerInstance): { outcomes: HandshakeOutcome[]; stop: () => void } {
    const outcomes: HandshakeOutcome[] = [];
    const stop = serveKeyHandover(
      peer,
      device.identity,
      async (groupId) => {
        const held = await device.client.heldGroup(groupId);
        // Every joiner's signed head is kept, as the extension does.
        return held && { ...held, notePeerHead: (evidence) => device.client.notePeerHead(groupId, evidence) };
      },
      {
        onOutcome: (outcome) => outcomes.push(outcome),
        ...HANDSHAKE,
      },
    );
    stops.push(stop);
    return { outcomes, stop };
  }

  /** Takes `device` offline and waits until the signaling server no longer lists it. */
  async function goOffline(device: Device, peer: PeerInstance): Promise<void> {
    peer.destroy();
    await vi.waitFor(() => expect(signaling.online()).not.toContain(device.fingerprint), { timeout: 10_000, interval: 20 });
  }

  /**
   * The joiner's steps as the extension wires them: presence and PeerJS for the live
   * attempt, the `GroupClient` for the seed check and the mailbox. Records the data
   * connections it opened and how often it asked the mailbox.
   */
  function joinerSteps(device: Device, peer: PeerInstance, groupId: GroupId, online: (ids: readonly Fingerprint[]) => Promise<Fingerprint[]> = (ids) => fetchPresence(presenceUrl, ids, () => makePresenceToken(device.identity))) {
    const conns: DataConnection[] = [];
    let mailboxRequests = 0;
    const steps: KeyWaitSteps = {
      tryPeers: async (onConnecting) =>
        receiveKeyFromPeers(
          device.identity,
          await device.client.state(groupId),
          {
            online,
            connect: (id) => {
              const conn = peer.connect(id, { reliable: true });
              conns.push(conn);
              return channelFromDataConnection(conn);
            },
          },
          { onConnecting, notePeerHead: (evidence) => device.client.notePeerHead(groupId, evidence), ...HANDSHAKE },
        ),
      acceptSeed: (generation, seed) => device.client.acceptHandedKey(groupId, generation, seed),
      requestFromMailbox: async () => {
        mailboxRequests++;
        await device.client.requestKey(groupId);
      },
      checkMailbox: () => device.client.fetchKey(groupId),
    };
    return { steps, conns, mailboxRequests: () => mailboxRequests };
  }

  async function round(steps: KeyWaitSteps): Promise<{ seen: KeyWaitState[]; end: KeyWaitState }> {
    const seen: KeyWaitState[] = [];
    const end = await keyWaitRound(steps, (state) => seen.push(state));
    return { seen, end };
  }

  async function seedsHeld(device: Device, groupId: GroupId): Promise<number> {
    return (await device.store.load(groupId))!.seeds.size;
  }

  async function pendingRequesters(admin: Device, groupId: GroupId): Promise<string[]> {
    return (await admin.session.api.mailbox.pending.query({ groupId })).map((p) => p.fingerprint);
  }

  it('a joiner gets the key live from the online admin and reads a note written before it joined', SLOW, async () => {
    const [a, b] = (await devices('Ana', 'Ben')) as [Device, Device];
    const { groupId, noteId } = await groupWithNote(a);
    expect(await invite(a, b, groupId)).toBe(false);
    // Ana compared the safety number with Ben.
    a.trust.set(b.fingerprint, 'verified');

    const [peerA, peerB] = await Promise.all([openPeer(port, a.identity, peers), openPeer(port, b.identity, peers)]);
    const holder = serve(a, peerA);
    const joiner = joinerSteps(b, peerB, groupId);

    const { seen, end } = await round(joiner.steps);
    expect(seen).toEqual([{ phase: 'looking' }, { phase: 'connecting', peer: a.fingerprint }, { phase: 'received', via: 'peer', from: a.fingerprint, generation: 0 }]);
    expect(end).toEqual({ phase: 'received', via: 'peer', from: a.fingerprint, generation: 0 });
    expect(holder.outcomes).toEqual([{ kind: 'sent', peer: b.fingerprint, generation: 0 }]);
    expect(joiner.mailboxRequests()).toBe(0);
    // The joiner closed its side once the key arrived.
    expect(joiner.conns.map((c) => c.open)).toEqual([false]);

    expect(await b.client.readNote(groupId, noteId)).toMatchObject({ title: 'Plans', body: 'Meet on Friday at the old mill', author: a.fingerprint });
    holder.stop();
  });

  it('with the admin offline, a joiner gets the key live from another member', SLOW, async () => {
    const [a, m, c] = (await devices('Ana', 'Mia', 'Cai')) as [Device, Device, Device];
    const { groupId, noteId } = await groupWithNote(a);
    expect(await invite(a, m, groupId, true)).toBe(true);
    expect(await invite(a, c, groupId)).toBe(false);
    // Mia (not an admin) verified Cai; Ana never did, and has left for the day.
    m.trust.set(c.fingerprint, 'verified');
    await goOffline(a, await openPeer(port, a.identity, peers));

    const [peerM, peerC] = await Promise.all([openPeer(port, m.identity, peers), openPeer(port, c.identity, peers)]);
    const holder = serve(m, peerM);
    const joiner = joinerSteps(c, peerC, groupId);

    const { seen, end } = await round(joiner.steps);
    // Ana is the first candidate (an admin) but offline: nobody dials her.
    expect(seen).toEqual([{ phase: 'looking' }, { phase: 'connecting', peer: m.fingerprint }, { phase: 'received', via: 'peer', from: m.fingerprint, generation: 0 }]);
    expect(end).toMatchObject({ phase: 'received', via: 'peer', from: m.fingerprint });
    expect(joiner.conns).toHaveLength(1);
    expect(holder.outcomes).toEqual([{ kind: 'sent', peer: c.fingerprint, generation: 0 }]);
    expect((await c.client.readNote(groupId, noteId)).body).toBe('Meet on Friday at the old mill');
    holder.stop();
  });

  it('an unverified joiner is refused live, waits in the mailbox, and gets the key there once verified', SLOW, async () => {
    const [a, j] = (await devices('Ana', 'Jon')) as [Device, Device];
    const { groupId, noteId } = await groupWithNote(a);
    expect(await invite(a, j, groupId)).toBe(false);

    const [peerA, peerJ] = await Promise.all([openPeer(port, a.identity, peers), openPeer(port, j.identity, peers)]);
    const holder = serve(a, peerA);
    const joiner = joinerSteps(j, peerJ, groupId);

    const first = await round(joiner.steps);
    const attempt = { peer: a.fingerprint, outcome: { kind: 'refused', reason: 'not-verified', by: 'peer', peer: a.fingerprint } };
    expect(first.seen).toEqual([
      { phase: 'looking' },
      { phase: 'connecting', peer: a.fingerprint },
      { phase: 'waiting', why: 'peers-failed', attempts: [attempt] },
    ]);
    // The holder says whom it refused and why (the UI shows "verify Jon first").
    expect(holder.outcomes).toEqual([{ kind: 'refused', reason: 'not-verified', by: 'me', peer: j.fingerprint }]);
    expect(joiner.mailboxRequests()).toBe(1);
    expect(await seedsHeld(j, groupId)).toBe(0);
    expect(await pendingRequesters(a, groupId)).toEqual([j.fingerprint]);

    // Ana compares the safety number, answers the mailbox, and closes the extension.
    a.trust.set(j.fingerprint, 'verified');
    holder.stop();
    await goOffline(a, peerA);
    expect(await a.client.handOverPending(groupId)).toEqual({ sent: [j.fingerprint], skipped: [] });

    const second = await round(joiner.steps);
    expect(second.seen).toEqual([{ phase: 'looking' }, { phase: 'received', via: 'mailbox' }]);
    expect((await j.client.readNote(groupId, noteId)).body).toBe('Meet on Friday at the old mill');
  });

  it('with nobody online, the joiner waits with its request in the mailbox, which the admin answers later', SLOW, async () => {
    const [a, j] = (await devices('Ana', 'Jon')) as [Device, Device];
    const { groupId, noteId } = await groupWithNote(a);
    expect(await invite(a, j, groupId)).toBe(false);
    // Ana never opens a peer.
    const joiner = joinerSteps(j, await openPeer(port, j.identity, peers), groupId);

    const first = await round(joiner.steps);
    expect(first.seen).toEqual([{ phase: 'looking' }, { phase: 'waiting', why: 'nobody-online', attempts: [] }]);
    expect(joiner.conns).toHaveLength(0);
    expect(joiner.mailboxRequests()).toBe(1);
    expect(await pendingRequesters(a, groupId)).toEqual([j.fingerprint]);

    a.trust.set(j.fingerprint, 'verified');
    expect(await a.client.handOverPending(groupId)).toEqual({ sent: [j.fingerprint], skipped: [] });
    // Served only once Jon confirms he opened it (his box to himself), not when a box exists.
    expect(await pendingRequesters(a, groupId)).toEqual([j.fingerprint]);

    const second = await round(joiner.steps);
    expect(second.end).toEqual({ phase: 'received', via: 'mailbox' });
    expect(await pendingRequesters(a, groupId)).toEqual([]);
    expect((await j.client.readNote(groupId, noteId)).body).toBe('Meet on Friday at the old mill');
  });

  it('a holder that drops the connection after the hello leaves the joiner waiting with no seed, then the mailbox delivers', SLOW, async () => {
    const [a, m, j] = (await devices('Ana', 'Mia', 'Jon')) as [Device, Device, Device];
    const { groupId, noteId } = await groupWithNote(a);
    expect(await invite(a, m, groupId, true)).toBe(true);
    expect(await invite(a, j, groupId)).toBe(false);

    // A misbehaving peer under Mia's real identity: it reads the hello and hangs up.
    const rogue = await openPeer(port, m.identity, peers);
    const rogueConns: DataConnection[] = [];
    const hellos: unknown[] = [];
    rogue.on('connection', (conn: DataConnection) => {
      rogueConns.push(conn);
      conn.on('data', (data) => {
        hellos.push(JSON.parse(data as string));
        conn.close();
      });
    });
    const joiner = joinerSteps(j, await openPeer(port, j.identity, peers), groupId);

    const first = await round(joiner.steps);
    expect(first.seen).toEqual([
      { phase: 'looking' },
      { phase: 'connecting', peer: m.fingerprint },
      { phase: 'waiting', why: 'peers-failed', attempts: [{ peer: m.fingerprint, outcome: { kind: 'refused', reason: 'closed', by: 'channel' } }] },
    ]);
    expect(hellos).toEqual([expect.objectContaining({ t: 'hello', expect: m.fingerprint, groupId })]);
    // Both ends of the dropped data connection are closed.
    expect(joiner.conns.map((c) => c.open)).toEqual([false]);
    expect(rogueConns.map((c) => c.open)).toEqual([false]);
    // Nothing of the key reached the joiner.
    expect(await seedsHeld(j, groupId)).toBe(0);
    const unreadable = await j.client.readNote(groupId, noteId).then(
      () => null,
      (error: unknown) => error,
    );
    expect(unreadable).toBeInstanceOf(NoteOpenError);
    expect(unreadable).toMatchObject({ reason: 'no-key' });
    expect(await j.client.fetchKey(groupId)).toBe(false);

    // Ana (offline all along) answers the mailbox; the next round finds the box before dialling anyone.
    a.trust.set(j.fingerprint, 'verified');
    expect(await a.client.handOverPending(groupId)).toEqual({ sent: [j.fingerprint], skipped: [] });
    const second = await round(joiner.steps);
    expect(second.seen).toEqual([{ phase: 'looking' }, { phase: 'received', via: 'mailbox' }]);
    expect(joiner.conns.map((c) => c.open)).toEqual([false]);
    expect((await j.client.readNote(groupId, noteId)).body).toBe('Meet on Friday at the old mill');
  });

  it('a registration token used twice is refused the second time, with a real PeerJS peer', SLOW, async () => {
    // Impersonation with a PeerJS client is covered in peerjs-webrtc.node.test.ts.
    const [d] = (await devices('Dee')) as [Device];
    const token = await makeRegistrationToken(d.identity);
    const open = (withToken: string) => {
      const peer = new Peer(d.fingerprint, { host: '127.0.0.1', port, path: '/peerjs', key: 'peerjs', secure: false, token: withToken, config: { iceServers: [] }, debug: 0 });
      peers.push(peer);
      return {
        peer,
        result: new Promise<string>((resolve) => {
          peer.once('open', () => resolve('open'));
          peer.once('error', (e) => resolve(`error:${(e as { type?: string }).type ?? 'unknown'}`));
        }),
      };
    };

    const first = open(token);
    expect(await first.result).toBe('open');
    // Gone again, so the id is free: only the token can be the reason for a refusal.
    await goOffline(d, first.peer);

    const refusedBefore = signaling.stats.refused;
    const replayed = open(token);
    expect(await replayed.result).toMatch(/^error:/);
    expect(signaling.stats.refused).toBe(refusedBefore + 1);
    expect(signalingLog).toContain('signaling: registration refused (replayed)');
    expect(signaling.online()).not.toContain(d.fingerprint);
    replayed.peer.destroy();

    // The same device with a fresh token registers.
    const fresh = open(await makeRegistrationToken(d.identity));
    expect(await fresh.result).toBe('open');
    expect(signaling.online()).toContain(d.fingerprint);
    fresh.peer.destroy();
  });

  it('a holder whose log forked from the joiner\'s is named as a fork, and nothing is handed over or requested', SLOW, async () => {
    const [a, m, j] = (await devices('Ana', 'Mia', 'Jon')) as [Device, Device, Device];
    const { groupId } = await groupWithNote(a);
    expect(await invite(a, m, groupId, true)).toBe(true);
    expect(await invite(a, j, groupId)).toBe(false);
    m.trust.set(j.fingerprint, 'verified');
    const common = await m.client.sync(groupId);

    // Jon sees one more entry (an invite); then the server rolls it back and accepts a
    // different entry at the same position, which Mia sees: the two logs have forked.
    await a.client.invite(groupId, { role: 'member', expiresInMs: HOUR });
    const jonsView = await j.client.sync(groupId);
    expect(jonsView.seq).toBe(common.seq + 1);
    await cutLogBack(api, groupId, common.seq, common.hashes[common.seq]!);
    const serverState = await replayLog((await a.session.api.groups.log.query({ groupId })).entries);
    const other = await createInvite(serverState, a.identity, { role: 'admin', expiresAt: Date.now() + HOUR });
    await a.session.api.groups.append.mutate({ groupId, entries: [other.entry], boxes: [] });
    const miasView = await m.client.sync(groupId);
    expect(miasView.seq).toBe(jonsView.seq);
    expect(miasView.head).not.toBe(jonsView.head);

    const [peerM, peerJ] = await Promise.all([openPeer(port, m.identity, peers), openPeer(port, j.identity, peers)]);
    const holder = serve(m, peerM);
    const joiner = joinerSteps(j, peerJ, groupId);

    // Jon's own sync (the mailbox check) would find the fork against the server first:
    await expect(j.client.fetchKey(groupId)).rejects.toMatchObject({ name: 'LogVerificationError' });
    // here the check is skipped, so the fork is found by the handshake with Mia, peer to peer.
    const { seen, end } = await round({ ...joiner.steps, checkMailbox: async () => false });
    expect(seen).toEqual([{ phase: 'looking' }, { phase: 'connecting', peer: m.fingerprint }, { phase: 'fork', peer: m.fingerprint }]);
    expect(end).toEqual({ phase: 'fork', peer: m.fingerprint });
    // Both sides found it on the other's signature, and each keeps the evidence.
    // (The holder finishes just after the joiner: it decides on the joiner's last message.)
    await vi.waitFor(() => expect(holder.outcomes).toEqual([{ kind: 'fork', peer: j.fingerprint, evidence: expect.objectContaining({ signer: 'joiner' }) }]), { timeout: 10_000, interval: 20 });
    expect(await m.client.peerEvidence(groupId)).toMatchObject({ kind: 'fork', fork: { peer: j.fingerprint } });
    expect(await j.client.peerEvidence(groupId)).toMatchObject({ kind: 'fork', fork: { peer: m.fingerprint } });
    // A fork stops the wait: no mailbox request is refreshed, and no seed arrived.
    expect(joiner.mailboxRequests()).toBe(0);
    expect(await seedsHeld(j, groupId)).toBe(0);
    holder.stop();
  });

  it('a server withholding a removal from one member is caught after a handover with a member who has it', SLOW, async () => {
    const [a, b, r, j] = (await devices('Ana', 'Ben', 'Rex', 'Jon')) as [Device, Device, Device, Device];
    const { groupId } = await groupWithNote(a);
    expect(await invite(a, b, groupId, true)).toBe(true);
    expect(await invite(a, r, groupId, true)).toBe(true);
    expect(await invite(a, j, groupId)).toBe(false);
    const before = await b.client.sync(groupId);

    // From now on the server shows Ben nothing newer (as seen from Ben's device, the
    // same as a server that withholds): Ana removes Rex, and Ben is not told.
    const lie = { upTo: before.seq as number | undefined };
    const clock = { offset: 0 };
    const ben = new GroupClient({ identity: b.identity, session: withholding(b.session, lie), store: b.store, now: () => Date.now() + clock.offset, trustOf: () => 'verified' });
    await a.client.removeMember(groupId, r.fingerprint);
    const jonsView = await j.client.sync(groupId);
    expect(jonsView.members.has(r.fingerprint)).toBe(false);
    expect((await ben.sync(groupId)).members.has(r.fingerprint)).toBe(true);

    // Jon, waiting for the key, reaches Ben (Ana is offline): Ben, behind, refuses — after
    // Jon's signed auth, whose head Ben keeps as a witnessed head.
    const [peerB, peerJ] = await Promise.all([openPeer(port, b.identity, peers), openPeer(port, j.identity, peers)]);
    const holder = serve({ ...b, client: ben }, peerB);
    // Who is online, from the signaling server's own list (presence is tested on its own).
    const joiner = joinerSteps(j, peerJ, groupId, async (ids) => ids.filter((id) => signaling.online().includes(id)));
    const { end } = await round({ ...joiner.steps, checkMailbox: async () => false });
    expect(end).toMatchObject({ phase: 'waiting', why: 'peers-failed' });
    expect(holder.outcomes).toEqual([{ kind: 'refused', reason: 'behind', by: 'me', peer: j.fingerprint }]);
    expect(await ben.peerEvidence(groupId)).toMatchObject({ kind: 'behind', overdue: false, witnessed: { peer: j.fingerprint, head: { seq: jonsView.seq } } });

    // Ben no longer seals notes to the generation Rex still holds…
    const refused = await ben.writeNote(groupId, { title: 'Door code', body: '2468' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PeerEvidenceError);
    expect(refused).toMatchObject({ reason: 'stale-log', peer: j.fingerprint });
    // …and once the bound has passed with the server still silent, the alarm names it.
    clock.offset = WITNESS_BOUND_MS + 1_000;
    await ben.sync(groupId);
    expect(await ben.peerEvidence(groupId)).toMatchObject({ kind: 'behind', overdue: true });

    // The server shows the removal: the witnessed head is reached, and Ben writes with the new key.
    clock.offset = 0;
    lie.upTo = undefined;
    const caughtUp = await ben.sync(groupId);
    expect(caughtUp.members.has(r.fingerprint)).toBe(false);
    expect(await ben.peerEvidence(groupId)).toEqual({ kind: 'clear' });
    await expect(ben.writeNote(groupId, { title: 'Door code', body: '1357' })).resolves.toMatchObject({ version: 1 });
    holder.stop();
  });
});

/** Ben's session, with a server that shows nothing past `lie.upTo` of the group log. */
function withholding(session: ApiSession, lie: { upTo: number | undefined }): ApiSession {
  type LogQuery = (input: { groupId: GroupId; fromSeq?: number; limit?: number }) => Promise<{ entries: LogEntry[]; head: { seq: number; hash: string } }>;
  const api = session.api as unknown as { groups: Record<string, unknown> & { log: { query: LogQuery } } };
  // The tRPC client is a proxy of paths: call through it, never bind.
  const real: LogQuery = (input) => api.groups.log.query(input);
  const query: LogQuery = async (input) => {
    const page = await real(input);
    if (lie.upTo === undefined) return page;
    const entries = page.entries.filter((e) => e.seq <= lie.upTo!);
    const last = entries.at(-1);
    return { entries, head: last ? { seq: last.seq, hash: entryHash(last) } : page.head };
  };
  const groups = new Proxy(api.groups, { get: (target, key) => (key === 'log' ? { query } : Reflect.get(target, key)) });
  return { ...session, api: new Proxy(api, { get: (target, key) => (key === 'groups' ? groups : Reflect.get(target, key)) }) as unknown as ApiSession['api'] };
}
