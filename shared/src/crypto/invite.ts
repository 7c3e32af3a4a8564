/**
 * Invites (DESIGN §6). An admin makes a random secret; HKDF derives from it an
 * Ed25519 invite key (and, for a pre-keyed invite, an X25519 box key). The log's
 * `invite` entry holds only the public keys, expiry and role; the secret reaches the
 * joiner out of band inside an invite code. The joiner signs its own bundle with the
 * invite key and appends its own `add`: the server, which never sees the secret,
 * can neither forge nor reuse an acceptance.
 */
import { fromBase64url, toBase64url, utf8, type Bytes } from '../protocol/encoding.ts';
import type { GroupId, InviteId, Role } from '../protocol/ids.ts';
import type { DeviceEntry, KeyBox, LogBody, LogEntry } from '../protocol/schemas.ts';
import { founderOf, singleDeviceChain } from './device-chain.ts';
import { InviteError } from './errors.ts';
import { nextEntry, type GroupState } from './group-log.ts';
import type { DeviceIdentity } from './identity.ts';
import { sealKeyBox } from './key-box.ts';
import { LABELS } from './labels.ts';
import { acceptanceInput } from './log-replay.ts';
import { hkdfSha256, keyPairFromSeed, sign, type KeyPairWithPublicBytes } from './primitives.ts';
import { encodeSecretCode, newSecret, parseSecretCode } from './secret-code.ts';

export interface InviteKeys {
  groupId: GroupId;
  inviteId: InviteId;
  signKeys: KeyPairWithPublicBytes;
  boxKeys: KeyPairWithPublicBytes;
}

/** The invite keys a secret stands for; the group id salts the derivation. */
export async function deriveInviteKeys(groupId: GroupId, secret: Uint8Array): Promise<InviteKeys> {
  const salt = fromBase64url(groupId);
  const [signSeed, boxSeed] = await Promise.all([
    hkdfSha256(secret, salt, utf8(LABELS.inviteSignKey), 32),
    hkdfSha256(secret, salt, utf8(LABELS.inviteBoxKey), 32),
  ]);
  const [signKeys, boxKeys] = await Promise.all([keyPairFromSeed('Ed25519', signSeed), keyPairFromSeed('X25519', boxSeed)]);
  return { groupId, inviteId: toBase64url(signKeys.publicBytes) as InviteId, signKeys, boxKeys };
}

/** @throws {EncodingError} when the code is mistyped or not an invite code. */
export async function inviteKeysFromCode(code: string): Promise<InviteKeys> {
  const { groupId, secret } = parseSecretCode('invite', code);
  return deriveInviteKeys(groupId, secret);
}

export interface NewInvite {
  /** Give this to the joiner, and to nobody else; it is never sent to a server. */
  code: string;
  keys: InviteKeys;
  entry: LogEntry;
  /** For a pre-keyed invite: the current seed sealed to the invite, to post to the server. */
  box?: KeyBox;
}

/**
 * Creates an invite: the code for the joiner and the signed `invite` entry.
 * @param prekeyed seal the current generation's seed to the invite, so the joiner can
 *   read at once with nobody online; the joiner is then "trusted by link" until verified.
 */
export async function createInvite(
  state: GroupState,
  admin: DeviceIdentity,
  options: { role: Role; expiresAt: number; prekeyed?: { seed: Uint8Array; generation: number }; at?: number },
): Promise<NewInvite> {
  const secret = newSecret();
  const keys = await deriveInviteKeys(state.groupId, secret);
  const body: LogBody<'invite'> = {
    invite: keys.inviteId,
    expiresAt: options.expiresAt,
    role: options.role,
    ...(options.prekeyed ? { boxKey: toBase64url(keys.boxKeys.publicBytes) } : {}),
  };
  const entry = await nextEntry(state, admin, 'invite', body, options.at);
  const invite: NewInvite = { code: encodeSecretCode('invite', { groupId: state.groupId, secret }), keys, entry };
  if (options.prekeyed) {
    const { seed, generation } = options.prekeyed;
    invite.box = await sealKeyBox(admin, state.groupId, generation, seed, { kind: 'invite', id: keys.inviteId }, keys.boxKeys.publicBytes);
  }
  return invite;
}

/**
 * The joiner's `add` entry: its bundle signed with the invite key, the entry signed
 * with its own device key.
 * @throws {InviteError} when the validated log has no such invite, it was used, or it expired.
 */
export async function acceptInvite(state: GroupState, keys: InviteKeys, joiner: DeviceIdentity, at: number = Date.now(), chain?: DeviceEntry[]): Promise<LogEntry> {
  if (keys.groupId !== state.groupId) throw new InviteError('this invite is for another group');
  const invite = state.invites.get(keys.inviteId);
  if (!invite) throw new InviteError('this invite is not in the group: check the code, or ask for a new invite');
  if (invite.usedBy) throw new InviteError('this invite has already been used: ask for a new one');
  if (invite.revokedAt !== undefined) throw new InviteError('the admin who made this invite is no longer an admin, so it was cancelled: ask for a new one');
  if (invite.expiresAt < at) throw new InviteError('this invite has expired: ask for a new one');
  const member = chain ?? (await singleDeviceChain(joiner));
  const sig: Bytes = await sign(keys.signKeys.privateKey, acceptanceInput(state.groupId, keys.inviteId, founderOf(member)));
  return nextEntry(
    state,
    joiner,
    'add',
    { member, role: invite.role, acceptance: { invite: keys.inviteId, sig: toBase64url(sig) } },
    at,
  );
}

/** The opener for a pre-keyed invite's box (use with `openKeyBox`). */
export function inviteOpener(keys: InviteKeys) {
  return { recipient: { kind: 'invite' as const, id: keys.inviteId }, boxKeys: keys.boxKeys };
}
