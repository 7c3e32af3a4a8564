/**
 * A lying server cannot freeze a member on a stale log, and an unsigned word cannot
 * lock a group (issue 10, items 3 and 5; DESIGN §4). The real `GroupClient` runs
 * against an in-memory API whose operator withholds entries from one member (or shows
 * it a different one); members meet peer to peer over the real handshake, holder and
 * joiner sides (shared/src/p2p), and each keeps the other's signed head.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { ApiSession } from '../src/client/api-session.ts';
import { GroupClient } from '../src/client/group-client.ts';
import { MemoryKeyStore } from '../src/client/key-store.ts';
import { PeerEvidenceError, WITNESS_BOUND_MS } from '../src/client/peer-evidence.ts';
import { memoryChannelPair, runHandshake } from '../src/p2p/channel.ts';
import { entryHash, logHead, type GroupState } from '../src/crypto/group-log.ts';
import { HolderHandshake, JoinerHandshake, type HandshakeOutcome } from '../src/crypto/handshake.ts';
import type { HeadEvidence } from '../src/crypto/head-evidence.ts';
import { generateIdentity, type DeviceIdentity } from '../src/crypto/identity.ts';
import { createInvite } from '../src/crypto/invite.ts';
import { extendLog } from '../src/crypto/log-replay.ts';
import { serveChannel } from '../src/p2p/holder-service.ts';
import { receiveKeyFromPeers } from '../src/p2p/joiner-handover.ts';
import type { GroupId } from '../src/protocol/ids.ts';
import type { LogEntry } from '../src/protocol/schemas.ts';
import { MemoryApi } from './support/memory-api.ts';

const HOUR = 3_600_000;

/** What the server shows one device of the log: everything, up to a seq, or another entry in place of one. */
interface Lie {
  upTo?: number;
  swap?: LogEntry;
}

interface Device {
  identity: DeviceIdentity;
  keys: MemoryKeyStore;
  client: GroupClient;
  clock: { now: number };
  lie: Lie;
}

/** A session whose `groups.log` answers are filtered by `lie` (the rest of the API is honest). */
function lyingSession(session: ApiSession, lie: Lie): ApiSession {
  const api = session.api as unknown as { groups: { log: { query: (input: { groupId: GroupId; fromSeq?: number; limit?: number }) => Promise<{ entries: LogEntry[]; head: { seq: number; hash: string } }> } } };
  const real = api.groups.log.query;
  const log = {
    query: async (input: { groupId: GroupId; fromSeq?: number; limit?: number }) => {
      const page = await real(input);
      let entries = page.entries;
      if (lie.swap) entries = entries.map((e) => (e.seq === lie.swap!.seq ? lie.swap! : e));
      if (lie.upTo !== undefined) entries = entries.filter((e) => e.seq <= lie.upTo!);
      const last = entries.at(-1);
      return { entries, head: last ? { seq: last.seq, hash: entryHash(last) } : page.head };
    },
  };
  return { ...session, api: { ...api, groups: { ...api.groups, log } } as unknown as ApiSession['api'] };
}

async function device(api: MemoryApi): Promise<Device> {
  const identity = await generateIdentity();
  const keys = new MemoryKeyStore();
  const clock = { now: Date.now() };
  const lie: Lie = {};
  const client = new GroupClient({ identity, session: lyingSession(api.session(identity), lie), store: keys, now: () => clock.now });
  // A person is added to a group by the chain the server holds: publish this device's one-device chain.
  await client.publishPerson();
  return { identity, keys, client, clock, lie };
}

describe('peer evidence: witnessed heads and signed forks', () => {
  let api: MemoryApi;
  let ana: Device, ben: Device, cy: Device;
  let groupId: GroupId;

  beforeEach(async () => {
    api = new MemoryApi();
    [ana, ben, cy] = await Promise.all([device(api), device(api), device(api)]);
    ({ groupId } = await ana.client.createGroup());
    for (const d of [ben, cy]) {
      await ana.client.addMember(groupId, d.identity.fingerprint, 'member');
      expect(await d.client.openGroup(groupId)).toMatchObject({ hasKey: true });
    }
    for (const d of [ana, ben, cy]) await d.client.sync(groupId);
  });

  /** `joiner` dials `holder` (the live handover, both sides real); each keeps the other's signed head. */
  async function meet(joiner: Device, holder: Device, joinerState?: GroupState): Promise<{ joiner: HandshakeOutcome; holder: HandshakeOutcome }> {
    let served: Promise<HandshakeOutcome> | undefined;
    const result = await receiveKeyFromPeers(
      joiner.identity,
      joinerState ?? (await joiner.client.state(groupId)),
      {
        online: async (ids) => ids.filter((id) => id === holder.identity.fingerprint),
        connect: () => {
          const [mine, theirs] = memoryChannelPair();
          served = serveChannel(
            theirs,
            holder.identity,
            async (id) => {
              const held = await holder.client.heldGroup(id);
              return held && { ...held, notePeerHead: (e: HeadEvidence) => holder.client.notePeerHead(id, e) };
            },
            { closeGraceMs: 20 },
          );
          return mine;
        },
      },
      { closeGraceMs: 20, notePeerHead: (e) => joiner.client.notePeerHead(groupId, e) },
    );
    return { joiner: result.attempts[0]!.outcome, holder: await served! };
  }

  async function refusedWrite(d: Device): Promise<PeerEvidenceError> {
    const error = await d.client.writeNote(groupId, { title: 'x', body: 'y' }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PeerEvidenceError);
    return error as PeerEvidenceError;
  }

  it('a member’s signed head ahead of ours (joiner side) is witnessed; writing is refused until a sync reaches it, which clears it', async () => {
    const before = (await ben.client.state(groupId)).seq;
    ben.lie.upTo = before;
    await ana.client.invite(groupId, { role: 'member', expiresInMs: HOUR });
    const cyState = await cy.client.sync(groupId);
    expect(cyState.seq).toBeGreaterThan(before);

    await meet(ben, cy);
    expect(await ben.client.peerEvidence(groupId)).toMatchObject({
      kind: 'behind',
      overdue: false,
      witnessed: { peer: cy.identity.fingerprint, head: logHead(cyState) },
    });
    // Cy saw Ben behind it, consistent: nothing to keep.
    expect(await cy.client.peerEvidence(groupId)).toEqual({ kind: 'clear' });
    expect(await refusedWrite(ben)).toMatchObject({ reason: 'stale-log', peer: cy.identity.fingerprint, head: logHead(cyState) });

    // The server shows it: the sync reaches the witnessed head with the same hash.
    delete ben.lie.upTo;
    expect((await ben.client.sync(groupId)).seq).toBe(cyState.seq);
    expect(await ben.client.peerEvidence(groupId)).toEqual({ kind: 'clear' });
    expect((await ben.keys.load(groupId))!.witnessed).toBeUndefined();
    await expect(ben.client.writeNote(groupId, { title: 'Rota', body: 'Mon' })).resolves.toMatchObject({ version: 1 });
  });

  it('a device with evidence that its log is stale changes nothing on it: no invite, rotation or removal until a sync reaches the witnessed head', async () => {
    await ana.client.setRole(groupId, ben.identity.fingerprint, 'admin');
    for (const d of [ana, ben, cy]) await d.client.sync(groupId);
    const before = (await ana.client.state(groupId)).seq;
    ana.lie.upTo = before;
    // Ben changes the log; the server hides it from Ana, whose next change would build on a stale view.
    await ben.client.invite(groupId, { role: 'member', expiresInMs: HOUR });
    const benState = await ben.client.sync(groupId);
    await meet(ana, ben);
    expect(await ana.client.peerEvidence(groupId)).toMatchObject({ kind: 'behind', witnessed: { head: logHead(benState) } });
    await expect(ana.client.rotateKey(groupId)).rejects.toBeInstanceOf(PeerEvidenceError);
    await expect(ana.client.invite(groupId, { role: 'member', expiresInMs: HOUR })).rejects.toBeInstanceOf(PeerEvidenceError);
    await expect(ana.client.removeMember(groupId, cy.identity.fingerprint)).rejects.toBeInstanceOf(PeerEvidenceError);
    // Syncing still works (that is how it clears), and leaving is always allowed.
    await expect(ana.client.sync(groupId)).resolves.toBeDefined();
    delete ana.lie.upTo;
    await ana.client.sync(groupId);
    await expect(ana.client.rotateKey(groupId)).resolves.toMatchObject({ generation: 1 });
  });

  it('a member who signs a made-up head cannot lock anyone for good: it is named, its own removal is never blocked, removing it frees every device, and a person can dismiss it', async () => {
    // Cy, a hostile member, dials Ana and Ben with a hello claiming a head far ahead.
    const real = await cy.client.state(groupId);
    const bogus = { ...real, seq: 1_000_000, head: 'A'.repeat(43) } as GroupState;
    await meet(cy, ana, bogus);
    await meet(cy, ben, bogus);
    for (const d of [ana, ben]) {
      await d.client.sync(groupId);
      expect(await d.client.peerEvidence(groupId)).toMatchObject({ kind: 'behind', witnessed: { peer: cy.identity.fingerprint } });
      await refusedWrite(d);
    }
    // Ben, after talking to Cy, dismisses it himself.
    await ben.client.dismissPeerEvidence(groupId, cy.identity.fingerprint);
    expect(await ben.client.peerEvidence(groupId)).toEqual({ kind: 'clear' });
    // Ana, an admin frozen by Cy's claim alone, can still remove Cy; then she writes again.
    await expect(ana.client.rotateKey(groupId)).rejects.toBeInstanceOf(PeerEvidenceError);
    await ana.client.removeMember(groupId, cy.identity.fingerprint);
    expect(await ana.client.peerEvidence(groupId)).toEqual({ kind: 'clear' });
    await expect(ana.client.writeNote(groupId, { title: 'After Cy', body: 'x' })).resolves.toMatchObject({ version: 1 });
    // Ben's own made-up head does not stop his removal either.
    await meet(ben, ana, { ...(await ben.client.sync(groupId)), seq: 1_000_000, head: 'B'.repeat(43) } as GroupState);
    await ana.client.sync(groupId);
    await expect(ana.client.removeMember(groupId, ben.identity.fingerprint)).resolves.toBeDefined();
  });

  it('the holder side keeps the joiner’s signed head too: a server withholding from the holder is caught, and named once the bound has passed', async () => {
    const before = (await ben.client.state(groupId)).seq;
    ben.lie.upTo = before;
    await ana.client.invite(groupId, { role: 'member', expiresInMs: HOUR });
    const cyState = await cy.client.sync(groupId);

    const { holder } = await meet(cy, ben);
    // Ben, behind, refuses to hand over — after Cy's signed auth, which it keeps.
    expect(holder).toMatchObject({ kind: 'refused', reason: 'behind', by: 'me' });
    expect(await ben.client.peerEvidence(groupId)).toMatchObject({ kind: 'behind', overdue: false, witnessed: { head: logHead(cyState) } });

    // The server keeps withholding: a sync does not reach it; within the bound it is not yet an alarm.
    ben.clock.now += WITNESS_BOUND_MS - 1_000;
    await ben.client.sync(groupId);
    expect(await ben.client.peerEvidence(groupId)).toMatchObject({ kind: 'behind', overdue: false });
    ben.clock.now += 2_000;
    await ben.client.sync(groupId);
    expect(await ben.client.peerEvidence(groupId)).toMatchObject({ kind: 'behind', overdue: true, witnessed: { peer: cy.identity.fingerprint } });
    expect(await refusedWrite(ben)).toMatchObject({ reason: 'stale-log' });
    // Kept by the device, not the client object.
    const again = new GroupClient({ identity: ben.identity, session: lyingSession(api.session(ben.identity), ben.lie), store: ben.keys, now: () => ben.clock.now });
    expect(await again.peerEvidence(groupId)).toMatchObject({ kind: 'behind', overdue: true });
  });

  it('a witnessed head passed with another hash is a fork, on the member’s signed evidence', async () => {
    const base = await ben.client.state(groupId);
    ben.lie.upTo = base.seq;
    await ana.client.invite(groupId, { role: 'member', expiresInMs: HOUR });
    await cy.client.sync(groupId);
    await meet(ben, cy);
    // The server now shows Ben a different (validly signed) entry at that position.
    const other = await createInvite(base, ana.identity, { role: 'admin', expiresAt: Date.now() + 2 * HOUR });
    delete ben.lie.upTo;
    ben.lie.swap = other.entry;
    await ben.client.sync(groupId);
    const status = await ben.client.peerEvidence(groupId);
    expect(status).toMatchObject({ kind: 'fork', fork: { peer: cy.identity.fingerprint, how: 'sync', head: { seq: base.seq + 1 } } });
    expect(await refusedWrite(ben)).toMatchObject({ reason: 'peer-fork', peer: cy.identity.fingerprint });
  });

  it('a signed conflicting head is fork evidence; it clears when the same member later signs a head that agrees with ours', async () => {
    const base = await cy.client.state(groupId);
    // Cy's device holds a history that differs from Ben's at the next entry.
    const x = await createInvite(base, ana.identity, { role: 'member', expiresAt: Date.now() + HOUR });
    const forked = await extendLog(base, [x.entry]);
    await ana.client.invite(groupId, { role: 'member', expiresInMs: HOUR });
    const benState = await ben.client.sync(groupId);
    expect(forked.head).not.toBe(benState.head);

    const first = await meet(cy, ben, forked);
    expect(first.holder).toMatchObject({ kind: 'fork', peer: cy.identity.fingerprint });
    expect(await ben.client.peerEvidence(groupId)).toMatchObject({ kind: 'fork', fork: { peer: cy.identity.fingerprint, how: 'handshake', head: logHead(forked), ours: benState.head } });
    expect(await refusedWrite(ben)).toMatchObject({ reason: 'peer-fork' });

    // Another member agreeing with Ben does not clear Cy's evidence…
    await ana.client.sync(groupId);
    await meet(ana, ben);
    expect((await ben.client.peerEvidence(groupId)).kind).toBe('fork');
    // …Cy's device, now holding the history Ben holds, does.
    await meet(cy, ben, await cy.client.sync(groupId));
    expect(await ben.client.peerEvidence(groupId)).toEqual({ kind: 'clear' });
    await expect(ben.client.writeNote(groupId, { title: 'Rota', body: 'Tue' })).resolves.toMatchObject({ version: 1 });
  });

  it('a head signed by a device outside our log is not kept, and evidence that does not verify is refused', async () => {
    const outsider = await generateIdentity();
    const state = await ben.client.state(groupId);
    const ahead = await extendLog(state, [(await createInvite(state, ana.identity, { role: 'member', expiresAt: Date.now() + HOUR })).entry]);
    // The outsider answers Ben's hello with a signed welcome claiming a newer head.
    const joiner = new JoinerHandshake(ben.identity, state, { expectedPeer: outsider.fingerprint });
    const holder = new HolderHandshake(outsider, ahead, { seedFor: () => undefined, trustOf: () => 'verified' });
    const hello = joiner.start().send[0]!;
    const welcome = (await holder.receive(JSON.stringify(hello))).send[0]!;
    const evidence = { signer: 'holder', hello, welcome } as HeadEvidence;
    expect(await ben.client.notePeerHead(groupId, evidence)).toBe('ignored');
    expect(await ben.client.peerEvidence(groupId)).toEqual({ kind: 'clear' });

    // Cy's real signed head, altered after the fact.
    const [ja, hb] = memoryChannelPair();
    const seen: HeadEvidence[] = [];
    const cyState = await cy.client.state(groupId);
    await Promise.all([
      runHandshake(hb, new HolderHandshake(cy.identity, cyState, { seedFor: () => undefined, trustOf: () => 'verified' }), { closeGraceMs: 20 }),
      runHandshake(ja, new JoinerHandshake(ben.identity, state, { expectedPeer: cy.identity.fingerprint, onPeerHead: (e) => seen.push(e) }), { closeGraceMs: 20 }),
    ]);
    const real = seen[0]!;
    expect(await ben.client.notePeerHead(groupId, real)).toBe('consistent');
    const forged = { ...real, welcome: { ...real.welcome, head: logHead(ahead) } };
    await expect(ben.client.notePeerHead(groupId, forged)).rejects.toMatchObject({ code: 'SIGNATURE' });
    expect(await ben.client.peerEvidence(groupId)).toEqual({ kind: 'clear' });
  });
});
