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

const fp = (c: string) => c.repeat(52) as Fingerprint;
const GROUP = 'AAAAAAAAAAAAAAAAAAAAAA' as GroupId;
const seed = new Uint8Array(32).fill(7);

describe('meta notes', () => {
  it('derive pinned ids from seed 0, the group, the kind and the member', async () => {
    expect(await metaNoteId(seed, GROUP, { kind: 'group-name', member: null })).toBe('NTiTJHs1kbymi48UI_2j8w');
    expect(await metaNoteId(seed, GROUP, { kind: 'profile', member: fp('a') })).toBe('MoVwb5VD5oDcL4IZ4PFWog');
    const ids = await Promise.all([
      metaNoteId(seed, GROUP, { kind: 'profile', member: fp('b') }),
      metaNoteId(seed, 'BAAAAAAAAAAAAAAAAAAAAA' as GroupId, { kind: 'profile', member: fp('a') }),
      metaNoteId(new Uint8Array(32).fill(8), GROUP, { kind: 'profile', member: fp('a') }),
    ]);
    expect(new Set([...ids, 'MoVwb5VD5oDcL4IZ4PFWog']).size).toBe(4);
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
    const { state } = await createGroup(ana, { at: 1 });
    expect(metaAuthorAllowed(state, { kind: 'profile', member: fp('b') }, fp('b'))).toBe(true);
    expect(metaAuthorAllowed(state, { kind: 'profile', member: fp('b') }, ana.fingerprint)).toBe(false);
    expect(metaAuthorAllowed(state, { kind: 'group-name', member: null }, ana.fingerprint)).toBe(true);
    expect(metaAuthorAllowed(state, { kind: 'group-name', member: null }, fp('c'))).toBe(false);
  });
});
