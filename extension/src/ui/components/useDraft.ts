/**
 * State that survives the popup closing: kept in the background through
 * `draft.save`/`draft.load` requests. On open the saved value is restored; changes
 * are saved after a short pause (and at once with `saveNow`, or when the page is
 * hidden); `clear()` forgets it when the flow is finished.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ask } from '../../messages/client.ts';

export interface DraftOptions<T> {
  /** Milliseconds of quiet before saving (default 300). */
  delayMs?: number;
  /**
   * Turns a saved value back into `T`, or null to ignore it (a draft from an older
   * version). Default: a plain object is merged over `initial`; anything else must
   * have the same `typeof` as `initial`.
   */
  restore?: (saved: unknown, initial: T) => T | null;
}

export interface Draft<T> {
  value: T;
  /** False until the saved value (if any) has been restored. */
  ready: boolean;
  set: (next: T | ((previous: T) => T)) => void;
  /** Saves now, without waiting: for values that must not be lost (a recovery code). */
  saveNow: (next?: T) => Promise<void>;
  /** Forgets the draft here and in the background, back to `initial`. */
  clear: () => Promise<void>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The default `restore`: merges saved fields over the initial object. */
export function restoreDraft<T>(saved: unknown, initial: T): T | null {
  if (saved === null || saved === undefined) return null;
  if (isPlainObject(initial)) return isPlainObject(saved) ? ({ ...initial, ...saved } as T) : null;
  return typeof saved === typeof initial ? (saved as T) : null;
}

export function useDraft<T>(key: string, initial: T, options: DraftOptions<T> = {}): Draft<T> {
  const delayMs = options.delayMs ?? 300;
  const [value, setValue] = useState<T>(initial);
  const [ready, setReady] = useState(false);
  const latest = useRef<T>(initial);
  const dirty = useRef(false);
  const touched = useRef(false);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const initialRef = useRef(initial);
  const restoreRef = useRef(options.restore ?? restoreDraft<T>);

  const flush = useCallback(async (): Promise<void> => {
    clearTimeout(timer.current);
    timer.current = undefined;
    if (!dirty.current) return;
    dirty.current = false;
    try {
      await ask({ type: 'draft.save', key, value: latest.current });
    } catch {
      // Kept in memory; the next change tries again.
      dirty.current = true;
    }
  }, [key]);

  useEffect(() => {
    let live = true;
    ask({ type: 'draft.load', key })
      .then((saved) => {
        if (!live || touched.current) return;
        const restored = restoreRef.current(saved, initialRef.current);
        if (restored !== null) {
          latest.current = restored;
          setValue(restored);
        }
      })
      .catch(() => {
        // No draft to restore: start fresh.
      })
      .finally(() => {
        if (live) setReady(true);
      });
    const onHide = () => {
      void flush();
    };
    window.addEventListener('pagehide', onHide);
    document.addEventListener('visibilitychange', onHide);
    return () => {
      live = false;
      window.removeEventListener('pagehide', onHide);
      document.removeEventListener('visibilitychange', onHide);
      void flush();
    };
  }, [key, flush]);

  const set = useCallback(
    (next: T | ((previous: T) => T)) => {
      const resolved = typeof next === 'function' ? (next as (previous: T) => T)(latest.current) : next;
      latest.current = resolved;
      touched.current = true;
      dirty.current = true;
      setValue(resolved);
      clearTimeout(timer.current);
      timer.current = setTimeout(() => void flush(), delayMs);
    },
    [delayMs, flush],
  );

  const saveNow = useCallback(
    async (next?: T) => {
      if (next !== undefined) {
        latest.current = next;
        touched.current = true;
        setValue(next);
      }
      dirty.current = true;
      await flush();
    },
    [flush],
  );

  const clear = useCallback(async () => {
    clearTimeout(timer.current);
    timer.current = undefined;
    dirty.current = false;
    latest.current = initialRef.current;
    setValue(initialRef.current);
    try {
      await ask({ type: 'draft.clear', key });
    } catch {
      // Nothing kept, or the background is restarting: nothing to do.
    }
  }, [key]);

  return { value, ready, set, saveNow, clear };
}
