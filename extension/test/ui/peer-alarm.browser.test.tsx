/**
 * The peer alarm's banner in real Chromium, against a fake background (issue 10, items
 * 3 and 5): it names the member whose device signed the head, says the server or that
 * device is wrong, and offers "I checked with <name>: dismiss" (anyone, after a
 * confirmation in plain words) and, for admins, "Remove <name>" (the members list's own
 * removal request and confirmation). Keyboard-reachable buttons named by what they do;
 * a refusal says what happened and what to do next.
 */
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ExtensionError, Request } from '../../src/messages/protocol.ts';
import type { GroupSummary } from '../../src/messages/views.ts';
import { addRoot, dropRoot } from './support/mount.ts';
import { groupSummary } from './support/views.ts';

vi.mock('wxt/browser', () => ({
  browser: { runtime: { onMessage: { addListener: () => undefined, removeListener: () => undefined }, getURL: (p: string) => p } },
}));
const refusal = vi.hoisted(() => {
  class RequestError extends Error {
    constructor(readonly error: { code: string; message: string; action: string }) {
      super(error.message);
    }
  }
  return { RequestError };
});
const state: { asked: Request[]; refuse: ExtensionError | null } = { asked: [], refuse: null };
vi.mock('../../src/messages/client.ts', () => ({
  RequestError: refusal.RequestError,
  ask: async (request: Request) => {
    state.asked.push(request);
    if (state.refuse) throw new refusal.RequestError(state.refuse);
    switch (request.type) {
      case 'group.dismissPeerEvidence':
        return { groupId: request.groupId, alarm: null };
      case 'group.remove':
        return { generation: 4, unreachable: 0 };
      default:
        throw new Error(`unexpected ${request.type}`);
    }
  },
}));

const { GroupBanners } = await import('../../src/ui/panel/GroupBanners.tsx');
const { AlarmBanner } = await import('../../src/ui/popup/AlarmBanner.tsx');

const ANA = 'A'.repeat(52);
const ALARM =
  "Ana's device signed a different history of \"Family\" than the one this device holds (3 minutes ago). Either the server is showing one of you a different history, or Ana's device is wrong (faulty, or making it up).";

function group(fields: Partial<GroupSummary> = {}, canRemove = false): GroupSummary {
  return groupSummary({
    name: 'Family',
    role: canRemove ? 'admin' : 'member',
    alarm: ALARM,
    peerAlarm: { peer: ANA as never, person: ANA as never, name: 'Ana', kind: 'fork', canRemove },
    ...fields,
  });
}

let root: HTMLElement;
const settle = () => new Promise((resolve) => setTimeout(resolve, 100));
const buttons = () => [...root.querySelectorAll('button')];
const button = (name: RegExp) => buttons().find((b) => name.test(b.textContent ?? ''));
const dialog = () => [...root.querySelectorAll('dialog')].find((d) => d.open);

beforeEach(() => {
  state.asked = [];
  state.refuse = null;
  root = addRoot();
});
afterEach(() => dropRoot(root));

describe('the peer alarm in the side panel', () => {
  it('names the member, says the server or their device is wrong, and a member dismisses it after a plain-words confirmation', async () => {
    render(<GroupBanners group={group()} />, root);
    await settle();
    const banner = root.querySelector('[role=alert]')!;
    expect(banner.textContent).toMatch(/Warning about “Family”: Ana’s device and the server disagree/);
    expect(banner.textContent).toContain('Either the server is showing one of you a different history, or Ana\'s device is wrong');
    expect(banner.textContent).toMatch(/What to do: Ask Ana, in person or on a call/);
    // A member gets no "Remove" (only admins can remove).
    expect(button(/^Remove/)).toBeUndefined();
    expect(root.querySelector('dialog')?.textContent ?? '').not.toMatch(/Remove/);

    const dismiss = button(/^I checked with Ana: dismiss$/)!;
    expect(dismiss.getAttribute('aria-haspopup')).toBe('dialog');
    dismiss.focus();
    expect(document.activeElement).toBe(dismiss);
    dismiss.click();
    await settle();
    expect(dialog()!.querySelector('h2')!.textContent).toBe('Dismiss the warning about Ana’s device?');
    expect(dialog()!.textContent).toMatch(/forgets what Ana’s device told it about “Family”, and new notes can be written here again/);
    expect(dialog()!.textContent).toMatch(/only if you checked with Ana/);
    // The safe choice has focus; nothing was asked yet.
    expect(document.activeElement?.textContent).toBe('Cancel');
    expect(state.asked).toEqual([]);
    button(/^Dismiss the warning$/)!.click();
    await settle();
    expect(state.asked).toEqual([{ type: 'group.dismissPeerEvidence', groupId: 'g1', peer: ANA }]);

    // The background's change comes back without the alarm: the banner goes, what happened stays, focused.
    render(<GroupBanners group={group({ alarm: null, peerAlarm: null })} />, root);
    await settle();
    expect(root.querySelector('[role=alert]')).toBeNull();
    const outcome = root.querySelector('[role=status]')!;
    expect(outcome.textContent).toMatch(/The warning about Ana’s device was dismissed/);
    expect(outcome.textContent).toMatch(/New notes can be written again/);
    expect(document.activeElement).toBe(outcome);
  });

  it('an admin removes the member it names, through the same removal confirmation as the members list', async () => {
    render(<GroupBanners group={group({}, true)} />, root);
    await settle();
    expect(root.textContent).toMatch(/or remove Ana from the group/);
    button(/^Remove Ana$/)!.click();
    await settle();
    expect(dialog()!.querySelector('h2')!.textContent).toBe('Remove Ana from “Family”?');
    expect(dialog()!.textContent).toMatch(/Removing starts a new key for the group/);
    expect(state.asked).toEqual([]);
    button(/^Remove and start a new key$/)!.click();
    await settle();
    expect(state.asked).toEqual([{ type: 'group.remove', groupId: 'g1', fingerprint: ANA }]);
    render(<GroupBanners group={group({ alarm: null, peerAlarm: null }, true)} />, root);
    await settle();
    expect(root.querySelector('[role=status]')!.textContent).toMatch(/Ana was removed. New notes use a new key they cannot read./);
  });

  it('a refused dismissal says what happened and what to do, and the warning stays', async () => {
    state.refuse = { code: 'server-unreachable', message: 'Could not reach the storage API to dismiss the warning.', action: 'Check that the storage API is running, then try again.' };
    render(<GroupBanners group={group()} />, root);
    await settle();
    button(/^I checked with Ana: dismiss$/)!.click();
    await settle();
    button(/^Dismiss the warning$/)!.click();
    await settle();
    const error = root.querySelector('.notice-error')!;
    expect(error.textContent).toMatch(/The warning about Ana’s device was not dismissed/);
    expect(error.textContent).toMatch(/Could not reach the storage API to dismiss the warning\./);
    expect(error.textContent).toMatch(/What to do: Check that the storage API is running/);
    expect(button(/^I checked with Ana: dismiss$/)).toBeDefined();
  });

  it('a log the server forked (no member named) keeps its own banner, without these buttons', async () => {
    render(<GroupBanners group={group({ alarm: 'The storage API is showing an older history.', peerAlarm: null })} />, root);
    await settle();
    expect(root.querySelector('[role=alert]')!.textContent).toMatch(/its history does not add up/);
    expect(button(/I checked with|^Remove/)).toBeUndefined();
  });
});

describe('the peer alarm in the popup', () => {
  it('offers the same remedies in its banner', async () => {
    render(<AlarmBanner group={group({}, true)} onOpen={() => undefined} />, root);
    await settle();
    expect(root.querySelector('[role=alert]')!.textContent).toMatch(/“Family”: Ana’s device and the server disagree/);
    expect(button(/^Remove Ana$/)).toBeDefined();
    button(/^I checked with Ana: dismiss$/)!.click();
    await settle();
    button(/^Dismiss the warning$/)!.click();
    await settle();
    expect(state.asked).toEqual([{ type: 'group.dismissPeerEvidence', groupId: 'g1', peer: ANA }]);
  });
});
