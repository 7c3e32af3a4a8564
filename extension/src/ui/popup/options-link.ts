/**
 * Opens a part of the options page in a tab (`#link-to-identity`, `#link-new-device`,
 * `#devices`: the options page moves focus there) and closes the popup, which would
 * lose focus anyway. Linking needs a page that stays open (a QR code to show, a camera).
 */
import { browser } from 'wxt/browser';

export type OptionsPart = 'link-to-identity' | 'link-new-device' | 'devices';

export function openOptionsAt(part: OptionsPart): void {
  void browser.tabs.create({ url: `${browser.runtime.getURL('/options.html')}#${part}` }).then(() => window.close());
}
