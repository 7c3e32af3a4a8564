/**
 * Shows a failure from the background as the person needs it: what happened, and
 * what to do next (`ExtensionError.message` and `.action`, as they are). Rendered with
 * role=alert so a screen reader reads it when it appears; an icon and words, never
 * colour alone.
 */
import type { ComponentChildren } from 'preact';
import type { ExtensionError } from '../../messages/protocol.ts';

export interface ErrorNoticeProps {
  error: ExtensionError | null | undefined;
  /** A short heading; defaults to "Something went wrong". */
  title?: string;
  /** Shows a "Try again" button. */
  onRetry?: () => void;
  /** Shows a "Dismiss" button. */
  onDismiss?: () => void;
  children?: ComponentChildren;
}

export function ErrorNotice({ error, title, onRetry, onDismiss, children }: ErrorNoticeProps) {
  if (!error) return null;
  return (
    <div class="notice notice-error" role="alert" data-code={error.code}>
      <p class="notice-title">
        <span aria-hidden="true" class="notice-icon">
          ⚠
        </span>{' '}
        {title ?? 'Something went wrong'}
      </p>
      <p>{error.message}</p>
      {error.action && (
        <p>
          <strong>What to do: </strong>
          {error.action}
        </p>
      )}
      {children}
      {(onRetry || onDismiss) && (
        <div class="row">
          {onRetry && (
            <button type="button" onClick={onRetry}>
              Try again
            </button>
          )}
          {onDismiss && (
            <button type="button" class="quiet" onClick={onDismiss}>
              Dismiss
            </button>
          )}
        </div>
      )}
    </div>
  );
}
