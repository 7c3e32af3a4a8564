/**
 * Signing in (DESIGN §7): challenge → Ed25519 signature by the device's sign key →
 * short-lived session token. The token is given to the client once; only its SHA-256
 * is stored. A challenge is single use and expires after `config.challengeTtlMs`.
 */
import {
  EncodingError,
  LABELS,
  loginInput,
  parseBundle,
  SignatureError,
  verifyLabelled,
  type VerifiedBundle,
} from '@conclave/shared/verify';
import { apiError } from '../errors.ts';
import { newToken, randomId, sha256Hex } from '../services/tokens.ts';
import { authedProcedure, publicProcedure, router } from '../trpc/init.ts';

export const authRouter = router({
  /** A fresh challenge to sign: `labelled('conclave/v3/api-challenge', {challenge, fingerprint})`. */
  challenge: publicProcedure.mutation(async ({ ctx }) => {
    const challengeId = randomId(16);
    const challenge = randomId(32);
    const expiresAt = ctx.now() + ctx.config.challengeTtlMs;
    await ctx.store.putChallenge(challengeId, challenge, expiresAt);
    return { challengeId, challenge, expiresAt };
  }),

  /**
   * Proves possession of the bundle's sign key over a challenge and opens a session.
   * The bundle (public keys only) is stored so others can look the device up.
   */
  login: publicProcedure.input(loginInput).mutation(async ({ ctx, input }) => {
    let device: VerifiedBundle;
    try {
      device = await parseBundle(input.bundle);
    } catch (error) {
      if (error instanceof SignatureError) throw apiError('SIGNATURE_INVALID', "the bundle's self-signature does not verify: send the bundle exactly as the device made it");
      if (error instanceof EncodingError) throw apiError('BAD_REQUEST', 'the public bundle is malformed or its box key is unusable: send the bundle exactly as the device made it');
      throw error;
    }
    // Taken before the signature is checked: a challenge is spent by any attempt.
    const challenge = await ctx.store.takeChallenge(input.challengeId, ctx.now());
    if (challenge === null) throw apiError('CHALLENGE_INVALID', 'this login challenge is unknown, expired or already used: ask for a new challenge and sign it');
    if (!(await verifyLabelled(device.signKey, input.sig, LABELS.apiChallenge, { challenge, fingerprint: device.fingerprint }))) {
      throw apiError('SIGNATURE_INVALID', "the signature over the challenge does not verify under the bundle's sign key: ask for a new challenge and sign it with this device's key");
    }
    await ctx.store.putIdentity(device.fingerprint, device.bundle);
    const token = newToken();
    const expiresAt = ctx.now() + ctx.config.sessionTtlMs;
    await ctx.store.putSession(sha256Hex(token), device.fingerprint, expiresAt);
    return { token, expiresAt, fingerprint: device.fingerprint };
  }),

  /** Ends this session: its token stops working at once. */
  logout: authedProcedure.mutation(async ({ ctx }) => {
    await ctx.store.deleteSession(ctx.tokenHash);
    // Its live streams end too, on whichever process holds them.
    await ctx.feed.publish({ kind: 'session-end', tokenHash: ctx.tokenHash });
    return { ok: true as const };
  }),
});
