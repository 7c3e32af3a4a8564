/**
 * The one canonical encoding of everything signed or hashed: RFC 8785 (JCS) JSON,
 * restricted to what the protocol uses — objects, arrays, strings, booleans, null
 * and safe integers. Within that subset JCS is exactly ECMAScript's JSON.stringify
 * with object members sorted by UTF-16 code units, which is what this does.
 * Anything outside the subset (floats, undefined, Map, Date, bytes) is refused
 * rather than silently coerced, so two parties can never hash different bytes.
 */
import { EncodingError } from '../crypto/errors.ts';
import { concatBytes, utf8, type Bytes } from './encoding.ts';

export type CanonicalValue =
  | string
  | number
  | boolean
  | null
  | readonly CanonicalValue[]
  | { readonly [key: string]: CanonicalValue };

function write(value: unknown, path: string): string {
  if (value === null || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new EncodingError(`${path}: only safe integers can be signed`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v, i) => write(v, `${path}[${i}]`)).join(',')}]`;
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${write(v, `${path}.${k}`)}`).join(',')}}`;
  }
  throw new EncodingError(`${path}: ${typeof value} cannot be canonically encoded`);
}

/**
 * Canonical JSON text of a value. Object members whose value is `undefined` are
 * omitted (as JSON.stringify does), so optional fields need no special casing.
 * @throws {EncodingError} for values outside the signed subset.
 */
export function canonicalJson(value: unknown): string {
  return write(value, '$');
}

/** `label ‖ 0x00 ‖ canonicalJson(value)`: the byte string every signature and hash covers. */
export function labelled(label: string, value: unknown): Bytes {
  return concatBytes(utf8(label), new Uint8Array([0]), utf8(canonicalJson(value)));
}
