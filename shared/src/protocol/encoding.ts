/**
 * Byte encodings used on the wire and in everything signed or hashed.
 * No cryptography here: servers and clients both import this module.
 */
import { base32nopad, base64urlnopad } from '@scure/base';
import { EncodingError } from '../errors.ts';
import { decodeCanonicalBase64url } from './base64url-decode.ts';

/** Bytes backed by a plain ArrayBuffer, which is what WebCrypto accepts. */
export type Bytes = Uint8Array<ArrayBuffer>;

/** Copies into a fresh ArrayBuffer-backed array when the input is a view on something else. */
export function bytes(input: Uint8Array | ArrayBuffer): Bytes {
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (input.buffer instanceof ArrayBuffer && input.byteOffset === 0 && input.byteLength === input.buffer.byteLength) {
    return input as Bytes;
  }
  return new Uint8Array(input) as Bytes;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(text: string): Bytes {
  return utf8Encoder.encode(text) as Bytes;
}

/** @throws {EncodingError} when the bytes are not valid UTF-8. */
export function fromUtf8(data: Uint8Array): string {
  try {
    return utf8Decoder.decode(data);
  } catch {
    throw new EncodingError('text is not valid UTF-8');
  }
}

export function concatBytes(...parts: Uint8Array[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Equality in time independent of where the first difference is. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

// Native base64 where the runtime has it (Chromium's Uint8Array.prototype.toBase64,
// Node's Buffer): a 1 MiB note body is encoded in about a millisecond instead of tens.
type NativeBase64 = { toBase64?: (this: Uint8Array, o: { alphabet: string; omitPadding: boolean }) => string };
type NodeBuffer = { from(data: Uint8Array | string, enc?: string): Uint8Array & { toString(enc: string): string } };
const nativeToBase64 = (Uint8Array.prototype as NativeBase64).toBase64;
const nodeBuffer = (globalThis as { Buffer?: NodeBuffer }).Buffer;
const BASE64URL_TEXT = /^[A-Za-z0-9_-]*$/;

export function toBase64url(data: Uint8Array): string {
  if (nativeToBase64) return nativeToBase64.call(data, { alphabet: 'base64url', omitPadding: true });
  if (nodeBuffer) return nodeBuffer.from(data.buffer instanceof ArrayBuffer ? new Uint8Array(data.buffer, data.byteOffset, data.length) : data).toString('base64url');
  return base64urlnopad.encode(data);
}

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * True when `text` is canonical unpadded base64url: only alphabet characters, a length
 * that whole bytes can have, and zero bits where the last character pads. Checked
 * without decoding, so a 1 MiB note body is validated in one pass.
 */
export function isCanonicalBase64url(text: string): boolean {
  const tail = text.length % 4;
  if (tail === 1 || !BASE64URL_TEXT.test(text)) return false;
  if (tail === 0) return true;
  const last = BASE64URL_ALPHABET.indexOf(text[text.length - 1]!);
  return (last & (tail === 2 ? 0b1111 : 0b11)) === 0;
}

/** How many bytes a canonical base64url text decodes to. */
export function base64urlByteLength(text: string): number {
  return Math.floor((text.length * 3) / 4);
}

/**
 * Strict base64url (no padding). Non-canonical encodings (stray low bits) are refused,
 * so one byte string has exactly one text form and signatures over the text hold.
 * @throws {EncodingError}
 */
export function fromBase64url(text: string, expectedLength?: number): Bytes {
  if (!isCanonicalBase64url(text)) throw new EncodingError('not valid canonical base64url');
  let out: Uint8Array;
  try {
    out = decodeCanonicalBase64url(text);
  } catch {
    throw new EncodingError('not valid base64url');
  }
  if (expectedLength !== undefined && out.length !== expectedLength) {
    throw new EncodingError(`expected ${expectedLength} bytes, got ${out.length}`);
  }
  return bytes(out);
}

/** Lower-case RFC 4648 base32 without padding: safe as a PeerJS id and in URLs. */
export function toBase32(data: Uint8Array): string {
  return base32nopad.encode(data).toLowerCase();
}

/** @throws {EncodingError} */
export function fromBase32(text: string): Bytes {
  try {
    return bytes(base32nopad.decode(text.toUpperCase()));
  } catch {
    throw new EncodingError('not valid base32');
  }
}

export function toHex(data: Uint8Array): string {
  return Array.from(data, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** @throws {EncodingError} */
export function fromHex(text: string): Bytes {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) throw new EncodingError('not valid hex');
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Big-endian unsigned integer of `width` bytes. */
export function uintBytes(value: number, width: number): Bytes {
  if (!Number.isSafeInteger(value) || value < 0) throw new EncodingError('not a non-negative safe integer');
  const out = new Uint8Array(width);
  let v = value;
  for (let i = width - 1; i >= 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  if (v !== 0) throw new EncodingError(`integer does not fit in ${width} bytes`);
  return out;
}
