/**
 * Registration on the signaling server (DESIGN §7): a peer registers under the id
 * derived from its fingerprint and proves the key behind it.
 *
 * token = base64url(canonicalJson({bundle, at, nonce, sig})), where
 * sig = Ed25519 by bundle.signKey over labelled(LABELS.signalingToken, {id, at, nonce})
 * and id = fingerprintOf(bundle) = the PeerJS id. Verification only: this module never
 * sees a private key (clients build tokens; see shared/src/p2p/registration-token.ts).
 *
 * A presence token (shared/src/p2p/presence.ts) has the same form, but its signature
 * covers {id, at, nonce, purpose: 'presence'}: neither token passes for the other. It
 * proves the caller of `GET <path>/presence` holds the key of the id it claims (the
 * bundle's fingerprint); app.ts then requires that id to be registered right now.
 */
import { z } from 'zod';
import { LABELS, fromBase64url, fromUtf8, verifyLabelled } from '@conclave/shared/verify';
import { VerifiedBundleCache, type CachedBundle } from './bundle-cache.ts';

export type RegistrationFailure =
  | 'malformed-token'
  | 'invalid-bundle'
  | 'id-mismatch'
  | 'bad-signature'
  | 'stale'
  | 'from-future'
  | 'replayed'
  /** Too many registrations within the token window to remember them all, or (several nodes) Redis unreachable: try again shortly. */
  | 'busy';

export type RegistrationResult = { ok: true; id: string } | { ok: false; reason: RegistrationFailure };

/** Longest token accepted (a bundle is ~200 characters; this leaves ample room). */
export const MAX_TOKEN_CHARS = 2048;

const tokenSchema = z.object({
  bundle: z.unknown(),
  at: z.number().int().nonnegative(),
  nonce: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  sig: z.string().max(128),
});

/** What a token's signature covers. */
export function registrationStatement(id: string, at: number, nonce: string): { id: string; at: number; nonce: string } {
  return { id, at, nonce };
}

/** What a presence token's signature covers: the registration statement and its purpose. */
export function presenceStatement(id: string, at: number, nonce: string): { id: string; at: number; nonce: string; purpose: 'presence' } {
  return { id, at, nonce, purpose: 'presence' };
}

/** Nonces seen within the token window; entries expire after it, size is bounded. */
export class ReplayCache {
  readonly #seen = new Map<string, number>();
  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 100_000,
  ) {}

  /** Records the nonce: 'replayed' when it was already seen within the window, 'full' when nothing more can be remembered. */
  add(nonce: string, now: number): 'added' | 'replayed' | 'full' {
    this.#prune(now);
    if (this.#seen.has(nonce)) return 'replayed';
    // Full of live entries: refuse rather than forget one (forgetting would allow a replay).
    if (this.#seen.size >= this.maxEntries) return 'full';
    this.#seen.set(nonce, now + 2 * this.windowMs);
    return 'added';
  }

  get size(): number {
    return this.#seen.size;
  }

  #prune(now: number): void {
    // Insertion order is expiry order (expiry = insertion time + constant).
    for (const [nonce, expires] of this.#seen) {
      if (expires > now) break;
      this.#seen.delete(nonce);
    }
  }
}

export interface VerifierOptions {
  maxAgeMs: number;
  replayCacheSize?: number;
  /** Bundles already verified (shared by the registration and presence verifiers); a fresh cache when omitted. */
  bundles?: VerifiedBundleCache;
  /**
   * Several nodes: records a nonce for the whole cluster (cluster.ts), after this
   * node's own replay cache accepted it. 'unavailable' refuses the token as 'busy'.
   */
  sharedNonces?: SharedNonces;
}

/** Records `key` for `ttlMs` unless already recorded (Redis SET NX PX). */
export type SharedNonces = (key: string, ttlMs: number) => Promise<'added' | 'replayed' | 'unavailable'>;

export interface RegistrationVerifier {
  verifyRegistration(id: string, token: string, now?: number): Promise<RegistrationResult>;
}

type Statement = (id: string, at: number, nonce: string) => Record<string, unknown>;

/**
 * Checks one token: it parses; its bundle parses and self-verifies; fingerprint(bundle)
 * equals `id` (when given); the signature over `statement` holds; |now − at| ≤ maxAgeMs;
 * and its nonce was not seen within the window.
 */
interface Checks {
  statement: Statement;
  /** Names the token kind in the shared nonce key: a registration nonce and a presence nonce never collide. */
  kind: 'registration' | 'presence';
  maxAgeMs: number;
  replay: ReplayCache;
  bundles: VerifiedBundleCache;
  sharedNonces?: SharedNonces;
}

async function checkToken(token: unknown, id: string | null, now: number, checks: Checks): Promise<RegistrationResult> {
  const { statement, maxAgeMs, replay, bundles } = checks;
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_CHARS) return { ok: false, reason: 'malformed-token' };
  let parsed: z.infer<typeof tokenSchema>;
  try {
    const result = tokenSchema.safeParse(JSON.parse(fromUtf8(fromBase64url(token))));
    if (!result.success) return { ok: false, reason: 'malformed-token' };
    parsed = result.data;
  } catch {
    return { ok: false, reason: 'malformed-token' };
  }
  let verified: CachedBundle;
  try {
    verified = await bundles.verified(parsed.bundle);
  } catch {
    return { ok: false, reason: 'invalid-bundle' };
  }
  const claimed = id ?? verified.fingerprint;
  if (verified.fingerprint !== claimed) return { ok: false, reason: 'id-mismatch' };
  if (!(await verifyLabelled(verified.signKey, parsed.sig, LABELS.signalingToken, statement(claimed, parsed.at, parsed.nonce)))) return { ok: false, reason: 'bad-signature' };
  if (parsed.at < now - maxAgeMs) return { ok: false, reason: 'stale' };
  if (parsed.at > now + maxAgeMs) return { ok: false, reason: 'from-future' };
  // The nonce is bound to the signer: the same nonce under another key is a different token.
  const seen = replay.add(`${claimed}:${parsed.nonce}`, now);
  if (seen !== 'added') return { ok: false, reason: seen === 'full' ? 'busy' : 'replayed' };
  if (checks.sharedNonces) {
    // Another node may have accepted this token: the cluster remembers it as long as this node would.
    const shared = await checks.sharedNonces(`${checks.kind}:${claimed}:${parsed.nonce}`, 2 * maxAgeMs);
    if (shared !== 'added') return { ok: false, reason: shared === 'unavailable' ? 'busy' : 'replayed' };
  }
  return { ok: true, id: claimed };
}

/**
 * Builds the verifier. A token is accepted only when: it parses; its bundle parses and
 * self-verifies; fingerprint(bundle) equals the requested id; the signature holds;
 * |now − at| ≤ maxAgeMs; and its nonce was not seen within the window.
 */
export function createRegistrationVerifier(options: VerifierOptions): RegistrationVerifier {
  // A token stays valid for maxAge after `at`, and `at` may be up to maxAge ahead,
  // so a nonce must be remembered for 2 × maxAge after it was first seen (ReplayCache does).
  const replay = new ReplayCache(options.maxAgeMs, options.replayCacheSize);
  const bundles = options.bundles ?? new VerifiedBundleCache();
  return {
    verifyRegistration: (id, token, now = Date.now()) =>
      checkToken(token, id, now, { statement: registrationStatement, kind: 'registration', maxAgeMs: options.maxAgeMs, replay, bundles, sharedNonces: options.sharedNonces }),
  };
}

export interface PresenceVerifier {
  /** The id a presence token proves (its bundle's fingerprint), or why it is refused. */
  verifyPresence(token: string, now?: number): Promise<RegistrationResult>;
}

/**
 * Builds the presence verifier: the same checks as registration, over the presence
 * statement, with its own replay cache (presence requests cannot fill the one that
 * registrations need).
 */
export function createPresenceVerifier(options: VerifierOptions): PresenceVerifier {
  const replay = new ReplayCache(options.maxAgeMs, options.replayCacheSize);
  const bundles = options.bundles ?? new VerifiedBundleCache();
  return {
    verifyPresence: (token, now = Date.now()) =>
      checkToken(token, null, now, { statement: presenceStatement, kind: 'presence', maxAgeMs: options.maxAgeMs, replay, bundles, sharedNonces: options.sharedNonces }),
  };
}
