/**
 * What an action did, in lines the background wrote (the first marked ✓ when it went
 * through, ⚠ when only in part), with a button to close it. role=status, so a screen
 * reader reads it without interrupting; an icon and words, never colour alone.
 */
import type { Ref } from 'preact';

export interface OutcomeNoticeProps {
  lines: readonly string[];
  /** False for an outcome that only partly went through (a warning). */
  ok?: boolean;
  onClose: () => void;
  /** The close button's words; "Dismiss" by default. */
  closeLabel?: string;
  /** Shown as a page-wide banner. */
  banner?: boolean;
  /** Given when the page moves keyboard focus to the notice. */
  focusRef?: Ref<HTMLDivElement>;
}

export function OutcomeNotice({ lines, ok = true, onClose, closeLabel = 'Dismiss', banner = false, focusRef }: OutcomeNoticeProps) {
  return (
    <div
      class={`notice ${ok ? 'notice-ok' : 'notice-warn'}${banner ? ' banner' : ''}`}
      role="status"
      {...(focusRef ? { tabIndex: -1, ref: focusRef } : {})}
    >
      {lines.map((line, i) => (
        <p key={i}>
          {i === 0 && <span aria-hidden="true">{ok ? '✓ ' : '⚠ '}</span>}
          {line}
        </p>
      ))}
      <button type="button" class="quiet" onClick={onClose}>
        {closeLabel}
      </button>
    </div>
  );
}
