/**
 * The toolbar badge ("!" on a warning, a count of new notes) through whichever toolbar
 * button API the browser has: `action` in Chrome's MV3 build, `browserAction` in
 * Firefox's MV2 build, where `browser.action` does not exist and reaching for it threw
 * at every badge update ("can't access property "setBadgeText", action is undefined").
 */
import { describe, expect, it, vi } from 'vitest';
import { toolbarBadge } from '../../src/background/badge.ts';

function button() {
  return {
    setBadgeText: vi.fn((_: { text: string }) => Promise.resolve()),
    setBadgeBackgroundColor: vi.fn((_: { color: string }) => Promise.resolve()),
  };
}

describe('toolbar badge', () => {
  it('uses browserAction in an MV2 (Firefox) build, which has no action', () => {
    const browserAction = button();
    const badge = toolbarBadge({ browserAction });
    expect(() => badge('!')).not.toThrow();
    expect(browserAction.setBadgeText).toHaveBeenCalledWith({ text: '!' });
    expect(browserAction.setBadgeBackgroundColor).toHaveBeenCalledWith({ color: '#b3261e' });
    badge('3');
    expect(browserAction.setBadgeText).toHaveBeenLastCalledWith({ text: '3' });
    expect(browserAction.setBadgeBackgroundColor).toHaveBeenLastCalledWith({ color: '#3b5b92' });
  });

  it('uses action in an MV3 (Chrome) build, and clears the badge with an empty text', () => {
    const action = button();
    const badge = toolbarBadge({ action, browserAction: undefined });
    badge('');
    expect(action.setBadgeText).toHaveBeenCalledWith({ text: '' });
    expect(action.setBadgeBackgroundColor).not.toHaveBeenCalled();
  });

  it('does nothing, and throws nothing, where the browser has neither, or refuses', async () => {
    expect(() => toolbarBadge({})('!')).not.toThrow();
    const refusing = { setBadgeText: () => Promise.reject(new Error('no window')), setBadgeBackgroundColor: () => Promise.reject(new Error('no window')) };
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    try {
      toolbarBadge({ browserAction: refusing })('!');
      await new Promise((resolve) => setTimeout(resolve, 10));
    } finally {
      process.off('unhandledRejection', onRejection);
    }
    expect(rejections).toEqual([]);
  });
});
