/**
 * How this device trusts a member's key, as an icon and a word — never colour alone
 * (DESIGN §3: Unverified · Verified · Key changed · Removed, plus "Trusted by link"
 * for members admitted with a pre-keyed invite, §6). The colour only repeats what the
 * icon and the word already say.
 */
import type { TrustView } from '../../messages/views.ts';

/** The word shown for each trust state. */
export const TRUST_WORDS: Record<TrustView, string> = {
  unverified: 'Unverified',
  verified: 'Verified',
  'key-changed': 'Key changed',
  removed: 'Removed',
  'trusted-by-link': 'Trusted by link',
};

/** One sentence on what each state means, for the tooltip and the accessible name. */
export const TRUST_MEANINGS: Record<TrustView, string> = {
  unverified: 'you have not compared safety numbers with them yet',
  verified: 'you compared safety numbers or scanned their code',
  'key-changed': 'their key is not the one you verified: verify them again',
  removed: 'no longer a member of this group',
  'trusted-by-link': 'joined with a pre-keyed invite link; not verified yet',
};

/** The badge's accessible name, e.g. "Trust: Verified — you compared safety numbers…". */
export function trustLabel(trust: TrustView, name?: string): string {
  return `${name ? `${name}: ` : 'Trust: '}${TRUST_WORDS[trust]} — ${TRUST_MEANINGS[trust]}`;
}

/** Icon shapes differ per state, so the badge reads without colour (and in forced colours). */
function TrustIcon({ trust }: { trust: TrustView }) {
  const common = { width: 14, height: 14, viewBox: '0 0 16 16', 'aria-hidden': true as const, focusable: 'false' as const, class: 'trust-icon' };
  switch (trust) {
    case 'verified':
      return (
        <svg {...common}>
          <circle cx="8" cy="8" r="7" fill="currentColor" />
          <path d="M4.5 8.3l2.3 2.3 4.7-5" fill="none" stroke="var(--bg, #fff)" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" />
        </svg>
      );
    case 'key-changed':
      return (
        <svg {...common}>
          <path d="M8 1.2l7 13.3H1z" fill="currentColor" />
          <path d="M8 6v4.2M8 12.2v.3" stroke="var(--bg, #fff)" stroke-width="1.8" stroke-linecap="round" />
        </svg>
      );
    case 'removed':
      return (
        <svg {...common}>
          <circle cx="8" cy="8" r="6.2" fill="none" stroke="currentColor" stroke-width="1.8" />
          <path d="M3.6 12.4l8.8-8.8" stroke="currentColor" stroke-width="1.8" />
        </svg>
      );
    case 'trusted-by-link':
      return (
        <svg {...common}>
          <path d="M6.6 9.4a2.6 2.6 0 003.7 0l2.6-2.6a2.6 2.6 0 00-3.7-3.7l-.9.9M9.4 6.6a2.6 2.6 0 00-3.7 0L3.1 9.2a2.6 2.6 0 003.7 3.7l.9-.9" fill="none" stroke="currentColor" stroke-width="1.7" stroke-linecap="round" />
        </svg>
      );
    case 'unverified':
    default:
      return (
        <svg {...common}>
          <circle cx="8" cy="8" r="6.2" fill="none" stroke="currentColor" stroke-width="1.8" />
          <path d="M6.2 6.3a1.9 1.9 0 113 1.5c-.7.5-1.2.9-1.2 1.8M8 11.6v.3" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" />
        </svg>
      );
  }
}

export interface TrustBadgeProps {
  trust: TrustView;
  /** The member's name, to make the accessible name stand alone ("Alice: Verified — …"). */
  name?: string;
}

export function TrustBadge({ trust, name }: TrustBadgeProps) {
  const label = trustLabel(trust, name);
  return (
    <span class={`badge trust trust-${trust}`} role="img" aria-label={label} title={label} data-trust={trust}>
      <TrustIcon trust={trust} />
      <span class="trust-word">{TRUST_WORDS[trust]}</span>
    </span>
  );
}
