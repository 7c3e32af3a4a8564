/**
 * The device's live event stream for long-running commands (`notes watch`, `serve`):
 * the SDK's `GroupClient.live` with a WebSocket class — Node ≥ 22's own, else the `ws`
 * package's. Events are hints: commands act on them with the normal SDK calls.
 */
import type { GroupClient, LiveStream } from '@conclave/shared/client';
import type { LiveEvent } from '@conclave/shared/protocol';
import { CliError, EXIT } from './errors.ts';

async function webSocketClass(): Promise<typeof globalThis.WebSocket> {
  if (typeof globalThis.WebSocket === 'function') return globalThis.WebSocket;
  try {
    const module = (await import('ws')) as unknown as { WebSocket: typeof globalThis.WebSocket };
    return module.WebSocket;
  } catch {
    throw new CliError(EXIT.setup, 'this Node has no WebSocket and the `ws` package is not installed: install it (npm install ws) or use Node 22 or later.');
  }
}

export async function openEvents(client: GroupClient, onEvent: (event: LiveEvent) => void, onStatus?: (status: 'connecting' | 'open' | 'closed') => void): Promise<LiveStream> {
  const WebSocket = await webSocketClass();
  return client.live({ WebSocket, onEvent, ...(onStatus ? { onStatus } : {}) });
}

/** Resolves after `seconds` (when given) or at Ctrl-C, whichever comes first; `stop` ends it early. */
export function runUntilStopped(seconds: number | null): { done: Promise<void>; stop: () => void } {
  let stop = () => {};
  const done = new Promise<void>((resolve) => {
    const timer = seconds ? setTimeout(() => stop(), seconds * 1000) : undefined;
    stop = () => {
      if (timer) clearTimeout(timer);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return { done, stop: () => stop() };
}

/**
 * Runs `work(key)` when asked, one run at a time per key and at most one more queued:
 * a burst of events costs one or two runs, never a growing chain. A failing run is
 * reported to `onError` and does not stop later ones.
 */
export function coalescing<K>(work: (key: K) => Promise<void>, onError: (error: unknown) => void): (key: K) => Promise<void> {
  const running = new Map<K, Promise<void>>();
  const queued = new Map<K, Promise<void>>();
  const start = (key: K): Promise<void> => {
    const run = work(key)
      .catch(onError)
      .finally(() => running.delete(key));
    running.set(key, run);
    return run;
  };
  return (key) => {
    const current = running.get(key);
    if (!current) return start(key);
    let next = queued.get(key);
    if (!next) {
      next = current.then(() => {
        queued.delete(key);
        return start(key);
      });
      queued.set(key, next);
    }
    return next;
  };
}

/** `--for <seconds>`: a positive number, or null when not given. */
export function secondsOption(value: string | undefined): number | null {
  if (value === undefined) return null;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new CliError(EXIT.usage, '--for takes a number of seconds');
  return seconds;
}
