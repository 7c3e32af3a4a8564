/** Copies a text to the clipboard and says so, aloud and on the button. */
import { useEffect, useState } from 'preact/hooks';
import { announce } from '../components/Announcer.tsx';

export interface CopyButtonProps {
  text: string;
  /** What is copied, for the button and the announcement: "link", "code". */
  what: string;
}

export function CopyButton({ text, what }: CopyButtonProps) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  useEffect(() => {
    if (state === 'idle') return;
    const timer = setTimeout(() => setState('idle'), 2500);
    return () => clearTimeout(timer);
  }, [state]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setState('copied');
      announce(`The ${what} is copied.`);
    } catch {
      setState('failed');
      announce(`Could not copy the ${what}: select it and copy it by hand.`);
    }
  };
  return (
    <button type="button" onClick={copy}>
      {state === 'copied' ? (
        <>
          <span aria-hidden="true">✓</span> Copied
        </>
      ) : state === 'failed' ? (
        'Copy failed: select it by hand'
      ) : (
        `Copy ${what}`
      )}
    </button>
  );
}
