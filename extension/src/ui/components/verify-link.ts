/**
 * The verification tab for one member of one group — `verify.html?group=…&member=…`,
 * read back by verify/logic.ts `parseVerifyParams` — built here only: the members list's
 * "Verify" and the popup's "Verify Ana" both open it (the camera can only be asked for
 * in a tab).
 */
import { browser } from 'wxt/browser';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';

/** The address of the verification tab for `person` in `groupId`, under the page at `base`. */
export function verifyUrl(base: string, groupId: GroupId, person: Fingerprint): string {
  return `${base}?${new URLSearchParams({ group: groupId, member: person }).toString()}`;
}

/** Opens the verification tab (a plain window where the tabs API refuses). Never rejects. */
export function openVerify(groupId: GroupId, person: Fingerprint): Promise<void> {
  const url = verifyUrl(browser.runtime.getURL('/verify.html'), groupId, person);
  return browser.tabs.create({ url }).then(
    () => undefined,
    () => {
      window.open(url, '_blank');
    },
  );
}
