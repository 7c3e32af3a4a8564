/**
 * The one canonical encoding of everything signed or hashed: RFC 8785 (JCS) JSON,
 * restricted to what the protocol uses — objects, arrays, strings, booleans, null
 * and safe integers. Within that subset JCS is exactly ECMAScript's JSON.stringify
 * with object members sorted by UTF-16 code units, which is what this does.
 * Anything outside the subset (floats, undefined, Map, Date, bytes) is refused
 * rather than silently coerced, so two parties can never hash different bytes.
 */
import { EncodingError } from '../errors.ts';
import { utf8, type Bytes } from './encoding.ts';

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

/** Adds the place of a refused member in front of the path a refusal already carries. */
function within(error: unknown, place: string): unknown {
  return error instanceof Refusal ? new Refusal(error.reason, place + error.path) : error;
}

// No closure or path string is built per member: every signed object and every log
// replay goes through here, and the path is only needed when something is refused.
function write(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) throw new Refusal(`only safe integers can be signed, not ${value}`, '');
      return JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          try {
            out += (i ? ',' : '') + write(value[i]);
          } catch (error) {
            throw within(error, `[${i}]`);
          }
        }
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
        try {
          out += `${first ? '' : ','}${JSON.stringify(key)}:${write(member)}`;
        } catch (error) {
          throw within(error, `.${key}`);
        }
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
  // One encoding pass: UTF-8 of the joined text is the three parts' bytes end to end.
  return utf8(`${label}\u0000${canonicalJson(value)}`);
}
