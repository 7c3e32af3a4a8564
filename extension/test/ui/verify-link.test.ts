/**
 * The verification tab's address is built in one place (components/verify-link.ts) for
 * the members list's "Verify" and the popup's "Verify Ana", and the verification page
 * reads back exactly what it was given.
 */
import { describe, expect, it } from 'vitest';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import { verifyUrl } from '../../src/ui/components/verify-link.ts';
import { parseVerifyParams } from '../../src/ui/verify/logic.ts';

const groupId = 'a-b_cdefghijklmnopqrst' as GroupId;
const person = 'z'.repeat(52) as Fingerprint;

describe('verifyUrl', () => {
  it('builds the verification tab address with both ids escaped', () => {
    expect(verifyUrl('chrome-extension://x/verify.html', groupId, person)).toBe(`chrome-extension://x/verify.html?group=${groupId}&member=${person}`);
  });

  it('is read back by the verification page as the same group and member', () => {
    const url = new URL(verifyUrl('chrome-extension://x/verify.html', groupId, person));
    expect(parseVerifyParams(url.search)).toEqual({ groupId, fingerprint: person });
  });
});
