/**
 * What one signaling node exposes for monitoring (docs/OPERATIONS.md "The signaling
 * server"), in the Prometheus text format: peers online, registrations by outcome,
 * frames relayed and dropped, relays across nodes, Redis errors and reachability, and
 * Node's process metrics. One registry per server (no module-level state). Labels are
 * fixed reason words only — never a peer id, a token, an address or a path a client chose.
 *
 * `serveMetrics` answers `GET /metrics` on a listener of its own
 * (`CONCLAVE_SIGNAL_METRICS_PORT`, on 127.0.0.1 unless `CONCLAVE_SIGNAL_METRICS_HOST`
 * says otherwise), never on the signaling port, so whatever fronts the signaling port
 * cannot expose it — the same choice as the storage API's `CONCLAVE_METRICS_PORT`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { RegistrationFailure } from './auth.ts';

/** Why a registration was refused: a token check, or one of the gate's own limits. */
export type RefusalReason = RegistrationFailure | 'rate-limited' | 'too-many-sockets' | 'bad-parameters' | 'not-found' | 'id-taken' | 'error';

/** Why a frame was dropped. `redis`: its destination is on another node and Redis failed; `gone`: a frame from another node whose destination left. */
export type DropReason = 'oversize' | 'malformed' | 'unknown-type' | 'rate-limited' | 'redis' | 'gone';

export interface MetricsSources {
  /** Peers with an open, authenticated socket on this node. */
  peersOnline(): number;
}

/** One node's metrics. */
export class SignalingMetrics {
  readonly registry = new Registry();
  readonly #registrations: Counter<'result' | 'reason'>;
  readonly #relayed: Counter;
  readonly #dropped: Counter<'reason'>;
  readonly #crossNode: Counter<'direction'>;
  readonly #redisErrors: Counter;
  readonly #redisUp: Gauge;
  readonly #presence: Counter<'status'>;

  constructor(sources: MetricsSources, options: { clustered: boolean }) {
    const registers = [this.registry];
    new Gauge({ name: 'conclave_signal_peers_online', help: 'Peers with an open, authenticated socket on this node', registers, collect() { this.set(sources.peersOnline()); } });
    this.#registrations = new Counter({ name: 'conclave_signal_registrations_total', help: 'Registration attempts (WebSocket upgrades), by result (ok, refused) and the reason of a refusal', labelNames: ['result', 'reason'], registers });
    this.#registrations.inc({ result: 'ok', reason: '' }, 0);
    this.#relayed = new Counter({ name: 'conclave_signal_frames_relayed_total', help: 'Frames from peers on this node that passed the checks and were handed to a peer here or published to another node (HEARTBEAT included); a frame dropped instead counts only as dropped', registers });
    this.#dropped = new Counter({ name: 'conclave_signal_frames_dropped_total', help: 'Frames dropped, by reason', labelNames: ['reason'], registers });
    for (const reason of ['oversize', 'malformed', 'unknown-type', 'rate-limited', 'redis', 'gone'] as const) this.#dropped.inc({ reason }, 0);
    this.#crossNode = new Counter({ name: 'conclave_signal_cross_node_relays_total', help: 'Frames relayed through Redis: sent to a peer on another node, or received for a peer on this one', labelNames: ['direction'], registers });
    this.#crossNode.inc({ direction: 'sent' }, 0);
    this.#crossNode.inc({ direction: 'received' }, 0);
    this.#redisErrors = new Counter({ name: 'conclave_signal_redis_errors_total', help: 'Redis connection errors and failed Redis calls', registers });
    this.#redisUp = new Gauge({ name: 'conclave_signal_redis_up', help: '1 while Redis is reachable; 0 while not (registrations refused); absent on a single node without REDIS_URL', registers: options.clustered ? registers : [] });
    this.#presence = new Counter({ name: 'conclave_signal_presence_requests_total', help: 'Presence requests, by status code', labelNames: ['status'], registers });
    collectDefaultMetrics({ register: this.registry });
  }

  registered(): void {
    this.#registrations.inc({ result: 'ok', reason: '' });
  }

  refused(reason: RefusalReason): void {
    this.#registrations.inc({ result: 'refused', reason });
  }

  relayed(): void {
    this.#relayed.inc();
  }

  dropped(reason: DropReason): void {
    this.#dropped.inc({ reason });
  }

  crossNode(direction: 'sent' | 'received'): void {
    this.#crossNode.inc({ direction });
  }

  redisError(): void {
    this.#redisErrors.inc();
  }

  redisUp(up: boolean): void {
    this.#redisUp.set(up ? 1 : 0);
  }

  presence(status: number): void {
    this.#presence.inc({ status: String(status) });
  }

  /** The Prometheus text of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** A listener of its own answering `GET /metrics` and nothing else (404), for a scraper on the same host. */
export async function serveMetrics(metrics: SignalingMetrics, port: number, host: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
      return;
    }
    metrics
      .text()
      .then((text) => res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' }).end(text))
      .catch(() => res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'error' })));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
