/**
 * The signaling server (DESIGN §7): a PeerJS server (`peer` 1.x) behind our own gate.
 *
 * - Registration: the WebSocket upgrade on `<path>/peerjs` is intercepted before `peer`
 *   sees it; an invalid registration token is answered `401` and the socket destroyed,
 *   so an unauthenticated peer never gets OPEN nor any relayed message.
 * - Relay: every incoming frame is checked before `peer` parses it — size limit, JSON,
 *   known type, per-connection and per-IP rate — and dropped otherwise. `src` is forced
 *   to the authenticated id (peer 1.0.2 also does so; we do it ourselves so an upgrade
 *   of `peer` can't silently change that).
 * - Presence: GET <path>/presence?ids=a,b,c → { online: [...] } (at most 100 ids),
 *   answered only to a peer registered right now, proven by a fresh presence token
 *   (`Authorization: Bearer <token>`, see auth.ts); rate-limited per IP before any
 *   signature is checked.
 * - A client IP holds at most `socketsPerIp` sockets (open or being registered).
 * - Discovery stays off (`allow_discovery: false`). Payloads are never logged. No
 *   answer carries X-Powered-By (ours nor PeerJS's own express app).
 * - Several nodes (`redisUrl` set; cluster.ts): a registration also claims its id in
 *   Redis (an id held by another node gets ID-TAKEN, as a second socket on one node
 *   does) and its token's nonce (single-use across nodes); a frame whose destination is
 *   on another node, checked here like any frame, is published to that node's channel;
 *   presence is answered from the directory in Redis. Redis unreachable: registrations
 *   and presence are refused `503 busy` (single use cannot be guaranteed), peers already
 *   connected keep relaying on this node.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import express from 'express';
import { ExpressPeerServer, type IClient } from 'peer';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { createPresenceVerifier, createRegistrationVerifier, type PresenceVerifier, type RegistrationVerifier } from './auth.ts';
import { VerifiedBundleCache } from './bundle-cache.ts';
import { Cluster } from './cluster.ts';
import type { Config } from './config.ts';
import { SignalingMetrics, type DropReason, type RefusalReason } from './metrics.ts';

/** PeerJS message types a client may send; anything else is dropped. */
const RELAYED_TYPES = new Set(['HEARTBEAT', 'OFFER', 'ANSWER', 'CANDIDATE', 'LEAVE']);
const PEER_KEY = 'peerjs';
const FINGERPRINT = /^[a-z2-7]{52}$/;
/** Frames of one connection waiting on Redis at most; more are dropped ('redis'). */
const MAX_WAITING_FRAMES = 32;
export const MAX_PRESENCE_IDS = 100;

export interface SignalingStats {
  /** Upgrades refused (bad parameters, invalid token, too many attempts). */
  refused: number;
  dropped: { oversize: number; malformed: number; unknownType: number; rateLimited: number };
}

export interface SignalingServer {
  server: http.Server;
  peerServer: ReturnType<typeof ExpressPeerServer>;
  /** The WebSocket path clients connect to (`<path>/peerjs`). */
  wsPath: string;
  stats: SignalingStats;
  /** Ids with an open, authenticated socket right now (on this node). */
  online(): string[];
  metrics: SignalingMetrics;
  /** Set when `redisUrl` is: this node's link to the others. */
  cluster?: Cluster;
  close(): Promise<void>;
}

export interface BuildOptions {
  verifier?: RegistrationVerifier;
  presenceVerifier?: PresenceVerifier;
  log?: (line: string) => void;
  now?: () => number;
}

class TokenBucket {
  #tokens: number;
  #last: number;
  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    now: number,
  ) {
    this.#tokens = burst;
    this.#last = now;
  }
  take(now: number): boolean {
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.perSecond);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  const text = http.STATUS_CODES[status] ?? 'Error';
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`);
  socket.destroy();
}

function rawLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}

export function build(config: Config, options: BuildOptions = {}): SignalingServer {
  const log = options.log ?? ((line: string) => console.log(line));
  const now = options.now ?? Date.now;
  const basePath = config.path.replace(/\/+$/, '');
  const wsPath = `${basePath}/peerjs`;
  const stats: SignalingStats = { refused: 0, dropped: { oversize: 0, malformed: 0, unknownType: 0, rateLimited: 0 } };
  const online = new Map<string, WebSocket>();
  const metrics = new SignalingMetrics({ peersOnline: () => online.size }, { clustered: config.redisUrl !== undefined });
  const cluster = config.redisUrl
    ? new Cluster({
        redisUrl: config.redisUrl,
        prefix: config.redisPrefix,
        presenceTtlMs: config.presenceTtlMs,
        log,
        onRedisError: () => metrics.redisError(),
        onAvailability: (up) => metrics.redisUp(up),
      })
    : undefined;
  if (cluster) metrics.redisUp(false);
  const sharedNonces = cluster ? (key: string, ttlMs: number) => cluster.consumeNonce(key, ttlMs) : undefined;
  // One cache of verified bundles for both: a device sends the same bundle in both tokens.
  const bundles = new VerifiedBundleCache();
  const verifier = options.verifier ?? createRegistrationVerifier({ maxAgeMs: config.tokenMaxAgeMs, bundles, sharedNonces });
  const presenceVerifier = options.presenceVerifier ?? createPresenceVerifier({ maxAgeMs: config.tokenMaxAgeMs, bundles, sharedNonces });
  function drop(reason: DropReason): false {
    if (reason === 'oversize') stats.dropped.oversize++;
    else if (reason === 'malformed') stats.dropped.malformed++;
    else if (reason === 'unknown-type') stats.dropped.unknownType++;
    else if (reason === 'rate-limited') stats.dropped.rateLimited++;
    metrics.dropped(reason);
    return false;
  }
  function refuse(socket: Duplex, status: number, body: string, reason: RefusalReason): void {
    stats.refused++;
    metrics.refused(reason);
    refuseUpgrade(socket, status, body);
  }

  const app = express();
  app.disable('x-powered-by');
  const server = http.createServer(app);

  // Our own WebSocket server, handed to `peer` through createWebSocketServer: it never
  // attaches to the http server itself (noServer), so every upgrade goes through us.
  // maxPayload is a hard cap well above the relay limit; frames between the two are
  // dropped individually below without closing the socket.
  const wss = new WebSocketServer({ noServer: true, maxPayload: Math.max(64 * 1024, config.maxMessageBytes * 4) });
  const sockets = new Set<WebSocket>();
  // Several nodes: the socket that holds this node's Redis claim on each id.
  const claims = new Map<string, WebSocket>();
  const ipBuckets = new Map<string, { bucket: TokenBucket; sockets: number }>();
  // Upgrade attempts and presence requests per IP (each costs Ed25519 verifications);
  // bounded, oldest evicted.
  function bucketsPerMinute(perMinute: number): (ip: string) => boolean {
    const buckets = new Map<string, TokenBucket>();
    return (ip) => {
      let bucket = buckets.get(ip);
      if (!bucket) {
        if (buckets.size >= 10_000) buckets.delete(buckets.keys().next().value as string);
        bucket = new TokenBucket(perMinute / 60, perMinute, now());
        buckets.set(ip, bucket);
      }
      return bucket.take(now());
    };
  }
  const allowAttempt = bucketsPerMinute(config.registrationsPerMinutePerIp);
  const allowPresence = bucketsPerMinute(config.presencePerMinutePerIp);
  // Sockets per IP, counted from the moment an upgrade is let through to verification
  // until its TCP socket closes (refused, failed or, once open, closed).
  const socketsByIp = new Map<string, number>();
  function holdSocket(ip: string, socket: Duplex): boolean {
    const held = socketsByIp.get(ip) ?? 0;
    if (held >= config.socketsPerIp) return false;
    socketsByIp.set(ip, held + 1);
    socket.once('close', () => {
      const left = (socketsByIp.get(ip) ?? 1) - 1;
      if (left <= 0) socketsByIp.delete(ip);
      else socketsByIp.set(ip, left);
    });
    return true;
  }

  const peerServer = ExpressPeerServer(server, {
    key: PEER_KEY,
    path: '/',
    allow_discovery: false,
    alive_timeout: 60_000,
    expire_timeout: 5_000,
    concurrent_limit: config.concurrentLimit,
    proxied: false,
    createWebSocketServer: () => wss,
  });
  // PeerJS's own express app sends X-Powered-By unless told not to.
  (peerServer as unknown as { disable(setting: string): void }).disable('x-powered-by');
  // Mounted at basePath: peer's own HTTP routes (GET <path>/<key>/id) live there.
  app.get(`${basePath}/presence`, (req, res) => {
    res.set('Cache-Control', 'no-store');
    const answer = (status: number, body: unknown) => {
      metrics.presence(status);
      res.status(status).json(body);
    };
    const raw = typeof req.query.ids === 'string' ? req.query.ids : '';
    const ids = raw === '' ? [] : raw.split(',');
    if (ids.length > MAX_PRESENCE_IDS || ids.some((id) => !FINGERPRINT.test(id))) {
      answer(400, { error: `ids must be up to ${MAX_PRESENCE_IDS} comma-separated fingerprints` });
      return;
    }
    if (!allowPresence(req.socket.remoteAddress ?? 'unknown')) {
      answer(429, { error: 'too many presence requests from this address: try again in a minute' });
      return;
    }
    const token = /^Bearer ([A-Za-z0-9_-]+)$/.exec(req.get('authorization') ?? '')?.[1];
    if (!token) {
      answer(401, { error: 'a presence token is required (Authorization: Bearer <token>): presence is answered only to registered peers' });
      return;
    }
    const unavailable = () => answer(503, { error: 'presence token refused: busy' });
    presenceVerifier
      .verifyPresence(token, now())
      .then(async (result) => {
        if (!result.ok) {
          answer(result.reason === 'busy' ? 503 : 401, { error: `presence token refused: ${result.reason}` });
          return;
        }
        if (!cluster) {
          if (!online.has(result.id)) answer(403, { error: 'register with this server first: presence is answered only to registered peers' });
          else answer(200, { online: [...new Set(ids)].filter((id) => online.has(id)) });
          return;
        }
        // Several nodes: the asker may be registered on any of them, and so may the ids.
        const asked = [...new Set(ids)];
        const found = await cluster.online(online.has(result.id) ? asked : [result.id, ...asked]);
        if (found === 'unavailable') return unavailable();
        if (!online.has(result.id) && !found.has(result.id)) {
          answer(403, { error: 'register with this server first: presence is answered only to registered peers' });
          return;
        }
        answer(200, { online: asked.filter((id) => online.has(id) || found.has(id)) });
      })
      .catch(() => answer(500, { error: 'error' }));
  });
  app.get(`${basePath}/config`, (_req, res) => {
    res.json({ path: config.path, key: PEER_KEY, iceServers: config.iceServers });
  });
  app.use(basePath || '/', peerServer);

  peerServer.on('connection', (client: IClient) => {
    const socket = client.getSocket();
    if (socket) {
      online.set(client.getId(), socket);
      // The socket peer accepts holds the claim: an older socket of the same id, closing
      // late, must not release it. CLAIM is idempotent for this node.
      if (cluster) {
        claims.set(client.getId(), socket);
        void cluster.claim(client.getId());
      }
    }
    metrics.registered();
  });
  peerServer.on('disconnect', (client: IClient) => {
    const socket = online.get(client.getId());
    if (socket && socket !== client.getSocket()) return;
    online.delete(client.getId());
  });
  peerServer.on('error', () => {
    // peer reports socket errors and unparsable frames here; nothing reaches it unchecked.
  });

  /** The node of a cluster each frame goes to: this one (handed to `peer`) or another (through Redis). */
  async function route(ws: WebSocket, deliverHere: () => void, dst: string, text: string): Promise<void> {
    if (online.has(dst) || !cluster) return deliverHere();
    const node = await cluster.locate(dst);
    if (node === 'unavailable') {
      drop('redis');
      return;
    }
    // Nobody holds it (peer queues the frame for a while, as on one node) or this node does.
    if (node === null || node === cluster.nodeId) return deliverHere();
    if (ws.readyState !== ws.OPEN) return;
    if (await cluster.publish(node, text)) {
      metrics.relayed();
      metrics.crossNode('sent');
    } else drop('redis');
  }

  /** Filters every frame before `peer`'s own listener sees it. */
  function guard(ws: WebSocket, id: string, ip: string): void {
    const connBucket = new TokenBucket(config.messagesPerSecond, config.messagesPerSecond * 2, now());
    const originalEmit = ws.emit.bind(ws) as (event: string | symbol, ...args: unknown[]) => boolean;
    // Several nodes: frames that wait for a Redis lookup, so that this connection's frames
    // keep their order; counted per destination, so that a frame for a peer on this node
    // waits only behind frames for that same peer.
    let waiting = 0;
    const waitingFor = new Map<string, number>();
    let tail = Promise.resolve();
    (ws as unknown as { emit: typeof originalEmit }).emit = (event, ...args) => {
      if (event !== 'message') return originalEmit(event, ...args);
      const [data, isBinary] = args as [RawData, boolean];
      if (rawLength(data) > config.maxMessageBytes) return drop('oversize');
      const t = now();
      if (!connBucket.take(t)) return drop('rate-limited');
      let message: unknown;
      try {
        message = JSON.parse(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]).toString('utf8'));
      } catch {
        return drop('malformed');
      }
      if (typeof message !== 'object' || message === null || Array.isArray(message)) return drop('malformed');
      const { type, dst, payload } = message as Record<string, unknown>;
      if (typeof type !== 'string' || !RELAYED_TYPES.has(type)) return drop('unknown-type');
      if (type !== 'HEARTBEAT' && type !== 'LEAVE' && (typeof dst !== 'string' || !FINGERPRINT.test(dst))) return drop('malformed');
      // Heartbeats (one per peer every 5 s, relayed to nobody) do not spend the IP's
      // budget: a thousand peers behind one NAT would otherwise use it up on their own.
      const ipEntry = type === 'HEARTBEAT' ? undefined : ipBuckets.get(ip);
      if (ipEntry && !ipEntry.bucket.take(t)) return drop('rate-limited');
      // Only the fields PeerJS relays, with src = the authenticated id.
      const clean = JSON.stringify({ type, src: id, dst, payload });
      // Counted as relayed once handed to `peer` here or published to another node, not before.
      const deliverHere = () => {
        metrics.relayed();
        originalEmit('message', Buffer.from(clean, 'utf8'), isBinary);
      };
      // One node, a heartbeat (relayed to nobody, whatever its dst), or a destination on this node with nothing waiting for it: at once.
      if (!cluster || type === 'HEARTBEAT' || typeof dst !== 'string' || !FINGERPRINT.test(dst) || (!waitingFor.has(dst) && online.has(dst))) {
        deliverHere();
        return true;
      }
      if (waiting >= MAX_WAITING_FRAMES) return drop('redis');
      waiting++;
      waitingFor.set(dst, (waitingFor.get(dst) ?? 0) + 1);
      tail = tail
        .then(() => route(ws, deliverHere, dst, clean))
        .catch(() => void drop('redis'))
        .finally(() => {
          waiting--;
          const left = (waitingFor.get(dst) ?? 1) - 1;
          if (left <= 0) waitingFor.delete(dst);
          else waitingFor.set(dst, left);
        });
      return true;
    };
  }

  /** What a node relays to a peer on another node (a HEARTBEAT is relayed to nobody). */
  const CROSS_NODE_TYPES = new Set(['OFFER', 'ANSWER', 'CANDIDATE', 'LEAVE']);
  // Frames other nodes publish for peers here: checked on the sender's node already.
  cluster?.onFrame((text) => {
    let message: { type?: unknown; src?: unknown; dst?: unknown };
    try {
      message = JSON.parse(text) as typeof message;
    } catch {
      return drop('malformed');
    }
    const socket = typeof message.dst === 'string' ? online.get(message.dst) : undefined;
    if (typeof message.type !== 'string' || !CROSS_NODE_TYPES.has(message.type) || typeof message.src !== 'string' || !FINGERPRINT.test(message.src)) return drop('malformed');
    if (!socket || socket.readyState !== socket.OPEN) return drop('gone');
    metrics.crossNode('received');
    socket.send(text);
  });
  cluster?.startHeartbeat(() => claims.keys());

  /** Several nodes: this node's claim on `id`, or why not (answered on the socket). */
  async function claimAcrossNodes(id: string, req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<boolean> {
    // A second socket for an id held on this node goes to `peer`, which answers ID-TAKEN.
    if (!cluster || online.has(id)) return true;
    const claim = await cluster.claim(id);
    if (claim === 'claimed') return true;
    if (claim === 'unavailable') {
      log('signaling: registration refused (busy: Redis unreachable)');
      refuse(socket, 503, 'busy', 'busy');
      return false;
    }
    // Held by another node: what `peer` answers a second socket for a held id.
    stats.refused++;
    metrics.refused('id-taken');
    if (socket.destroyed) return false;
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => ws.terminate());
      ws.send(JSON.stringify({ type: 'ID-TAKEN', payload: { msg: 'ID is taken' } }));
      ws.close();
    });
    return false;
  }

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://signaling');
    if (url.pathname !== wsPath && url.pathname !== `${wsPath}/`) {
      refuse(socket, 404, 'not found', 'not-found');
      return;
    }
    const id = url.searchParams.get('id') ?? '';
    const token = url.searchParams.get('token') ?? '';
    const ip = req.socket.remoteAddress ?? 'unknown';
    if (!allowAttempt(ip)) {
      refuse(socket, 429, 'too many registration attempts', 'rate-limited');
      return;
    }
    if (url.searchParams.get('key') !== PEER_KEY || !FINGERPRINT.test(id)) {
      refuse(socket, 400, 'bad parameters', 'bad-parameters');
      return;
    }
    if (!holdSocket(ip, socket)) {
      refuse(socket, 429, 'too many connections from this address', 'too-many-sockets');
      return;
    }
    verifier
      .verifyRegistration(id, token, now())
      .then(async (result) => {
        if (!result.ok) {
          log(`signaling: registration refused (${result.reason})`);
          refuse(socket, result.reason === 'busy' ? 503 : 401, result.reason, result.reason);
          return;
        }
        if (socket.destroyed) return;
        if (!(await claimAcrossNodes(id, req, socket, head))) return;
        if (socket.destroyed) {
          if (cluster && !claims.has(id)) void cluster.release(id);
          return;
        }
        wss.handleUpgrade(req, socket, head, (ws) => {
          sockets.add(ws);
          if (cluster && !claims.has(id)) claims.set(id, ws);
          const ipEntry = ipBuckets.get(ip) ?? { bucket: new TokenBucket(config.messagesPerSecondPerIp, config.messagesPerSecondPerIp * 2, now()), sockets: 0 };
          ipEntry.sockets++;
          ipBuckets.set(ip, ipEntry);
          ws.on('close', () => {
            sockets.delete(ws);
            if (online.get(id) === ws) online.delete(id);
            if (claims.get(id) === ws) {
              claims.delete(id);
              void cluster?.release(id);
            }
            if (--ipEntry.sockets === 0) ipBuckets.delete(ip);
          });
          guard(ws, id, ip);
          // peer reads id/token/key from req.url; the token passed our check.
          wss.emit('connection', ws, req);
        });
      })
      .catch(() => refuse(socket, 500, 'error', 'error'));
  });

  return {
    server,
    peerServer,
    wsPath,
    stats,
    metrics,
    cluster,
    online: () => [...online.keys()],
    close: async () => {
      // Give up this node's claims first, so that other nodes see these peers leave at once.
      await cluster?.close([...claims.keys()]);
      await new Promise<void>((resolve) => {
        for (const ws of sockets) ws.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
        if (!server.listening) resolve();
      });
    },
  };
}
