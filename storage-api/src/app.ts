/**
 * `build(config)` assembles the storage API without listening: the store (SQLite by
 * default, PostgreSQL with DATABASE_URL), Fastify with body limits, timeouts, rate
 * limits and a redacting logger, `GET /health`, and tRPC under `/trpc`. `server.ts`
 * listens.
 *
 * Every non-2xx answer has one shape, the tRPC error body with a Conclave code
 * (docs/API.md "Errors on the wire"), wherever it comes from: a procedure, Fastify
 * (404, 413, 415, 414, a malformed body), the checks below (405, the batch cap, the
 * per-IP limit, a missing Host) or Node's HTTP parser (400, 408, 431, 417), whose
 * answers are written in the same shape by `clientErrorHandler`.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import fastifyWebsocket from '@fastify/websocket';
import type { TRPCError } from '@trpc/server';
import { fastifyTRPCPlugin, type FastifyTRPCPluginOptions } from '@trpc/server/adapters/fastify';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { MAX_BATCH_CALLS, MAX_BATCH_PATH_CHARS } from '@conclave/shared/verify';
import type { Config } from './config.ts';
import { httpErrorBody } from './errors.ts';
import { appRouter, type AppRouter } from './routers/index.ts';
import { createFeed } from './services/feeds.ts';
import { GroupStates } from './services/group-states.ts';
import { LiveHub } from './services/live-hub.ts';
import { ApiMetrics, procedureLabel } from './services/metrics.ts';
import { OpenCounter } from './services/open-counter.ts';
import { createRateLimits } from './services/rate-limits.ts';
import { guardSocket } from './services/socket-guard.ts';
import { createStore } from './store/index.ts';
import type { Store } from './store/types.ts';
import { contextFactory, type Deps } from './trpc/context.ts';
import { hotPath } from './trpc/hot-path.ts';

const PURGE_INTERVAL_MS = 5 * 60 * 1000;
/** The one route tRPC registers: `/trpc/<path>`, a batch's paths joined by commas. */
const TRPC_ROUTE = '/trpc/:path';
/** A URL under /trpc/, in origin form (`/trpc/…`) or absolute form (`http://host/trpc/…`). */
const TRPC_PATH = /^(?:[a-z][a-z0-9+.-]*:\/\/[^/?#]*)?\/trpc\//i;
/** Node's limit on a request head (its default `maxHeaderSize`). */
const MAX_HEAD_KIB = 16;
/** The WebSocket route (the live stream, docs/API.md "Live events"). */
const WS_ROUTE = '/trpc';
/** Largest WebSocket message a client may send: a subscribe message is a few hundred bytes. */
export const WS_MAX_PAYLOAD = 64 * 1024;

/** Answers `status` with the documented error body. */
function sendError(reply: FastifyReply, status: number, message: string, headers: Record<string, string> = {}): FastifyReply {
  return reply.code(status).headers(headers).type('application/json; charset=utf-8').send(httpErrorBody(status, message));
}

/** The same answer written on a bare socket, for requests Node's parser refused. */
function rawErrorAnswer(status: number, message: string): string {
  const body = JSON.stringify(httpErrorBody(status, message));
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** How many procedure calls a request carries: a batch's comma-separated paths, else 1. */
function callsOf(request: FastifyRequest): number {
  if (request.routeOptions.url !== TRPC_ROUTE) return 1;
  const query = request.url.indexOf('?');
  // The same test as tRPC's: `batch=1` in the query makes the path a list.
  const batch = query >= 0 && new URLSearchParams(request.url.slice(query + 1)).get('batch') === '1';
  return batch ? ((request.params as { path?: string }).path ?? '').split(',').length : 1;
}

/** Whether an HTTP request calls `events.live` (alone or in a batch): that is served over the WebSocket only. */
function liveOverHttp(request: FastifyRequest): boolean {
  const path = (request.params as { path?: string }).path ?? '';
  return path.split(',').includes('events.live');
}

/** Words for the Fastify errors a request can cause (never the path or a value). */
function fastifyErrorMessage(error: FastifyError, config: Config): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `the request body is larger than this server's limit of ${config.bodyLimit} bytes: send less at once (split a large note into several)`;
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'the body is empty although the content-type says application/json: send a JSON body, or no content-type';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'this content-type is not accepted: send JSON with content-type: application/json';
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return 'the Content-Length header does not match the body sent';
    default:
      return 'the request is malformed: send it as docs/API.md describes';
  }
}

export interface BuildOptions {
  /** A store made by the caller (tests share one); otherwise one is made from `config`. */
  store?: Store;
  now?: () => number;
  /** Where request logs go (tests capture them to scan for secrets). */
  logStream?: NodeJS.WritableStream;
  /** false: every call goes through tRPC's fetch adapter (the hot path's sameness test compares both). */
  hotPath?: boolean;
}

export interface App {
  fastify: FastifyInstance;
  deps: Deps;
  /** This process's metrics (served by `serveMetrics` in server.ts when `metricsPort` is set). */
  metrics: ApiMetrics;
  close(): Promise<void>;
}

export async function build(config: Config, options: BuildOptions = {}): Promise<App> {
  const store = options.store ?? (await createStore(config));
  await store.migrate();
  const now = options.now ?? Date.now;
  const groups = new GroupStates(store, now);
  // The logger exists only once Fastify does; the feed and hub report through this.
  let trouble = (_what: string, _error: unknown): void => undefined;
  const onTrouble = (what: string, error: unknown) => trouble(what, error);
  const feed = await createFeed(store, onTrouble);
  const live = new LiveHub({ store, groups, feed, now, streamsPerSession: config.liveStreamsPerSession, onTrouble });
  const socketsPerIp = new OpenCounter(config.liveSocketsPerIp);
  const headersTimeout = Math.min(config.headersTimeoutMs, config.requestTimeoutMs);
  // Read by the metrics' gauges when scraped; assigned once Fastify exists.
  let openSockets = (): number => 0;
  const metrics = new ApiMetrics({ liveStreams: () => live.size, openSockets: () => openSockets() }, { sharedLimits: config.redisUrl !== undefined, processMetrics: config.metricsPort !== undefined });
  const procedures: ReadonlySet<string> = new Set(Object.keys(appRouter._def.procedures));
  /** Counts `cost` calls of `ip`; the seconds to wait when over the limit, else 0. */
  const overIpLimit = async (ip: string, cost: number): Promise<number> => Math.ceil((await limits.ip.hit(ip, now(), cost)) / 1000);
  const tooMany = (reply: FastifyReply, seconds: number) => sendError(reply, 429, `too many requests: try again in ${seconds} s`, { 'retry-after': String(seconds) });

  /** The client address of each WebSocket upgrade (the proxy's, or the one it forwarded), for the socket guard. */
  const upgradeIps = new WeakMap<http.IncomingMessage, string>();

  const fastify = Fastify({
    bodyLimit: config.bodyLimit,
    // Behind the listed proxies `request.ip` is the client X-Forwarded-For names; otherwise the TCP peer.
    ...(config.trustProxy ? { trustProxy: config.trustProxy } : {}),
    // tRPC puts every procedure name of a batch in the path (`/trpc/notes.get,notes.get,…`):
    // 16 calls of the longest names fit in 256 characters; beyond, 414.
    routerOptions: { maxParamLength: MAX_BATCH_PATH_CHARS },
    // Slow clients are cut: the head within headersTimeout, the whole request (head and
    // body) within requestTimeout, both answered 408; a connection idle for
    // idleTimeout (before a request or between two) is closed.
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: config.idleTimeoutMs,
    keepAliveTimeout: config.idleTimeoutMs,
    http: {
      requestTimeout: config.requestTimeoutMs,
      headersTimeout,
      // How often Node checks those two timeouts (its default is 30 s).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4))),
      // A request without Host reaches the onRequest check below, which answers 400 in
      // the documented shape (Node's own answer has an empty body).
      requireHostHeader: false,
    },
    frameworkErrors: (error, request, reply) => {
      // The limit may be counted in Redis: the answer is sent once it has been.
      void overIpLimit(request.ip, 1).then((wait) => {
        if (wait > 0) return tooMany(reply, wait);
        if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
          return sendError(reply, 414, `the procedure path is longer than ${MAX_BATCH_PATH_CHARS} characters: send at most ${MAX_BATCH_CALLS} calls per batch`);
        }
        if (error.code === 'FST_ERR_BAD_URL') return sendError(reply, 400, 'the URL is not valid: percent-encode it as RFC 3986 says');
        request.log.error({ err: { name: error.name, code: error.code } }, 'routing failed');
        return sendError(reply, 500, '');
      }).catch((failure: unknown) => {
        request.log.error({ err: { name: (failure as Error | null)?.name } }, 'routing failed');
        if (!reply.sent) sendError(reply, 500, '');
      });
    },
    // Node's parser refused the request (malformed, head over 16 KiB, too slow): the
    // answer is written on the socket, in the documented shape, unless a response has
    // already started on it.
    clientErrorHandler(this: FastifyInstance, error: Error & { code?: string }, socket: Socket) {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      let status = 400;
      let message = 'the request is not valid HTTP/1.1: send it as docs/API.md describes';
      if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        status = 408;
        message = `the request did not arrive in time (the head within ${headersTimeout / 1000} s, all of it within ${config.requestTimeoutMs / 1000} s): send it again`;
      } else if (error.code === 'HPE_HEADER_OVERFLOW') {
        status = 431;
        message = `the request head is larger than ${MAX_HEAD_KIB} KiB: send fewer or shorter headers`;
      }
      this.log.debug({ err: { code: error.code } }, 'client error');
      const inFlight = (socket as Socket & { _httpMessage?: http.ServerResponse | null })._httpMessage;
      if (socket.writable && (!inFlight || !inFlight.headersSent)) socket.write(rawErrorAnswer(status, message));
      socket.destroy();
    },
    // app.ts logs each request once, when it is answered (the onResponse hook below).
    logController: new LogController({ disableRequestLogging: true }),
    logger: {
      level: config.logLevel,
      ...(options.logStream ? { stream: options.logStream } : {}),
      // Never log tokens, bodies or query inputs: a request line is method and path only.
      redact: ['req.headers.authorization', 'req.headers.cookie'],
      serializers: {
        req: (req) => ({ method: req.method, path: req.url.split('?')[0], ip: req.ip }),
        res: (res) => ({ statusCode: res.statusCode }),
      },
    },
  });

  trouble = (what, error) => fastify.log.warn({ err: { name: (error as Error | null)?.name, code: (error as { code?: unknown } | null)?.code } }, what);
  openSockets = () => fastify.websocketServer?.clients.size ?? 0;
  // Redis (if any) is connected once the logger exists, so that a Redis down at start is logged.
  const limits = await createRateLimits({
    limit: config.rateLimitPerMinute,
    redisUrl: config.redisUrl,
    redisPrefix: config.redisPrefix,
    events: {
      refused: (limit) => metrics.rateLimited(limit),
      sharedState(up, error) {
        metrics.sharedLimits(up);
        if (up) fastify.log.info('the shared rate limits (Redis) answer again: counted there');
        else trouble('the shared rate limits (Redis) cannot be reached: this process counts alone until they answer', error);
      },
    },
  });
  const deps: Deps = { config, store, groups, now, sessionLimits: limits.session, feed, live };

  // The live stream's WebSocket (before the hooks below, which read `request.ws`). A
  // socket error is logged by name and code only, and the socket dropped.
  await fastify.register(fastifyWebsocket, {
    options: { maxPayload: WS_MAX_PAYLOAD },
    errorHandler(error, socket, request) {
      request.log.debug({ err: { name: error.name, code: (error as { code?: unknown }).code } }, 'websocket error');
      socket.terminate();
    },
  });

  // Every socket is guarded before tRPC attaches to it ('connection' is emitted before
  // the route's handler runs): heartbeats uncounted, other messages counted per IP,
  // batches refused, sockets without a running subscription closed.
  fastify.websocketServer.on('connection', (socket: WebSocket, req: http.IncomingMessage) => {
    const ip = upgradeIps.get(req) ?? req.socket.remoteAddress ?? '';
    guardSocket(socket, { overLimit: async () => (await overIpLimit(ip, 1)) > 0, idleMs: config.liveIdleSocketMs });
  });

  // An `Expect` other than 100-continue: Node would answer an empty-bodied 417.
  fastify.server.on('checkExpectation', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    const body = JSON.stringify(httpErrorBody(417, 'this server meets no Expect header but 100-continue: send the request without it'));
    res.writeHead(417, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
    res.end(body);
  });

  // Before anything else: the per-IP limit (a batch counts once per call), then the
  // request's form. None of these reads the body.
  fastify.addHook('onRequest', async (request, reply) => {
    const calls = callsOf(request);
    const wait = await overIpLimit(request.ip, Math.min(calls, MAX_BATCH_CALLS + 1));
    if (wait > 0) return tooMany(reply, wait);
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) return sendError(reply, 400, 'the request has no Host header, which HTTP/1.1 requires');
    // Any other method under /trpc/, even one Fastify routes nowhere (PROPFIND…).
    if ((request.routeOptions.url === TRPC_ROUTE || TRPC_PATH.test(request.url)) && request.method !== 'GET' && request.method !== 'POST') {
      return sendError(reply, 405, `${request.method} is not accepted here: send a query as GET and a mutation as POST`, { allow: 'GET, POST' });
    }
    if (request.routeOptions.url === TRPC_ROUTE) {
      if (calls > MAX_BATCH_CALLS) return sendError(reply, 400, `a batch carries at most ${MAX_BATCH_CALLS} calls and this one has ${calls}: split it`);
      if (liveOverHttp(request)) return sendError(reply, 400, 'subscribe over a WebSocket at /trpc (docs/API.md "Live events")');
    }
    // A WebSocket anywhere else would be logged with its query string by @fastify/websocket, and served nowhere.
    if (request.ws && request.routeOptions.url !== WS_ROUTE) return sendError(reply, 400, 'WebSocket connections are taken at /trpc only (the live stream, docs/API.md "Live events")');
    if (request.routeOptions.url === WS_ROUTE && !request.ws) return sendError(reply, 400, 'this URL takes WebSocket connections only (the live stream): open a WebSocket, or call /trpc/<procedure> over HTTP');
    if (request.ws) {
      upgradeIps.set(request.raw, request.ip);
      // Counted until the connection's socket closes, however it ends.
      if (!socketsPerIp.open(request.ip)) {
        metrics.rateLimited('sockets');
        return sendError(reply, 429, `too many open WebSocket connections from this address (at most ${config.liveSocketsPerIp}): close one first`, { 'retry-after': '1' });
      }
      request.raw.socket.once('close', () => socketsPerIp.close(request.ip));
      // The HTTP idle timeout does not apply to an open WebSocket: its own heartbeat does.
      request.raw.socket.setTimeout(0);
    }
    return undefined;
  });

  // One line per answered request: method, path (never the query), status and time.
  fastify.addHook('onResponse', async (request, reply) => {
    request.log.info({ req: request, res: reply, ms: Math.round(reply.elapsedTime * 10) / 10 }, 'request');
    metrics.answered(procedureLabel(request.routeOptions.url, (request.params as { path?: string } | undefined)?.path, procedures), reply.statusCode, reply.elapsedTime / 1000);
  });

  fastify.setNotFoundHandler((_request, reply) => sendError(reply, 404, 'there is nothing here: the API answers under /trpc/<procedure> and /health'));

  // Errors raised by Fastify itself (a body over the limit, a content-type it cannot
  // parse, an empty JSON body) and anything thrown outside tRPC. 4xx are not logged
  // (the request line is); a 5xx is logged by name and code, never with its message.
  fastify.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (status >= 500) request.log.error({ err: { name: error.name, code: error.code } }, 'request failed');
    return sendError(reply, status, fastifyErrorMessage(error, config));
  });

  fastify.get('/health', async () => ({ ok: true, store: store.kind }));

  const trpcOptions = {
    router: appRouter,
    createContext: contextFactory(deps),
    keepAlive: { enabled: true, pingMs: config.livePingMs, pongWaitMs: config.livePongWaitMs },
    // The onRequest check refuses a longer batch first; this is tRPC's own backstop.
    maxBatchSize: MAX_BATCH_CALLS,
    onError({ error, path }: { error: TRPCError; path?: string | undefined }) {
      if (error.code === 'INTERNAL_SERVER_ERROR') fastify.log.error({ path, err: { name: error.name, code: error.code } }, 'procedure failed');
    },
  } satisfies FastifyTRPCPluginOptions<AppRouter>['trpcOptions'];
  // notes.get and notes.put skip the fetch adapter, with the same answers (trpc/hot-path.ts).
  if (options.hotPath !== false) fastify.addHook('preHandler', hotPath({ ...trpcOptions, route: TRPC_ROUTE }));
  await fastify.register(fastifyTRPCPlugin, { prefix: '/trpc', useWSS: true, trpcOptions });

  // Expired challenges and sessions are deleted every few minutes (anyone may ask for a
  // challenge, so that table must not grow without bound).
  const purge = setInterval(() => {
    store.purgeExpired(now()).catch((err: unknown) => fastify.log.warn({ err: { name: (err as Error)?.name } }, 'purging expired sessions failed'));
  }, PURGE_INTERVAL_MS);
  purge.unref();

  await live.start();

  return {
    fastify,
    deps,
    metrics,
    async close() {
      clearInterval(purge);
      // Sockets are closed, not streams ended: a client reconnects and subscribes again (to another process, or this one restarted).
      await fastify.close();
      await feed.close();
      await limits.close();
      await store.close();
    },
  };
}
