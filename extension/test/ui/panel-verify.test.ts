/**
 * The verification tab's and the shared components' pure parts: reading the tab's
 * address, grouping a typed safety number as it is typed, spelling digits and
 * fingerprints for screen readers, trust words, QR paths and camera failures.
 */
import { describe, expect, it } from 'vitest';
import { fingerprintGroups, spellGroups } from '../../src/ui/components/Fingerprint.tsx';
import { qrPath } from '../../src/ui/components/QrImage.tsx';
import { cameraProblem } from '../../src/ui/components/QrScan.tsx';
import { spellDigits, spokenSafetyNumber } from '../../src/ui/components/SafetyNumber.tsx';
import { TRUST_MEANINGS, TRUST_WORDS, trustLabel } from '../../src/ui/components/TrustBadge.tsx';
import type { TrustView } from '../../src/messages/views.ts';
import { caretAfterDigits, firstDifferentGroup, groupDigits, parseVerifyParams, reformatTyped, SAFETY_DIGITS, typedDigits } from '../../src/ui/verify/logic.ts';

const FP = 'abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst';
const GROUP = 'AAAAAAAAAAAAAAAAAAAA_-';

describe('verify tab address', () => {
  it('accepts a group id and a fingerprint', () => {
    expect(parseVerifyParams(`?group=${GROUP}&member=${FP}`)).toEqual({ groupId: GROUP, fingerprint: FP });
  });
  it('refuses a missing or malformed id', () => {
    expect(parseVerifyParams(`?member=${FP}`)).toBeNull();
    expect(parseVerifyParams(`?group=${GROUP}&member=${FP.toUpperCase()}`)).toBeNull();
    expect(parseVerifyParams(`?group=short&member=${FP}`)).toBeNull();
  });
});

describe('typed safety number', () => {
  it('keeps digits only, at most 60, grouped by five', () => {
    expect(typedDigits('12345-67890 abc 1')).toBe('12345678901');
    expect(typedDigits('9'.repeat(70))).toHaveLength(SAFETY_DIGITS);
    expect(groupDigits('123456789012')).toBe('12345 67890 12');
    expect(groupDigits('')).toBe('');
  });

  it('keeps the caret after the digit just typed when spaces are added', () => {
    // Typed the 6th digit at the end: a space appears before it.
    expect(reformatTyped('123456', 6)).toEqual({ value: '12345 6', caret: 7 });
    // Typed a digit in the middle of the first group.
    expect(reformatTyped('129345 6', 3)).toEqual({ value: '12934 56', caret: 3 });
    // Pasted with dashes.
    expect(reformatTyped('11111-22222', 11)).toEqual({ value: '11111 22222', caret: 11 });
    expect(caretAfterDigits('12345 67890', 0)).toBe(0);
    expect(caretAfterDigits('12345 67890', 5)).toBe(5);
  });

  it('finds the first group that differs', () => {
    const shown = ['11111', '22222', '33333'];
    expect(firstDifferentGroup('11111 22222 33333', shown)).toBeNull();
    expect(firstDifferentGroup('11111 22122 33333', shown)).toBe(2);
    expect(firstDifferentGroup('11111', shown)).toBe(2);
  });
});

describe('spelled for screen readers', () => {
  it('spells safety number groups digit by digit', () => {
    expect(spellDigits('12345')).toBe('1 2 3 4 5');
    expect(spokenSafetyNumber(['12345', '67890'])).toBe('group 1: 1 2 3 4 5. group 2: 6 7 8 9 0.');
  });

  it('spells a fingerprint character by character, pausing between groups', () => {
    expect(fingerprintGroups('abcd efgh ijkl mnop')).toEqual(['abcd', 'efgh', 'ijkl', 'mnop']);
    expect(fingerprintGroups('abcdefgh')).toEqual(['abcd', 'efgh']);
    expect(spellGroups(['ab2d', 'efgh'])).toBe('a b 2 d, e f g h');
  });
});

describe('trust words', () => {
  it('has a word and a meaning for every state', () => {
    const states: TrustView[] = ['unverified', 'verified', 'key-changed', 'removed', 'trusted-by-link'];
    for (const s of states) {
      expect(TRUST_WORDS[s]).toMatch(/\w/);
      expect(TRUST_MEANINGS[s]).toMatch(/\w/);
    }
    expect(new Set(states.map((s) => TRUST_WORDS[s])).size).toBe(states.length);
    expect(trustLabel('key-changed', 'Ana')).toMatch(/^Ana: Key changed — /);
    expect(trustLabel('verified')).toMatch(/^Trust: Verified — /);
  });
});

describe('QR path', () => {
  it('draws runs of dark modules as one rectangle each, offset by the margin', () => {
    const grid = [
      [1, 1, 0],
      [0, 1, 1],
      [0, 0, 0],
    ];
    expect(qrPath(3, (r, c) => grid[r]![c] === 1, 4)).toBe('M4 4h2v1h-2zM5 5h2v1h-2z');
  });
});

describe('camera failures', () => {
  it('says "use an image instead" for a refused permission and for no camera', () => {
    expect(cameraProblem({ name: 'NotAllowedError' }).message).toMatch(/refused/);
    expect(cameraProblem({ name: 'NotAllowedError' }).action).toMatch(/Use an image instead/);
    expect(cameraProblem({ name: 'NotFoundError' }).message).toMatch(/No camera/);
    expect(cameraProblem({ name: 'NotFoundError' }).action).toMatch(/Use an image instead/);
    expect(cameraProblem(new Error('x')).action).toMatch(/Use an image instead/);
    expect(cameraProblem({ name: 'NotReadableError' }).action).toMatch(/use an image instead/);
  });
});
