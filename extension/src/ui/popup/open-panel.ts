/**
 * Opens the notes side panel (Chrome) or sidebar (Firefox) from a click. Both browsers
 * only allow it during the click's user gesture, so nothing is awaited before the
 * open call: the window id is looked up in advance, and the background is told which
 * group to show with a message sent (not awaited) just before.
 */
import { browser } from 'wxt/browser';
import type { GroupId } from '@conclave/shared/protocol';
import { ask } from '../../messages/client.ts';

let windowId: number | undefined;

/** Call once when the popup opens, so `openNotes` has the window at hand. */
export function rememberWindow(): void {
  browser.windows
    ?.getCurrent()
    .then((current) => {
      windowId = current.id;
    })
    .catch(() => {});
}

interface FirefoxSidebar {
  sidebarAction?: { open(): Promise<void> };
}

/**
 * @returns a promise that settles when the panel is open; rejects with words for the
 *   person when this browser cannot open it from here.
 */
export function openNotes(groupId?: GroupId): Promise<void> {
  const told = ask({ type: 'panel.open', ...(groupId ? { groupId } : {}) });
  const firefox = (browser as unknown as FirefoxSidebar).sidebarAction;
  let opened: Promise<void>;
  if (firefox) opened = firefox.open();
  else if (browser.sidePanel && windowId !== undefined) opened = browser.sidePanel.open({ windowId });
  else opened = Promise.reject(new Error('This browser cannot open the notes panel from here: use the Conclave icon in the side panel menu.'));
  return Promise.all([told, opened]).then(() => undefined);
}
