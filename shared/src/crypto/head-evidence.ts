/**
 * Signed log heads seen from peers (DESIGN §4): the evidence a device keeps when a
 * peer's head is ahead of its own log (a witnessed head) or contradicts it (a fork).
 *
 * The handshake's two signatures each cover both hellos, and so both log heads: the
 * holder's `welcome` signature vouches for the holder's head, the joiner's `auth`
 * signature for the joiner's. Evidence is those messages, kept whole, so anyone can
 * verify it again later with the signer's bundle inside it — nothing a peer says
 * without a signature (a `refuse`, a QR code) is ever evidence.
 */
import type { Fingerprint, GroupId } from '../protocol/ids.ts';
import { handshakeMessageSchema, type HandshakeMessage, type LogHead } from '../protocol/schemas.ts';
import { EncodingError, SignatureError } from './errors.ts';
import { parseBundle, verifyLabelled } from './identity.ts';
import { LABELS } from './labels.ts';

export type Hello = Extract<HandshakeMessage, { t: 'hello' }>;
export type Welcome = Extract<HandshakeMessage, { t: 'welcome' }>;
export type Auth = Extract<HandshakeMessage, { t: 'auth' }>;

/**
 * What both handshake signatures cover: both hellos (bundles, heads, nonces), who
 * signs, and the QR secret the joiner echoes (joiner only).
 */
export function transcript(hello: Hello, welcome: Omit<Welcome, 'sig'>, signer: 'holder' | 'joiner', qrSecret?: string): unknown {
  return { hello, welcome, signer, qrSecret };
}

/** A peer's signed statement of its log head: one handshake's messages, kept whole. */
export interface HeadEvidence {
  /** `holder`: the welcome's signature vouches for `welcome.head`; `joiner`: the auth's for `hello.head`. */
  signer: 'holder' | 'joiner';
  hello: Hello;
  welcome: Welcome;
  /** The joiner's auth (when `signer` is `joiner`). Its QR secret, if any, was single-use and is spent. */
  auth?: Auth;
}

/** Evidence that verified: whose head it is, of which group. */
export interface VerifiedHead {
  peer: Fingerprint;
  groupId: GroupId;
  head: LogHead;
}

function parsed<T extends HandshakeMessage['t']>(value: unknown, t: T): Extract<HandshakeMessage, { t: T }> {
  const result = handshakeMessageSchema.safeParse(value);
  if (!result.success || result.data.t !== t) throw new EncodingError(`head evidence: the ${t} message is malformed`);
  return result.data as Extract<HandshakeMessage, { t: T }>;
}

/**
 * Verifies head evidence again from its own contents (DESIGN §4).
 * @throws {EncodingError} when it is malformed (or the two hellos name different groups);
 *   {SignatureError} when the signer's bundle or signature does not verify.
 */
export async function verifyHeadEvidence(evidence: unknown): Promise<VerifiedHead> {
  const raw = (evidence ?? {}) as Partial<Record<keyof HeadEvidence, unknown>>;
  const signer = raw.signer;
  if (signer !== 'holder' && signer !== 'joiner') throw new EncodingError('head evidence: unknown signer');
  const hello = parsed(raw.hello, 'hello');
  const welcome = parsed(raw.welcome, 'welcome');
  if (hello.groupId !== welcome.groupId) throw new EncodingError('head evidence: the two hellos name different groups');
  const { sig: holderSig, ...unsigned } = welcome;
  if (signer === 'holder') {
    const holder = await parseBundle(welcome.bundle);
    if (!(await verifyLabelled(holder.signKey, holderSig, LABELS.handshakeTranscript, transcript(hello, unsigned, 'holder')))) {
      throw new SignatureError('the head evidence (welcome)');
    }
    return { peer: holder.fingerprint, groupId: welcome.groupId, head: welcome.head };
  }
  const auth = parsed(raw.auth, 'auth');
  const joiner = await parseBundle(hello.bundle);
  if (!(await verifyLabelled(joiner.signKey, auth.sig, LABELS.handshakeTranscript, transcript(hello, unsigned, 'joiner', auth.qrSecret)))) {
    throw new SignatureError('the head evidence (auth)');
  }
  return { peer: joiner.fingerprint, groupId: hello.groupId, head: hello.head };
}
