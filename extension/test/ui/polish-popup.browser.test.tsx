/**
 * The popup and the options page as they look in real Chromium (issue 14, frictions 8
 * and 12): text sizes with Chromium's extension-page default in place, one way to open a
 * group's notes, buttons that look like buttons, a heading focused after navigation
 * without a focus ring, the recovery code's words and field, a copy button that keeps
 * its size, and what restoring with a recovery code does, said before and after.
 */
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { userEvent } from 'vitest/browser';
import type { Request } from '../../src/messages/protocol.ts';
import type { GroupSummary, StatusView } from '../../src/messages/views.ts';
import { usePageCss } from './support/page-css.ts';
import { addRoot, dropRoot } from './support/mount.ts';
import { emptyStatus, groupSummary } from './support/views.ts';
import { answerDraft } from './support/drafts.ts';
import { until } from './support/wait.ts';

vi.mock('wxt/browser', () => ({
  browser: {
    runtime: {
      onMessage: { addListener: () => undefined, removeListener: () => undefined },
      openOptionsPage: () => Promise.resolve(),
      getURL: (path: string) => path,
    },
    windows: { getCurrent: () => Promise.resolve({ id: 1 }) },
    permissions: { request: () => Promise.resolve(true) },
  },
}));

const refusal = vi.hoisted(() => {
  class RequestError extends Error {
    constructor(readonly error: { code: string; message: string; action: string }) {
      super(error.message);
    }
  }
  return { RequestError };
});

/** The fake background: answers from `state`, keeps drafts like the real one. */
const state: {
  status: StatusView;
  drafts: Map<string, unknown>;
  restore: { groupId: string; returning: boolean } | { code: string; message: string; action: string };
} = { status: emptyStatus(), drafts: new Map(), restore: { groupId: 'g1', returning: false } };

vi.mock('../../src/messages/client.ts', () => ({
  RequestError: refusal.RequestError,
  ask: async (request: Request) => {
    const draft = answerDraft(state.drafts, request, true);
    if (draft) return draft.answer;
    switch (request.type) {
      case 'status':
        return structuredClone(state.status);
      case 'group.restore':
        if ('code' in state.restore) throw new refusal.RequestError(state.restore);
        return state.restore;
      case 'group.recoveryCode':
        return { groupId: request.groupId, name: 'Family', recoveryCode: 'REC1-AAAA-BBBB-CCCC', replaced: false };
      case 'device.linkState':
        return { role: 'none' };
      case 'device.list':
        return { person: 'F'.repeat(52), personShort: 'ABCDEFGHJKMNPQRS', name: 'Ana', devices: [], canLinkOthers: false, canBeLinked: false, offline: false };
      default:
        throw new Error(`unexpected ${request.type}`);
    }
  },
}));

const { App } = await import('../../src/ui/popup/App.tsx');
const { OptionsApp } = await import('../../src/ui/options/OptionsApp.tsx');
const { ErrorNotice } = await import('../../src/ui/components/ErrorNotice.tsx');
const { OutcomeNotice } = await import('../../src/ui/components/OutcomeNotice.tsx');
const { SafetyNumber } = await import('../../src/ui/components/SafetyNumber.tsx');
const { CopyButton } = await import('../../src/ui/popup/CopyButton.tsx');

const group = (fields: Partial<GroupSummary>) => groupSummary({ name: 'Family', ...fields });

let root: HTMLElement;
let removeCss: (() => void) | null = null;
const settle = () => new Promise((resolve) => setTimeout(resolve, 450));
const open = async (page = <App />, css: 'popup' | 'options' = 'popup') => {
  removeCss = usePageCss(css);
  render(page, root);
  await settle();
};
const button = (name: RegExp) => [...root.querySelectorAll('button')].find((b) => name.test(b.textContent ?? '') || name.test(b.getAttribute('aria-label') ?? ''));
const px = (element: Element, property: 'fontSize' | 'marginTop' | 'columnGap') => parseFloat(getComputedStyle(element)[property]);
const type = async (input: HTMLInputElement | HTMLTextAreaElement, text: string) => {
  input.value = text;
  input.dispatchEvent(new Event('input', { bubbles: true }));
  await new Promise((resolve) => setTimeout(resolve, 20));
};
/** A button looks like one: a visible border, or a filled background different from the page's. */
function looksLikeButton(element: HTMLElement): boolean {
  const style = getComputedStyle(element);
  const transparent = (colour: string) => colour === 'transparent' || /rgba\(.*,\s*0\)$/.test(colour);
  const border = parseFloat(style.borderTopWidth) > 0 && style.borderTopStyle !== 'none' && !transparent(style.borderTopColor);
  const page = getComputedStyle(document.body).backgroundColor;
  const filled = !transparent(style.backgroundColor) && style.backgroundColor !== page;
  return border || filled;
}

beforeEach(() => {
  state.status = emptyStatus();
  state.status.identity = { fingerprint: 'F'.repeat(52) as never, short: 'ABCDEFGHJKMNPQRS', displayName: 'Ana' };
  state.drafts.clear();
  state.restore = { groupId: 'g1', returning: false };
  root = addRoot();
});
afterEach(() => {
  dropRoot(root);
  removeCss?.();
  removeCss = null;
});

describe('text sizes (friction 12)', () => {
  it('the popup reads at 16 px despite Chromium’s 75 % for extension pages, and hints are not larger than the text', async () => {
    state.status.groups = [group({})];
    await open();
    expect(px(document.body, 'fontSize')).toBe(16);
    const text = root.querySelector('.me p')!;
    expect(px(text, 'fontSize')).toBe(16);
    button(/Restore a group with a recovery code/)!.click();
    await settle();
    const hint = root.querySelector('.hint')!;
    expect(px(hint, 'fontSize')).toBeLessThan(px(root.querySelector('.screen > p')!, 'fontSize'));
  });

  it('the options page too', async () => {
    await open(<OptionsApp />, 'options');
    expect(px(document.body, 'fontSize')).toBe(16);
    await until(() => expect(root.querySelector('#servers-heading')).not.toBeNull());
    const servers = root.querySelector('#servers-heading')!.closest('section')!;
    expect(px(servers.querySelector('.hint')!, 'fontSize')).toBeLessThan(px(servers.querySelector(':scope > p')!, 'fontSize'));
  });
});

describe('the home screen (friction 12)', () => {
  it('has one “Open notes” per group, not a second one below', async () => {
    state.status.groups = [group({})];
    await open();
    const opens = [...root.querySelectorAll('button')].filter((b) => /Open notes/.test(b.textContent ?? ''));
    expect(opens.map((b) => b.getAttribute('aria-label'))).toEqual(['Open notes of Family']);
  });

  it('the fingerprint is spaced in groups on the options page as in the popup', async () => {
    await open(<OptionsApp />, 'options');
    await until(() => expect(root.querySelector('.fingerprint')).not.toBeNull());
    const groups = [...root.querySelector('.fingerprint')!.querySelectorAll('.fingerprint-group')];
    expect(groups).toHaveLength(4);
    const gap = groups[1]!.getBoundingClientRect().left - groups[0]!.getBoundingClientRect().right;
    expect(gap).toBeGreaterThan(4);
  });

  it('a heading focused after moving to another screen takes focus without drawing a ring (controls keep theirs)', async () => {
    state.status.groups = [group({})];
    await open();
    const restore = button(/Restore a group with a recovery code/)!;
    restore.focus();
    await userEvent.keyboard('{Enter}');
    await settle();
    const heading = root.querySelector('h1')!;
    expect(heading.textContent).toBe('Restore a group');
    expect(document.activeElement).toBe(heading);
    expect(getComputedStyle(heading).outlineStyle).toBe('none');
    await userEvent.tab();
    expect(document.activeElement?.tagName).toBe('TEXTAREA');
    expect(getComputedStyle(document.activeElement!).outlineStyle).not.toBe('none');
  });
});

describe('buttons that looked like plain text (friction 12)', () => {
  it('“Dismiss”, an outcome’s close button and “Read the number aloud” look like buttons', async () => {
    removeCss = usePageCss('panel');
    render(
      <>
        <ErrorNotice error={{ code: 'internal', message: 'It failed.', action: 'Try again.' }} onDismiss={() => undefined} />
        <OutcomeNotice lines={['Done.']} onClose={() => undefined} closeLabel="Done" />
        <SafetyNumber groups={Array.from({ length: 12 }, () => '12345')} readAloud />
      </>,
      root,
    );
    await settle();
    for (const name of [/^Dismiss$/, /^Done$/, /^Read the number aloud$/]) {
      const found = button(name);
      expect(found, String(name)).toBeDefined();
      expect(looksLikeButton(found!), String(name)).toBe(true);
    }
  });

  // The recovery code is shown in the popup and, when replaced, in the side panel.
  for (const page of ['popup', 'panel'] as const) {
    it(`“Copy recovery code” keeps its size when it says “✓ Copied” (${page})`, async () => {
      removeCss = usePageCss(page);
      const writeText = vi.spyOn(navigator.clipboard, 'writeText').mockResolvedValue(undefined);
      render(<CopyButton text="REC1-AAAA" what="recovery code" />, root);
      await settle();
      const copy = button(/Copy recovery code/)!;
      const before = copy.getBoundingClientRect();
      copy.click();
      // What it shows (innerText leaves out what is not shown).
      await until(() => expect(copy.innerText.replace(/\s+/g, ' ').trim()).toBe('✓ Copied'));
      expect(writeText).toHaveBeenCalledWith('REC1-AAAA');
      const after = copy.getBoundingClientRect();
      expect(after.width).toBe(before.width);
      expect(after.height).toBe(before.height);
      writeText.mockRestore();
    });
  }
});

describe('restoring with the recovery code (frictions 8 and 12)', () => {
  const toRestore = async () => {
    await open();
    button(/Restore a group with a recovery code/)!.click();
    await settle();
    return root.querySelector('textarea')!;
  };

  it('says before restoring that this device joins as an admin everyone sees in their member list', async () => {
    await toRestore();
    expect(root.textContent).toMatch(/joins the group as an admin/);
    expect(root.textContent).toMatch(/Everyone in the group sees it in their member list/);
  });

  it('a brand-new device is not told it is a member “again”', async () => {
    state.status.groups = [group({})];
    const field = await toRestore();
    await type(field, 'REC1-AAAA');
    button(/^Restore$/)!.click();
    await until(() => expect(root.querySelector('h1')?.textContent).toBe('Group restored'));
    expect(root.textContent).toMatch(/“Family” is on this device now/);
    expect(root.textContent).not.toMatch(/again/);
    expect(root.textContent).toMatch(/joined the group as a new admin/);
    expect(root.textContent).toMatch(/tell them it was you/);
  });

  it('a device that was in the group before is told it is back', async () => {
    state.status.groups = [group({})];
    state.restore = { groupId: 'g1', returning: true };
    const field = await toRestore();
    await type(field, 'REC1-AAAA');
    button(/^Restore$/)!.click();
    await until(() => expect(root.querySelector('h1')?.textContent).toBe('Group restored'));
    expect(root.textContent).toMatch(/“Family” is back on this device/);
  });

  it('a wrong code marks the field invalid and names the error as its description', async () => {
    state.restore = { code: 'recovery-invalid', message: 'This recovery code has a typo: check it and type it again.', action: 'Check the recovery code against your recovery kit and type it again.' };
    const field = await toRestore();
    await type(field, 'REC1-AAAA');
    button(/^Restore$/)!.click();
    await until(() => expect(root.querySelector('[role=alert]')).not.toBeNull());
    expect(field.getAttribute('aria-invalid')).toBe('true');
    const described = (field.getAttribute('aria-describedby') ?? '').split(' ').map((id) => document.getElementById(id)?.textContent ?? '');
    expect(described.join(' ')).toMatch(/has a typo/);
    expect(document.activeElement).toBe(field);
    // Typing again clears the mark.
    await type(field, 'REC1-AAAB');
    expect(field.getAttribute('aria-invalid')).toBe('false');
  });
});
