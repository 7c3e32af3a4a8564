/**
 * Waiting for the group key (DESIGN §6.3) as the states a person sees: `keyWaitRound`
 * and `waitForGroupKey` over fake steps, so every branch — live key, refused or
 * unreachable peers, a fork, the mailbox, stopping — is named and ordered exactly.
 * The same flow over the real servers and WebRTC is in
 * signaling-server/test/key-handover-flow.node.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { HandshakeOutcome, HeadEvidence } from '../src/crypto/handshake.ts';
import { keyWaitRound, waitForGroupKey, type KeyWaitState, type KeyWaitSteps } from '../src/p2p/key-waiting.ts';
import type { PeerAttempt, PeerKeyResult } from '../src/p2p/joiner-handover.ts';
import type { Fingerprint } from '../src/protocol/ids.ts';

const ANA = 'a'.repeat(52) as Fingerprint;
const BEN = 'b'.repeat(52) as Fingerprint;
const SEED = new Uint8Array(32).fill(7);
/** The signed head a fork is reported with (its contents do not matter to the round). */
const EVIDENCE = {} as HeadEvidence;

const refusedBy = (peer: Fingerprint, reason: 'not-verified' | 'closed'): PeerAttempt => ({
  peer,
  outcome: (reason === 'closed' ? { kind: 'refused', reason, by: 'channel' } : { kind: 'refused', reason, by: 'peer', peer }) as HandshakeOutcome,
});

interface FakeOptions {
  /** What the live attempt does: the peers it "connects" to, then its result (or a throw). */
  connects?: Fingerprint[];
  peers?: PeerKeyResult | Error;
  acceptSeed?: Error;
  /** One answer per call; the last one repeats. */
  mailbox?: Array<boolean | Error>;
}

/** Fake steps that record every call in order. */
function fakeSteps(options: FakeOptions): { steps: KeyWaitSteps; calls: string[] } {
  const calls: string[] = [];
  let mailboxCall = 0;
  const steps: KeyWaitSteps = {
    async tryPeers(onConnecting) {
      calls.push('tryPeers');
      for (const peer of options.connects ?? []) onConnecting(peer);
      const peers = options.peers ?? { kind: 'nobody-online', attempts: [] };
      if (peers instanceof Error) throw peers;
      return peers;
    },
    async acceptSeed(generation, seed) {
      calls.push(`acceptSeed:${generation}:${seed[0]}`);
      if (options.acceptSeed) throw options.acceptSeed;
    },
    async requestFromMailbox() {
      calls.push('requestFromMailbox');
    },
    async checkMailbox() {
      calls.push('checkMailbox');
      const answers = options.mailbox ?? [false];
      const answer = answers[Math.min(mailboxCall++, answers.length - 1)]!;
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  return { steps, calls };
}

async function round(options: FakeOptions): Promise<{ seen: KeyWaitState[]; end: KeyWaitState; calls: string[] }> {
  const { steps, calls } = fakeSteps(options);
  const seen: KeyWaitState[] = [];
  const end = await keyWaitRound(steps, (state) => seen.push(state));
  return { seen, end, calls };
}

describe('keyWaitRound', () => {
  it('a key received live and accepted ends as received via the peer, leaving no mailbox request', async () => {
    const attempts = [refusedBy(ANA, 'not-verified'), { peer: BEN, outcome: { kind: 'received', peer: BEN, generation: 3, seed: SEED } as HandshakeOutcome }];
    const { seen, end, calls } = await round({ connects: [ANA, BEN], peers: { kind: 'received', peer: BEN, generation: 3, seed: SEED, attempts } });
    expect(seen).toEqual([
      { phase: 'looking' },
      { phase: 'connecting', peer: ANA },
      { phase: 'connecting', peer: BEN },
      { phase: 'received', via: 'peer', from: BEN, generation: 3 },
    ]);
    expect(end).toEqual(seen.at(-1));
    expect(calls).toEqual(['checkMailbox', 'tryPeers', 'acceptSeed:3:7']);
  });

  it('a seed the log does not confirm (acceptSeed throws) falls back to the mailbox as peers-failed', async () => {
    const attempts = [{ peer: ANA, outcome: { kind: 'received', peer: ANA, generation: 1, seed: SEED } as HandshakeOutcome }];
    const { seen, end, calls } = await round({
      connects: [ANA],
      peers: { kind: 'received', peer: ANA, generation: 1, seed: SEED, attempts },
      acceptSeed: new Error('not the logged key'),
    });
    expect(seen).toEqual([{ phase: 'looking' }, { phase: 'connecting', peer: ANA }, { phase: 'waiting', why: 'peers-failed', attempts }]);
    expect(end).toEqual(seen.at(-1));
    expect(calls).toEqual(['checkMailbox', 'tryPeers', 'acceptSeed:1:7', 'requestFromMailbox']);
  });

  it('peers that all refused or dropped end as peers-failed with each attempt named', async () => {
    const attempts = [refusedBy(ANA, 'not-verified'), refusedBy(BEN, 'closed')];
    const { seen, calls } = await round({ connects: [ANA, BEN], peers: { kind: 'failed', attempts } });
    expect(seen).toEqual([
      { phase: 'looking' },
      { phase: 'connecting', peer: ANA },
      { phase: 'connecting', peer: BEN },
      { phase: 'waiting', why: 'peers-failed', attempts },
    ]);
    expect(calls).toEqual(['checkMailbox', 'tryPeers', 'requestFromMailbox']);
  });

  it('a live attempt that throws (signaling unreachable) ends as peers-unreachable, and the mailbox is still used', async () => {
    const { seen, calls } = await round({ peers: new Error('presence: cannot reach the signaling server') });
    expect(seen).toEqual([{ phase: 'looking' }, { phase: 'waiting', why: 'peers-unreachable', attempts: [] }]);
    expect(calls).toEqual(['checkMailbox', 'tryPeers', 'requestFromMailbox']);
  });

  it('nobody online ends as nobody-online, with the request left in the mailbox', async () => {
    const { seen, calls } = await round({ peers: { kind: 'nobody-online', attempts: [] } });
    expect(seen).toEqual([{ phase: 'looking' }, { phase: 'waiting', why: 'nobody-online', attempts: [] }]);
    expect(calls).toEqual(['checkMailbox', 'tryPeers', 'requestFromMailbox']);
  });

  it('a fork stops the round: no seed accepted, no mailbox request', async () => {
    const attempts = [{ peer: ANA, outcome: { kind: 'refused', reason: 'fork', by: 'peer', peer: ANA } as HandshakeOutcome }];
    const { seen, end, calls } = await round({ connects: [ANA], peers: { kind: 'fork', peer: ANA, evidence: EVIDENCE, attempts } });
    expect(seen).toEqual([{ phase: 'looking' }, { phase: 'connecting', peer: ANA }, { phase: 'fork', peer: ANA }]);
    expect(end).toEqual({ phase: 'fork', peer: ANA });
    expect(calls).toEqual(['checkMailbox', 'tryPeers']);
  });

  it('a box already waiting in the mailbox ends as received via the mailbox: no peer dialled, no new request', async () => {
    const { seen, calls } = await round({ connects: [ANA], peers: { kind: 'failed', attempts: [refusedBy(ANA, 'closed')] }, mailbox: [true] });
    expect(seen).toEqual([{ phase: 'looking' }, { phase: 'received', via: 'mailbox' }]);
    expect(calls).toEqual(['checkMailbox']);
  });

  it('a mailbox that cannot be read makes the round throw (waitForGroupKey retries it)', async () => {
    await expect(round({ mailbox: [new Error('storage API down')] })).rejects.toThrow('storage API down');
  });
});

describe('waitForGroupKey', () => {
  it('repeats rounds until the key arrives, and says so', async () => {
    const { steps, calls } = fakeSteps({ mailbox: [false, false, true] });
    const seen: KeyWaitState[] = [];
    const end = await waitForGroupKey(steps, { onState: (s) => seen.push(s), retryMs: 0 });
    expect(end).toEqual({ phase: 'received', via: 'mailbox' });
    expect(seen).toEqual([
      { phase: 'looking' },
      { phase: 'waiting', why: 'nobody-online', attempts: [] },
      { phase: 'looking' },
      { phase: 'waiting', why: 'nobody-online', attempts: [] },
      { phase: 'looking' },
      { phase: 'received', via: 'mailbox' },
    ]);
    // The third round finds the box before dialling anyone.
    expect(calls.filter((c) => c === 'tryPeers')).toHaveLength(2);
  });

  it('a failing round is reported and retried, not fatal', async () => {
    const { steps } = fakeSteps({ mailbox: [new Error('storage API down'), true] });
    const errors: unknown[] = [];
    const end = await waitForGroupKey(steps, { retryMs: 0, onError: (e) => errors.push(e) });
    expect(end).toEqual({ phase: 'received', via: 'mailbox' });
    expect(errors).toEqual([new Error('storage API down')]);
  });

  it('stops at a fork without another round', async () => {
    const { steps, calls } = fakeSteps({ connects: [ANA], peers: { kind: 'fork', peer: ANA, evidence: EVIDENCE, attempts: [] } });
    expect(await waitForGroupKey(steps, { retryMs: 0 })).toEqual({ phase: 'fork', peer: ANA });
    expect(calls).toEqual(['checkMailbox', 'tryPeers']);
  });

  it('an abort during the pause between rounds ends the wait as stopped', async () => {
    const { steps, calls } = fakeSteps({});
    const controller = new AbortController();
    const seen: KeyWaitState[] = [];
    // An hour between rounds: only the abort can end this wait.
    const end = await waitForGroupKey(steps, {
      retryMs: 3600_000,
      signal: controller.signal,
      onState: (state) => {
        seen.push(state);
        if (state.phase === 'waiting') controller.abort();
      },
    });
    expect(end).toEqual({ phase: 'stopped' });
    expect(seen).toEqual([{ phase: 'looking' }, { phase: 'waiting', why: 'nobody-online', attempts: [] }, { phase: 'stopped' }]);
    expect(calls.filter((c) => c === 'tryPeers')).toHaveLength(1);
  });

  it('an already aborted wait runs no round', async () => {
    const { steps, calls } = fakeSteps({ mailbox: [true] });
    const controller = new AbortController();
    controller.abort();
    const seen: KeyWaitState[] = [];
    expect(await waitForGroupKey(steps, { signal: controller.signal, onState: (s) => seen.push(s) })).toEqual({ phase: 'stopped' });
    expect(seen).toEqual([{ phase: 'stopped' }]);
    expect(calls).toEqual([]);
  });
});
