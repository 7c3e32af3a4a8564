/**
 * One polite live region per page, and `announce(text)` to speak a status change
 * ("Code copied", "Group created") without moving focus. Mount `<Announcer />` once,
 * near the root; `announce` is a plain function so any component or handler can call it.
 */
import { useEffect, useState } from 'preact/hooks';

type Listener = (text: string) => void;
let listener: Listener | null = null;
let pending: string | null = null;

/** Speaks `text` through the page's live region (queued until `<Announcer />` mounts). */
export function announce(text: string): void {
  if (listener) listener(text);
  else pending = text;
}

export function Announcer() {
  const [text, setText] = useState('');
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    listener = (next) => {
      // Clear first, then set on the next tick: the same words twice are read twice.
      setText('');
      clearTimeout(timer);
      timer = setTimeout(() => setText(next), 50);
    };
    if (pending !== null) {
      listener(pending);
      pending = null;
    }
    return () => {
      clearTimeout(timer);
      listener = null;
    };
  }, []);
  return (
    <div class="visually-hidden" role="status" aria-live="polite" aria-atomic="true">
      {text}
    </div>
  );
}
