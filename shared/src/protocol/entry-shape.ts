/**
 * A fast structural check of group log entries and device chain entries, for the hot
 * path of log replay (every client replays every entry it receives).
 *
 * It mirrors `logEntrySchema` and `deviceEntrySchema` (schemas.ts) field by field, and
 * it only ever says yes to a value those schemas accept unchanged: a plain JSON object
 * of exactly the schema's fields, no `undefined`, no other prototype. It may say no to
 * something the schema would accept (an object with another prototype, a present but
 * undefined optional field); the caller then parses with zod, which accepts or refuses
 * with its usual message. So the refusals and their messages stay zod's own.
 * shared/test/entry-shape.test.ts compares the two on mutated entries.
 */
import { isCanonicalBase64url } from './encoding.ts';
import { base64urlLength, GROUP_ID_BYTES } from './ids.ts';
import { LINK_WRAP_BYTES, MAX_DEVICE_CHAIN_ENTRIES, MAX_ROTATION_LINKS, PROTOCOL_VERSION, type DeviceEntry, type LogEntry } from './schemas.ts';

type Plain = Record<string, unknown>;

const FINGERPRINT = /^[a-z2-7]{52}$/;
const MAX_TIMESTAMP = 8.64e15;
const MAX_INT31 = 2 ** 31 - 1;

function isPlain(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/** Exactly the `required` keys, plus any of `optional`, none of them undefined. */
function hasKeys(value: Plain, required: readonly string[], optional: readonly string[] = []): boolean {
  let found = 0;
  for (const key in value) {
    if (!Object.hasOwn(value, key) || value[key] === undefined) return false;
    if (required.includes(key)) found++;
    else if (!optional.includes(key)) return false;
  }
  return found === required.length;
}

function isBytes(value: unknown, n: number): boolean {
  return typeof value === 'string' && value.length === base64urlLength(n) && isCanonicalBase64url(value);
}

function isFingerprint(value: unknown): boolean {
  return typeof value === 'string' && FINGERPRINT.test(value);
}

function isIntIn(value: unknown, max: number, min = 0): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

const isTimestamp = (value: unknown) => isIntIn(value, MAX_TIMESTAMP);
const isInt31 = (value: unknown) => isIntIn(value, MAX_INT31);
const isRole = (value: unknown) => value === 'admin' || value === 'member';
const isHash = (value: unknown) => isBytes(value, 32);
const isHashOrNull = (value: unknown) => value === null || isHash(value);

function isBundle(value: unknown): boolean {
  return isPlain(value) && hasKeys(value, ['v', 'signKey', 'boxKey', 'sig']) && value.v === PROTOCOL_VERSION && isBytes(value.signKey, 32) && isBytes(value.boxKey, 32) && isBytes(value.sig, 64);
}

const DEVICE_ENTRY_KEYS = ['v', 'person', 'seq', 'prev', 'author', 'at', 'sig', 'op', 'body'] as const;

/** True only for a value `deviceEntrySchema` accepts as it is. */
export function isWellFormedDeviceEntry(value: unknown): value is DeviceEntry {
  if (!isPlain(value) || !hasKeys(value, DEVICE_ENTRY_KEYS)) return false;
  const { v, person, seq, prev, author, at, sig, op, body } = value;
  if (v !== PROTOCOL_VERSION || !isFingerprint(person) || !isInt31(seq) || !isHashOrNull(prev) || !isFingerprint(author) || !isTimestamp(at) || !isBytes(sig, 64)) return false;
  if (!isPlain(body)) return false;
  switch (op) {
    case 'found':
      return hasKeys(body, ['device']) && isBundle(body.device);
    case 'link':
      return hasKeys(body, ['device', 'consent']) && isBundle(body.device) && isBytes(body.consent, 64);
    case 'unlink':
      return hasKeys(body, ['device']) && isFingerprint(body.device);
    default:
      return false;
  }
}

/**
 * `items.every(check)`, but a hole of a sparse array is checked too (as `undefined`,
 * which zod refuses), where `Array.prototype.every` would skip it.
 */
function allItems(items: readonly unknown[], check: (item: unknown) => boolean): boolean {
  for (let i = 0; i < items.length; i++) if (!check(items[i])) return false;
  return true;
}

function isChain(value: unknown): boolean {
  return Array.isArray(value) && value.length >= 1 && value.length <= MAX_DEVICE_CHAIN_ENTRIES && allItems(value, isWellFormedDeviceEntry);
}

function isRotation(value: unknown): boolean {
  if (!isPlain(value) || !hasKeys(value, ['generation', 'seedCommitment', 'links'])) return false;
  const { generation, seedCommitment, links } = value;
  if (!isIntIn(generation, MAX_INT31, 1) || !isBytes(seedCommitment, 32)) return false;
  if (!Array.isArray(links) || links.length < 1 || links.length > MAX_ROTATION_LINKS) return false;
  return allItems(links, (link) => isPlain(link) && hasKeys(link, ['generation', 'wrap']) && isInt31(link.generation) && isBytes(link.wrap, LINK_WRAP_BYTES));
}

function isBody(op: unknown, body: Plain): boolean {
  switch (op) {
    case 'create':
      return (
        hasKeys(body, ['creator', 'nonce', 'seedCommitment', 'policy']) &&
        isChain(body.creator) &&
        isBytes(body.nonce, 16) &&
        isBytes(body.seedCommitment, 32) &&
        (body.policy === 'verified' || body.policy === 'invite-trust')
      );
    case 'invite':
      return (
        hasKeys(body, ['invite', 'expiresAt', 'role'], ['boxKey']) &&
        isBytes(body.invite, 32) &&
        (body.boxKey === undefined || isBytes(body.boxKey, 32)) &&
        isTimestamp(body.expiresAt) &&
        isRole(body.role)
      );
    case 'add': {
      if (!hasKeys(body, ['member', 'role'], ['acceptance']) || !isChain(body.member) || !isRole(body.role)) return false;
      const { acceptance } = body;
      return acceptance === undefined || (isPlain(acceptance) && hasKeys(acceptance, ['invite', 'sig']) && isBytes(acceptance.invite, 32) && isBytes(acceptance.sig, 64));
    }
    case 'remove':
      return hasKeys(body, ['member', 'rotation']) && isFingerprint(body.member) && isRotation(body.rotation);
    case 'leave':
      return hasKeys(body, []);
    case 'rotate':
      return hasKeys(body, ['rotation']) && isRotation(body.rotation);
    case 'role':
      return hasKeys(body, ['member', 'role']) && isFingerprint(body.member) && isRole(body.role);
    case 'recovery':
      return hasKeys(body, ['recovery'], ['rotation']) && isBundle(body.recovery) && (body.rotation === undefined || isRotation(body.rotation));
    case 'devices': {
      const { entries } = body;
      return (
        hasKeys(body, ['person', 'entries'], ['rotation']) &&
        isFingerprint(body.person) &&
        Array.isArray(entries) &&
        entries.length >= 1 &&
        entries.length <= MAX_DEVICE_CHAIN_ENTRIES &&
        allItems(entries, isWellFormedDeviceEntry) &&
        (body.rotation === undefined || isRotation(body.rotation))
      );
    }
    default:
      return false;
  }
}

const LOG_ENTRY_KEYS = ['v', 'groupId', 'seq', 'prev', 'author', 'at', 'sig', 'op', 'body'] as const;

/**
 * True only for a value `logEntrySchema` accepts as it is (so it can be used without
 * zod's copy). False means "ask zod": it may still be a valid entry in an unusual form.
 */
export function isWellFormedLogEntry(value: unknown): value is LogEntry {
  if (!isPlain(value) || !hasKeys(value, LOG_ENTRY_KEYS)) return false;
  const { v, groupId, seq, prev, author, at, sig, op, body } = value;
  if (v !== PROTOCOL_VERSION || !isBytes(groupId, GROUP_ID_BYTES) || !isInt31(seq) || !isHashOrNull(prev) || !isFingerprint(author) || !isTimestamp(at) || !isBytes(sig, 64)) return false;
  return isPlain(body) && isBody(op, body);
}
