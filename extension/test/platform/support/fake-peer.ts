/**
 * A fake PeerJS world in memory: peers register (or are refused) by token, connect to
 * each other, and lose the server on demand — with PeerJS's event order ('error'
 * then 'disconnected'; destroy → 'disconnected' then 'close'; an unknown peer →
 * 'peer-unavailable' on the Peer, not on the connection).
 */
import type { PeerConnectionLike, PeerFactory, PeerLike, PeerOptionsLike } from '../../../src/p2p/peer-registration.ts';

type Listener = (...args: never[]) => void;

class Emitter {
  readonly #listeners = new Map<string, Listener[]>();
  on(event: string, listener: Listener): this {
    this.#listeners.set(event, [...(this.#listeners.get(event) ?? []), listener]);
    return this;
  }
  emit(event: string, ...args: unknown[]): void {
    for (const listener of this.#listeners.get(event) ?? []) (listener as (...a: unknown[]) => void)(...args);
  }
}

const later = (fn: () => void) => setTimeout(fn, 0);

export class FakeConnection extends Emitter implements PeerConnectionLike {
  open = false;
  closed = false;
  other: FakeConnection | undefined;
  readonly sent: unknown[] = [];
  constructor(readonly peer: string) {
    super();
  }
  send(data: string): void {
    if (!this.open) throw new Error('connection not open');
    this.sent.push(data);
    later(() => {
      if (this.other && !this.other.closed) this.other.emit('data', data);
    });
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.open = false;
    this.emit('close');
    const other = this.other;
    if (other) later(() => other.close());
  }
}

export class FakePeer extends Emitter implements PeerLike {
  destroyed = false;
  disconnected = false;
  opened = false;
  readonly connections: FakeConnection[] = [];

  constructor(
    readonly network: FakePeerNetwork,
    readonly id: string,
    readonly options: PeerOptionsLike,
  ) {
    super();
    later(() => void this.#register());
  }

  async #register(): Promise<void> {
    const refusal = await this.network.refusal(this);
    if (this.destroyed) return;
    if (refusal) {
      this.emit('error', { type: refusal.type, message: refusal.message });
      this.destroy();
      return;
    }
    this.network.online.set(this.id, this);
    this.opened = true;
    this.emit('open', this.id);
  }

  connect(peer: string): FakeConnection | undefined {
    if (this.disconnected) return undefined;
    const mine = new FakeConnection(peer);
    this.connections.push(mine);
    later(() => {
      const target = this.network.online.get(peer);
      if (!target || target.destroyed || target.disconnected) {
        this.emit('error', { type: 'peer-unavailable', message: `Could not connect to peer ${peer}` });
        return;
      }
      const theirs = new FakeConnection(this.id);
      target.connections.push(theirs);
      mine.other = theirs;
      theirs.other = mine;
      target.emit('connection', theirs);
      later(() => {
        if (mine.closed || theirs.closed) return;
        mine.open = theirs.open = true;
        theirs.emit('open');
        mine.emit('open');
      });
    });
    return mine;
  }

  /** The signaling socket drops: PeerJS says 'network' then 'disconnected'; connections stay. */
  loseServer(): void {
    if (this.disconnected) return;
    if (this.network.online.get(this.id) === this) this.network.online.delete(this.id);
    this.emit('error', { type: 'network', message: 'Lost connection to server.' });
    this.disconnected = true;
    this.emit('disconnected', this.id);
  }

  destroy(): void {
    if (this.destroyed) return;
    if (!this.disconnected) {
      this.disconnected = true;
      if (this.network.online.get(this.id) === this) this.network.online.delete(this.id);
      this.emit('disconnected', this.id);
    }
    for (const conn of this.connections) conn.close();
    this.destroyed = true;
    this.emit('close');
  }
}

export class FakePeerNetwork {
  readonly online = new Map<string, FakePeer>();
  readonly peers: FakePeer[] = [];
  /** Every token presented, in order. */
  readonly tokens: string[] = [];
  /** Decides whether a registration is refused (the real server's token check, a test's outage). */
  check: (peer: FakePeer) => Promise<{ type: string; message: string } | null> = async () => null;

  readonly createPeer: PeerFactory = (id, options) => {
    const peer = new FakePeer(this, id, options);
    this.peers.push(peer);
    return peer;
  };

  async refusal(peer: FakePeer): Promise<{ type: string; message: string } | null> {
    this.tokens.push(peer.options.token);
    const refused = await this.check(peer);
    if (refused) return refused;
    const holder = this.online.get(peer.id);
    if (holder && !holder.destroyed && !holder.disconnected) return { type: 'unavailable-id', message: `ID "${peer.id}" is taken` };
    return null;
  }

  peersOf(id: string): FakePeer[] {
    return this.peers.filter((p) => p.id === id);
  }
}
