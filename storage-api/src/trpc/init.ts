/**
 * tRPC is initialised once, here. Procedures:
 * - `publicProcedure`: anyone (the login challenge, health);
 * - `authedProcedure`: a valid session; `ctx.device` is the caller's fingerprint;
 * - `memberProcedure`: a valid session and current membership of the group the input
 *   names (`input.groupId`, or `input.envelope.groupId` for `notes.put`, whose input is
 *   the signed envelope alone) in the server's validated log; `ctx.group` is that state.
 *
 * Every authed call also counts against a per-session limit of
 * `config.rateLimitPerMinute` requests per minute (TOO_MANY_REQUESTS), besides the
 * per-IP limit in app.ts.
 */
import { initTRPC } from '@trpc/server';
import { ZodError } from 'zod';
import { SessionRateLimiter } from '../services/session-limits.ts';
import { sha256Hex } from '../services/tokens.ts';
import { apiError, apiErrorData } from '../errors.ts';
import type { Context } from './context.ts';
import { groupIdSchema, type Fingerprint, type GroupId } from '../../../shared/src/verify.ts';

const t = initTRPC.context<Context>().create({
  errorFormatter({ shape, error }) {
    const conclave = apiErrorData(error);
    // Internal errors never leak their message (it could name a path or a value).
    let message = conclave.code === 'INTERNAL' ? 'the server could not complete this request; try again, and report it if it persists' : shape.message;
    // An input that fails its schema is named field by field, in one readable line.
    if (error.cause instanceof ZodError) {
      const issues = error.cause.issues.slice(0, 5).map((i) => `${i.path.length ? i.path.join('.') : 'input'}: ${i.message}`);
      message = `invalid input — ${issues.join('; ')}${error.cause.issues.length > 5 ? '; …' : ''}`;
    }
    return { ...shape, message, data: { ...shape.data, stack: undefined, conclave } };
  },
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
export const publicProcedure = t.procedure;

/** One limiter per built app (keyed by its GroupStates, made once per `build()`). */
const limiters = new WeakMap<object, SessionRateLimiter>();

function limiterFor(ctx: Context): SessionRateLimiter {
  let limiter = limiters.get(ctx.groups);
  if (!limiter) {
    limiter = new SessionRateLimiter(ctx.config.rateLimitPerMinute);
    limiters.set(ctx.groups, limiter);
  }
  return limiter;
}

export const authedProcedure = t.procedure.use(async ({ ctx, next }) => {
  if (!ctx.token) throw apiError('UNAUTHORIZED', 'sign in first: this needs a session token (Authorization: Bearer …)');
  const tokenHash = sha256Hex(ctx.token);
  const session = await ctx.store.getSession(tokenHash, ctx.now());
  if (!session) throw apiError('UNAUTHORIZED', 'the session has expired or was signed out: sign in again');
  // Counted only for real sessions, so forged tokens cannot fill the table.
  const waitMs = limiterFor(ctx).hit(tokenHash, ctx.now());
  if (waitMs > 0) throw apiError('TOO_MANY_REQUESTS', `too many requests in this session: try again in ${Math.ceil(waitMs / 1000)} s`);
  return next({ ctx: { ...ctx, device: session.fingerprint as Fingerprint, tokenHash } });
});

/** The group an input names: `groupId`, or the envelope's for a note. */
function groupIdOf(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const input = raw as { groupId?: unknown; envelope?: unknown };
  if (input.groupId !== undefined) return input.groupId;
  if (typeof input.envelope === 'object' && input.envelope !== null) return (input.envelope as { groupId?: unknown }).groupId;
  return undefined;
}

/**
 * Needs `input.groupId` (or `input.envelope.groupId`); refuses anyone who is not a
 * current member in the server's validated log. A member removed by an entry loses
 * access at that entry.
 */
export const memberProcedure = authedProcedure.use(async ({ ctx, next, getRawInput }) => {
  const parsed = groupIdSchema.safeParse(groupIdOf(await getRawInput()));
  if (!parsed.success) throw apiError('BAD_REQUEST', 'groupId is required: give the 16-byte group id as base64url');
  const groupId: GroupId = parsed.data;
  const group = await ctx.groups.stateOf(groupId);
  if (!group) throw apiError('NOT_FOUND', 'no group with this id is stored here: check the group id');
  if (!group.members.has(ctx.device)) throw apiError('FORBIDDEN', 'only current members of this group can do this: ask an admin of the group to add you');
  return next({ ctx: { ...ctx, group } });
});
