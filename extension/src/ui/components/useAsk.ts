/**
 * Hooks around `ask()` for pages: `useAsk` loads data and keeps it fresh,
 * `useAction` runs a request from a button with a pending flag and the error to show
 * (the one hook for actions: popup, side panel, options and verification tab),
 * and `useChanged` calls back whenever the background broadcasts
 * `{type: 'conclave.changed'}` (something a page shows may have changed), and when
 * the page's port to the background came back after the service worker was stopped
 * (background-port.ts: reconnecting starts the worker again).
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { browser } from 'wxt/browser';
import { ask, RequestError } from '../../messages/client.ts';
import { backgroundPort } from './background-port.ts';
import type { AnswerTo, RequestOf } from '../../messages/answers.ts';
import type { ChangedEvent, ExtensionError, RequestType } from '../../messages/protocol.ts';

/** Any thrown value as an `ExtensionError` the person can read (never a stack trace). */
export function toExtensionError(error: unknown): ExtensionError {
  if (error instanceof RequestError) return error.error;
  return {
    code: 'internal',
    message: error instanceof Error ? error.message : 'Something unexpected happened.',
    action: 'Try again; if it keeps happening, reload the extension.',
  };
}

function isChangedEvent(message: unknown): message is ChangedEvent {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'conclave.changed';
}

/**
 * Calls `callback` on every `conclave.changed` broadcast (for `groupId`, when given:
 * events without a group id concern everything and always call back), and with
 * `{type: 'conclave.changed'}` when the background came back after being stopped
 * (broadcasts sent meanwhile were lost).
 */
export function useChanged(callback: (event: ChangedEvent) => void, groupId?: string): void {
  const latest = useRef(callback);
  latest.current = callback;
  useEffect(() => {
    const listener = (message: unknown): undefined => {
      if (!isChangedEvent(message)) return undefined;
      if (groupId && message.groupId && message.groupId !== groupId) return undefined;
      latest.current(message);
      // Returning nothing: this listener never answers, so the background's own
      // request handling is not disturbed.
      return undefined;
    };
    browser.runtime.onMessage.addListener(listener);
    const leave = backgroundPort().onBack(() => latest.current({ type: 'conclave.changed' }));
    return () => {
      browser.runtime.onMessage.removeListener(listener);
      leave();
    };
  }, [groupId]);
}

export interface AskState<T> {
  data: T | undefined;
  error: ExtensionError | null;
  /** True until the first answer (or failure); reloads keep showing the old data. */
  loading: boolean;
  reload: () => Promise<void>;
}

export interface UseAskOptions {
  /** Re-ask on `conclave.changed` broadcasts (default true). */
  live?: boolean;
  /** Only react to broadcasts about this group (and global ones). */
  groupId?: string;
}

/**
 * Asks `request` on mount (and when it changes), and again whenever the background
 * says something changed. `null` asks nothing. Overlapping reloads are coalesced:
 * at most one request is in flight, and one more runs after it if needed.
 */
export function useAsk<K extends RequestType>(request: RequestOf<K> | null, options: UseAskOptions = {}): AskState<AnswerTo<K>> {
  const key = request ? JSON.stringify(request) : '';
  const [data, setData] = useState<AnswerTo<K> | undefined>(undefined);
  const [error, setError] = useState<ExtensionError | null>(null);
  const [loading, setLoading] = useState(request !== null);
  const flight = useRef<{ key: string; running: Promise<void> | null; again: boolean }>({ key, running: null, again: false });
  const requestRef = useRef(request);
  requestRef.current = request;

  const reload = useCallback((): Promise<void> => {
    const current = requestRef.current;
    if (!current) return Promise.resolve();
    const state = flight.current;
    if (state.running) {
      state.again = true;
      return state.running;
    }
    const askedKey = JSON.stringify(current);
    const run = async (): Promise<void> => {
      do {
        state.again = false;
        try {
          const answer = await ask(current);
          if (flight.current.key !== askedKey) return;
          setData(answer);
          setError(null);
        } catch (thrown) {
          if (flight.current.key !== askedKey) return;
          setError(toExtensionError(thrown));
        }
      } while (state.again);
      setLoading(false);
    };
    state.running = run().finally(() => {
      state.running = null;
    });
    return state.running;
  }, []);

  useEffect(() => {
    flight.current = { key, running: null, again: false };
    if (!key) {
      setLoading(false);
      return;
    }
    setLoading(true);
    void reload();
  }, [key, reload]);

  useChanged(() => {
    if (options.live !== false) void reload();
  }, options.groupId);

  return { data, error, loading, reload };
}

/** What one action came to: many requests (delete, leave, remove) answer with no data, so success is said, not guessed. */
export type ActionResult<T> = { ok: true; data: T } | { ok: false; error: ExtensionError };

export interface ActionState {
  pending: boolean;
  error: ExtensionError | null;
  setError: (error: ExtensionError | null) => void;
  /**
   * Sends `request` and resolves with its answer (typed from `request.type`), or with
   * the failure after setting `error`. A call while another request of this action is
   * pending is refused at once (`ok: false`, `error` left as it is).
   */
  run: <K extends RequestType>(request: RequestOf<K>) => Promise<ActionResult<AnswerTo<K>>>;
}

const BUSY: ExtensionError = { code: 'internal', message: 'Still working on the last request.', action: 'Wait a moment and try again.' };

/** For buttons: one request at a time, with the failure kept for an `ErrorNotice`. */
export function useAction(): ActionState {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<ExtensionError | null>(null);
  const busy = useRef(false);
  const run = useCallback(async <K extends RequestType>(request: RequestOf<K>): Promise<ActionResult<AnswerTo<K>>> => {
    if (busy.current) return { ok: false, error: BUSY };
    busy.current = true;
    setPending(true);
    setError(null);
    try {
      return { ok: true, data: await ask(request) };
    } catch (thrown) {
      const failure = toExtensionError(thrown);
      setError(failure);
      return { ok: false, error: failure };
    } finally {
      busy.current = false;
      setPending(false);
    }
  }, []);
  return { pending, error, setError, run };
}
