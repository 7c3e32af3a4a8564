/**
 * HTTP below fetch, for the answers fetch cannot provoke: any method (TRACE), a request
 * without Host, malformed request lines, oversized heads, bodies trickled byte by byte,
 * another source address on loopback (127.0.0.2). And the check every test of the
 * storage API's hostile edges shares: does a non-2xx answer have the documented error
 * shape (docs/API.md "Errors on the wire")?
 */
import net from 'node:net';
import { TRPC_ERROR_CODES_BY_KEY } from '@trpc/server/rpc';
import { API_ERROR_CODES } from '@conclave/shared/protocol';

export interface RawAnswer {
  /** 0 when the server closed the connection without answering. */
  status: number;
  headers: Record<string, string>;
  text: string;
  /** The parsed JSON body, or undefined when the body is empty or not JSON. */
  body: unknown;
  /** Milliseconds from the first byte sent to the end of the answer (or the close). */
  elapsedMs: number;
}

function dechunk(raw: string): string {
  let out = '';
  let rest = raw;
  for (;;) {
    const eol = rest.indexOf('\r\n');
    if (eol < 0) return out;
    const size = Number.parseInt(rest.slice(0, eol), 16);
    if (!Number.isFinite(size) || size === 0) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}

/** Parses the first HTTP/1.1 answer in `bytes` (the body as UTF-8). */
export function parseAnswer(bytes: Buffer, elapsedMs = 0): RawAnswer {
  const raw = bytes.toString('latin1');
  const headEnd = raw.indexOf('\r\n\r\n');
  if (!raw.startsWith('HTTP/1.') || headEnd < 0) return { status: 0, headers: {}, text: bytes.toString('utf8'), body: undefined, elapsedMs };
  const [statusLine, ...headerLines] = raw.slice(0, headEnd).split('\r\n');
  const status = Number(statusLine!.split(' ')[1]);
  // An interim answer (100 Continue) precedes the real one.
  if (status >= 100 && status < 200) {
    const next = bytes.subarray(Buffer.byteLength(raw.slice(0, headEnd + 4), 'latin1'));
    return next.length > 0 ? parseAnswer(next, elapsedMs) : { status: 0, headers: {}, text: '', body: undefined, elapsedMs };
  }
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let rest = bytes.subarray(headEnd + 4);
  if (headers['transfer-encoding']?.includes('chunked')) rest = Buffer.from(dechunk(rest.toString('latin1')), 'latin1');
  else if (headers['content-length'] !== undefined) rest = rest.subarray(0, Number(headers['content-length']));
  const text = rest.toString('utf8');
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status, headers, text, body, elapsedMs };
}

export interface ExchangeOptions {
  /** Source address on loopback (127.0.0.2 …) to appear as another client IP. */
  localAddress?: string;
  /** Gives up (and reports what arrived) after this long. */
  timeoutMs?: number;
  /** Sends `text` in pieces of this many bytes… */
  chunkBytes?: number;
  /** …with this pause between them. */
  chunkDelayMs?: number;
}

/**
 * Writes `text` to the server at `url` over a fresh TCP connection and returns the
 * first answer, once the server closes the connection or the answer is complete.
 */
export function exchange(url: string, text: string | Buffer, options: ExchangeOptions = {}): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  const data = Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1');
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port), ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
    let received = Buffer.alloc(0);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(parseAnswer(received, Date.now() - started));
    };
    const timer = setTimeout(finish, options.timeoutMs ?? 5000);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const answer = parseAnswer(received);
      const length = answer.headers['content-length'];
      const head = received.indexOf('\r\n\r\n');
      if (answer.status > 0 && length !== undefined && received.length - head - 4 >= Number(length)) finish();
      if (answer.status > 0 && answer.headers['transfer-encoding']?.includes('chunked') && received.includes('\r\n0\r\n\r\n')) finish();
    });
    socket.on('error', finish);
    socket.on('close', finish);
    socket.on('connect', async () => {
      if (!options.chunkBytes) {
        socket.write(data);
        return;
      }
      for (let i = 0; i < data.length && !done && socket.writable; i += options.chunkBytes) {
        socket.write(data.subarray(i, i + options.chunkBytes));
        await new Promise((r) => setTimeout(r, options.chunkDelayMs ?? 0));
      }
    });
  });
}

/** An HTTP/1.1 request as text; `Host` and `Content-Length` are added unless given (or `host: null`). */
export function requestText(method: string, path: string, options: { headers?: Record<string, string>; body?: string; host?: string | null } = {}): string {
  const headers: Record<string, string> = { ...(options.host === null ? {} : { host: options.host ?? 'localhost' }), connection: 'close', ...options.headers };
  if (options.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) headers['content-length'] = String(Buffer.byteLength(options.body));
  return `${method} ${path} HTTP/1.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n${options.body ?? ''}`;
}

const TRPC_NUMBERS = new Set<number>(Object.values(TRPC_ERROR_CODES_BY_KEY));
const TRPC_KEYS = new Set<string>(Object.keys(TRPC_ERROR_CODES_BY_KEY));
const CONCLAVE_CODES = new Set<string>(API_ERROR_CODES);

/** What is wrong with one error object `{error: {...}}`, or null when it has the shape. */
function errorObjectProblem(item: unknown, status: number | undefined): string | null {
  const error = (item as { error?: unknown } | null)?.error as { message?: unknown; code?: unknown; data?: Record<string, unknown> } | undefined;
  if (!error || typeof error !== 'object') return 'no "error" object';
  if (typeof error.message !== 'string' || error.message.length === 0) return 'error.message is not a non-empty string';
  if (typeof error.code !== 'number' || !TRPC_NUMBERS.has(error.code)) return `error.code ${String(error.code)} is not a JSON-RPC code of tRPC`;
  const data = error.data;
  if (!data || typeof data !== 'object') return 'no error.data';
  if (typeof data.code !== 'string' || !TRPC_KEYS.has(data.code)) return `error.data.code ${String(data.code)} is not a tRPC code`;
  if (TRPC_ERROR_CODES_BY_KEY[data.code as keyof typeof TRPC_ERROR_CODES_BY_KEY] !== error.code) return 'error.code and error.data.code disagree';
  if (typeof data.httpStatus !== 'number') return 'error.data.httpStatus is not a number';
  if (status !== undefined && data.httpStatus !== status) return `error.data.httpStatus ${data.httpStatus} is not the HTTP status ${status}`;
  const conclave = data.conclave as { code?: unknown } | undefined;
  if (!conclave || typeof conclave.code !== 'string' || !CONCLAVE_CODES.has(conclave.code)) return `error.data.conclave.code ${String(conclave?.code)} is not a Conclave code`;
  if ('stack' in data && data.stack !== undefined) return 'error.data carries a stack';
  return null;
}

/**
 * What is wrong with a non-2xx answer, or null when it has the documented shape: a
 * tRPC error object with `data.httpStatus` equal to the status and a Conclave code in
 * `data.conclave.code`; for a batch (`?batch=1`), an array of such objects and results.
 * An answer to HEAD has no body by definition and passes on its status alone.
 */
export function errorShapeProblem(status: number, body: unknown, options: { method?: string } = {}): string | null {
  if (status < 400 || status > 599) return `status ${status} is not an error`;
  if (options.method === 'HEAD') return null;
  if (Array.isArray(body)) {
    if (body.length === 0) return 'an empty batch answer';
    for (const [i, item] of body.entries()) {
      if (item && typeof item === 'object' && 'result' in item) continue;
      const problem = errorObjectProblem(item, undefined);
      if (problem) return `batch item ${i}: ${problem}`;
    }
    return null;
  }
  return errorObjectProblem(body, status);
}
