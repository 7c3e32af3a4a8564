/**
 * The toolbar button's badge: "!" (red) when a group needs attention, a count (blue)
 * of new notes, nothing otherwise. Chrome's MV3 build has `browser.action`; Firefox's
 * MV2 build has `browser.browserAction` instead (and no `action`): the badge goes
 * through whichever exists. Failures are dropped: a badge is only a hint.
 */

export interface ToolbarButton {
  /** A promise in Chrome and Firefox (Chrome's MV2 typings say void: both are handled). */
  setBadgeText(details: { text: string }): Promise<void> | void;
  setBadgeBackgroundColor(details: { color: string }): Promise<void> | void;
}

/** The parts of `browser` the badge needs (either may be missing, by browser and manifest version). */
export interface ToolbarApis {
  action?: ToolbarButton | undefined;
  browserAction?: ToolbarButton | undefined;
}

const ALARM_COLOR = '#b3261e';
const COUNT_COLOR = '#3b5b92';

/** @returns the background's `badge(text)`: never throws, never leaves a rejected promise. */
export function toolbarBadge(apis: ToolbarApis): (text: string) => void {
  return (text) => {
    const button = apis.action ?? apis.browserAction;
    if (!button) return;
    quietly(() => button.setBadgeText({ text }));
    if (text) quietly(() => button.setBadgeBackgroundColor({ color: text === '!' ? ALARM_COLOR : COUNT_COLOR }));
  };
}

function quietly(call: () => Promise<void> | void): void {
  try {
    void Promise.resolve(call()).catch(() => undefined);
  } catch {
    // A browser that throws instead of rejecting: the badge is only a hint.
  }
}
