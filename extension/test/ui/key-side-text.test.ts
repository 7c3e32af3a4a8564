/** What a verification tab says the key waits for (issue 14, friction 7): each side named, each next step said. */
import { describe, expect, it } from 'vitest';
import { describeKeySide } from '../../src/ui/popup/key-wait-text.ts';

describe('describeKeySide', () => {
  it('the joiner who verified first waits for the other to verify them, and is told how', () => {
    const text = describeKeySide({ kind: 'you-wait', name: 'Ana', waitsFor: 'their-verification' }, null, 'Ana')!;
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

  it('says nothing when nothing waits', () => {
    expect(describeKeySide(null, null, 'Ben')).toBeNull();
  });
});
