/**
 * A page's port to the background (messages/page-port.ts). Chrome disconnects it when
 * the service worker stops (memory pressure, an update, DevTools); the page then
 * connects again after a short delay, which starts the worker, and calls every
 * listener so what it shows is asked again (as on `conclave.changed`) — the restarted
 * worker's live stream and first sync bring whatever moved meanwhile.
 *
 * One port per page, open while anything listens. Reconnects are bounded: after
 * `RECONNECT_DELAYS_MS` fail one after another (the extension was removed or
 * reloaded: this page is gone too), the page stops trying; a port that stays up for
 * `STABLE_MS` resets the count.
 */
import { browser } from 'wxt/browser';
import { PAGE_PORT } from '../../messages/page-port.ts';

export const RECONNECT_DELAYS_MS: readonly number[] = [150, 300, 600, 1_200, 2_400, 4_800, 9_600];
export const STABLE_MS = 5_000;

export interface PortLike {
  readonly onDisconnect: { addListener(listener: () => void): void };
  disconnect(): void;
}

export interface PortRuntime {
  connect?: ((info: { name: string }) => PortLike) | undefined;
  readonly lastError?: unknown;
}

export interface BackgroundPortOptions {
  runtime?: PortRuntime;
  delaysMs?: readonly number[];
  stableMs?: number;
}

export class BackgroundPort {
  private readonly runtime: PortRuntime;
  private readonly delaysMs: readonly number[];
  private readonly stableMs: number;
  private readonly listeners = new Set<() => void>();
  private port: PortLike | null = null;
  private attempt = 0;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private stable: ReturnType<typeof setTimeout> | null = null;

  constructor(options: BackgroundPortOptions = {}) {
    this.runtime = options.runtime ?? (browser.runtime as PortRuntime);
    this.delaysMs = options.delaysMs ?? RECONNECT_DELAYS_MS;
    this.stableMs = options.stableMs ?? STABLE_MS;
  }

  /** Calls `listener` each time the port came back after the worker stopped; returns the unsubscribe. */
  onBack(listener: () => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.connect(false);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.close();
    };
  }

  get connected(): boolean {
    return this.port !== null;
  }

  private connect(again: boolean): void {
    // Pages rendered outside the extension (component tests) have no ports.
    if (typeof this.runtime.connect !== 'function') return;
    let port: PortLike;
    try {
      port = this.runtime.connect({ name: PAGE_PORT });
    } catch {
      // The extension context is gone (reloaded, removed), or not there yet.
      this.later();
      return;
    }
    this.port = port;
    port.onDisconnect.addListener(() => {
      // Read, so Chrome does not report "Unchecked runtime.lastError" for a stopped worker.
      void this.runtime.lastError;
      if (this.port !== port) return;
      this.port = null;
      this.clearStable();
      this.later();
    });
    if (!again) return;
    this.stable = setTimeout(() => {
      this.stable = null;
      this.attempt = 0;
    }, this.stableMs);
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch (error) {
        console.warn('conclave: re-asking after the background came back failed', (error as Error)?.name);
      }
    }
  }

  private later(): void {
    if (this.listeners.size === 0 || this.retry) return;
    const delay = this.delaysMs[this.attempt];
    if (delay === undefined) return; // gave up: see the module note
    this.attempt++;
    this.retry = setTimeout(() => {
      this.retry = null;
      if (this.listeners.size > 0) this.connect(true);
    }, delay);
  }

  private clearStable(): void {
    if (this.stable) clearTimeout(this.stable);
    this.stable = null;
  }

  private close(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.clearStable();
    this.attempt = 0;
    const port = this.port;
    this.port = null;
    port?.disconnect();
  }
}

let shared: BackgroundPort | null = null;

/** The page's one port (made on first use). */
export function backgroundPort(): BackgroundPort {
  shared ??= new BackgroundPort();
  return shared;
}
