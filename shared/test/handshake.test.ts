/**
 * The peer handshake and key handover (DESIGN §3, §6.3, §7) over an in-memory channel:
 * who gets the key, who is refused and why, and that a broken, hostile or vanished
 * peer always ends in a named refusal, never an exception or a hang.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { memoryChannelPair, runHandshake, type HandshakeMachine, type MessageChannel } from '../src/p2p/channel.ts';
import { singleDeviceChain } from '../src/crypto/device-chain.ts';
import { generationKeys } from '../src/crypto/generations.ts';
import { createGroup, rotateKey } from '../src/crypto/group-lifecycle.ts';
import { nextEntry, type GroupState } from '../src/crypto/group-log.ts';
import {
  HolderHandshake,
  JoinerHandshake,
  parseHandshakeMessage,
  type HandshakeOutcome,
  type HandshakeStep,
  type HolderOptions,
  type TrustState,
} from '../src/crypto/handshake.ts';
import { identityFromKeyPairs } from '../src/crypto/identity.ts';
import { acceptInvite, createInvite, inviteKeysFromCode } from '../src/crypto/invite.ts';
import { openKeyBox, openerFor, sealKeyBox } from '../src/crypto/key-box.ts';
import { extendLog } from '../src/crypto/log-replay.ts';
import { generateBoxKeyPair, generateSigningKeyPair } from '../src/crypto/primitives.ts';
import { checkScannedQr, newQrSecret } from '../src/crypto/qr.ts';
import { verifyHeadEvidence, type HeadEvidence } from '../src/crypto/head-evidence.ts';
import { ConclaveError } from '../src/crypto/errors.ts';
import { logHead } from '../src/crypto/group-log.ts';
import { receiveKeyFromPeers } from '../src/p2p/joiner-handover.ts';
import { equalBytes, type Bytes } from '../src/protocol/encoding.ts';
import type { Fingerprint, GroupId } from '../src/protocol/ids.ts';
import { HANDSHAKE_MESSAGE_MAX_CHARS, type HandoverPolicy, type HandshakeMessage, type KeyBox, type LogEntry } from '../src/protocol/schemas.ts';
import { TestClient } from './support/client.ts';
import { MemoryServer } from './support/memory-server.ts';

const HOUR = 3600_000;

/**
 * A group with its creator A (admin, holds the seed), J who joined by invite and
 * wants the key, C, a member added by A who also holds the seed, and O, an outsider
 * who can read the log from the server but is not in it.
 */
interface World {
  server: MemoryServer;
  groupId: GroupId;
  seed: Uint8Array;
  a: TestClient;
  j: TestClient;
  c: TestClient;
  o: TestClient;
}

async function makeWorld(policy: HandoverPolicy = 'verified'): Promise<World> {
  const server = new MemoryServer();
  const [a, j, c, o] = await Promise.all(['A', 'J', 'C', 'O'].map((name) => TestClient.create(name)));
  const group = await createGroup(a!.identity, { policy });
  const groupId = group.state.groupId;
  server.append(groupId, group.entries);
  a!.adopt(group.state);
  await a!.keepSeed(0, group.seed);

  const invite = await createInvite(a!.group, a!.identity, { role: 'member', expiresAt: Date.now() + HOUR });
  server.append(groupId, [invite.entry]);
  await j!.sync(server, groupId);
  server.append(groupId, [await acceptInvite(j!.group, await inviteKeysFromCode(invite.code), j!.identity)]);

  await a!.sync(server, groupId);
  server.append(groupId, [await nextEntry(a!.group, a!.identity, 'add', { member: await singleDeviceChain(c!.identity), role: 'member' })]);
  for (const client of [a!, j!, c!, o!]) await client.sync(server, groupId);
  await c!.keepSeed(0, group.seed);
  return { server, groupId, seed: group.seed, a: a!, j: j!, c: c!, o: o! };
}

/** Runs both sides over a fresh in-memory pair. */
async function handover(
  joiner: { client: TestClient; state?: GroupState; expectedPeer?: Fingerprint; qrSecret?: string },
  holder: { client: TestClient; state?: GroupState; options?: Partial<HolderOptions> },
  timeoutMs = 5_000,
  onJoinerSaw?: (evidence: HeadEvidence) => void,
): Promise<[HandshakeOutcome, HandshakeOutcome]> {
  const [ja, hb] = memoryChannelPair();
  const joinerMachine = new JoinerHandshake(joiner.client.identity, joiner.state ?? joiner.client.group, {
    expectedPeer: joiner.expectedPeer ?? holder.client.fingerprint,
    ...(joiner.qrSecret ? { qrSecret: joiner.qrSecret } : {}),
    ...(onJoinerSaw ? { onPeerHead: onJoinerSaw } : {}),
  });
  const holderMachine = new HolderHandshake(holder.client.identity, holder.state ?? holder.client.group, {
    seedFor: holder.client.seedFor,
    trustOf: holder.client.trustOf,
    ...holder.options,
  });
  return Promise.all([
    runHandshake(ja, joinerMachine, { timeoutMs, closeGraceMs: 20 }),
    runHandshake(hb, holderMachine, { timeoutMs, closeGraceMs: 20 }),
  ]);
}

/** The far end of a channel, driven by hand: it records what arrives and sends raw text. */
function scriptedPeer(channel: MessageChannel) {
  const received: unknown[] = [];
  const waiters: Array<() => void> = [];
  let closed = false;
  channel.onMessage((data) => {
    received.push(data);
    waiters.splice(0).forEach((w) => w());
  });
  channel.onClose(() => {
    closed = true;
    waiters.splice(0).forEach((w) => w());
  });
  return {
    received,
    get closed() {
      return closed;
    },
    send(data: string) {
      channel.send(data);
    },
    close() {
      channel.close();
    },
    /** Resolves with the n-th message (0-based) once it has arrived, or undefined if the channel closes first. */
    async message(n: number): Promise<HandshakeMessage | undefined> {
      while (received.length <= n && !closed) await new Promise<void>((resolve) => waiters.push(resolve));
      const raw = received[n];
      return raw === undefined ? undefined : (JSON.parse(String(raw)) as HandshakeMessage);
    },
  };
}

function refusal(reason: string, by: 'me' | 'peer' | 'channel') {
  return { kind: 'refused', reason, by };
}

/** Feeds a step's messages to the other machine, returning its step (manual driving, no channel). */
async function deliver(step: HandshakeStep, to: HandshakeMachine): Promise<HandshakeStep> {
  expect(step.send).toHaveLength(1);
  const text = JSON.stringify(step.send[0]);
  // As the driver does once the message is sent (the holder seals its box then).
  step.afterSend?.();
  return to.receive(text);
}

let w: World;
let trusting: World;
/** A genuine key box from A to J, to send where it does not belong. */
let aBox: KeyBox;

beforeAll(async () => {
  [w, trusting] = await Promise.all([makeWorld('verified'), makeWorld('invite-trust')]);
  aBox = await sealKeyBox(w.a.identity, w.groupId, 0, w.seed, { kind: 'member', id: w.j.fingerprint }, w.j.identity.bundle.boxKey);
});

describe('key handover', () => {
  it('hands the current seed to a verified member, who can open notes with it', async () => {
    w.a.trust.set(w.j.fingerprint, 'verified');
    try {
      const [joiner, holder] = await handover({ client: w.j }, { client: w.a });
      expect(holder).toEqual({ kind: 'sent', peer: w.j.fingerprint, generation: 0 });
      expect(joiner).toMatchObject({ kind: 'received', peer: w.a.fingerprint, generation: 0 });
      if (joiner.kind !== 'received') throw new Error('no key');
      expect(equalBytes(joiner.seed, w.seed)).toBe(true);
      const mine = await generationKeys(joiner.seed, w.groupId, 0);
      const theirs = await generationKeys(w.seed, w.groupId, 0);
      expect(equalBytes(mine.noteKey, theirs.noteKey)).toBe(true);
    } finally {
      w.a.trust.delete(w.j.fingerprint);
    }
  });

  it('any member holding the key can hand it over, and a joiner behind the holder still gets it', async () => {
    const behind = w.j.group;
    const ahead = await extendLog(w.c.group, [
      (await createInvite(w.a.group, w.a.identity, { role: 'member', expiresAt: Date.now() + HOUR })).entry,
    ]);
    const [joiner, holder] = await handover(
      { client: w.j, state: behind },
      { client: w.a, state: ahead, options: { trustOf: () => 'verified' } },
    );
    expect(holder).toMatchObject({ kind: 'sent', peer: w.j.fingerprint });
    expect(joiner).toMatchObject({ kind: 'received', peer: w.a.fingerprint, generation: 0 });
    const [fromC, byC] = await handover({ client: w.j }, { client: w.c, options: { trustOf: () => 'verified' } });
    expect(byC).toMatchObject({ kind: 'sent', peer: w.j.fingerprint });
    expect(fromC).toMatchObject({ kind: 'received', peer: w.c.fingerprint });
  });

  it('refuses someone who is not in the holder’s validated log: not-a-member', async () => {
    // O has a copy of the log (the server hands it out) but was never added.
    const [joiner, holder] = await handover({ client: w.o }, { client: w.a, options: { trustOf: () => 'verified' } });
    expect(holder).toMatchObject({ ...refusal('not-a-member', 'me'), peer: w.o.fingerprint });
    expect(joiner).toMatchObject({ ...refusal('not-a-member', 'peer'), peer: w.a.fingerprint });
  });

  it('the joiner refuses a holder who is not in its own log: not-a-member', async () => {
    // J's view before C was added; C is ahead, so the heads agree.
    const before = await extendLog(null, w.server.log(w.groupId).slice(0, 4));
    expect(before.members.has(w.c.fingerprint)).toBe(false);
    const [joiner, holder] = await handover({ client: w.j, state: before }, { client: w.c, options: { trustOf: () => 'verified' } });
    expect(joiner).toMatchObject(refusal('not-a-member', 'me'));
    expect(holder).toMatchObject(refusal('not-a-member', 'peer'));
  });

  it('refuses an unverified member under the policy “verified”: not-verified', async () => {
    expect(w.a.group.policy).toBe('verified');
    const [joiner, holder] = await handover({ client: w.j }, { client: w.a });
    expect(holder).toMatchObject(refusal('not-verified', 'me'));
    expect(joiner).toMatchObject(refusal('not-verified', 'peer'));
  });

  it('hands the key to an unverified member of a group created with invite-trust', async () => {
    expect(trusting.a.group.policy).toBe('invite-trust');
    expect(trusting.a.trustOf(trusting.j.fingerprint)).toBe('unverified');
    const [joiner, holder] = await handover({ client: trusting.j }, { client: trusting.a });
    expect(holder).toMatchObject({ kind: 'sent', peer: trusting.j.fingerprint });
    expect(joiner).toMatchObject({ kind: 'received', peer: trusting.a.fingerprint });
  });

  it('refuses a member whose key changed, even under invite-trust: key-changed', async () => {
    for (const world of [w, trusting]) {
      const [joiner, holder] = await handover({ client: world.j }, { client: world.a, options: { trustOf: () => 'key-changed' } });
      expect(holder).toMatchObject(refusal('key-changed', 'me'));
      expect(joiner).toMatchObject(refusal('key-changed', 'peer'));
    }
  });

  it('refuses a member the holder marked removed, even under invite-trust: removed', async () => {
    const [joiner, holder] = await handover({ client: trusting.j }, { client: trusting.a, options: { trustOf: () => 'removed' } });
    expect(holder).toMatchObject(refusal('removed', 'me'));
    expect(joiner).toMatchObject(refusal('removed', 'peer'));
  });

  it('a holder without the seed refuses: no-key', async () => {
    const [joiner, holder] = await handover({ client: w.j }, { client: w.a, options: { trustOf: () => 'verified', seedFor: () => undefined } });
    expect(holder).toMatchObject(refusal('no-key', 'me'));
    expect(joiner).toMatchObject(refusal('no-key', 'peer'));
  });

  it('a joiner of another group is refused: wrong-group', async () => {
    const other = await makeWorld();
    const [joiner, holder] = await handover(
      { client: other.j, expectedPeer: w.a.fingerprint },
      { client: w.a, options: { trustOf: () => 'verified' } },
    );
    expect(holder).toMatchObject(refusal('wrong-group', 'me'));
    expect(joiner).toMatchObject(refusal('wrong-group', 'peer'));
  });
});

describe('QR confirmation over the handshake', () => {
  it('the joiner echoing the secret of the holder’s QR code verifies it: key handed over, onQrConfirmed called', async () => {
    const shown = newQrSecret();
    const confirmed: Fingerprint[] = [];
    const [joiner, holder] = await handover(
      { client: w.j, qrSecret: shown },
      { client: w.a, options: { shownQr: { secret: shown, for: w.j.fingerprint }, onQrConfirmed: (fp) => confirmed.push(fp) } },
    );
    expect(w.a.trustOf(w.j.fingerprint)).toBe('unverified');
    expect(holder).toMatchObject({ kind: 'sent', peer: w.j.fingerprint });
    expect(joiner).toMatchObject({ kind: 'received', peer: w.a.fingerprint });
    expect(confirmed).toEqual([w.j.fingerprint]);
  });

  it('a scan re-verifies a member whose key had changed', async () => {
    const shown = newQrSecret();
    const confirmed: Fingerprint[] = [];
    const [joiner, holder] = await handover(
      { client: w.j, qrSecret: shown },
      { client: w.a, options: { shownQr: { secret: shown, for: w.j.fingerprint }, trustOf: () => 'key-changed', onQrConfirmed: (fp) => confirmed.push(fp) } },
    );
    expect(holder).toMatchObject({ kind: 'sent' });
    expect(joiner).toMatchObject({ kind: 'received' });
    expect(confirmed).toEqual([w.j.fingerprint]);
  });

  it('a wrong secret does not verify', async () => {
    const confirmed: Fingerprint[] = [];
    const [joiner, holder] = await handover(
      { client: w.j, qrSecret: newQrSecret() },
      { client: w.a, options: { shownQr: { secret: newQrSecret(), for: w.j.fingerprint }, onQrConfirmed: (fp) => confirmed.push(fp) } },
    );
    expect(holder).toMatchObject(refusal('not-verified', 'me'));
    expect(joiner).toMatchObject(refusal('not-verified', 'peer'));
    expect(confirmed).toEqual([]);
  });

  it('the right secret echoed by someone the code was not made for does not verify', async () => {
    const shown = newQrSecret();
    const confirmed: Fingerprint[] = [];
    const [, holder] = await handover(
      { client: w.j, qrSecret: shown },
      { client: w.a, options: { shownQr: { secret: shown, for: w.c.fingerprint }, onQrConfirmed: (fp) => confirmed.push(fp) } },
    );
    expect(holder).toMatchObject(refusal('not-verified', 'me'));
    expect(confirmed).toEqual([]);
  });

  it('a secret echoed to a holder that shows no code does not verify', async () => {
    const confirmed: Fingerprint[] = [];
    const [, holder] = await handover({ client: w.j, qrSecret: newQrSecret() }, { client: w.a, options: { onQrConfirmed: (fp) => confirmed.push(fp) } });
    expect(holder).toMatchObject(refusal('not-verified', 'me'));
    expect(confirmed).toEqual([]);
  });
});

describe('key substitution and impersonation', () => {
  it('the joiner expects A, but C answers (ignoring whom the hello expects): wrong-peer, and C learns only the hello', async () => {
    const [ja, cb] = memoryChannelPair();
    const seenByC: HandshakeMessage[] = [];
    // C's hostile client rewrites the hello so its honest machine answers anyway.
    const inner = new HolderHandshake(w.c.identity, w.c.group, { seedFor: w.c.seedFor, trustOf: () => 'verified' });
    const hostile: HandshakeMachine = {
      start: () => inner.start(),
      receive: (raw) => {
        const message = JSON.parse(String(raw)) as HandshakeMessage;
        seenByC.push(message);
        return inner.receive(message.t === 'hello' ? JSON.stringify({ ...message, expect: w.c.fingerprint }) : raw);
      },
    };
    const [joiner, holder] = await Promise.all([
      runHandshake(ja, new JoinerHandshake(w.j.identity, w.j.group, { expectedPeer: w.a.fingerprint }), { timeoutMs: 5_000, closeGraceMs: 20 }),
      runHandshake(cb, hostile, { timeoutMs: 5_000, closeGraceMs: 20 }),
    ]);
    expect(joiner).toMatchObject({ ...refusal('wrong-peer', 'me'), peer: w.a.fingerprint });
    expect(joiner.kind).not.toBe('received');
    expect(holder).toMatchObject(refusal('wrong-peer', 'peer'));
    expect(seenByC.map((m) => m.t)).toEqual(['hello', 'refuse']);
  });

  it('a relay that swaps A’s bundle into C’s welcome fails the signature: bad-signature', async () => {
    const joiner = new JoinerHandshake(w.j.identity, w.j.group, { expectedPeer: w.a.fingerprint });
    const holder = new HolderHandshake(w.c.identity, w.c.group, { seedFor: w.c.seedFor, trustOf: () => 'verified' });
    const hello = joiner.start().send[0] as Extract<HandshakeMessage, { t: 'hello' }>;
    const welcome = (await holder.receive(JSON.stringify({ ...hello, expect: w.c.fingerprint }))).send[0] as Extract<HandshakeMessage, { t: 'welcome' }>;
    const step = await joiner.receive(JSON.stringify({ ...welcome, bundle: w.a.identity.bundle }));
    expect(step.done).toMatchObject(refusal('bad-signature', 'me'));
    expect(step.send).toEqual([{ t: 'refuse', reason: 'bad-signature' }]);
  });

  it('a hello that expects another fingerprint is refused by the holder before it says anything', async () => {
    const [ja, cb] = memoryChannelPair();
    const peer = scriptedPeer(ja);
    const outcome = runHandshake(cb, new HolderHandshake(w.c.identity, w.c.group, { seedFor: w.c.seedFor, trustOf: () => 'verified' }), {
      timeoutMs: 5_000,
      closeGraceMs: 20,
    });
    const hello = new JoinerHandshake(w.j.identity, w.j.group, { expectedPeer: w.a.fingerprint }).start().send[0]!;
    peer.send(JSON.stringify(hello));
    expect(await outcome).toMatchObject(refusal('wrong-peer', 'me'));
    expect(await peer.message(0)).toEqual({ t: 'refuse', reason: 'wrong-peer' });
    expect(peer.received).toHaveLength(1);
    // And over the honest pair: the joiner is told the same.
    const [joiner, holder] = await handover({ client: w.j, expectedPeer: w.a.fingerprint }, { client: w.c });
    expect(holder).toMatchObject(refusal('wrong-peer', 'me'));
    expect(joiner).toMatchObject(refusal('wrong-peer', 'peer'));
  });

  it('a welcome replayed from an earlier session is refused (the signature covers the joiner’s nonce)', async () => {
    // Session 1, recorded by an eavesdropper.
    const joiner1 = new JoinerHandshake(w.j.identity, w.j.group, { expectedPeer: w.a.fingerprint });
    const holder1 = new HolderHandshake(w.a.identity, w.a.group, { seedFor: w.a.seedFor, trustOf: () => 'verified' });
    const hello1 = joiner1.start();
    const welcome1 = await deliver(hello1, holder1);
    const auth1 = await deliver(welcome1, joiner1);
    expect((await deliver(auth1, holder1)).done).toMatchObject({ kind: 'sent' });

    // Session 2: someone answers J's new hello with the old welcome.
    const [ja, xb] = memoryChannelPair();
    const attacker = scriptedPeer(xb);
    const outcome = runHandshake(ja, new JoinerHandshake(w.j.identity, w.j.group, { expectedPeer: w.a.fingerprint }), { timeoutMs: 5_000 });
    const hello2 = await attacker.message(0);
    expect(hello2?.t).toBe('hello');
    attacker.send(JSON.stringify(welcome1.send[0]));
    expect(await outcome).toMatchObject(refusal('bad-signature', 'me'));
    expect(await attacker.message(1)).toEqual({ t: 'refuse', reason: 'bad-signature' });
  });

  it('an auth replayed from an earlier session is refused (the signature covers the holder’s nonce)', async () => {
    const joiner1 = new JoinerHandshake(w.j.identity, w.j.group, { expectedPeer: w.a.fingerprint });
    const holder1 = new HolderHandshake(w.a.identity, w.a.group, { seedFor: w.a.seedFor, trustOf: () => 'verified' });
    const hello1 = joiner1.start();
    const auth1 = await deliver(await deliver(hello1, holder1), joiner1);

    // Session 2: the old hello and the old auth, replayed to A.
    const holder2 = new HolderHandshake(w.a.identity, w.a.group, { seedFor: w.a.seedFor, trustOf: () => 'verified' });
    const welcome2 = await deliver(hello1, holder2);
    expect(welcome2.send[0]?.t).toBe('welcome');
    const step = await deliver(auth1, holder2);
    expect(step.done).toMatchObject(refusal('bad-signature', 'me'));
    expect(step.send).toEqual([{ t: 'refuse', reason: 'bad-signature' }]);
  });
});

describe('log heads', () => {
  it('the joiner’s log and the holder’s differ at the same seq: fork, on both sides, with signed evidence that verifies again', async () => {
    // A server showed the two of them different entries 4 (two different invites by A).
    const base = w.j.group;
    const [x, y] = await Promise.all([
      createInvite(base, w.a.identity, { role: 'member', expiresAt: Date.now() + HOUR }),
      createInvite(base, w.a.identity, { role: 'member', expiresAt: Date.now() + 2 * HOUR }),
    ]);
    const holderView = await extendLog(base, [x.entry]);
    const joinerView = await extendLog(base, [y.entry]);
    expect(holderView.seq).toBe(joinerView.seq);
    expect(holderView.head).not.toBe(joinerView.head);
    const [joiner, holder] = await handover({ client: w.j, state: joinerView }, { client: w.a, state: holderView, options: { trustOf: () => 'verified' } });
    expect(joiner).toMatchObject({ kind: 'fork', peer: w.a.fingerprint });
    expect(holder).toMatchObject({ kind: 'fork', peer: w.j.fingerprint });
    if (joiner.kind !== 'fork' || holder.kind !== 'fork') throw new Error('no fork');
    // Each side holds the other's head under the other's signature.
    expect(await verifyHeadEvidence(joiner.evidence)).toEqual({ peer: w.a.fingerprint, groupId: w.groupId, head: logHead(holderView) });
    expect(await verifyHeadEvidence(holder.evidence)).toEqual({ peer: w.j.fingerprint, groupId: w.groupId, head: logHead(joinerView) });
    // It survives storage (structured clone, JSON) and any change to it breaks it.
    expect(await verifyHeadEvidence(JSON.parse(JSON.stringify(joiner.evidence)))).toMatchObject({ peer: w.a.fingerprint });
    const moved = { ...joiner.evidence, welcome: { ...joiner.evidence.welcome, head: logHead(joinerView) } };
    await expect(verifyHeadEvidence(moved)).rejects.toMatchObject({ code: 'SIGNATURE' });
    const reassigned = { ...holder.evidence, signer: 'holder' as const };
    await expect(verifyHeadEvidence({ ...reassigned, hello: { ...reassigned.hello, head: logHead(holderView) } })).rejects.toBeInstanceOf(ConclaveError);
    await expect(verifyHeadEvidence({ ...holder.evidence, auth: undefined })).rejects.toMatchObject({ code: 'ENCODING' });
    // A fork further back is found too, even when the joiner is behind: the holder
    // finds it on the joiner's signed auth; the joiner keeps the holder's head (ahead).
    const seenByJoiner: HeadEvidence[] = [];
    const [joiner2, holder2] = await handover(
      { client: w.j, state: joinerView },
      { client: w.a, state: await extendLog(holderView, [(await createInvite(holderView, w.a.identity, { role: 'member', expiresAt: Date.now() + HOUR })).entry]), options: { trustOf: () => 'verified' } },
      5_000,
      (evidence) => seenByJoiner.push(evidence),
    );
    expect(holder2).toMatchObject({ kind: 'fork', peer: w.j.fingerprint });
    expect(joiner2).toMatchObject(refusal('fork', 'peer'));
    expect(seenByJoiner).toHaveLength(1);
    expect((await verifyHeadEvidence(seenByJoiner[0])).head.seq).toBe(joinerView.seq + 1);
  });

  it('regression: an unsigned refuse “fork” as the first answer is a refusal, never a fork (it cannot lock the group)', async () => {
    // A peer — or the signaling server in the middle — answers the hello with a bare refusal.
    const [ja, xb] = memoryChannelPair();
    const liar = scriptedPeer(xb);
    const seen: HeadEvidence[] = [];
    const outcome = runHandshake(ja, new JoinerHandshake(w.j.identity, w.j.group, { expectedPeer: w.a.fingerprint, onPeerHead: (e) => seen.push(e) }), { timeoutMs: 5_000 });
    await liar.message(0);
    liar.send(JSON.stringify({ t: 'refuse', reason: 'fork' }));
    expect(await outcome).toEqual({ kind: 'refused', reason: 'fork', by: 'peer', peer: w.a.fingerprint });
    expect(seen).toEqual([]);
    // Through the joiner's whole live attempt: "could not get the key from A", not a fork.
    const recorded: HeadEvidence[] = [];
    const result = await receiveKeyFromPeers(
      w.j.identity,
      w.j.group,
      {
        online: async (ids) => ids.filter((id) => id === w.a.fingerprint),
        connect: () => {
          const [mine, theirs] = memoryChannelPair();
          theirs.onMessage(() => theirs.send(JSON.stringify({ t: 'refuse', reason: 'fork' })));
          return mine;
        },
      },
      { timeoutMs: 5_000, closeGraceMs: 20, notePeerHead: async (e) => recorded.push(e) },
    );
    expect(result.kind).toBe('failed');
    expect(result.attempts).toEqual([{ peer: w.a.fingerprint, outcome: { kind: 'refused', reason: 'fork', by: 'peer', peer: w.a.fingerprint } }]);
    expect(recorded).toEqual([]);
  });

  it('the joiner keeps the holder’s signed head (any outcome), and the holder the joiner’s once its auth verified', async () => {
    const joinerSaw: HeadEvidence[] = [];
    const holderSaw: HeadEvidence[] = [];
    const [joiner, holder] = await handover({ client: w.j }, { client: w.a, options: { onPeerHead: (e) => holderSaw.push(e) } }, 5_000, (e) => joinerSaw.push(e));
    expect(holder).toMatchObject(refusal('not-verified', 'me'));
    expect(joiner).toMatchObject(refusal('not-verified', 'peer'));
    expect(await verifyHeadEvidence(joinerSaw[0])).toEqual({ peer: w.a.fingerprint, groupId: w.groupId, head: logHead(w.a.group) });
    expect(await verifyHeadEvidence(holderSaw[0])).toEqual({ peer: w.j.fingerprint, groupId: w.groupId, head: logHead(w.j.group) });
  });

  it('a holder behind the joiner’s head refuses (behind), and keeps the joiner’s signed head as evidence it is behind', async () => {
    const ahead = await extendLog(w.j.group, [(await createInvite(w.a.group, w.a.identity, { role: 'member', expiresAt: Date.now() + HOUR })).entry]);
    const holderSaw: HeadEvidence[] = [];
    const [joiner, holder] = await handover({ client: w.j, state: ahead }, { client: w.a, state: w.a.group, options: { trustOf: () => 'verified', onPeerHead: (e) => holderSaw.push(e) } });
    expect(holder).toMatchObject(refusal('behind', 'me'));
    expect(joiner).toMatchObject(refusal('behind', 'peer'));
    expect(holderSaw).toHaveLength(1);
    expect(await verifyHeadEvidence(holderSaw[0])).toEqual({ peer: w.j.fingerprint, groupId: w.groupId, head: logHead(ahead) });
  });

  it('a QR code whose head conflicts with ours only fails the scan (“does not match”), never reports a fork', async () => {
    const other = await extendLog(w.j.group, [(await createInvite(w.a.group, w.a.identity, { role: 'member', expiresAt: Date.now() + HOUR })).entry]);
    const mine = await extendLog(w.j.group, [(await createInvite(w.a.group, w.a.identity, { role: 'admin', expiresAt: Date.now() + HOUR })).entry]);
    const result = checkScannedQr(
      { from: w.a.fingerprint, to: w.j.fingerprint, groupId: w.groupId, head: logHead(other), secret: newQrSecret() },
      { fingerprint: w.j.fingerprint, groupId: w.groupId, expectedPeer: w.a.fingerprint, headAt: (seq) => mine.hashes[seq] },
    );
    expect(result).toMatchObject({ ok: false, reason: 'head-mismatch' });
    if (result.ok) throw new Error('accepted');
    expect(result.message).toMatch(/does not match/);
    expect(result.message).not.toMatch(/fork|server/i);
  });

  it('a joiner that has not seen the holder’s newer generation refuses the box: behind', async () => {
    const rotated = await rotateKey(w.a.group, w.a.identity, w.seed);
    const [joiner, holder] = await handover(
      { client: w.j, state: w.j.group },
      { client: w.a, state: rotated.state, options: { trustOf: () => 'verified', seedFor: (g) => (g === rotated.generation ? rotated.seed : undefined) } },
    );
    expect(holder).toMatchObject({ kind: 'sent', generation: 1 });
    expect(joiner).toMatchObject(refusal('behind', 'me'));
  });
});

describe('malformed and out-of-order messages', () => {
  const holderOn = (channel: MessageChannel, timeoutMs = 5_000) =>
    runHandshake(channel, new HolderHandshake(w.a.identity, w.a.group, { seedFor: w.a.seedFor, trustOf: () => 'verified' }), { timeoutMs, closeGraceMs: 20 });
  const joinerOn = (channel: MessageChannel, timeoutMs = 5_000) =>
    runHandshake(channel, new JoinerHandshake(w.j.identity, w.j.group, { expectedPeer: w.a.fingerprint }), { timeoutMs, closeGraceMs: 20 });
  const validHello = () => new JoinerHandshake(w.j.identity, w.j.group, { expectedPeer: w.a.fingerprint }).start().send[0]!;

  const badForHolder: Array<[string, () => unknown, string]> = [
    ['invalid JSON', () => '{"t":"hello",', 'malformed'],
    ['an empty string', () => '', 'malformed'],
    ['JSON that is not an object', () => '[1,2,3]', 'malformed'],
    ['JSON null', () => 'null', 'malformed'],
    ['an unknown message type', () => JSON.stringify({ t: 'gossip', v: 1 }), 'malformed'],
    ['a hello with an unknown field', () => JSON.stringify({ ...validHello(), extra: true }), 'malformed'],
    ['a hello of another version', () => JSON.stringify({ ...validHello(), v: 1 }), 'malformed'],
    ['a hello with a bad nonce', () => JSON.stringify({ ...validHello(), nonce: 'short' }), 'malformed'],
    ['an oversize message', () => JSON.stringify(validHello()) + ' '.repeat(HANDSHAKE_MESSAGE_MAX_CHARS), 'malformed'],
    ['a huge string', () => 'x'.repeat(HANDSHAKE_MESSAGE_MAX_CHARS * 8), 'malformed'],
    ['deeply nested JSON', () => '['.repeat(5_000) + ']'.repeat(5_000), 'malformed'],
    ['a number instead of text', () => 42, 'malformed'],
    ['binary data', () => new Uint8Array([123, 125]), 'malformed'],
    ['an auth before any hello (out of order)', () => JSON.stringify({ t: 'auth', sig: 'A'.repeat(86) }), 'unexpected-message'],
    ['a key before any hello (out of order)', () => JSON.stringify({ t: 'key', box: aBox }), 'unexpected-message'],
    ['a key whose box is not a box', () => JSON.stringify({ t: 'key', box: w.groupId }), 'malformed'],
    ['a welcome sent to the holder', () => JSON.stringify({ ...validHello(), t: 'welcome', expect: undefined, sig: 'A'.repeat(86) }), 'unexpected-message'],
  ];

  for (const [what, make, reason] of badForHolder) {
    it(`the holder refuses ${what}: ${reason}, never an exception`, async () => {
      const [xa, hb] = memoryChannelPair();
      const peer = scriptedPeer(xa);
      const outcome = holderOn(hb);
      (xa as { send(d: unknown): void }).send(make());
      expect(await outcome).toMatchObject(refusal(reason, 'me'));
      expect(await peer.message(0)).toEqual({ t: 'refuse', reason });
    });
  }

  it('a message of exactly the size limit is still read', async () => {
    const text = JSON.stringify(validHello());
    const padded = text + ' '.repeat(HANDSHAKE_MESSAGE_MAX_CHARS - text.length);
    expect(padded.length).toBe(HANDSHAKE_MESSAGE_MAX_CHARS);
    expect(parseHandshakeMessage(padded)?.t).toBe('hello');
    expect(parseHandshakeMessage(`${padded} `)).toBeNull();
    const step = await new HolderHandshake(w.a.identity, w.a.group, { seedFor: w.a.seedFor, trustOf: () => 'verified' }).receive(padded);
    expect(step.send[0]?.t).toBe('welcome');
  });

  it('the holder refuses a second hello after its welcome: unexpected-message', async () => {
    const [xa, hb] = memoryChannelPair();
    const peer = scriptedPeer(xa);
    const outcome = holderOn(hb);
    peer.send(JSON.stringify(validHello()));
    expect((await peer.message(0))?.t).toBe('welcome');
    peer.send(JSON.stringify(validHello()));
    expect(await outcome).toMatchObject({ ...refusal('unexpected-message', 'me'), peer: w.j.fingerprint });
    expect(await peer.message(1)).toEqual({ t: 'refuse', reason: 'unexpected-message' });
  });

  it('the joiner refuses a key before any welcome, and a hello sent to it: unexpected-message', async () => {
    for (const message of [{ t: 'key', box: aBox }, validHello()]) {
      const [ja, xb] = memoryChannelPair();
      const peer = scriptedPeer(xb);
      const outcome = joinerOn(ja);
      expect((await peer.message(0))?.t).toBe('hello');
      peer.send(JSON.stringify(message));
      expect(await outcome).toMatchObject(refusal('unexpected-message', 'me'));
      expect(await peer.message(1)).toEqual({ t: 'refuse', reason: 'unexpected-message' });
    }
  });

  it('the joiner refuses garbage instead of a welcome: malformed', async () => {
    for (const garbage of ['{', 'x'.repeat(HANDSHAKE_MESSAGE_MAX_CHARS + 1), JSON.stringify({ t: 'welcome' })]) {
      const [ja, xb] = memoryChannelPair();
      const peer = scriptedPeer(xb);
      const outcome = joinerOn(ja);
      await peer.message(0);
      peer.send(garbage);
      expect(await outcome).toMatchObject(refusal('malformed', 'me'));
    }
  });

  it('a finished machine refuses anything further instead of starting over', async () => {
    const joiner = new JoinerHandshake(w.j.identity, w.j.group, { expectedPeer: w.a.fingerprint });
    const holder = new HolderHandshake(w.a.identity, w.a.group, { seedFor: w.a.seedFor, trustOf: () => 'verified' });
    const hello = joiner.start();
    const welcome = await deliver(hello, holder);
    const auth = await deliver(welcome, joiner);
    const key = await deliver(auth, holder);
    expect(key.done?.kind).toBe('sent');
    expect((await deliver(key, joiner)).done?.kind).toBe('received');
    expect((await deliver(hello, holder)).done).toMatchObject(refusal('unexpected-message', 'me'));
    expect((await deliver(welcome, joiner)).done).toMatchObject(refusal('unexpected-message', 'me'));
    expect((await deliver(key, joiner)).done).toMatchObject(refusal('unexpected-message', 'me'));
  });

  it('a refusal from the peer ends the handshake with the peer’s reason', async () => {
    const [xa, hb] = memoryChannelPair();
    const peer = scriptedPeer(xa);
    const outcome = holderOn(hb);
    peer.send(JSON.stringify({ t: 'refuse', reason: 'fork' }));
    expect(await outcome).toMatchObject(refusal('fork', 'peer'));
    expect(peer.received).toHaveLength(0);
  });
});

describe('dropped connections', () => {
  it('the channel closes after the hello: both sides end with “closed”, nothing pending', async () => {
    const [ja, hb] = memoryChannelPair();
    const deliveredToJoiner: unknown[] = [];
    ja.onMessage((data) => deliveredToJoiner.push(data));
    let helloArrived = false;
    // The holder's end of the line drops right after the hello came through.
    const dropping: MessageChannel = {
      send: (text) => hb.send(text),
      onMessage: (handler) =>
        hb.onMessage((data) => {
          handler(data);
          helloArrived = true;
          hb.close();
        }),
      onClose: (handler) => hb.onClose(handler),
      close: () => hb.close(),
    };
    const started = Date.now();
    const [joiner, holder] = await Promise.all([
      runHandshake(ja, new JoinerHandshake(w.j.identity, w.j.group, { expectedPeer: w.a.fingerprint }), { timeoutMs: 3_000, closeGraceMs: 20 }),
      runHandshake(dropping, new HolderHandshake(w.a.identity, w.a.group, { seedFor: w.a.seedFor, trustOf: () => 'verified' }), {
        timeoutMs: 3_000,
        closeGraceMs: 20,
      }),
    ]);
    expect(helloArrived).toBe(true);
    expect(joiner).toEqual(refusal('closed', 'channel'));
    expect(holder).toEqual(refusal('closed', 'channel'));
    // Ended by the close, not by the timer.
    expect(Date.now() - started).toBeLessThan(2_000);
    // The holder's welcome, answered after the drop, never reaches anyone, now or later.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(deliveredToJoiner).toEqual([]);
  });

  it('the channel closes before anything was said: both sides end with “closed”', async () => {
    const [ja, hb] = memoryChannelPair();
    const both = Promise.all([
      runHandshake(ja, new JoinerHandshake(w.j.identity, w.j.group, { expectedPeer: w.a.fingerprint }), { timeoutMs: 3_000 }),
      runHandshake(hb, new HolderHandshake(w.a.identity, w.a.group, { seedFor: w.a.seedFor, trustOf: () => 'verified' }), { timeoutMs: 3_000 }),
    ]);
    ja.close();
    expect(await both).toEqual([refusal('closed', 'channel'), refusal('closed', 'channel')]);
  });

  it('the joiner’s channel drops after the auth: the joiner ends with “closed”, never with a key', async () => {
    const [ja, hb] = memoryChannelPair();
    const holderPeer = scriptedPeer(hb);
    const outcome = runHandshake(ja, new JoinerHandshake(w.j.identity, w.j.group, { expectedPeer: w.a.fingerprint }), { timeoutMs: 3_000 });
    const holder = new HolderHandshake(w.a.identity, w.a.group, { seedFor: w.a.seedFor, trustOf: () => 'verified' });
    const welcome = await holder.receive(JSON.stringify(await holderPeer.message(0)));
    holderPeer.send(JSON.stringify(welcome.send[0]));
    expect((await holderPeer.message(1))?.t).toBe('auth');
    holderPeer.close();
    expect(await outcome).toEqual(refusal('closed', 'channel'));
  });

  it('a peer that goes silent: the timeout ends it as “closed” and closes the channel', async () => {
    const [ja, xb] = memoryChannelPair();
    const silent = scriptedPeer(xb);
    const started = Date.now();
    const outcome = await runHandshake(ja, new JoinerHandshake(w.j.identity, w.j.group, { expectedPeer: w.a.fingerprint }), { timeoutMs: 150 });
    expect(outcome).toEqual(refusal('closed', 'channel'));
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(silent.closed).toBe(true);
    expect(silent.received).toHaveLength(1);
  });
});

describe('hostile members', () => {
  it('a member whose logged box key is a low-order X25519 point is refused, never an exception', async () => {
    // Regression: E signs a bundle whose box key is all zeros; the log accepts it (the
    // bundle is self-signed and well-formed), and A adds E. Sealing to that key cannot
    // work: the holder used to throw. Now parseBundle refuses such a bundle at hello.
    const [signKeys, boxKeys] = await Promise.all([generateSigningKeyPair(), generateBoxKeyPair()]);
    const evil = await identityFromKeyPairs(signKeys, { ...boxKeys, publicBytes: new Uint8Array(32) as Bytes });
    const add: LogEntry = await nextEntry(w.a.group, w.a.identity, 'add', { member: await singleDeviceChain(evil), role: 'member' });
    const state = await extendLog(w.a.group, [add]);
    expect(state.members.has(evil.fingerprint)).toBe(true);

    const joiner = new JoinerHandshake(evil, state, { expectedPeer: w.a.fingerprint });
    const holder = new HolderHandshake(w.a.identity, state, { seedFor: w.a.seedFor, trustOf: () => 'verified' as TrustState });
    let step: HandshakeStep | undefined;
    let thrown: unknown;
    try {
      step = await deliver(joiner.start(), holder);
    } catch (error) {
      thrown = error;
    }
    expect(thrown, 'HolderHandshake.receive threw instead of refusing').toBeUndefined();
    expect(step?.done).toMatchObject({ kind: 'refused', reason: 'malformed' });
    // And a rotation seals to everyone else, naming the one it could not reach.
    const rotated = await rotateKey(state, w.a.identity, w.seed);
    expect(rotated.unreachable).toEqual([{ kind: 'member', id: evil.fingerprint }]);
    expect(rotated.boxes.length).toBeGreaterThan(0);
  });

  it('a key box sent by the holder opens only for the joiner it names', async () => {
    const joiner = new JoinerHandshake(w.j.identity, w.j.group, { expectedPeer: w.a.fingerprint });
    const holder = new HolderHandshake(w.a.identity, w.a.group, { seedFor: w.a.seedFor, trustOf: () => 'verified' });
    const key = await deliver(await deliver(await deliver(joiner.start(), holder), joiner), holder);
    const box = (key.send[0] as Extract<HandshakeMessage, { t: 'key' }>).box;
    expect(box.recipient).toEqual({ kind: 'member', id: w.j.fingerprint });
    expect(await openKeyBox(box, openerFor(w.c.identity), w.c.group)).toBeNull();
    const seed = await openKeyBox(box, openerFor(w.j.identity), w.j.group);
    expect(seed && equalBytes(seed, w.seed)).toBe(true);
  });
});

describe('the channel driver', () => {
  it('reports the key before it tears the channel down, and still closes it right after', async () => {
    // Closing a WebRTC connection takes a couple of milliseconds of synchronous work in
    // the transport; the seed is the caller's as soon as it opened, not after that.
    const [ja, hb] = memoryChannelPair();
    let outcomeSeen = false;
    let closedBeforeOutcome: boolean | undefined;
    const joinerEnd: MessageChannel = {
      send: (text) => ja.send(text),
      onMessage: (handler) => ja.onMessage(handler),
      onClose: (handler) => ja.onClose(handler),
      close: () => {
        closedBeforeOutcome ??= !outcomeSeen;
        ja.close();
      },
    };
    const joiner = runHandshake(joinerEnd, new JoinerHandshake(w.j.identity, w.j.group, { expectedPeer: w.a.fingerprint }), { timeoutMs: 5_000 }).then((outcome) => {
      outcomeSeen = true;
      return outcome;
    });
    const holder = runHandshake(hb, new HolderHandshake(w.a.identity, w.a.group, { seedFor: w.a.seedFor, trustOf: () => 'verified' }), { timeoutMs: 5_000, closeGraceMs: 2_000 });
    expect((await joiner).kind).toBe('received');
    expect((await holder).kind).toBe('sent');
    await new Promise((resolve) => setTimeout(resolve, 10));
    // Closed (undefined would mean never), and only after the outcome was out.
    expect(closedBeforeOutcome).toBe(false);
  });
});

describe('work done ahead of the peer’s message decides nothing', () => {
  it('the box sealed while the welcome travels is not sent when the seed is gone by the auth: no-key', async () => {
    let held = true;
    const joiner = new JoinerHandshake(w.j.identity, w.j.group, { expectedPeer: w.a.fingerprint });
    const holder = new HolderHandshake(w.a.identity, w.a.group, { seedFor: (g) => (held ? w.a.seedFor(g) : undefined), trustOf: () => 'verified' });
    const auth = await deliver(await deliver(joiner.start(), holder), joiner);
    held = false;
    const step = await deliver(auth, holder);
    expect(step.done).toMatchObject(refusal('no-key', 'me'));
    expect(step.send).toEqual([{ t: 'refuse', reason: 'no-key' }]);
  });

  it('a seed that changed between the hello and the auth is sealed again: the box holds the seed held at the auth', async () => {
    const other = new Uint8Array(32).fill(7);
    let seed: Uint8Array = other;
    const joiner = new JoinerHandshake(w.j.identity, w.j.group, { expectedPeer: w.a.fingerprint });
    const holder = new HolderHandshake(w.a.identity, w.a.group, { seedFor: (g) => (g === 0 ? seed : undefined), trustOf: () => 'verified' });
    const auth = await deliver(await deliver(joiner.start(), holder), joiner);
    seed = w.seed;
    const key = await deliver(auth, holder);
    expect(key.done).toMatchObject({ kind: 'sent' });
    expect((await deliver(key, joiner)).done).toMatchObject({ kind: 'received', generation: 0 });
  });

  it('the box prepared for a hello is sent only after its auth verifies: a forged auth gets bad-signature and no box', async () => {
    const joiner = new JoinerHandshake(w.j.identity, w.j.group, { expectedPeer: w.a.fingerprint });
    const holder = new HolderHandshake(w.a.identity, w.a.group, { seedFor: w.a.seedFor, trustOf: () => 'verified' });
    const auth = (await deliver(await deliver(joiner.start(), holder), joiner)).send[0] as Extract<HandshakeMessage, { t: 'auth' }>;
    const forged = { ...auth, sig: auth.sig.startsWith('A') ? `B${auth.sig.slice(1)}` : `A${auth.sig.slice(1)}` };
    const step = await holder.receive(JSON.stringify(forged));
    expect(step.done).toMatchObject(refusal('bad-signature', 'me'));
    expect(step.send).toEqual([{ t: 'refuse', reason: 'bad-signature' }]);
  });

  it('a bundle checked before is remembered only as itself: the same keys under a broken self-signature are bad-signature', async () => {
    // A full handover first: both sides have now checked J's and A's bundles.
    w.a.trust.set(w.j.fingerprint, 'verified');
    const [received] = await handover({ client: w.j }, { client: w.a });
    expect(received.kind).toBe('received');
    const joiner = new JoinerHandshake(w.j.identity, w.j.group, { expectedPeer: w.a.fingerprint });
    const hello = joiner.start().send[0] as Extract<HandshakeMessage, { t: 'hello' }>;
    const sig = hello.bundle.sig;
    const broken = { ...hello, bundle: { ...hello.bundle, sig: `${sig.startsWith('A') ? 'B' : 'A'}${sig.slice(1)}` } };
    const holder = new HolderHandshake(w.a.identity, w.a.group, { seedFor: w.a.seedFor, trustOf: () => 'verified' });
    expect((await holder.receive(JSON.stringify(broken))).done).toMatchObject(refusal('bad-signature', 'me'));
  });
});
