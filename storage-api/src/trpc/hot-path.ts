/**
 * A shorter way through tRPC for the hottest calls, `notes.get` and `notes.put`: their
 * requests are handed to the procedures directly, without the fetch adapter's
 * Request/Response conversion (a Web `Request` per request, a `Response` streamed back,
 * abort signals), and answered with the status, `content-type`, `vary` and body that
 * tRPC's own HTTP handler (`resolveResponse`, non-streaming JSON) gives for them. The
 * procedures, their middlewares and the error formatter are the router's own, so every
 * check and every error is the same; only the HTTP plumbing is shorter.
 *
 * Taken here: a GET of `notes.get` (or a batch of only `notes.get`) whose query is
 * `input=…` (and `batch=1` for a batch) and whose input is JSON; a POST of `notes.put`
 * (or a batch of only `notes.put`) with `content-type: application/json`, a JSON body and
 * no query but `batch=1`; neither with `trpc-accept` nor an `accept` asking for
 * `application/jsonl`. Anything else goes on, untouched, to the tRPC route.
 * storage-api/test/hot-path.node.test.ts sends the same requests, good and bad, both
 * ways and compares the answers.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TRPCError } from '@trpc/server';
import type { TRPCRequestInfo } from '@trpc/server/http';
import { getErrorShape, getHTTPStatusCode, getTRPCErrorFromUnknown, transformTRPCResponse } from '@trpc/server/unstable-core-do-not-import';
import type { AppRouter } from '../routers/index.ts';
import type { Context } from './context.ts';

/** The procedures taken here, with the one method each is called by. */
const HOT: ReadonlyMap<string, 'GET' | 'POST'> = new Map([
  ['notes.get', 'GET'],
  ['notes.put', 'POST'],
]);

type CallType = 'query' | 'mutation';

/** The request info's signal: the HTTP context reads nothing of the info, and these procedures never abort. */
const NEVER_ABORTED = new AbortController().signal;

export interface HotPathOptions {
  router: AppRouter;
  createContext: (opts: { req: FastifyRequest; res: FastifyReply; info: TRPCRequestInfo }) => Context;
  /** The same `onError` the tRPC plugin is given. */
  onError?: (opts: { error: TRPCError; path: string | undefined; input: unknown; ctx: Context | undefined; type: CallType | 'unknown'; req: FastifyRequest }) => void;
  maxBatchSize: number;
  /** The route tRPC serves: `/trpc/:path`. */
  route: string;
}

/** What the request asks for, when it is a request this path takes. */
interface HotRequest {
  paths: string[];
  isBatch: boolean;
  type: CallType;
  /** Input per call (undefined where a batch gives none). */
  inputs: unknown[];
}

/** Whether `value` is a plain object (tRPC's test for a batch's input). */
function isObject(value: unknown): value is Record<string, unknown> {
  return !!value && !Array.isArray(value) && typeof value === 'object';
}

/** The media type of a content-type header, lowercased, as tRPC reads it. */
function mediaType(header: string | undefined): string | undefined {
  return header?.toLowerCase().split(';', 1)[0]?.trim();
}

/** The request, if this path takes it (see the module comment); otherwise null. */
function hotRequest(request: FastifyRequest, maxBatchSize: number): HotRequest | null {
  const path = (request.params as { path?: unknown }).path;
  if (typeof path !== 'string' || path.includes('%')) return null;
  if (request.headers['trpc-accept'] !== undefined) return null;
  const accept = request.headers.accept;
  if (accept !== undefined && accept.split(',').some((t) => t.trim() === 'application/jsonl')) return null;
  const queryAt = request.url.indexOf('?');
  const query = new URLSearchParams(queryAt >= 0 ? request.url.slice(queryAt + 1) : '');
  const isBatch = query.get('batch') === '1';
  const paths = isBatch ? path.split(',') : [path];
  if (paths.length > maxBatchSize) return null;
  const method = HOT.get(paths[0]!);
  if (method === undefined || request.method !== method || paths.some((p) => p !== paths[0])) return null;
  const allowed = new Set(isBatch ? ['batch', ...(method === 'GET' ? ['input'] : [])] : method === 'GET' ? ['input'] : []);
  for (const key of query.keys()) if (!allowed.has(key)) return null;

  let text: string | null;
  if (method === 'GET') {
    if (request.headers['content-type'] !== undefined) return null;
    text = query.get('input');
  } else {
    if (mediaType(request.headers['content-type']) !== 'application/json' || typeof request.body !== 'string') return null;
    text = request.body;
  }
  if (!text) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  let inputs: unknown[];
  if (isBatch) {
    if (!isObject(parsed)) return null;
    const batch = parsed;
    inputs = paths.map((_p, i) => batch[i]);
  } else {
    inputs = [parsed];
  }
  return { paths, isBatch, type: method === 'GET' ? 'query' : 'mutation', inputs };
}

/**
 * A Fastify `preHandler` for the tRPC route that answers the requests this path takes
 * (see the module comment) and lets every other request through.
 */
export function hotPath(options: HotPathOptions) {
  const config = options.router._def._config;
  // tRPC keeps a router's procedures flat, by dotted path (its getProcedureAtPath reads them so).
  const procedures = options.router._def.procedures as unknown as Record<string, (((opts: unknown) => Promise<unknown>) & { _def: { type: string } }) | undefined>;
  for (const [path, method] of HOT) {
    if (procedures[path]?._def.type !== (method === 'GET' ? 'query' : 'mutation')) throw new Error(`the hot path expects a ${method === 'GET' ? 'query' : 'mutation'} at ${path}`);
  }

  return async function hotPathHandler(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    if (request.routeOptions.url !== options.route) return undefined;
    const hot = hotRequest(request, options.maxBatchSize);
    if (!hot) return undefined;
    const info: TRPCRequestInfo = {
      isBatchCall: hot.isBatch,
      accept: null,
      type: hot.type,
      calls: hot.paths.map((path, batchIndex) => ({ path, batchIndex, procedure: null, getRawInput: async () => hot.inputs[batchIndex], result: () => hot.inputs[batchIndex] })),
      connectionParams: null,
      signal: NEVER_ABORTED,
      url: null,
    } as unknown as TRPCRequestInfo;
    const ctx = options.createContext({ req: request, res: reply, info });
    const results = await Promise.all(
      hot.paths.map(async (path, batchIndex): Promise<[TRPCError, undefined] | [undefined, unknown]> => {
        const procedure = procedures[path]!;
        try {
          const data = await procedure({ path, getRawInput: async () => hot.inputs[batchIndex], ctx, type: hot.type, signal: undefined, batchIndex });
          return [undefined, data];
        } catch (cause) {
          const error = getTRPCErrorFromUnknown(cause);
          options.onError?.({ error, path, input: hot.inputs[batchIndex], ctx, type: hot.type, req: request });
          return [error, undefined];
        }
      }),
    );
    const responses = results.map(([error, data], i) =>
      error ? { error: getErrorShape({ config, ctx, error, input: hot.inputs[i], path: hot.paths[i]!, type: hot.type }) } : { result: { data } },
    );
    // As tRPC: the status of the answers (207 when they differ), each error's own code.
    const errors = results.map(([error]) => error) as TRPCError[];
    const body = hot.isBatch ? responses : responses[0]!;
    const status = getHTTPStatusCode(body as Parameters<typeof getHTTPStatusCode>[0], errors);
    return reply
      .code(status)
      .header('vary', 'trpc-accept, accept')
      .header('content-type', 'application/json')
      // A Buffer, so Fastify adds no charset to the content-type (tRPC's answer has none).
      .send(Buffer.from(JSON.stringify(transformTRPCResponse(config, body as Parameters<typeof transformTRPCResponse>[1]))));
  };
}
