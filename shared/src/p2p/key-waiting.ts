/**
 * Waiting for the group key after joining (DESIGN §6.3), as a person sees it: first
 * live from an online member, else through the mailbox, retried until the key arrives
 * or the wait is stopped. Every step is a named state the UI shows ("waiting for Ana
 * or Ben to come online…"); each state is plain data, so the extension can persist it
 * and resume after its service worker or popup is gone.
 */
import type { Fingerprint } from '../protocol/ids.ts';
import type { PeerAttempt, PeerKeyResult } from './joiner-handover.ts';

export type KeyWaitState =
  | { phase: 'looking' }
  | { phase: 'connecting'; peer: Fingerprint }
  /**
   * The key request waits in the mailbox. `why`: nobody who could hand it over is
   * online, or those online refused or could not be reached (`attempts` says how).
   */
  | { phase: 'waiting'; why: 'nobody-online' | 'peers-failed' | 'peers-unreachable'; attempts: PeerAttempt[] }
  | { phase: 'received'; via: 'peer' | 'mailbox'; from?: Fingerprint; generation?: number }
  /** A holder's log contradicts ours: stop, and show it. */
  | { phase: 'fork'; peer: Fingerprint }
  | { phase: 'stopped' };

export interface KeyWaitSteps {
  /** Live attempt over the peer transport. */
  tryPeers(onConnecting: (peer: Fingerprint) => void): Promise<PeerKeyResult>;
  /** Checks the seed against the log and keeps it. @throws when it is not the logged key. */
  acceptSeed(generation: number, seed: Uint8Array): Promise<void>;
  /** Leaves (or refreshes) the key request in the mailbox. */
  requestFromMailbox(): Promise<void>;
  /** Opens a box waiting in the mailbox; true when the current key is now held. */
  checkMailbox(): Promise<boolean>;
}

/**
 * One round: a box already in the mailbox, else the peers, else a request left in
 * the mailbox. Used by the extension's alarm-driven
 * resumption and by `waitForGroupKey`.
 */
export async function keyWaitRound(steps: KeyWaitSteps, onState: (state: KeyWaitState) => void = () => {}): Promise<KeyWaitState> {
  onState({ phase: 'looking' });
  // A box already waiting costs one request; no need to dial anyone.
  if (await steps.checkMailbox()) return done({ phase: 'received', via: 'mailbox' });
  let attempts: PeerAttempt[] = [];
  let why: Extract<KeyWaitState, { phase: 'waiting' }>['why'] = 'nobody-online';
  let peers: PeerKeyResult | undefined;
  try {
    peers = await steps.tryPeers((peer) => onState({ phase: 'connecting', peer }));
  } catch {
    // Signaling down or unreachable: the mailbox still works.
    why = 'peers-unreachable';
  }
  if (peers?.kind === 'fork') return done({ phase: 'fork', peer: peers.peer });
  if (peers?.kind === 'received') {
    try {
      await steps.acceptSeed(peers.generation, peers.seed);
      return done({ phase: 'received', via: 'peer', from: peers.peer, generation: peers.generation });
    } catch {
      attempts = peers.attempts;
      why = 'peers-failed';
    }
  } else if (peers?.kind === 'failed') {
    attempts = peers.attempts;
    why = 'peers-failed';
  }
  await steps.requestFromMailbox();
  return done({ phase: 'waiting', why, attempts });

  function done(state: KeyWaitState): KeyWaitState {
    onState(state);
    return state;
  }
}

/**
 * Rounds every `retryMs` until the key arrives, a fork is found, or `signal` aborts.
 * A failing round (the storage API briefly down) is retried, not fatal.
 */
export async function waitForGroupKey(
  steps: KeyWaitSteps,
  options: { onState?: (state: KeyWaitState) => void; retryMs?: number; signal?: AbortSignal; onError?: (error: unknown) => void } = {},
): Promise<KeyWaitState> {
  const { onState = () => {}, retryMs = 5_000, signal } = options;
  while (!signal?.aborted) {
    try {
      const state = await keyWaitRound(steps, onState);
      if (state.phase !== 'waiting') return state;
    } catch (error) {
      options.onError?.(error);
    }
    await pause(retryMs, signal);
  }
  const stopped: KeyWaitState = { phase: 'stopped' };
  onState(stopped);
  return stopped;
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
