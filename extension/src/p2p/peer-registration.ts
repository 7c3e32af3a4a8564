/**
 * One device's registration with the signaling server through PeerJS (DESIGN §7),
 * kept alive: when PeerJS reports 'disconnected', 'close' or a fatal 'error', a NEW
 * `Peer` registers with a NEW token after a backoff (1 s, 2 s, 4 s … 60 s, jittered).
 * `Peer.reconnect()` is never used: it resends the old token, which the server refuses
 * (tokens are single-use, docs/OPERATIONS.md).
 *
 * Runs wherever RTCPeerConnection exists: the offscreen document (Chrome) or the
 * background page (Firefox). The token comes from a callback, so the private key can
 * stay where it lives (the background's IndexedDB).
 *
 * A replaced peer is not destroyed at once when it had registered: its data
 * connections may still carry a handshake, so it is destroyed `retireAfterMs` later.
 */
import type { DataConnectionLike } from '@conclave/shared/p2p';
import type { RegistrationOptions } from './internal-messages.ts';
import { sameRegistration } from './signaling-options.ts';
import { TransportError } from './transport-error.ts';

/** A PeerJS data connection, as far as this module and the relays use it. */
export interface PeerConnectionLike extends DataConnectionLike {
  /** The remote peer's id. */
  readonly peer: string;
}

/** The part of PeerJS's `Peer` used here (tests give a fake). */
export interface PeerLike {
  on(event: 'open', listener: (id: string) => void): unknown;
  on(event: 'connection', listener: (conn: PeerConnectionLike) => void): unknown;
  on(event: 'disconnected' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (error: { type?: string; message?: string }) => void): unknown;
  connect(peer: string, options: { reliable: boolean }): PeerConnectionLike | undefined;
  destroy(): void;
}

/** PeerJS constructor options, as passed (`new Peer(id, options)`). */
export interface PeerOptionsLike {
  host: string;
  port: number;
  secure: boolean;
  path: string;
  key: string;
  token: string;
  config: { iceServers: RegistrationOptions['iceServers'] };
  debug: number;
}

export type PeerFactory = (id: string, options: PeerOptionsLike) => PeerLike;

export interface RegistrationDeps {
  createPeer: PeerFactory;
  /** A fresh single-use registration token, asked for before every registration. */
  token: () => Promise<string>;
  /** Every data connection another device opens to this one. */
  onConnection: (conn: PeerConnectionLike) => void;
  backoff?: { initialMs: number; maxMs: number };
  /** How long a replaced peer keeps its open data connections. */
  retireAfterMs?: number;
  /** Jitter source (tests pin it). */
  random?: () => number;
}

export const DEFAULT_BACKOFF = { initialMs: 1_000, maxMs: 60_000 };
export const RETIRE_AFTER_MS = 30_000;

interface Waiter {
  resolve: () => void;
  reject: (error: TransportError) => void;
}

export class PeerRegistration {
  #options: RegistrationOptions | undefined;
  #peer: PeerLike | undefined;
  #open = false;
  /** Bumped whenever the current peer is replaced: events of older peers are ignored. */
  #generation = 0;
  #failures = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #waiters: Waiter[] = [];
  /** Outgoing connections not open yet, closed when the server says their peer is unknown. */
  readonly #dialling = new Set<PeerConnectionLike>();
  readonly #retired = new Map<PeerLike, ReturnType<typeof setTimeout>>();
  /** The last reason registration failed (cleared once registered). */
  lastError: string | undefined;

  constructor(private readonly deps: RegistrationDeps) {}

  /** True while registered with the signaling server. */
  get registered(): boolean {
    return this.#open;
  }

  get options(): RegistrationOptions | undefined {
    return this.#options;
  }

  /**
   * Registers with `options` (idempotent: same options, same registration; new
   * options replace it). Resolves once registered; rejects when the attempt it waited
   * for fails — registration keeps retrying until `stop()`.
   */
  start(options: RegistrationOptions): Promise<void> {
    if (!sameRegistration(this.#options, options)) {
      this.#teardown('the registration was replaced by one with other settings');
      this.#options = options;
      this.#failures = 0;
      void this.#register();
    } else if (this.#retry !== undefined) {
      // Asked explicitly while waiting out a backoff: try now.
      clearTimeout(this.#retry);
      this.#retry = undefined;
      void this.#register();
    }
    if (this.#open) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** A data connection to `peer`, or undefined when not registered. */
  connect(peer: string): PeerConnectionLike | undefined {
    if (!this.#peer || !this.#open) return undefined;
    const conn = this.#peer.connect(peer, { reliable: true });
    if (!conn) return undefined;
    this.#dialling.add(conn);
    conn.on('open', () => this.#dialling.delete(conn));
    conn.on('close', () => this.#dialling.delete(conn));
    conn.on('error', () => this.#dialling.delete(conn));
    return conn;
  }

  /** Unregisters and stops retrying; every connection closes. */
  stop(): void {
    this.#teardown('the transport was stopped');
    this.#options = undefined;
  }

  async #register(): Promise<void> {
    const generation = ++this.#generation;
    this.#retry = undefined;
    let token: string;
    try {
      token = await this.deps.token();
    } catch (error) {
      this.#fail(generation, `no registration token (${(error as Error).message})`);
      return;
    }
    const options = this.#options;
    if (generation !== this.#generation || !options) return;
    let peer: PeerLike;
    try {
      peer = this.deps.createPeer(options.id, {
        host: options.host,
        port: options.port,
        secure: options.secure,
        path: options.path,
        key: options.key,
        token,
        config: { iceServers: options.iceServers },
        debug: 0,
      });
    } catch (error) {
      this.#fail(generation, `PeerJS refused to start (${(error as Error).message})`);
      return;
    }
    this.#peer = peer;
    peer.on('open', () => {
      if (generation !== this.#generation) return;
      this.#open = true;
      this.#failures = 0;
      this.lastError = undefined;
      for (const waiter of this.#waiters.splice(0)) waiter.resolve();
    });
    peer.on('connection', (conn) => {
      if (generation === this.#generation) this.deps.onConnection(conn);
      else conn.close();
    });
    peer.on('error', (error) => {
      if (error.type === 'peer-unavailable') {
        this.#peerUnavailable(error.message ?? '');
        return;
      }
      this.#fail(generation, `${error.type ?? 'error'}: ${error.message ?? 'PeerJS failed'}`);
    });
    peer.on('disconnected', () => this.#fail(generation, 'lost the connection to the signaling server'));
    peer.on('close', () => this.#fail(generation, 'the peer was destroyed'));
  }

  /** The current peer failed: retire it, tell the waiters, and register again after a backoff. */
  #fail(generation: number, reason: string): void {
    if (generation !== this.#generation || !this.#options) return;
    this.#generation++;
    const peer = this.#peer;
    const wasOpen = this.#open;
    this.#peer = undefined;
    this.#open = false;
    if (peer) this.#retire(peer, wasOpen);
    this.lastError = reason;
    const error = new TransportError('registration-failed', `registration with the signaling server failed: ${reason}`);
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
    const { initialMs, maxMs } = this.deps.backoff ?? DEFAULT_BACKOFF;
    const delay = Math.min(maxMs, initialMs * 2 ** this.#failures) * (0.5 + (this.deps.random ?? Math.random)() / 2);
    this.#failures = Math.min(this.#failures + 1, 30);
    this.#retry = setTimeout(() => void this.#register(), delay);
  }

  #retire(peer: PeerLike, wasOpen: boolean): void {
    if (!wasOpen) {
      peer.destroy();
      return;
    }
    const timer = setTimeout(() => {
      this.#retired.delete(peer);
      peer.destroy();
    }, this.deps.retireAfterMs ?? RETIRE_AFTER_MS);
    this.#retired.set(peer, timer);
  }

  /** PeerJS names the unknown peer only in its message ("Could not connect to peer <id>"). */
  #peerUnavailable(message: string): void {
    const id = /peer (\S+)$/.exec(message)?.[1];
    if (!id) return;
    for (const conn of [...this.#dialling]) {
      if (conn.peer !== id) continue;
      this.#dialling.delete(conn);
      conn.close();
    }
  }

  #teardown(reason: string): void {
    this.#generation++;
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#peer?.destroy();
    this.#peer = undefined;
    this.#open = false;
    for (const [peer, timer] of this.#retired) {
      clearTimeout(timer);
      peer.destroy();
    }
    this.#retired.clear();
    this.#dialling.clear();
    const error = new TransportError('stopped', reason);
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
  }
}
