/**
 * What one API process exposes for monitoring (docs/OPERATIONS.md "Metrics"), in the
 * Prometheus text format: requests by procedure and status, their latency, open live
 * streams and WebSockets, rate-limited answers, whether the rate limits are shared, and
 * Node's process metrics (CPU, memory, event-loop delay). One registry per app (no
 * module-level state). Labels are procedure names from the router, route names and
 * status codes only: never a path a client chose, an id, a token or an address.
 *
 * `serveMetrics` answers `GET /metrics` on a listener of its own (`CONCLAVE_METRICS_PORT`,
 * on 127.0.0.1 unless `CONCLAVE_METRICS_HOST` says otherwise), never on the API's port,
 * so a load balancer in front of the API cannot expose it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { httpErrorBody } from '../errors.ts';

/** Latency buckets in seconds: sub-millisecond gets to slow PostgreSQL writes. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Which limit refused a request: per IP, per session, or open WebSockets per IP. */
export type LimitName = 'ip' | 'session' | 'sockets';

export interface MetricsSources {
  /** Open live streams (`events.live`) in this process. */
  liveStreams(): number;
  /** Open WebSocket connections in this process. */
  openSockets(): number;
}

/** One process's metrics. */
export class ApiMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'procedure' | 'status'>;
  private readonly latency: Histogram<'procedure'>;
  private readonly limited: Counter<'limit'>;
  private readonly shared: Gauge;

  /**
   * @param options.processMetrics also collect Node's process metrics (CPU, memory, event
   *   loop, GC): they observe the whole process from then on, so only an app whose metrics
   *   are served turns them on (a test process builds many apps).
   */
  constructor(sources: MetricsSources, options: { sharedLimits: boolean; processMetrics: boolean }) {
    const registers = [this.registry];
    this.requests = new Counter({ name: 'conclave_api_requests_total', help: 'HTTP requests answered, by procedure (a tRPC procedure name, batch, health, live or other) and status code', labelNames: ['procedure', 'status'], registers });
    this.latency = new Histogram({ name: 'conclave_api_request_duration_seconds', help: 'Time from a request arriving to its answer, by procedure', labelNames: ['procedure'], buckets: LATENCY_BUCKETS, registers });
    this.limited = new Counter({ name: 'conclave_api_rate_limited_total', help: 'Requests or calls refused by a rate limit (ip, session, sockets)', labelNames: ['limit'], registers });
    for (const limit of ['ip', 'session', 'sockets'] as const) this.limited.inc({ limit }, 0);
    this.shared = new Gauge({ name: 'conclave_api_rate_limits_shared', help: '1 while the rate limits are counted in Redis (shared by the processes), 0 while counted in this process alone', registers });
    this.shared.set(options.sharedLimits ? 1 : 0);
    new Gauge({ name: 'conclave_api_live_streams', help: 'Open live streams (events.live) in this process', registers, collect() { this.set(sources.liveStreams()); } });
    new Gauge({ name: 'conclave_api_websockets_open', help: 'Open WebSocket connections in this process', registers, collect() { this.set(sources.openSockets()); } });
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** One answered request: `procedure` must come from `procedureLabel`. */
  answered(procedure: string, status: number, seconds: number): void {
    this.requests.inc({ procedure, status: String(status) });
    this.latency.observe({ procedure }, seconds);
  }

  rateLimited(limit: LimitName): void {
    this.limited.inc({ limit });
  }

  /** The rate limits are counted in Redis (true) or, Redis unreachable, in this process (false). */
  sharedLimits(up: boolean): void {
    this.shared.set(up ? 1 : 0);
  }

  /** The Prometheus text of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/**
 * The label of a request: the procedure of a single tRPC call if the router has it,
 * `batch` for several calls, `unknown` for a name the router lacks (never the name a
 * client sent), `live` for the WebSocket route, `health`, or `other`.
 */
export function procedureLabel(route: string | undefined, trpcPath: string | undefined, procedures: ReadonlySet<string>): string {
  if (route === '/trpc/:path') {
    const path = trpcPath ?? '';
    if (path.includes(',')) return 'batch';
    return procedures.has(path) ? path : 'unknown';
  }
  if (route === '/trpc') return 'live';
  if (route === '/health') return 'health';
  return 'other';
}

export interface MetricsListener {
  url: string;
  close(): Promise<void>;
}

/** Answers `GET /metrics` with `metrics` on `host:port` (0: any free port); everything else 404 or 405. */
export async function serveMetrics(metrics: ApiMetrics, host: string, port: number): Promise<MetricsListener> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const fail = (status: number, message: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(JSON.stringify(httpErrorBody(status, message)));
    };
    if (path !== '/metrics') return fail(404, 'this listener answers GET /metrics only');
    if (req.method !== 'GET') return fail(405, `${req.method} is not accepted here: send GET /metrics`, { allow: 'GET' });
    metrics.text().then(
      (text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(text);
      },
      () => fail(500, ''),
    );
  });
  server.listen(port, host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
