/**
 * Like `useAction`, but tells success from failure explicitly: many requests (delete,
 * leave, remove) answer with no data, so "undefined" cannot mean "it failed".
 */
import { useCallback, useRef, useState } from 'preact/hooks';
import { ask } from '../../messages/client.ts';
import type { ExtensionError, Request } from '../../messages/protocol.ts';
import { toExtensionError } from '../components/useAsk.ts';

export type RunResult<T> = { ok: true; data: T } | { ok: false; error: ExtensionError };

export interface RunState {
  pending: boolean;
  error: ExtensionError | null;
  setError: (error: ExtensionError | null) => void;
  /** Sends one request at a time; a second call while one is running is refused. */
  run: <T>(request: Request) => Promise<RunResult<T>>;
}

const BUSY: ExtensionError = { code: 'internal', message: 'Still working on the last request.', action: 'Wait a moment and try again.' };

export function useRun(): RunState {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<ExtensionError | null>(null);
  const busy = useRef(false);
  const run = useCallback(async <T,>(request: Request): Promise<RunResult<T>> => {
    if (busy.current) return { ok: false, error: BUSY };
    busy.current = true;
    setPending(true);
    setError(null);
    try {
      return { ok: true, data: await ask<T>(request) };
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
