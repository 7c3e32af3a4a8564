/**
 * Devices for the background's tests: each is a `createBackground` on its own
 * IndexedDB database (fake-indexeddb, which stores CryptoKeys as a browser does),
 * talking to a real storage API over HTTP, and to the other devices through an
 * in-memory peer network whose channels are `memoryChannelPair`s. Every text a channel
 * carries is recorded, so a test can see which device handed a key to which.
 */
import 'fake-indexeddb/auto';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { afterAll, beforeAll } from 'vitest';
import { memoryChannelPair, type MessageChannel } from '@conclave/shared/p2p';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import { recordRequests, type RequestRecorder } from '../../../storage-api/test/support/request-recorder.ts';
import { startServer, type TestServer } from '../../../storage-api/test/support/server.ts';
import { createBackground, type Background } from '../../src/background/background.ts';
import type { Answers } from '../../src/messages/answers.ts';
import { openDb, type ConclaveDb } from '../../src/db/schema.ts';
import type { ChangedEvent, ExtensionError, Request, RequestType } from '../../src/messages/protocol.ts';
import type { PeerTransport } from '../../src/p2p/transport.ts';

export class AskError extends Error {
  constructor(readonly error: ExtensionError) {
    super(`${error.code}: ${error.message} — ${error.action}`);
  }
}

export interface Carried {
  from: Fingerprint;
  to: Fingerprint;
  text: string;
}

/** A signaling server and data channels in one process. */
export class MemoryNetwork {
  private readonly peers = new Map<Fingerprint, MemoryTransport>();
  readonly carried: Carried[] = [];

  register(fingerprint: Fingerprint, transport: MemoryTransport): void {
    this.peers.set(fingerprint, transport);
  }

  unregister(fingerprint: Fingerprint): void {
    this.peers.delete(fingerprint);
  }

  isOnline(fingerprint: Fingerprint): boolean {
    const peer = this.peers.get(fingerprint);
    return peer !== undefined && peer.reachable;
  }

  /** Opens a channel from `from` to `to`; an unreachable peer's end closes at once. */
  dial(from: Fingerprint, to: Fingerprint): MessageChannel {
    const [mine, theirs] = memoryChannelPair();
    const target = this.peers.get(to);
    const record = (end: MessageChannel, a: Fingerprint, b: Fingerprint): MessageChannel => ({
      ...end,
      send: (text) => {
        this.carried.push({ from: a, to: b, text });
        end.send(text);
      },
    });
    // A device that shows as online but does not answer: the channel never opens (the dialler's handshake times out).
    if (target?.reachable && !target.answers) return record(mine, from, to);
    if (target?.reachable && target.handler) {
      const handler = target.handler;
      queueMicrotask(() => handler(record(theirs, to, from)));
    } else {
      queueMicrotask(() => mine.close());
    }
    return record(mine, from, to);
  }

  /** Key boxes handed over live, as (from, to) pairs. */
  keysHanded(): Array<{ from: Fingerprint; to: Fingerprint }> {
    return this.carried.filter((c) => (JSON.parse(c.text) as { t?: string }).t === 'key').map(({ from, to }) => ({ from, to }));
  }
}

export class MemoryTransport implements PeerTransport {
  handler: ((channel: MessageChannel) => void) | null = null;
  /** False: this device is offline for peers (it neither shows as online nor answers, nor sees anyone online). */
  reachable = true;
  /** False: this device shows as online, but a channel to it never opens (a WebRTC connection that fails). */
  answers = true;
  /** True: `start` fails, as when the signaling server is down. */
  signalingDown = false;
  private me: Fingerprint | null = null;

  constructor(
    private readonly network: MemoryNetwork,
    private readonly db: ConclaveDb,
  ) {}

  async start(): Promise<void> {
    if (this.signalingDown) throw new Error('signaling server unreachable');
    const row = await this.db.identity.get('device');
    if (!row) throw new Error('no identity yet');
    this.me = row.identity.fingerprint;
    this.network.register(this.me, this);
  }

  async online(ids: readonly Fingerprint[]): Promise<Fingerprint[]> {
    if (this.signalingDown) throw new Error('signaling server unreachable');
    // A device offline for peers sees nobody online either (it cannot dial them).
    if (!this.reachable) return [];
    return ids.filter((id) => this.network.isOnline(id));
  }

  connect(peer: Fingerprint): MessageChannel {
    return this.network.dial(this.me!, peer);
  }

  onIncoming(handler: (channel: MessageChannel) => void): void {
    this.handler = handler;
  }

  async stop(): Promise<void> {
    if (this.me) this.network.unregister(this.me);
  }
}

export interface TestDevice {
  label: string;
  db: ConclaveDb;
  bg: Background;
  transport: MemoryTransport;
  events: ChangedEvent[];
  badge(): string;
  /** Sends a request; resolves with its data or throws `AskError`. */
  ask<K extends RequestType>(request: Extract<Request, { type: K }>): Promise<Answers[K]>;
  /** Sends a request that must fail; resolves with its error. */
  refused(request: Request): Promise<ExtensionError>;
  fingerprint(): Promise<Fingerprint>;
  /** The service worker was stopped and starts again: a new background on the same database. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface DeviceOptions {
  /** Hold the storage API's live event stream (over `ws`'s WebSocket, or the class given; reconnecting after 50 ms). */
  live?: boolean | typeof globalThis.WebSocket;
}

export async function newDevice(label: string, network: MemoryNetwork, apiUrl: string, options: DeviceOptions = {}): Promise<TestDevice> {
  const db = openDb(`conclave-test-${label}-${randomBytes(6).toString('hex')}`);
  const transport = new MemoryTransport(network, db);
  const events: ChangedEvent[] = [];
  let badge = '';
  const socket = typeof options.live === 'function' ? options.live : (WebSocket as unknown as typeof globalThis.WebSocket);
  const live = options.live ? { live: { WebSocket: socket, retryDelayMs: () => 50 } } : {};
  const make = () => createBackground({ db, transport, badge: (text) => (badge = text), broadcast: (event) => events.push(event), handshakeTimeoutMs: 5_000, ...live });
  let bg = make();
  const device: TestDevice = {
    label,
    db,
    get bg() {
      return bg;
    },
    transport,
    events,
    badge: () => badge,
    async ask(request) {
      const response = await bg.handle(request);
      if (!response.ok) throw new AskError(response.error);
      return response.data as never;
    },
    async refused(request) {
      const response = await bg.handle(request);
      if (response.ok) throw new Error(`${request.type} was expected to fail but answered ${JSON.stringify(response.data)}`);
      return response.error;
    },
    async restart() {
      // A stopped worker's socket goes with it.
      await bg.stop();
      await bg.idle();
      bg = make();
    },
    async fingerprint() {
      return (await db.identity.get('device'))!.identity.fingerprint;
    },
    async close() {
      await bg.stop();
      await bg.idle();
      db.close();
    },
  };
  await device.ask({ type: 'settings.save', apiUrl, signalingUrl: 'http://127.0.0.1:9000/peerjs', iceServers: [] });
  return device;
}

/**
 * A group "Harbour" (verified people only) made by `admin`, which `members` join with
 * pre-keyed invites: everyone holds the key at once, nobody has verified anybody.
 */
export async function harbourWith(admin: TestDevice, members: TestDevice[]): Promise<GroupId> {
  const { groupId } = await admin.ask({ type: 'group.create', name: 'Harbour', policy: 'verified' });
  for (const member of members) {
    const invite = await admin.ask({ type: 'group.invite', groupId, role: 'member', expiresInMs: 3_600_000, prekeyed: true });
    const joined = await member.ask({ type: 'group.join', code: invite.code });
    if (!joined.hasKey) throw new Error(`${member.label} joined Harbour without the key`);
  }
  return groupId;
}

/** Resolves once `check` holds (polled every 10 ms); fails naming `what` after `ms`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** People with named identities on one storage API, as several describe blocks set them up. */
export interface People {
  readonly network: MemoryNetwork;
  /** A new device on the server, with an identity named `name`; closed after the describe block. */
  person(label: string, name: string): Promise<TestDevice>;
  /** The HTTP requests the storage API receives while some work runs (request-recorder.ts). */
  readonly requests: RequestRecorder;
}

/**
 * Starts a storage API before the describe block's own `beforeAll` (register this first)
 * and, after its tests, closes every person's device and the server.
 */
export function peopleOnServer(): People {
  let server: TestServer | undefined;
  const network = new MemoryNetwork();
  const devices: TestDevice[] = [];
  let recorder: RequestRecorder | undefined;
  beforeAll(async () => {
    server = await startServer('sqlite', { config: { logLevel: 'silent' } });
    recorder = recordRequests(server);
  });
  afterAll(async () => {
    for (const d of devices) await d.close().catch(() => undefined);
    await server?.close();
  });
  return {
    network,
    requests: { during: (work) => recorder!.during(work) },
    async person(label, name) {
      const d = await newDevice(label, network, server!.url);
      devices.push(d);
      await d.ask({ type: 'identity.create', displayName: name });
      return d;
    },
  };
}
