import { describe, expect, it } from 'vitest';
import type { Fingerprint } from '@conclave/shared/protocol';
import type { GroupSummary, KeyWaitView } from '../../src/messages/views.ts';
import { codeGroups, groupCounts, orList, plural, spellOut, timeLeft } from '../../src/ui/popup/format.ts';
import { describeKeyWait } from '../../src/ui/popup/key-wait-text.ts';
import { kitFileName, recoveryKit } from '../../src/ui/popup/recovery-kit.ts';
import { restoreRoute } from '../../src/ui/popup/route.ts';
import { restoreDraft } from '../../src/ui/components/useDraft.ts';

const ana = 'A'.repeat(52) as Fingerprint;
const ben = 'B'.repeat(52) as Fingerprint;

function waitView(state: KeyWaitView['state'], online: { ana: boolean; ben: boolean } = { ana: false, ben: false }): KeyWaitView {
  return {
    state,
    holders: [
      { fingerprint: ana, name: 'Ana', online: online.ana },
      { fingerprint: ben, name: 'Ben', online: online.ben },
    ],
    updatedAt: 0,
  };
}

describe('wording', () => {
  it('lists names with "or"', () => {
    expect(orList([])).toBe('');
    expect(orList(['Ana'])).toBe('Ana');
    expect(orList(['Ana', 'Ben'])).toBe('Ana or Ben');
    expect(orList(['Ana', 'Ben', 'Cy'])).toBe('Ana, Ben or Cy');
    expect(orList(['Ana', 'Ben', 'Cy', 'Di', 'Ed'])).toBe('Ana, Ben, Cy or 2 others');
  });

  it('counts in words', () => {
    expect(plural(1, 'note')).toBe('1 note');
    expect(plural(2, 'person', 'people')).toBe('2 people');
  });

  it('spells a code one character at a time, a pause between groups', () => {
    expect(codeGroups('REC1-AB12-CD')).toEqual(['REC1', 'AB12', 'CD']);
    expect(spellOut('rec1-ab12')).toBe('R E C 1, A B 1 2');
  });

  it('says roughly how long is left', () => {
    expect(timeLeft(0, 1)).toBe('expired');
    expect(timeLeft(30 * 60_000, 0)).toBe('in 30 minutes');
    expect(timeLeft(86_400_000, 0)).toBe('in 24 hours');
    expect(timeLeft(7 * 86_400_000, 0)).toBe('in 7 days');
  });

  it("gives a group's counts as words, not only numbers", () => {
    const group: GroupSummary = {
      groupId: 'g' as GroupSummary['groupId'],
      name: 'Family',
      role: 'admin',
      hasKey: true,
      unread: 3,
      pending: 1,
      alarm: null,
      recoveryUnconfirmed: false,
      keyWait: null,
      recoveryUsed: null,
      removed: false,
    };
    expect(groupCounts(group)).toBe('3 unread notes · 1 person waiting for the key');
    expect(groupCounts({ ...group, role: 'member' })).toBe('3 unread notes');
    expect(groupCounts({ ...group, unread: 0, pending: 0 })).toBe('No new notes');
  });
});

describe('describeKeyWait', () => {
  it('names who the joiner waits for', () => {
    const text = describeKeyWait(waitView({ phase: 'waiting', why: 'nobody-online', attempts: [] }));
    expect(text.tone).toBe('wait');
    expect(text.title).toBe('Waiting for Ana or Ben to come online…');
    expect(text.details.join(' ')).toMatch(/Nobody who can give you the key is online/);
    expect(text.details.join(' ')).toMatch(/Asked the group's admins through the mailbox/);
  });

  it('names a person with two devices once (holders are devices)', () => {
    const anaPhone = 'C'.repeat(52) as Fingerprint;
    const view: KeyWaitView = {
      state: { phase: 'waiting', why: 'nobody-online', attempts: [] },
      holders: [
        { fingerprint: ana, name: 'Ana', online: true },
        { fingerprint: anaPhone, name: 'Ana', online: true },
        { fingerprint: ben, name: 'Ben', online: false },
      ],
      updatedAt: 0,
    };
    const text = describeKeyWait(view);
    expect(text.title).toBe('Waiting for Ana or Ben to come online…');
    expect(text.details).toContain('Online now: Ana.');
  });

    it('says who is online and who is being reached', () => {
    const text = describeKeyWait(waitView({ phase: 'connecting', peer: ben }, { ana: false, ben: true }));
    expect(text.title).toBe('Connecting to Ben…');
    expect(text.details).toEqual(['Online now: Ben.']);
  });

  it('explains why an online member could not hand the key over', () => {
    const text = describeKeyWait(
      waitView({ phase: 'waiting', why: 'peers-failed', attempts: [{ peer: ana, outcome: { kind: 'refused', reason: 'not-verified', by: 'peer' } }] }, { ana: true, ben: false }),
    );
    expect(text.details[0]).toBe('Ana could not hand it over: they need to verify you first: compare safety numbers with them.');
    // Ana is online: the title says what she must do, not that she must come online.
    expect(text.title).toBe('Waiting for Ana to verify you…');
  });

  it('says where the key came from', () => {
    expect(describeKeyWait(waitView({ phase: 'received', via: 'peer', from: ana })).title).toBe('Key received from Ana.');
    expect(describeKeyWait(waitView({ phase: 'received', via: 'mailbox' })).title).toBe('Key received through the mailbox.');
  });

  it('shows a fork as an alarm that names the member and says what to do', () => {
    const text = describeKeyWait(waitView({ phase: 'fork', peer: ben }));
    expect(text.tone).toBe('alarm');
    expect(text.title).toMatch(/Ben/);
    expect(text.details.join(' ')).toMatch(/compared safety numbers with Ben/);
  });
});

describe('recovery kit', () => {
  it('holds the group name, the code and how to use it', () => {
    const kit = recoveryKit('Ana & Ben’s trip', 'REC1-AAAA-BBBB', new Date('2025-01-02T03:04:05Z'));
    expect(kit.fileName).toBe('conclave-recovery-ana-ben-s-trip.txt');
    expect(kit.text).toContain('Group: Ana & Ben’s trip');
    expect(kit.text).toContain('    REC1-AAAA-BBBB');
    expect(kit.text).toContain('Restore a group with a recovery code');
    expect(kit.text).toContain('Created: 2025-01-02');
  });

  it('makes a file name even from a name with no Latin letters', () => {
    expect(kitFileName('Ελληνικά')).toBe('conclave-recovery-group.txt');
    expect(kitFileName('Café')).toBe('conclave-recovery-cafe.txt');
  });
});

describe('drafts and routes restored from storage', () => {
  it('merges a saved object over the initial one, and drops what does not fit', () => {
    expect(restoreDraft({ name: 'x' }, { name: '', policy: 'verified' })).toEqual({ name: 'x', policy: 'verified' });
    expect(restoreDraft('text', { name: '' })).toBeNull();
    expect(restoreDraft(null, { name: '' })).toBeNull();
    expect(restoreDraft(undefined, 'a')).toBeNull();
    expect(restoreDraft('b', 'a')).toBe('b');
  });

  it('accepts only routes this version knows', () => {
    expect(restoreRoute({ screen: 'join' })).toEqual({ screen: 'join' });
    expect(restoreRoute({ screen: 'invite', groupId: 'g1' })).toEqual({ screen: 'invite', groupId: 'g1' });
    expect(restoreRoute({ screen: 'invite' })).toBeNull();
    expect(restoreRoute({ screen: 'settings' })).toBeNull();
    expect(restoreRoute('home')).toBeNull();
  });
});
