/**
 * One popup screen: a heading that takes focus when the screen appears (so keyboard
 * and screen-reader users land at its start and hear its title), and a Back button.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef } from 'preact/hooks';

export interface ScreenProps {
  title: string;
  onBack?: () => void;
  children: ComponentChildren;
}

/** The first screen after the page opens keeps the browser's own starting point. */
let opened = false;

export function Screen({ title, onBack, children }: ScreenProps) {
  const heading = useRef<HTMLHeadingElement>(null);
  const id = useId();
  useEffect(() => {
    if (opened) heading.current?.focus();
    opened = true;
  }, []);
  return (
    <section class="screen stack" aria-labelledby={id}>
      {onBack && (
        <button type="button" class="link back" onClick={onBack}>
          <span aria-hidden="true">←</span> Back
        </button>
      )}
      <h1 id={id} tabIndex={-1} ref={heading}>
        {title}
      </h1>
      {children}
    </section>
  );
}
