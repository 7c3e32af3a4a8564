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
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import express from 'express';
import { ExpressPeerServer, type IClient } from 'peer';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { createPresenceVerifier, createRegistrationVerifier, type PresenceVerifier, type RegistrationVerifier } from './auth.ts';
import type { Config } from './config.ts';

/** PeerJS message types a client may send; anything else is dropped. */
const RELAYED_TYPES = new Set(['HEARTBEAT', 'OFFER', 'ANSWER', 'CANDIDATE', 'LEAVE']);
const PEER_KEY = 'peerjs';
const FINGERPRINT = /^[a-z2-7]{52}$/;
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
  /** Ids with an open, authenticated socket right now. */
  online(): string[];
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
  const verifier = options.verifier ?? createRegistrationVerifier({ maxAgeMs: config.tokenMaxAgeMs });
  const presenceVerifier = options.presenceVerifier ?? createPresenceVerifier({ maxAgeMs: config.tokenMaxAgeMs });
  const basePath = config.path.replace(/\/+$/, '');
  const wsPath = `${basePath}/peerjs`;
  const stats: SignalingStats = { refused: 0, dropped: { oversize: 0, malformed: 0, unknownType: 0, rateLimited: 0 } };

  const app = express();
  app.disable('x-powered-by');
  const server = http.createServer(app);

  // Our own WebSocket server, handed to `peer` through createWebSocketServer: it never
  // attaches to the http server itself (noServer), so every upgrade goes through us.
  // maxPayload is a hard cap well above the relay limit; frames between the two are
  // dropped individually below without closing the socket.
  const wss = new WebSocketServer({ noServer: true, maxPayload: Math.max(64 * 1024, config.maxMessageBytes * 4) });
  const sockets = new Set<WebSocket>();
  const online = new Map<string, WebSocket>();
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
    const raw = typeof req.query.ids === 'string' ? req.query.ids : '';
    const ids = raw === '' ? [] : raw.split(',');
    if (ids.length > MAX_PRESENCE_IDS || ids.some((id) => !FINGERPRINT.test(id))) {
      res.status(400).json({ error: `ids must be up to ${MAX_PRESENCE_IDS} comma-separated fingerprints` });
      return;
    }
    if (!allowPresence(req.socket.remoteAddress ?? 'unknown')) {
      res.status(429).json({ error: 'too many presence requests from this address: try again in a minute' });
      return;
    }
    const token = /^Bearer ([A-Za-z0-9_-]+)$/.exec(req.get('authorization') ?? '')?.[1];
    if (!token) {
      res.status(401).json({ error: 'a presence token is required (Authorization: Bearer <token>): presence is answered only to registered peers' });
      return;
    }
    presenceVerifier
      .verifyPresence(token, now())
      .then((result) => {
        if (!result.ok) {
          res.status(result.reason === 'busy' ? 503 : 401).json({ error: `presence token refused: ${result.reason}` });
          return;
        }
        if (!online.has(result.id)) {
          res.status(403).json({ error: 'register with this server first: presence is answered only to registered peers' });
          return;
        }
        res.json({ online: [...new Set(ids)].filter((id) => online.has(id)) });
      })
      .catch(() => res.status(500).json({ error: 'error' }));
  });
  app.get(`${basePath}/config`, (_req, res) => {
    res.json({ path: config.path, key: PEER_KEY, iceServers: config.iceServers });
  });
  app.use(basePath || '/', peerServer);

  peerServer.on('connection', (client: IClient) => {
    const socket = client.getSocket();
    if (socket) online.set(client.getId(), socket);
  });
  peerServer.on('disconnect', (client: IClient) => {
    const socket = online.get(client.getId());
    if (socket && socket !== client.getSocket()) return;
    online.delete(client.getId());
  });
  peerServer.on('error', () => {
    // peer reports socket errors and unparsable frames here; nothing reaches it unchecked.
  });

  /** Filters every frame before `peer`'s own listener sees it. */
  function guard(ws: WebSocket, id: string, ip: string): void {
    const connBucket = new TokenBucket(config.messagesPerSecond, config.messagesPerSecond * 2, now());
    const originalEmit = ws.emit.bind(ws) as (event: string | symbol, ...args: unknown[]) => boolean;
    (ws as unknown as { emit: typeof originalEmit }).emit = (event, ...args) => {
      if (event !== 'message') return originalEmit(event, ...args);
      const [data, isBinary] = args as [RawData, boolean];
      if (rawLength(data) > config.maxMessageBytes) {
        stats.dropped.oversize++;
        return false;
      }
      const t = now();
      if (!connBucket.take(t)) {
        stats.dropped.rateLimited++;
        return false;
      }
      let message: unknown;
      try {
        message = JSON.parse(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]).toString('utf8'));
      } catch {
        stats.dropped.malformed++;
        return false;
      }
      if (typeof message !== 'object' || message === null || Array.isArray(message)) {
        stats.dropped.malformed++;
        return false;
      }
      const { type, dst, payload } = message as Record<string, unknown>;
      if (typeof type !== 'string' || !RELAYED_TYPES.has(type)) {
        stats.dropped.unknownType++;
        return false;
      }
      if (type !== 'HEARTBEAT' && type !== 'LEAVE' && (typeof dst !== 'string' || !FINGERPRINT.test(dst))) {
        stats.dropped.malformed++;
        return false;
      }
      // Heartbeats (one per peer every 5 s, relayed to nobody) do not spend the IP's
      // budget: a thousand peers behind one NAT would otherwise use it up on their own.
      const ipEntry = type === 'HEARTBEAT' ? undefined : ipBuckets.get(ip);
      if (ipEntry && !ipEntry.bucket.take(t)) {
        stats.dropped.rateLimited++;
        return false;
      }
      // Only the fields PeerJS relays, with src = the authenticated id.
      const clean = JSON.stringify({ type, src: id, dst, payload });
      return originalEmit('message', Buffer.from(clean, 'utf8'), isBinary);
    };
  }

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://signaling');
    if (url.pathname !== wsPath && url.pathname !== `${wsPath}/`) {
      refuseUpgrade(socket, 404, 'not found');
      return;
    }
    const id = url.searchParams.get('id') ?? '';
    const token = url.searchParams.get('token') ?? '';
    const ip = req.socket.remoteAddress ?? 'unknown';
    if (!allowAttempt(ip)) {
      stats.refused++;
      refuseUpgrade(socket, 429, 'too many registration attempts');
      return;
    }
    if (url.searchParams.get('key') !== PEER_KEY || !FINGERPRINT.test(id)) {
      stats.refused++;
      refuseUpgrade(socket, 400, 'bad parameters');
      return;
    }
    if (!holdSocket(ip, socket)) {
      stats.refused++;
      refuseUpgrade(socket, 429, 'too many connections from this address');
      return;
    }
    verifier
      .verifyRegistration(id, token, now())
      .then((result) => {
        if (!result.ok) {
          stats.refused++;
          log(`signaling: registration refused (${result.reason})`);
          refuseUpgrade(socket, result.reason === 'busy' ? 503 : 401, result.reason);
          return;
        }
        if (socket.destroyed) return;
        wss.handleUpgrade(req, socket, head, (ws) => {
          sockets.add(ws);
          const ipEntry = ipBuckets.get(ip) ?? { bucket: new TokenBucket(config.messagesPerSecondPerIp, config.messagesPerSecondPerIp * 2, now()), sockets: 0 };
          ipEntry.sockets++;
          ipBuckets.set(ip, ipEntry);
          ws.on('close', () => {
            sockets.delete(ws);
            if (online.get(id) === ws) online.delete(id);
            if (--ipEntry.sockets === 0) ipBuckets.delete(ip);
          });
          guard(ws, id, ip);
          // peer reads id/token/key from req.url; the token passed our check.
          wss.emit('connection', ws, req);
        });
      })
      .catch(() => {
        stats.refused++;
        refuseUpgrade(socket, 500, 'error');
      });
  });

  return {
    server,
    peerServer,
    wsPath,
    stats,
    online: () => [...online.keys()],
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of sockets) ws.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
        if (!server.listening) resolve();
      }),
  };
}
