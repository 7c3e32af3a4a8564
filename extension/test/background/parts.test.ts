/**
 * The background's small parts on their own: invite links, meta note ids and rules,
 * the trust book (including the "key changed" name heuristic), the words every error
 * is mapped to, and naming the field of an invalid request.
 */
import 'fake-indexeddb/auto';
import { randomBytes } from 'node:crypto';
import { TRPCClientError } from '@trpc/client';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiCallError, GroupClientError, NoteConflictError } from '@conclave/shared/client';
import { DeviceChainError, EncodingError, LogVerificationError } from '@conclave/shared/crypto';
import { NoteOpenError } from '@conclave/shared/crypto';
import type { GroupState } from '@conclave/shared/crypto';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import { invalidRequest } from '../../src/background/background.ts';
import { BackgroundError, toExtensionError } from '../../src/background/errors.ts';
import { inviteLink, parseInviteText } from '@conclave/shared/client';
import { metaAuthorAllowed, metaBody, metaNoteId, parseMetaBody } from '@conclave/shared/crypto';
import { GroupSyncs } from '../../src/background/tick.ts';
import { TrustBook } from '../../src/background/trust.ts';
import { openDb, type ConclaveDb } from '../../src/db/schema.ts';
import { requestSchema } from '../../src/messages/protocol.ts';

const fp = (c: string) => c.repeat(52) as Fingerprint;
const GROUP = 'AAAAAAAAAAAAAAAAAAAAAA' as GroupId;

describe('invite links', () => {
  it('carry the code and the inviter name, and the join request takes either', () => {
    const code = 'INV1-ABCD-EFGH';
    const link = inviteLink(code, 'Ana Pérez & co');
    expect(link).toBe('conclave:join/INV1-ABCD-EFGH?from=Ana+Pérez+%26+co');
    expect(parseInviteText(link)).toEqual({ code, inviterName: 'Ana Pérez & co' });
    expect(parseInviteText(`  ${code} `)).toEqual({ code, inviterName: null });
    expect(parseInviteText('conclave:join/INV1-ABCD')).toEqual({ code: 'INV1-ABCD', inviterName: null });
    expect(inviteLink(code, null)).toBe('conclave:join/INV1-ABCD-EFGH');
  });
});

describe('meta notes', () => {
  const seed = new Uint8Array(32).fill(7);

  it('have one stable id per kind and member, different for every slot and group', async () => {
    const a = await metaNoteId(seed, GROUP, { kind: 'profile', member: fp('a') });
    expect(await metaNoteId(seed, GROUP, { kind: 'profile', member: fp('a') })).toBe(a);
    expect(a).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const others = await Promise.all([
      metaNoteId(seed, GROUP, { kind: 'profile', member: fp('b') }),
      metaNoteId(seed, GROUP, { kind: 'group-name', member: null }),
      metaNoteId(seed, 'BAAAAAAAAAAAAAAAAAAAAA' as GroupId, { kind: 'profile', member: fp('a') }),
      metaNoteId(new Uint8Array(32).fill(8), GROUP, { kind: 'profile', member: fp('a') }),
    ]);
    expect(new Set([a, ...others]).size).toBe(5);
  });

  it('parse only bodies of the known shape', () => {
    expect(parseMetaBody(metaBody('profile', 'Ana'))).toEqual({ kind: 'profile', name: 'Ana' });
    expect(parseMetaBody('{"kind":"profile"}')).toBeNull();
    expect(parseMetaBody('{"kind":"avatar","name":"x"}')).toBeNull();
    expect(parseMetaBody('not json')).toBeNull();
  });

  it('count only when written by whom they speak for', () => {
    // Each member here is a person with one device of the same fingerprint.
    const people = [fp('a'), fp('b'), fp('c')];
    const state = {
      creator: fp('a'),
      members: new Map([[fp('a'), { fingerprint: fp('a'), role: 'member' }], [fp('b'), { fingerprint: fp('b'), role: 'admin' }], [fp('c'), { fingerprint: fp('c'), role: 'member' }]]),
      devices: new Map(people.map((p) => [p, { fingerprint: p, person: p }])),
      departedDevices: new Map(),
    } as unknown as GroupState;
    expect(metaAuthorAllowed(state, { kind: 'profile', member: fp('c') }, fp('c'))).toBe(true);
    expect(metaAuthorAllowed(state, { kind: 'profile', member: fp('c') }, fp('b'))).toBe(false);
    expect(metaAuthorAllowed(state, { kind: 'group-name', member: null }, fp('b'))).toBe(true);
    expect(metaAuthorAllowed(state, { kind: 'group-name', member: null }, fp('a'))).toBe(true);
    expect(metaAuthorAllowed(state, { kind: 'group-name', member: null }, fp('c'))).toBe(false);
  });
});

describe('the trust book', () => {
  let db: ConclaveDb;
  afterEach(() => db?.close());

  // Every member speaks through a device of the same fingerprint, plus the `extra` devices given (device → person).
  const state = (members: Array<[Fingerprint, Partial<{ via: string; invite: string }>]>, invites: Array<[string, { boxKey?: string }]> = [], departed: Array<[Fingerprint, string]> = [], extra: Array<[Fingerprint, Fingerprint]> = []) =>
    ({
      members: new Map(members.map(([f, m]) => [f, { fingerprint: f, role: 'member', ...m }])),
      devices: new Map([...members.map(([f]) => [f, f] as const), ...extra].map(([d, p]) => [d, { fingerprint: d, person: p }])),
      departedDevices: new Map(),
      invites: new Map(invites),
      departed: new Map(departed.map(([f, how]) => [f, { fingerprint: f, how }])),
    }) as unknown as GroupState;

  it('says verified, key changed (also by the name heuristic), trusted by link or unverified', async () => {
    db = openDb(`trust-${randomBytes(4).toString('hex')}`);
    const book = new TrustBook(db, () => 1000);
    await book.refresh();
    const [me, ana, anaNew, ben, linked, gone] = [fp('a'), fp('b'), fp('c'), fp('d'), fp('e'), fp('f')];
    await book.learnName(ana, 'Ana');
    await book.learnName(anaNew, ' ana ');
    await book.learnName(ben, 'Ben');
    expect(book.trustOf(anaNew)).toBe('unverified');
    await book.markVerified(ana, 'qr');
    expect(await db.trust.get(ana)).toMatchObject({ state: 'verified', how: 'qr', at: 1000 });
    expect(book.trustOf(ana)).toBe('verified');
    expect(book.trustOf(anaNew)).toBe('key-changed');
    expect(book.trustOf(ben)).toBe('unverified');
    const s = state([[me, {}], [ana, {}], [anaNew, {}], [ben, {}], [linked, { via: 'invite', invite: 'i1' }]], [['i1', { boxKey: 'k' }]], [[gone, 'removed']]);
    expect(book.view(s, me, me)).toBe('verified');
    expect(book.view(s, anaNew, me)).toBe('key-changed');
    expect(book.view(s, linked, me)).toBe('trusted-by-link');
    expect(book.view(s, gone, me)).toBe('removed');
    // No name read yet: the fingerprint's first groups, and why there is no name (issue 14, friction 5).
    expect(book.displayName(linked)).toBe('Member eeee eeee eeee eeee (name not known yet)');
    expect(book.labelledName(linked)).toBe('Member eeee eeee eeee eeee (name not known yet)');

    // Another instance (a restarted worker) reads the same from the database.
    const again = new TrustBook(db, () => 2000);
    await again.refresh();
    expect(again.trustOf(anaNew)).toBe('key-changed');
    await again.markVerified(anaNew, 'safety-number');
    expect(again.trustOf(anaNew)).toBe('verified');
    // Unverified again, the old key now looks like the changed one (the new key carries the name).
    await again.reset(ana);
    expect(again.trustOf(ana)).toBe('key-changed');
    await again.reset(anaNew);
    expect(again.trustOf(ana)).toBe('unverified');
  });
});

describe('the trust book, per person', () => {
  let db: ConclaveDb;
  afterEach(() => db?.close());

  it("verifying a person covers every device of theirs; a second device is never 'key changed'; my other device is me", async () => {
    db = openDb(`trust-people-${randomBytes(4).toString('hex')}`);
    const book = new TrustBook(db, () => 1000);
    await book.refresh();
    const [me, myLaptop, ana, anaPhone, impostor] = [fp('a'), fp('b'), fp('c'), fp('d'), fp('e')];
    const s = {
      members: new Map([me, ana, impostor].map((f) => [f, { fingerprint: f, role: 'member' }])),
      devices: new Map(
        [
          [me, me],
          [myLaptop, me],
          [ana, ana],
          [anaPhone, ana],
          [impostor, impostor],
        ].map(([d, p]) => [d, { fingerprint: d, person: p }]),
      ),
      departedDevices: new Map(),
      invites: new Map(),
      departed: new Map(),
    } as unknown as GroupState;
    await book.learnName(ana, 'Ana');
    await book.markVerified(ana, 'qr');
    // Ana's phone speaks for Ana: her trust, her name.
    expect(book.view(s, anaPhone, me)).toBe('verified');
    expect(book.nameIn(s, anaPhone)).toBe('Ana');
    // My laptop, seen from my phone, is me.
    expect(book.view(s, myLaptop, me)).toBe('verified');
    // Another person id claiming Ana's name is the identity that changed.
    await book.learnName(impostor, 'Ana');
    expect(book.view(s, impostor, me)).toBe('key-changed');
    expect(book.trustOf(impostor)).toBe('key-changed');
    expect(book.trustOf(ana)).toBe('verified');
  });
});

describe('errors in words', () => {
  it('names the storage API that could not be reached', () => {
    const offline = new TRPCClientError('fetch failed', { cause: new TypeError('fetch failed') });
    const error = toExtensionError(offline, { apiUrl: 'http://127.0.0.1:8787', operation: 'join the group' });
    expect(error).toEqual({
      code: 'server-unreachable',
      message: 'Could not reach the storage API at http://127.0.0.1:8787 to join the group.',
      action: 'Check that the storage API is running and its address in Options, then try again.',
    });
    expect(toExtensionError(new TypeError('fetch failed')).code).toBe('server-unreachable');
  });

  it('says a device added without its person’s approval, a removed device acting, or a device claimed twice, in plain words', () => {
    const forged = toExtensionError(new LogVerificationError('device-chain', 'link at 1 not signed by a current device'));
    expect(forged.code).toBe('fork');
    expect(forged.message).toMatch(/not signed by that member's own devices — someone \(possibly the server\) tried to add a device/);
    expect(toExtensionError(new LogVerificationError('device-unlinked', 'x')).message).toMatch(/a device its owner had already removed/);
    expect(toExtensionError(new LogVerificationError('device-claimed', 'x')).message).toMatch(/one device as belonging to two different people/);
    const chain = toExtensionError(new DeviceChainError('fork', 'x'));
    expect(chain).toMatchObject({ code: 'fork' });
    expect(chain.message).toMatch(/a different list of this person's devices/);
    expect(chain.action).toMatch(/Compare safety numbers/);
    // No reason code alone: always words.
    expect(toExtensionError(new DeviceChainError('not-a-device', 'x')).message).toMatch(/not approved by one of this person's own devices/);
  });

  it('maps API codes, client failures and protocol errors', () => {
    const api = (code: ConstructorParameters<typeof ApiCallError>[0]['code'], extra = {}) => new ApiCallError({ code, ...extra }, `x failed (${code})`);
    expect(toExtensionError(api('INVITE_CLOSED')).code).toBe('invite-invalid');
    expect(toExtensionError(api('FORBIDDEN')).code).toBe('removed');
    expect(toExtensionError(api('NOT_FOUND')).code).toBe('unknown-group');
    // A recovery code the server knows no group for: the code is wrong or the group is gone, in plain words (no server, no Options).
    const lostGroup = toExtensionError(api('NOT_FOUND'), { typedCode: 'recovery' });
    expect(lostGroup.code).toBe('recovery-invalid');
    expect(lostGroup.message).toMatch(/recovery code is wrong, or its group no longer exists/);
    expect(`${lostGroup.message} ${lostGroup.action}`).not.toMatch(/storage API|Options/);
    expect(toExtensionError(api('LOG_REJECTED', { reason: 'last-admin' })).code).toBe('last-admin');
    expect(toExtensionError(api('CLOCK_SKEW')).action).toMatch(/date and time/);
    expect(toExtensionError(api('INTERNAL'), { apiUrl: 'http://h' }).action).toContain('http://h');
    expect(toExtensionError(new NoteConflictError({ code: 'CONFLICT', currentVersion: 3 }, 'c')).code).toBe('conflict');
    expect(toExtensionError(new GroupClientError('no-key', 'x')).code).toBe('no-key');
    expect(toExtensionError(new GroupClientError('not-admin', 'x')).code).toBe('not-admin');
    expect(toExtensionError(new LogVerificationError('fork', 'x')).code).toBe('fork');
    expect(toExtensionError(new LogVerificationError('last-admin', 'x')).code).toBe('last-admin');
    expect(toExtensionError(new NoteOpenError('bad-signature', 'x'))).toMatchObject({ code: 'verification-failed', message: 'Signature invalid — possibly tampered.', action: "Do not trust this note; tell the group's admin." });
    expect(toExtensionError(new EncodingError('an invite code starts with INV1-'), { typedCode: 'invite' })).toMatchObject({ code: 'invite-invalid', message: 'An invite code starts with INV1-.' });
    expect(toExtensionError(new EncodingError('this recovery code has a typo'), { typedCode: 'recovery' }).code).toBe('recovery-invalid');
    expect(toExtensionError(new BackgroundError('no-identity', 'm', 'a'))).toEqual({ code: 'no-identity', message: 'm', action: 'a' });
    // Nothing unexpected leaks its message.
    expect(toExtensionError(new Error('secret detail'))).toMatchObject({ code: 'internal' });
    expect(toExtensionError(new Error('secret detail')).message).not.toContain('secret');
  });

  it('names the field of an invalid request', () => {
    const bad = (raw: unknown) => {
      const parsed = requestSchema.safeParse(raw);
      if (parsed.success) throw new Error('expected invalid');
      return invalidRequest(parsed.error);
    };
    expect(bad({ type: 'group.invite', groupId: 'AAAAAAAAAAAAAAAAAAAAAA', role: 'owner', expiresInMs: 60_000, prekeyed: false }).message).toContain('"role"');
    expect(bad({ type: 'notes.save', groupId: 'AAAAAAAAAAAAAAAAAAAAAA', title: 'x'.repeat(501), body: '' }).message).toContain('keep titles under 500 characters');
    expect(bad({ type: 'unknown' }).message).toBe('The extension received a request of a type it does not know.');
    expect(bad({ type: 'identity.create', displayName: '' })).toMatchObject({ code: 'invalid-request', action: 'Correct it and try again.' });
  });
});

describe('one sync per group at a time (GroupSyncs)', () => {
  it('a burst while a sync runs costs one more run, which starts after the first; other groups do not wait', async () => {
    const started: GroupId[] = [];
    const gates: Array<() => void> = [];
    const syncs = new GroupSyncs(
      (groupId) =>
        new Promise<void>((resolve) => {
          started.push(groupId);
          gates.push(resolve);
        }),
    );
    const OTHER = 'BBBBBBBBBBBBBBBBBBBBBB' as GroupId;
    const first = syncs.sync(GROUP);
    const burst = Array.from({ length: 10 }, () => syncs.sync(GROUP));
    void syncs.sync(OTHER);
    expect(started).toEqual([GROUP, OTHER]);
    // Every call of the burst waits for the same queued run.
    expect(new Set(burst).size).toBe(1);
    gates.shift()!();
    await first;
    await Promise.resolve();
    expect(started).toEqual([GROUP, OTHER, GROUP]);
    for (const open of gates.splice(0)) open();
    await Promise.all(burst);
    await syncs.idle();
    expect(started).toHaveLength(3);
    // Idle again: the next call runs at once.
    void syncs.sync(GROUP);
    expect(started).toHaveLength(4);
    gates.shift()!();
    await syncs.idle();
  });
});
