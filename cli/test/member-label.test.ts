/**
 * A member whose profile (their name, a meta note readable only with the group key) has
 * not arrived is called the same way in the CLI as in the extension: by the
 * fingerprint's first groups, with words that say why there is no name.
 */
import { expect, test } from 'vitest';
import type { Fingerprint } from '@conclave/shared/protocol';
import { who } from '../src/output.ts';

const fingerprint = 'icox4truy6doj4s7abcdefghijklmnopqrstuvwxyz234567abcd' as Fingerprint;

test('a member whose name is not known yet: "Member icox 4tru y6do j4s7 (name not known yet)"', () => {
  expect(who(undefined, fingerprint)).toBe('Member icox 4tru y6do j4s7 (name not known yet)');
});

test('a named member: the name, then the fingerprint groups to check', () => {
  expect(who('Ana', fingerprint)).toBe('Ana (icox 4tru y6do j4s7)');
});
