/**
 * Meta notes (shared/src/crypto/meta-notes.ts): the ids every client derives for a
 * group's name and members' profiles, the body format, and who may write which.
 * The pinned ids keep the derivation stable across clients and versions (the
 * extension and the CLI must find each other's names).
 */
import { describe, expect, it } from 'vitest';
import { createGroup } from '../src/crypto/group-lifecycle.ts';
import { generateIdentity } from '../src/crypto/identity.ts';
import { META_TITLE, RESERVED_TITLE_PREFIX, metaAuthorAllowed, metaBody, metaIndex, metaNoteId, parseMetaBody } from '../src/crypto/index.ts';
import type { Fingerprint, GroupId } from '../src/protocol/ids.ts';
import { nextEntry } from '../src/crypto/group-log.ts';
import { extendLog } from '../src/crypto/log-replay.ts';
import { devicesChange, TestPerson } from './support/people.ts';

const fp = (c: string) => c.repeat(52) as Fingerprint;
const GROUP = 'AAAAAAAAAAAAAAAAAAAAAA' as GroupId;
const seed = new Uint8Array(32).fill(7);

describe('meta notes', () => {
  it('derive pinned ids from seed 0, the group, the kind and the member', async () => {
    expect(await metaNoteId(seed, GROUP, { kind: 'group-name', member: null })).toBe('2FE_ycayU5A0x1_YtigAPg');
    expect(await metaNoteId(seed, GROUP, { kind: 'profile', member: fp('a') })).toBe('_fp2HtGoUrqdmIyO1omNfA');
    const ids = await Promise.all([
      metaNoteId(seed, GROUP, { kind: 'profile', member: fp('b') }),
      metaNoteId(seed, 'BAAAAAAAAAAAAAAAAAAAAA' as GroupId, { kind: 'profile', member: fp('a') }),
      metaNoteId(new Uint8Array(32).fill(8), GROUP, { kind: 'profile', member: fp('a') }),
    ]);
    expect(new Set([...ids, '_fp2HtGoUrqdmIyO1omNfA']).size).toBe(4);
  });

  it('index the group name and a profile per member, present or departed', async () => {
    const ana = await generateIdentity();
    const group = await createGroup(ana, { at: 1 });
    const index = await metaIndex(seed, group.state);
    const slots = [...index.values()];
    expect(slots).toContainEqual({ kind: 'group-name', member: null });
    expect(slots).toContainEqual({ kind: 'profile', member: ana.fingerprint });
    expect(index.size).toBe(1 + group.state.members.size + group.state.departed.size);
    for (const [id, slot] of index) expect(await metaNoteId(seed, group.state.groupId, slot)).toBe(id);
  });

  it('read only bodies this version understands, under a reserved title', () => {
    expect(META_TITLE.startsWith(RESERVED_TITLE_PREFIX)).toBe(true);
    expect(parseMetaBody(metaBody('group-name', 'Garden'))).toEqual({ kind: 'group-name', name: 'Garden' });
    expect(parseMetaBody('{"kind":"profile"}')).toBeNull();
    expect(parseMetaBody('{"kind":"profile","name":"Ana","extra":1}')).toBeNull();
    expect(parseMetaBody('not json')).toBeNull();
  });

  it('count a profile only from the member it names, the name only from an admin or the creator', async () => {
    const ana = await generateIdentity();
    const bo = await TestPerson.found();
    const group = await createGroup(ana, { at: 1 });
    const state = await extendLog(group.state, [await nextEntry(group.state, ana, 'add', { member: bo.chain(), role: 'member' }, 2)], { now: 3 });
    expect(metaAuthorAllowed(state, { kind: 'profile', member: bo.id }, bo.founder.fingerprint)).toBe(true);
    expect(metaAuthorAllowed(state, { kind: 'profile', member: bo.id }, ana.fingerprint)).toBe(false);
    expect(metaAuthorAllowed(state, { kind: 'group-name', member: null }, ana.fingerprint)).toBe(true);
    expect(metaAuthorAllowed(state, { kind: 'group-name', member: null }, bo.founder.fingerprint)).toBe(false);
    expect(metaAuthorAllowed(state, { kind: 'group-name', member: null }, fp('c'))).toBe(false);
    // Someone who is not in the group, even for a slot that bears their own name.
    expect(metaAuthorAllowed(state, { kind: 'profile', member: fp('b') }, fp('b'))).toBe(false);
  });

  it("count a person's profile and an admin's group name from any of that person's devices, by person id", async () => {
    const ana = await TestPerson.found();
    const bob = await TestPerson.found();
    const group = await createGroup(ana.founder, { at: 1, chain: ana.chain() });
    const add = await nextEntry(group.state, ana.founder, 'add', { member: bob.chain(), role: 'member' }, 2);
    let state = await extendLog(group.state, [add], { now: 3 });
    const { device: laptop } = await ana.link();
    const { device: phone } = await bob.link();
    state = (await devicesChange(state, ana.founder, ana, group.seed, 3)).state;
    state = (await devicesChange(state, bob.founder, bob, group.seed, 4)).state;
    // Note authors are devices; profiles are named by the person; the creator and admins are people.
    expect(metaAuthorAllowed(state, { kind: 'profile', member: ana.id }, laptop.fingerprint)).toBe(true);
    expect(metaAuthorAllowed(state, { kind: 'group-name', member: null }, laptop.fingerprint)).toBe(true);
    expect(metaAuthorAllowed(state, { kind: 'profile', member: bob.id }, phone.fingerprint)).toBe(true);
    // Another person's device, a plain member's device for the name, a device outside the group: no.
    expect(metaAuthorAllowed(state, { kind: 'profile', member: ana.id }, phone.fingerprint)).toBe(false);
    expect(metaAuthorAllowed(state, { kind: 'group-name', member: null }, phone.fingerprint)).toBe(false);
    expect(metaAuthorAllowed(state, { kind: 'profile', member: ana.id }, (await generateIdentity()).fingerprint)).toBe(false);
  });

  it("count them for a person whose founding device is gone, given the writing device or the person id", async () => {
    const ana = await TestPerson.found();
    const bo = await TestPerson.found();
    const { device: laptop } = await bo.link();
    // Bo unlinked the device that founded them before joining: this group never saw it.
    await bo.unlink(bo.founder, laptop);
    const group = await createGroup(ana.founder, { at: 1, chain: ana.chain() });
    const state = await extendLog(group.state, [await nextEntry(group.state, ana.founder, 'add', { member: bo.chain(), role: 'admin' }, 2)]);
    for (const author of [laptop.fingerprint, bo.id]) {
      expect(metaAuthorAllowed(state, { kind: 'profile', member: bo.id }, author)).toBe(true);
      expect(metaAuthorAllowed(state, { kind: 'group-name', member: null }, author)).toBe(true);
      expect(metaAuthorAllowed(state, { kind: 'profile', member: ana.id }, author)).toBe(false);
    }
  });
});
