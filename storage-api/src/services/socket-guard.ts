/**
 * What app.ts puts in front of tRPC on every WebSocket at /trpc (docs/API.md "Live
 * events", "Limits"), before tRPC sees a message:
 * - the heartbeat texts `PING` and `PONG` pass uncounted (behind a load balancer one
 *   address holds thousands of sockets, each PINGing every 20 s);
 * - every other message counts once against the per-IP request limit; over it, the
 *   socket closes (1008) and the message is dropped. The count may be asked of Redis
 *   (services/rate-limits.ts), so messages wait for it in order, one socket's at most
 *   `MAX_WAITING` at once (beyond, the socket is over the limit);
 * - a JSON array (a batch) is refused with BAD_REQUEST and dropped: a live client sends
 *   one subscribe (or its stop) per message, and a batch would be many calls for one count;
 * - a socket that carries no running subscription for `idleMs` (never signed in,
 *   refused, over a limit, its stream stopped) is closed with `IDLE_CLOSE_CODE`.
 */
import type { WebSocket } from 'ws';
import { httpErrorBody } from '../errors.ts';

/** The close code of a socket that carried no running subscription for too long. */
export const IDLE_CLOSE_CODE = 4408;
/** The close code of a socket over the per-IP message limit. */
export const OVER_LIMIT_CLOSE_CODE = 1008;
/** The close code of a socket whose message could not be handled. */
const INTERNAL_ERROR_CLOSE_CODE = 1011;
/** Messages of one socket waiting for their count at once: a live client sends one subscribe, or its stop. */
const MAX_WAITING = 32;

export interface SocketGuardOptions {
  /** Counts one message of this socket's address; true when over the per-IP limit. Never rejects. */
  overLimit(): Promise<boolean>;
  /** How long a socket may stay open without a running subscription. */
  idleMs: number;
}

interface Guard {
  running: number;
  idle: NodeJS.Timeout | null;
  arm(): void;
}

const guards = new WeakMap<WebSocket, Guard>();

const BATCH_REFUSED = JSON.stringify({
  id: null,
  ...httpErrorBody(400, 'batches are not accepted on the WebSocket: send one subscribe message (events.live) at a time'),
});

/** Whether `data` is the text of a JSON array (the first non-blank byte is `[`). */
function isArrayText(data: Buffer): boolean {
  for (const byte of data) {
    if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d) continue;
    return byte === 0x5b;
  }
  return false;
}

/** Whether `data` is exactly the text `PING` or `PONG`. */
function isHeartbeat(data: Buffer): boolean {
  if (data.length !== 4) return false;
  const text = data.toString('latin1');
  return text === 'PING' || text === 'PONG';
}

/** Guards `socket` (call before tRPC attaches its listeners: on the server's 'connection'). */
export function guardSocket(socket: WebSocket, options: SocketGuardOptions): void {
  const guard: Guard = {
    running: 0,
    idle: null,
    arm() {
      if (this.idle) clearTimeout(this.idle);
      this.idle = setTimeout(() => socket.close(IDLE_CLOSE_CODE, 'no subscription'), options.idleMs);
      this.idle.unref();
    },
  };
  guards.set(socket, guard);
  guard.arm();
  socket.once('close', () => {
    if (guard.idle) clearTimeout(guard.idle);
  });
  // Listeners cannot stop each other: a message is kept from tRPC by not emitting it at all.
  const emit = socket.emit.bind(socket) as (event: string | symbol, ...args: unknown[]) => boolean;
  // Counted messages pass on in the order they came, each once its count is known.
  let queue: Promise<void> = Promise.resolve();
  let waiting = 0;
  const overLimit = () => {
    socket.close(OVER_LIMIT_CLOSE_CODE, 'too many requests');
    return false;
  };
  socket.emit = ((event: string | symbol, ...args: unknown[]) => {
    if (event !== 'message') return emit(event, ...args);
    const [data, isBinary] = args as [unknown, boolean];
    if (!isBinary && Buffer.isBuffer(data) && isHeartbeat(data) && waiting === 0) return emit(event, ...args);
    if (waiting >= MAX_WAITING) return overLimit();
    waiting += 1;
    queue = queue.then(async () => {
      const counted = !(!isBinary && Buffer.isBuffer(data) && isHeartbeat(data));
      const over = counted && (await options.overLimit());
      waiting -= 1;
      if (socket.readyState !== socket.OPEN) return;
      if (over) overLimit();
      else if (counted && Buffer.isBuffer(data) && isArrayText(data)) socket.send(BATCH_REFUSED);
      else emit(event, ...args);
    }).catch(() => {
      // A listener threw: this socket cannot be trusted to go on (its client reconnects).
      waiting = 0;
      socket.close(INTERNAL_ERROR_CLOSE_CODE, 'internal error');
    });
    return true;
  }) as typeof socket.emit;
}

/** A subscription runs on `socket`: it is not idle until the returned release is called. */
export function holdSocket(socket: WebSocket): () => void {
  const guard = guards.get(socket);
  if (!guard) return () => undefined;
  guard.running += 1;
  if (guard.idle) clearTimeout(guard.idle);
  guard.idle = null;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    guard.running -= 1;
    if (guard.running === 0 && socket.readyState === socket.OPEN) guard.arm();
  };
}
