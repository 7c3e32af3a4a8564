/**
 * The verification QR payload (DESIGN §3): `conclave:v2:` + base64url of
 * version ‖ my fingerprint ‖ the fingerprint I hold for you ‖ group id ‖ log head ‖ one-time secret
 * ‖ 4-byte check (SHA-256 of the label and all before it), so a damaged code is refused.
 * One scan checks both directions: the scanner sees the displayer's key and the key
 * the displayer holds for the scanner; the scanner then echoes the secret over the
 * authenticated peer channel, which tells the displayer the scan happened.
 */
import { concatBytes, equalBytes, fromBase32, fromBase64url, toBase32, toBase64url, uintBytes, utf8, type Bytes } from '../protocol/encoding.ts';
import { GROUP_ID_BYTES, type Fingerprint, type GroupId, type EntryHash } from '../protocol/ids.ts';
import type { LogHead } from '../protocol/schemas.ts';
import { EncodingError } from './errors.ts';
import { LABELS } from './labels.ts';
import { randomBytes, sha256Now } from './primitives.ts';

const QR_VERSION = 1;
const QR_SECRET_BYTES = 16;
const QR_CHECK_BYTES = 4;
const QR_BODY_BYTES = 1 + 32 + 32 + GROUP_ID_BYTES + 4 + 32 + QR_SECRET_BYTES;
const QR_PAYLOAD_BYTES = QR_BODY_BYTES + QR_CHECK_BYTES;

/** A check value over the payload, so a damaged code is refused as damaged rather than misread. */
function qrCheck(body: Uint8Array): Bytes {
  return sha256Now(concatBytes(utf8(LABELS.qrPayload), body)).subarray(0, QR_CHECK_BYTES) as Bytes;
}

export interface QrPayload {
  /** The displayer's fingerprint. */
  from: Fingerprint;
  /** The fingerprint the displayer holds for the person meant to scan. */
  to: Fingerprint;
  groupId: GroupId;
  head: LogHead;
  /** One-time secret the scanner echoes back; base64url. */
  secret: string;
}

/** A fresh one-time secret for a QR code. */
export function newQrSecret(): string {
  return toBase64url(randomBytes(QR_SECRET_BYTES));
}

export function encodeQrPayload(payload: QrPayload): string {
  const body = concatBytes(
    new Uint8Array([QR_VERSION]),
    fromBase32(payload.from),
    fromBase32(payload.to),
    fromBase64url(payload.groupId, GROUP_ID_BYTES),
    uintBytes(payload.head.seq, 4),
    fromBase64url(payload.head.hash, 32),
    fromBase64url(payload.secret, QR_SECRET_BYTES),
  );
  return LABELS.qrPayload + toBase64url(concatBytes(body, qrCheck(body)));
}

/** @throws {EncodingError} when the text is not a Conclave QR payload of this version. */
export function parseQrPayload(text: string): QrPayload {
  if (!text.startsWith(LABELS.qrPayload)) throw new EncodingError('this QR code is not a Conclave verification code');
  let body: Bytes;
  try {
    body = fromBase64url(text.slice(LABELS.qrPayload.length), QR_PAYLOAD_BYTES);
  } catch {
    throw new EncodingError('this Conclave QR code is damaged or incomplete');
  }
  if (!equalBytes(qrCheck(body.subarray(0, QR_BODY_BYTES)), body.subarray(QR_BODY_BYTES))) {
    throw new EncodingError('this Conclave QR code is damaged: scan it again');
  }
  if (body[0] !== QR_VERSION) throw new EncodingError('this Conclave QR code is from another version');
  let at = 1;
  const take = (n: number) => body.subarray(at, (at += n));
  const from = toBase32(take(32)) as Fingerprint;
  const to = toBase32(take(32)) as Fingerprint;
  const groupId = toBase64url(take(GROUP_ID_BYTES)) as GroupId;
  const seqBytes = take(4);
  const seq = ((seqBytes[0]! << 24) >>> 0) + (seqBytes[1]! << 16) + (seqBytes[2]! << 8) + seqBytes[3]!;
  const hash = toBase64url(take(32)) as EntryHash;
  const secret = toBase64url(take(QR_SECRET_BYTES));
  return { from, to, groupId, head: { seq, hash }, secret };
}

export type QrScanResult =
  | { ok: true; peer: Fingerprint; secret: string; head: LogHead }
  | { ok: false; reason: 'wrong-group' | 'not-for-me' | 'key-mismatch' | 'head-mismatch'; message: string };

/**
 * What the scanner concludes from a scanned payload. The payload is not signed: a head
 * that differs from ours (`head-mismatch`) only fails this scan, never raises a fork
 * alarm (anyone can print a QR code); a head ahead of ours is not kept either. The
 * signed heads come from the handshake that follows a scan (head-evidence.ts).
 * @param expectedPeer the fingerprint the scanner holds for the person showing the code.
 * @param headAt returns the scanner's own entry hash at a sequence number, or undefined if it has not seen that far.
 */
export function checkScannedQr(
  payload: QrPayload,
  me: { fingerprint: Fingerprint; groupId: GroupId; expectedPeer: Fingerprint; headAt: (seq: number) => string | undefined },
): QrScanResult {
  if (payload.groupId !== me.groupId) return { ok: false, reason: 'wrong-group', message: 'This code is for another group.' };
  if (payload.to !== me.fingerprint) {
    return { ok: false, reason: 'not-for-me', message: 'Their device holds a different key for you. Ask them to sync and show the code again.' };
  }
  if (payload.from !== me.expectedPeer) {
    return { ok: false, reason: 'key-mismatch', message: 'The key shown does not match the key this group lists for them. Do not share anything; check with them in person.' };
  }
  const mine = me.headAt(payload.head.seq);
  if (mine !== undefined && mine !== payload.head.hash) {
    return { ok: false, reason: 'head-mismatch', message: 'This code does not match the group as this device knows it. Sync the group on both devices, ask them to show a fresh code, and try again.' };
  }
  return { ok: true, peer: payload.from, secret: payload.secret, head: payload.head };
}

/** The displayer's check of the echoed secret: exactly the one it showed, compared in constant time. */
export function qrSecretMatches(shown: string, echoed: string): boolean {
  try {
    return equalBytes(fromBase64url(shown, QR_SECRET_BYTES), fromBase64url(echoed, QR_SECRET_BYTES));
  } catch {
    return false;
  }
}
