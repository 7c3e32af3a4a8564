/**
 * A raw WebSocket client for the live stream (docs/API.md "Live events"), speaking
 * tRPC's JSON-RPC messages by hand, so tests control every byte: the connection
 * params, the subscribe message, a malformed message, PING/PONG, and see every
 * answer, the close code and a refused upgrade's HTTP answer.
 */
import WebSocket from 'ws';
import type { ApiErrorData, LiveEvent } from '@conclave/shared/protocol';
import { liveEventSchema } from '@conclave/shared/protocol';

const DEADLINE_MS = 10_000;

/** A JSON message the server sent (anything but the PING/PONG text frames). */
export interface ServerMessage {
  id?: number | string | null;
  result?: { type: 'started' | 'stopped' | 'data'; data?: unknown };
  error?: { message: string; code: number; data: { code: string; httpStatus: number; conclave: ApiErrorData; path?: string } };
  method?: string;
}

export interface LiveSocket {
  ws: WebSocket;
  /** Every JSON message received, in order. */
  messages: ServerMessage[];
  /** When each of `messages` arrived (`performance.now()`). */
  receivedAt: number[];
  /** Every text frame received, in order (JSON or not: PING, PONG). */
  texts: string[];
  /** Set once the socket closed. */
  closeInfo: { code: number; reason: string } | null;
  send(message: unknown): void;
  /** Sends the subscribe message of `events.live` with request id `id`. */
  subscribe(id?: number): void;
  /** The events (parsed by the contract's schema) of subscription `id`, in order. */
  events(id?: number): LiveEvent[];
  /** Waits (up to a deadline) until `test` holds for a message; returns it. */
  waitMessage(test: (message: ServerMessage) => boolean, what: string): Promise<ServerMessage>;
  /** Waits for the first event of subscription `id` from index `from` that passes `test`. */
  waitEvent(test: (event: LiveEvent) => boolean, what: string, id?: number): Promise<LiveEvent>;
  /** Waits for the error answer to request `id`. */
  waitError(id: number | null): Promise<NonNullable<ServerMessage['error']>>;
  waitClosed(): Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

export function wsUrl(httpUrl: string, query = ''): string {
  const url = new URL(`${httpUrl.replace(/\/$/, '')}/trpc${query}`);
  url.protocol = 'ws:';
  return url.toString();
}

/** Waits until `check` returns a value other than undefined, polling, up to a deadline. */
export async function until<T>(check: () => T | undefined | Promise<T | undefined>, what: string, deadlineMs = DEADLINE_MS): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export interface OpenOptions {
  /** The token to send as `connectionParams.token`; undefined sends connectionParams without one; null sends none at all. */
  token?: string | null;
  /** Any other connectionParams message to send instead (raw). */
  rawParams?: string;
  /** Appended to /trpc (a path and query string), to try other URLs. */
  query?: string;
}

/** The HTTP answer of a refused upgrade. */
export interface Refused {
  status: number;
  body: unknown;
}

/** Opens a socket to /trpc; resolves when open, or with the HTTP answer if the upgrade is refused. */
export function openSocket(httpUrl: string, options: OpenOptions = {}): Promise<LiveSocket | Refused> {
  const withParams = options.token !== null || options.rawParams !== undefined;
  const ws = new WebSocket(wsUrl(httpUrl, options.query ?? (withParams ? '?connectionParams=1' : '')));
  const socket: LiveSocket = {
    ws,
    messages: [],
    receivedAt: [],
    texts: [],
    closeInfo: null,
    send(message) {
      ws.send(typeof message === 'string' ? message : JSON.stringify(message));
    },
    subscribe(id = 1) {
      this.send({ id, jsonrpc: '2.0', method: 'subscription', params: { path: 'events.live', input: undefined } });
    },
    events(id = 1) {
      return this.messages
        .filter((m) => m.id === id && m.result?.type === 'data')
        .map((m) => liveEventSchema.parse(m.result!.data));
    },
    waitMessage(test, what) {
      return until(() => this.messages.find(test), what);
    },
    waitEvent(test, what, id = 1) {
      return until(() => this.events(id).find(test), what);
    },
    async waitError(id) {
      const message = await this.waitMessage((m) => m.id === id && m.error !== undefined, `an error answer to ${id}`);
      return message.error!;
    },
    waitClosed() {
      return until(() => this.closeInfo ?? undefined, 'the socket to close');
    },
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      const closed = new Promise((resolve) => ws.once('close', resolve));
      ws.close();
      await closed;
    },
  };
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const text = data.toString();
    socket.texts.push(text);
    if (text === 'PING' || text === 'PONG') return;
    socket.messages.push(JSON.parse(text) as ServerMessage);
    socket.receivedAt.push(performance.now());
  });
  ws.on('close', (code, reason) => (socket.closeInfo = { code, reason: reason.toString() }));
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      if (options.rawParams !== undefined) ws.send(options.rawParams);
      else if (withParams) ws.send(JSON.stringify({ method: 'connectionParams', data: options.token === undefined ? {} : { token: options.token } }));
      resolve(socket);
    });
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, body });
        ws.terminate();
      });
    });
    ws.once('error', (error) => reject(error));
  });
}

/** An open socket, or the test fails with the refusal. */
export async function openLive(httpUrl: string, token: string | null | undefined, subscribeId: number | null = 1): Promise<LiveSocket> {
  const opened = await openSocket(httpUrl, { token });
  if (!('ws' in opened)) throw new Error(`the upgrade was refused: ${opened.status} ${JSON.stringify(opened.body)}`);
  if (subscribeId !== null) opened.subscribe(subscribeId);
  return opened;
}
