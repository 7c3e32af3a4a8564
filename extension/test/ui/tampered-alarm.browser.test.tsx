/**
 * A group whose history was found forked or rolled back, in the whole side panel in real
 * Chromium: the alarm is announced once. The red banner naming the group is the one alert
 * carrying it; the group's details and its notes, which the background refuses for the
 * same reason, say so in plain text and point at that banner (a screen reader read the
 * same sentence three times when each was an alert of its own).
 */
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Request } from '../../src/messages/protocol.ts';
import { addRoot, dropRoot } from './support/mount.ts';
import { groupSummary } from './support/views.ts';
import { untilTrue } from './support/wait.ts';

vi.mock('wxt/browser', () => ({
  browser: { runtime: { onMessage: { addListener: () => undefined, removeListener: () => undefined }, getURL: (path: string) => path }, tabs: { create: () => Promise.resolve() } },
}));

const ALARM = 'The storage API is showing a different history of "Harbour" than this device saw before.';
const FORK_ACTION = 'Stop using this group and tell its members; the server may be showing you a different history.';

const asked = vi.hoisted(() => ({ requests: [] as { type: string }[] }));
vi.mock('../../src/messages/client.ts', () => {
  class RequestError extends Error {
    constructor(readonly error: { code: string; message: string; action: string }) {
      super(error.message);
    }
  }
  return {
    RequestError,
    ask: async (request: Request) => {
      asked.requests.push(request);
      switch (request.type) {
        case 'status':
          return {
            identity: { fingerprint: 'M'.repeat(52), short: 'MMMMNNNNOOOOPPPP', name: 'Mo' },
            groups: [groupSummary({ alarm: ALARM })],
            settings: { apiUrl: 'http://127.0.0.1:8787', signalingUrl: 'http://127.0.0.1:9000', iceServers: [] },
          };
        case 'draft.load':
          return null;
        case 'draft.save':
        case 'draft.clear':
          return null;
        case 'group.detail':
        case 'notes.list':
          throw new RequestError({ code: 'fork', message: ALARM, action: FORK_ACTION });
        default:
          throw new Error(`unexpected ${request.type}`);
      }
    },
  };
});

const { PanelApp } = await import('../../src/ui/panel/PanelApp.tsx');

let root: HTMLElement;
beforeEach(() => {
  asked.requests = [];
  root = addRoot();
});
afterEach(() => dropRoot(root));

/** Every element a screen reader speaks by itself when its words change. */
const liveRegions = () => [...root.querySelectorAll('[role=alert], [role=status], [aria-live]:not([aria-live=off])')];

describe('a group whose history does not add up, in the side panel', () => {
  it('announces the alarm once: one alert carries it; the refused details and notes refer to it in plain text', async () => {
    render(<PanelApp />, root);
    // Both refusals have arrived (and been drawn) before anything is counted.
    await untilTrue(() => /This group could not be loaded/.test(root.textContent ?? '') && /The notes could not be loaded/.test(root.textContent ?? ''), 'both refusals on screen');

    const carrying = liveRegions().filter((region) => (region.textContent ?? '').includes('different history of'));
    expect(carrying).toHaveLength(1);
    const banner = carrying[0]!;
    expect(banner.getAttribute('role')).toBe('alert');
    expect(banner.textContent).toMatch(/Warning about “Harbour”: its history does not add up/);
    expect(banner.textContent).toContain(ALARM);
    expect(banner.textContent).toMatch(/What to do: Do not trust new changes to this group’s members/);
    // Nothing else about it is an alert of its own.
    expect(root.querySelectorAll('[role=alert]')).toHaveLength(1);

    // What could not be loaded is still said, why (the warning above), and it can be tried again.
    for (const title of ['This group could not be loaded', 'The notes could not be loaded']) {
      const notice = [...root.querySelectorAll('.notice')].find((n) => n.textContent?.includes(title))!;
      expect(notice, title).toBeDefined();
      expect(notice.closest('[role=alert], [role=status], [aria-live]')).toBeNull();
      expect(notice.textContent).toMatch(/the warning above/);
      expect(notice.textContent).not.toContain(ALARM);
      expect([...notice.querySelectorAll('button')].map((b) => b.textContent)).toContain('Try again');
    }
    // And the group takes no new notes.
    expect([...root.querySelectorAll('button')].some((b) => /New note/.test(b.textContent ?? ''))).toBe(false);
  });

});
