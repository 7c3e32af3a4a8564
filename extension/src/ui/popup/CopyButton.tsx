/**
 * Copies a text to the clipboard and says so, aloud and on the button. The button is
 * as wide as its longest words from the start, so it does not jump when "Copy …"
 * becomes "✓ Copied": every label sits in the same grid cell, the unused ones hidden
 * (visibility: hidden keeps their size and leaves them out of the accessible name).
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { announce } from '../components/Announcer.tsx';

export interface CopyButtonProps {
  text: string;
  /** What is copied, for the button and the announcement: "link", "code". */
  what: string;
}

type CopyState = 'idle' | 'copied' | 'failed';

export function CopyButton({ text, what }: CopyButtonProps) {
  const [state, setState] = useState<CopyState>('idle');
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
  const labels: Record<CopyState, ComponentChildren> = {
    idle: `Copy ${what}`,
    copied: (
      <>
        <span aria-hidden="true">✓</span> Copied
      </>
    ),
    failed: 'Copy it by hand',
  };
  return (
    <button type="button" class="copy-button" onClick={copy}>
      {(Object.keys(labels) as CopyState[]).map((key) => (
        <span key={key} class="copy-label" hidden={key !== state}>
          {labels[key]}
        </span>
      ))}
    </button>
  );
}
