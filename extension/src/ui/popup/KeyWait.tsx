/**
 * The named waiting state of a group whose key has not reached this device yet:
 * who could hand it over, who is online, what was tried. A fork is shown as an alarm.
 */
import type { KeyWaitView } from '../../messages/views.ts';
import { describeKeyWait, type KeyWaitText } from './key-wait-text.ts';

// Glyphs found in common text fonts (no colour emoji needed); the words carry the meaning.
const ICON = { wait: '◔', ok: '✓', alarm: '⚠', stopped: '■' } as const;
const CLASS = { wait: 'notice', ok: 'notice notice-ok', alarm: 'notice notice-alarm', stopped: 'notice notice-warn' } as const;

export function KeyWait({ wait, compact = false }: { wait: KeyWaitView; compact?: boolean }) {
  return <KeyNotice text={describeKeyWait(wait)} compact={compact} />;
}

/** A key notice already in words (a key wait, or what a verification tab says the key waits for). */
export function KeyNotice({ text, compact = false, testId }: { text: KeyWaitText; compact?: boolean; testId?: string }) {
  return (
    <div class={CLASS[text.tone]} role={text.tone === 'alarm' ? 'alert' : undefined} data-testid={testId}>
      <p class="notice-title">
        <span aria-hidden="true">{ICON[text.tone]}</span> {text.title}
      </p>
      {(compact ? text.details.slice(-1) : text.details).map((line, i) => (
        <p key={i}>{line}</p>
      ))}
    </div>
  );
}
