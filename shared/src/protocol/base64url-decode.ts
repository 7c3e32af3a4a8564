/**
 * Decoding of base64url text that is already known to be canonical (`isCanonicalBase64url`
 * in encoding.ts, or a wire schema's `b64uBytes`/`b64uVar`), natively where the runtime
 * can: Chromium's `Uint8Array.fromBase64`, Node's `Buffer`. Both skip characters outside
 * the alphabet instead of refusing them, so nothing unchecked may come here.
 *
 * Not re-exported by the protocol index: servers reach bytes through `fromBase64url`,
 * which checks first.
 */
import { base64urlnopad } from '@scure/base';

type NativeFromBase64 = { fromBase64?: (s: string, o: { alphabet: string; lastChunkHandling: string }) => Uint8Array };
type NodeBuffer = { from(data: string, enc: string): Uint8Array };
const nativeFromBase64 = (Uint8Array as unknown as NativeFromBase64).fromBase64;
const nodeBuffer = (globalThis as { Buffer?: NodeBuffer }).Buffer;

/** The bytes of canonical base64url text (checked by the caller: see the module comment). */
export function decodeCanonicalBase64url(text: string): Uint8Array {
  if (nativeFromBase64) return nativeFromBase64(text, { alphabet: 'base64url', lastChunkHandling: 'loose' });
  if (nodeBuffer) {
    const out = nodeBuffer.from(text, 'base64url');
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  }
  return base64urlnopad.decode(text);
}
