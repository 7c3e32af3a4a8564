/**
 * The one canonical encoding of everything signed or hashed: RFC 8785 (JCS) JSON,
 * restricted to what the protocol uses — objects, arrays, strings, booleans, null
 * and safe integers. Within that subset JCS is exactly ECMAScript's JSON.stringify
 * with object members sorted by UTF-16 code units, which is what this does.
 * Anything outside the subset (floats, undefined, Map, Date, bytes) is refused
 * rather than silently coerced, so two parties can never hash different bytes.
 */
import { EncodingError } from '../errors.ts';
import { concatBytes, utf8, type Bytes } from './encoding.ts';

export type CanonicalValue =
  | string
  | number
  | boolean
  | null
  | readonly CanonicalValue[]
  | { readonly [key: string]: CanonicalValue };

/** Carries the refused value's location up the recursion; built only when something fails. */
class Refusal extends Error {
  constructor(
    readonly reason: string,
    readonly path: string,
  ) {
    super(reason);
  }
}

function at(path: string, inner: () => string): string {
  try {
    return inner();
  } catch (error) {
    if (error instanceof Refusal) throw new Refusal(error.reason, path + error.path);
    throw error;
  }
}

function write(value: unknown): string {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isSafeInteger(value)) throw new Refusal(`only safe integers can be signed, not ${value}`, '');
      return JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + at(`[${i}]`, () => write(value[i]));
        return `${out}]`;
      }
      if (Object.getPrototypeOf(value) !== Object.prototype) throw new Refusal(`a ${value.constructor?.name ?? 'non-plain object'} cannot be canonically encoded`, '');
      const record = value as Record<string, unknown>;
      // Default sort compares UTF-16 code units, which is what RFC 8785 prescribes.
      const keys = Object.keys(record).sort();
      let out = '{';
      let first = true;
      for (const key of keys) {
        const member = record[key];
        if (member === undefined) continue;
        out += `${first ? '' : ','}${JSON.stringify(key)}:${at(`.${key}`, () => write(member))}`;
        first = false;
      }
      return `${out}}`;
    }
    default:
      throw new Refusal(`a ${typeof value} cannot be canonically encoded`, '');
  }
}

/**
 * Canonical JSON text of a value. Object members whose value is `undefined` are
 * omitted (as JSON.stringify does), so optional fields need no special casing.
 * @throws {EncodingError} for values outside the signed subset.
 */
export function canonicalJson(value: unknown): string {
  try {
    return write(value);
  } catch (error) {
    if (error instanceof Refusal) throw new EncodingError(`$${error.path}: ${error.reason}`);
    throw error;
  }
}

/** `label ‖ 0x00 ‖ canonicalJson(value)`: the byte string every signature and hash covers. */
export function labelled(label: string, value: unknown): Bytes {
  return concatBytes(utf8(label), new Uint8Array([0]), utf8(canonicalJson(value)));
}
