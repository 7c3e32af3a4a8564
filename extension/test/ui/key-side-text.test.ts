/** What a verification tab says the key waits for (issue 14, friction 7): each side named, each next step said. */
import { describe, expect, it } from 'vitest';
import { describeKeySide } from '../../src/ui/popup/key-wait-text.ts';

describe('describeKeySide', () => {
  it('the joiner who verified first waits for the other to verify them, and is told how', () => {
    const text = describeKeySide({ kind: 'you-wait', name: 'Ana', waitsFor: 'their-verification', policy: 'verified' }, null, 'Ana')!;
    expect(text.title).toBe('Waiting for Ana to verify you…');
    expect(text.details.join(' ')).toMatch(/as soon as they verify you/);
    expect(text.details.join(' ')).toMatch(/“The numbers match”/);
  });

  it('the holder is told a waiting member gets the key when verified, and how it went afterwards', () => {
    expect(describeKeySide({ kind: 'they-wait', name: 'Ben', waitsFor: 'your-verification' }, null, 'Ben')!.details[0]).toBe('When you verify Ben here, the key goes to their device.');
    expect(describeKeySide(null, 'live', 'Ben')!.title).toBe("The group key went to Ben's device just now, directly.");
    expect(describeKeySide(null, 'mailbox', 'Ben')!.details[0]).toMatch(/not online now/);
    expect(describeKeySide({ kind: 'they-wait', name: 'Ben', waitsFor: 'them-online' }, null, 'Ben')!.title).toBe('Ben gets the group key when their device is online.');
  });

  it("regression: a device online whose live hand-over did not finish is never called 'not online'; the words say what happens next", () => {
    const boxed = describeKeySide(null, 'unfinished-mailbox', 'Ben')!;
    const words = [boxed.title, ...boxed.details].join(' ');
    expect(words).not.toMatch(/not online/);
    expect(words).toMatch(/online, but the direct hand-over did not finish/);
    expect(words).toMatch(/through the mailbox/);
    const unsent = describeKeySide(null, 'unfinished', 'Ben')!;
    const unsentWords = [unsent.title, ...unsent.details].join(' ');
    expect(unsentWords).not.toMatch(/not online|on its way/);
    expect(unsentWords).toMatch(/online, but the direct hand-over did not finish/);
    expect(unsentWords).toMatch(/try again/i);
  });

  it('regression: waiting for the key in a group that trusts invites does not say "once they have verified you"', () => {
    const open = describeKeySide({ kind: 'you-wait', name: 'Ana', waitsFor: 'key', policy: 'invite-trust' }, null, 'Ana')!;
    expect(open.details.join(' ')).not.toMatch(/verif/);
    const strict = describeKeySide({ kind: 'you-wait', name: 'Ana', waitsFor: 'key', policy: 'verified' }, null, 'Ana')!;
    expect(strict.details.join(' ')).toMatch(/once they have verified you/);
  });

  it('says nothing when nothing waits', () => {
    expect(describeKeySide(null, null, 'Ben')).toBeNull();
  });
});
