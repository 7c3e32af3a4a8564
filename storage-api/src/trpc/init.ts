/**
 * tRPC is initialised once, here. Procedures:
 * - `publicProcedure`: anyone (the login challenge, the version);
 * - `authedProcedure`: a valid session; `ctx.device` is the caller's fingerprint;
 * - `memberProcedure`: a valid session whose device is a current device of a current
 *   member of the group the input names (`input.groupId`, or `input.envelope.groupId`
 *   for `notes.put`, whose input is the signed envelope alone) in the server's
 *   validated log, and not unlinked in its person's stored chain; `ctx.group` is that
 *   state, `ctx.member` the member (person) the device speaks for. Its reads (session,
 *   unlinked flag, group head) are one `Store.memberView`: one round trip, one snapshot;
 * - `noteReaderProcedure`: `memberProcedure` that reads the note the input names in that
 *   same view (`ctx.prefetched`, for notes.get).
 *
 * Every call that carries a valid session token — public procedures included, each
 * call of a batch on its own — counts against the per-session limit of
 * `config.rateLimitPerMinute` calls per minute (TOO_MANY_REQUESTS), besides the per-IP
 * limit in app.ts. The limiter is called in one place, `countCall`.
 */
import { initTRPC } from '@trpc/server';
import { ZodError } from 'zod';
import { sha256Hex } from '../services/tokens.ts';
import { apiError, apiErrorData, INTERNAL_MESSAGE } from '../errors.ts';
import type { NoteToRead } from '../store/types.ts';
import type { Context } from './context.ts';
import {
  AEAD_OVERHEAD,
  base64urlLength,
  groupIdSchema,
  memberOfDevice,
  noteIdSchema,
  noteVersionSchema,
  type Fingerprint,
  type GroupId,
  type GroupState,
  type MemberInfo,
  type NoteEnvelope,
} from '@conclave/shared/verify';

const t = initTRPC.context<Context>().create({
  errorFormatter({ shape, error }) {
    const conclave = apiErrorData(error);
    // Internal errors never leak their message (it could name a path or a value).
    let message = conclave.code === 'INTERNAL' ? INTERNAL_MESSAGE : shape.message;
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

/**
 * The WebSocket at /trpc carries only the subscription `events.live`, and a
 * subscription is served only there: the per-IP request limit counts HTTP requests,
 * so every other call must be one.
 */
function checkTransport(ctx: Context, type: 'query' | 'mutation' | 'subscription'): void {
  if (ctx.transport === 'ws' && type !== 'subscription') throw apiError('BAD_REQUEST', 'send queries and mutations over HTTP: the WebSocket at /trpc carries only the subscription events.live');
  if (ctx.transport === 'http' && type === 'subscription') throw apiError('BAD_REQUEST', 'subscribe over a WebSocket at /trpc (docs/API.md "Live events")');
}

const transported = t.procedure.use(({ ctx, type, next }) => {
  checkTransport(ctx, type);
  return next();
});

interface Session {
  fingerprint: Fingerprint;
  tokenHash: string;
  expiresAt: number;
}

/**
 * Counts a call against the session the token names, if it is a real one (`stored`):
 * only real sessions are counted, so forged tokens cannot fill the table.
 * @throws TOO_MANY_REQUESTS over the per-session limit.
 */
async function countCall(ctx: Context, tokenHash: string | null, stored: { fingerprint: Fingerprint; expiresAt: number } | null): Promise<Session | null> {
  if (tokenHash === null || !stored) return null;
  // The per-session limit: the one call into the limiter.
  const waitMs = await ctx.sessionLimits.hit(tokenHash, ctx.now());
  if (waitMs > 0) throw apiError('TOO_MANY_REQUESTS', `too many requests in this session: try again in ${Math.ceil(waitMs / 1000)} s`);
  return { fingerprint: stored.fingerprint, tokenHash, expiresAt: stored.expiresAt };
}

/** What `authedProcedure` adds to the context, or why the call is refused. */
function signedIn(ctx: Context, session: Session | null): { device: Fingerprint; tokenHash: string; sessionExpiresAt: number } {
  if (!ctx.token) throw apiError('UNAUTHORIZED', ctx.transport === 'ws' ? 'sign in first: send the session token as connectionParams.token' : 'sign in first: this needs a session token (Authorization: Bearer …)');
  if (!session) throw apiError('UNAUTHORIZED', 'the session has expired or was signed out: sign in again');
  return { device: session.fingerprint, tokenHash: session.tokenHash, sessionExpiresAt: session.expiresAt };
}

/** Resolves the session a call's token names, if any, and counts the call against it. */
const counted = transported.use(async ({ ctx, next }) => {
  const tokenHash = ctx.token ? sha256Hex(ctx.token) : null;
  const stored = tokenHash === null ? null : await ctx.store.getSession(tokenHash, ctx.now());
  // tRPC merges what `next` is given into the context: only the new keys are passed.
  return next({ ctx: { session: await countCall(ctx, tokenHash, stored) } });
});

export const publicProcedure = counted;

export const authedProcedure = counted.use(async ({ ctx, next }) => next({ ctx: signedIn(ctx, ctx.session) }));

/** The group an input names: `groupId`, or the envelope's for a note. */
function groupIdOf(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const input = raw as { groupId?: unknown; envelope?: unknown };
  if (input.groupId !== undefined) return input.groupId;
  if (typeof input.envelope === 'object' && input.envelope !== null) return (input.envelope as { groupId?: unknown }).groupId;
  return undefined;
}

/**
 * The length of `input.envelope.body` as sent, before the envelope's schema is checked:
 * a body over the limit answers PAYLOAD_TOO_LARGE, as documented, whether it is over
 * this server's `noteMaxBytes` or over the protocol's 1 MiB (which the schema refuses).
 */
function noteBodyChars(raw: unknown): number | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const envelope = (raw as { envelope?: unknown }).envelope;
  if (typeof envelope !== 'object' || envelope === null) return undefined;
  const body = (envelope as { body?: unknown }).body;
  return typeof body === 'string' ? body.length : undefined;
}

/** Why a device that does not speak for a current member is refused, in words for it. */
export function notAMemberDevice(group: GroupState, device: Fingerprint, unlinkedInChain = false): Error {
  if (unlinkedInChain || group.departedDevices.get(device)?.how === 'unlinked') {
    return apiError('FORBIDDEN', "this device was unlinked by its person, so it no longer acts for them in this group: an unlinked device never comes back (start it afresh and link it as a new device)");
  }
  return apiError('FORBIDDEN', 'only current members of this group can do this: ask an admin of the group to add you');
}

/**
 * The member check's rule, shared by every place that applies it: the device must speak
 * for a current member of `group`, and must not be unlinked by its person (`unlinked`:
 * the device index says so, even before the group's log has caught up with the
 * person's chain). Returns the member; throws the refusal otherwise.
 */
export function memberForDevice(group: GroupState, device: Fingerprint, unlinked: boolean): MemberInfo {
  const member = memberOfDevice(group, device);
  if (!member) throw notAMemberDevice(group, device);
  if (unlinked) throw notAMemberDevice(group, device, true);
  return member;
}

/** The note `notes.get` names in its raw input, read with the member check (`NoteToRead`), if well formed enough to look up. */
function noteToRead(raw: unknown): NoteToRead | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { noteId, version } = raw as { noteId?: unknown; version?: unknown };
  // Only what the input's schema will accept reaches the store: anything else (a NUL byte, a version past INTEGER) is refused by zod after the member check.
  const id = noteIdSchema.safeParse(noteId);
  if (!id.success) return undefined;
  if (version === undefined) return { noteId: id.data };
  return noteVersionSchema.safeParse(version).success ? { noteId: id.data, version: version as number } : undefined;
}

/** A note read in the member check's snapshot: the `NoteToRead` and what was stored. */
export interface PrefetchedNote {
  read: NoteToRead;
  envelope: NoteEnvelope | null;
}

/**
 * The member check, with all it reads in one `Store.memberView` (one round trip, one
 * snapshot): the session, its device's unlinked flag, the group's head, and with
 * `readNote` the note the input names. Refusals come in the same order as the
 * middlewares of `authedProcedure` would give them: the per-session limit, no or a
 * dead session, no group id, an unknown group, not a member's device, an unlinked
 * device, a note body over the limit.
 */
function memberCheck(readNote: boolean) {
  // One middleware (the transport check first, as `transported` does): each middleware costs a copy of the context.
  return t.procedure.use(async ({ ctx, type, next, getRawInput }) => {
    checkTransport(ctx, type);
    const raw = await getRawInput();
    const parsed = groupIdSchema.safeParse(groupIdOf(raw));
    const groupId: GroupId | null = parsed.success ? parsed.data : null;
    const tokenHash = ctx.token ? sha256Hex(ctx.token) : null;
    const read = readNote && groupId !== null ? noteToRead(raw) : undefined;
    const view = tokenHash === null ? null : await ctx.store.memberView(tokenHash, ctx.now(), groupId, read);
    const session = await countCall(ctx, tokenHash, view?.session ?? null);
    const caller = signedIn(ctx, session);
    if (groupId === null) throw apiError('BAD_REQUEST', 'groupId is required: give the 16-byte group id as base64url');
    const group = await ctx.groups.stateAt(groupId, view!.head);
    if (!group) throw apiError('NOT_FOUND', 'no group with this id is stored here: check the group id');
    // The session is a device: it acts for the member (person) it currently speaks for in the log.
    const member = memberForDevice(group, caller.device, view!.unlinked);
    const bodyChars = noteBodyChars(raw);
    if (bodyChars !== undefined && bodyChars > base64urlLength(ctx.config.noteMaxBytes + AEAD_OVERHEAD)) {
      throw apiError('PAYLOAD_TOO_LARGE', `the note body is larger than this server's limit of ${ctx.config.noteMaxBytes} bytes: shorten it or split it into several notes`);
    }
    const prefetched: PrefetchedNote | null = read && view!.note !== undefined ? { read, envelope: view!.note } : null;
    return next({ ctx: { session, ...caller, group, member, prefetched } });
  });
}

/**
 * Needs `input.groupId` (or `input.envelope.groupId`); refuses anyone who is not a
 * current member in the server's validated log. A member removed by an entry loses
 * access at that entry. A note body over the size limit is refused here
 * (PAYLOAD_TOO_LARGE), before the input's schema. `ctx.group` was validated at the
 * head read with the session: a write acting on it checks that head is still current
 * (`Store.putNoteVersion`'s `checkedAt`).
 */
export const memberProcedure = memberCheck(false);

/** `memberProcedure` that also reads the note `input.noteId` (`input.version`) names in the same snapshot: `ctx.prefetched` (notes.get). */
export const noteReaderProcedure = memberCheck(true);
