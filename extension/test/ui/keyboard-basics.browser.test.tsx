/**
 * The keyboard basics (issue 14, "Keyboard"), in real Chromium with the pages' own
 * stylesheets: every control reached with Tab shows that it has focus; a dialog keeps
 * Tab and Shift+Tab inside it, starts on its safe choice, closes with Escape and gives
 * focus back to the control that opened it.
 */
import { render } from 'preact';
import { useState } from 'preact/hooks';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { page, userEvent } from 'vitest/browser';
import type { Request } from '../../src/messages/protocol.ts';
import type { GroupDetailView, GroupSummary, MemberView, StatusView } from '../../src/messages/views.ts';
import { usePageCss } from './support/page-css.ts';
import { addRoot, dropRoot } from './support/mount.ts';
import { groupDetail, groupSummary, memberView } from './support/views.ts';
import { until } from './support/wait.ts';

vi.mock('wxt/browser', () => ({
  browser: {
    runtime: {
      onMessage: { addListener: () => undefined, removeListener: () => undefined },
      openOptionsPage: () => Promise.resolve(),
      getURL: (path: string) => path,
    },
    windows: { getCurrent: () => Promise.resolve({ id: 1 }) },
    tabs: { create: () => Promise.resolve() },
    permissions: { request: () => Promise.resolve(true) },
  },
}));

const GROUP = 'AAAAAAAAAAAAAAAAAAAAAA';
const PEER = 'b'.repeat(52);

function group(fields: Partial<GroupSummary>): GroupSummary {
  return groupSummary({ groupId: GROUP as never, name: 'Family', ...fields });
}
const status: StatusView = {
  identity: { fingerprint: 'f'.repeat(52) as never, short: 'ffffgggghhhhjjjj', displayName: 'Ana' },
  groups: [group({}), group({ groupId: 'g2' as never, name: 'Work', role: 'member', unread: 2 })],
  settings: { apiUrl: 'http://127.0.0.1:8787', signalingUrl: 'http://127.0.0.1:9000', iceServers: [] },
};

vi.mock('../../src/messages/client.ts', () => ({
  RequestError: class extends Error {},
  ask: async (request: Request) => {
    switch (request.type) {
      case 'status':
        return structuredClone(status);
      case 'draft.load':
        return null;
      case 'draft.save':
      case 'draft.clear':
        return null;
      case 'notes.list':
        return notes;
      case 'device.linkState':
        return { role: 'none' };
      case 'device.list':
        return { person: 'f'.repeat(52), personShort: 'ffffgggghhhhjjjj', name: 'Ana', devices: [], canLinkOthers: true, canBeLinked: false, offline: false };
      case 'verify.info': {
        const view = { groupId: GROUP as never, peer: { fingerprint: PEER as never, short: 'bbbbccccddddeeee', name: 'Ben', trust: 'verified', devices: 1 }, safetyNumber: Array.from({ length: 12 }, () => '12345'), qrText: 'conclave-verify:1', keySide: null };
        return view;
      }
      default:
        throw new Error(`unexpected ${request.type}`);
    }
  },
}));

const { App } = await import('../../src/ui/popup/App.tsx');
const { OptionsApp } = await import('../../src/ui/options/OptionsApp.tsx');
const { VerifyApp } = await import('../../src/ui/verify/VerifyApp.tsx');
const { MembersView } = await import('../../src/ui/panel/MembersView.tsx');
let notes: unknown[] = [];
const { ConfirmDialog } = await import('../../src/ui/panel/ConfirmDialog.tsx');
const { NotesList } = await import('../../src/ui/panel/NotesList.tsx');

let root: HTMLElement;
let removeCss: (() => void) | null = null;
const settle = (ms = 450) => new Promise((resolve) => setTimeout(resolve, ms));

/** A ring (outline or box shadow) on the element, on the label it stands for, or on its card (up to 2 levels up, :focus-within). */
function showsFocus(element: Element): boolean {
  const ring = (el: Element | null) => {
    if (!el) return false;
    const style = getComputedStyle(el);
    return (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== 'none';
  };
  if (ring(element)) return true;
  if (element instanceof HTMLInputElement && element.labels?.length) return [...element.labels].some(ring);
  return ring(element.parentElement) || ring(element.parentElement?.parentElement ?? null);
}

function describeElement(element: Element): string {
  return `${element.tagName.toLowerCase()} “${(element.getAttribute('aria-label') ?? element.textContent ?? '').trim().slice(0, 40)}”`;
}

/** Tabs through every control inside `root` (at most 60 stops) and lists those that do not show focus. */
async function unringed(): Promise<string[]> {
  const missing: string[] = [];
  const seen = new Set<Element>();
  document.body.focus();
  for (let i = 0; i < 60; i++) {
    await userEvent.tab();
    const focused = document.activeElement;
    if (!focused || !root.contains(focused) || seen.has(focused)) break;
    seen.add(focused);
    if (!showsFocus(focused)) missing.push(describeElement(focused));
  }
  expect(seen.size).toBeGreaterThan(2);
  return missing;
}

function member(fields: Partial<MemberView>): MemberView {
  return memberView({ fingerprint: 'a'.repeat(52) as never, short: 'aaaabbbbccccdddd', name: 'Ben', trust: 'unverified', online: true, ...fields });
}
function detail(): GroupDetailView {
  return groupDetail({ ...group({}), members: [member({ fingerprint: 'f'.repeat(52) as never, name: 'Ana', isMe: true, role: 'admin' }), member({})] });
}

beforeEach(async () => {
  await page.viewport(800, 900);
  root = addRoot();
});
afterEach(() => {
  dropRoot(root);
  removeCss?.();
  removeCss = null;
});

describe('focus after moving to another view', () => {
  it('back in the notes list after the note in focus went away (deleted, closed): focus is on the list’s heading, not lost', async () => {
    removeCss = usePageCss('panel');
    const list = (returning: boolean) => <NotesList groupId={GROUP as never} group={group({})} canWrite go={() => undefined} lastOpened={null} returning={returning} />;
    // The panel opening keeps the browser's own starting point.
    render(list(false), root);
    await settle(100);
    expect(document.activeElement).toBe(document.body);
    render(null, root);
    // A note was read, and deleted: the button that had focus is gone.
    const gone = document.createElement('button');
    root.append(gone);
    gone.focus();
    gone.remove();
    expect(document.activeElement).toBe(document.body);
    render(list(true), root);
    await settle(100);
    const heading = root.querySelector('h2')!;
    expect(heading.textContent).toBe('Notes');
    expect(document.activeElement).toBe(heading);
    expect(getComputedStyle(heading).outlineStyle).toBe('none');
  });
});

describe('the notes list keeps no memory of its own between mounts', () => {
  it('shown first in a group (another list was shown in this page before), it keeps the browser’s starting point', async () => {
    removeCss = usePageCss('panel');
    for (const groupId of [GROUP, 'OTHERGROUPOTHERGROUP00']) {
      render(null, root);
      // Whatever had focus went away with the last view.
      const gone = document.createElement('button');
      root.append(gone);
      gone.focus();
      gone.remove();
      render(<NotesList groupId={groupId as never} group={group({})} canWrite go={() => undefined} lastOpened={null} returning={false} />, root);
      await settle(100);
      expect(document.activeElement, groupId).toBe(document.body);
    }
    render(null, root);
  });
});

describe('focus is visible on every control reached with Tab', () => {
  it('popup home', async () => {
    removeCss = usePageCss('popup');
    render(<main class="popup"><App /></main>, root);
    await until(() => expect(root.querySelector('h1')?.textContent).toBe('Conclave'));
    expect(await unringed()).toEqual([]);
  });

  it('options page', async () => {
    removeCss = usePageCss('options');
    render(<OptionsApp />, root);
    await until(() => expect(root.querySelector('#servers-heading')).not.toBeNull());
    await settle();
    expect(await unringed()).toEqual([]);
  });

  it('side panel members', async () => {
    removeCss = usePageCss('panel');
    render(<main class="panel"><MembersView groupId={GROUP as never} detail={detail()} reload={async () => undefined} /></main>, root);
    await settle(100);
    expect(await unringed()).toEqual([]);
  });

  it('side panel notes list', async () => {
    removeCss = usePageCss('panel');
    const note = (n: number) => ({ ok: true, noteId: `note-${n}`, version: 1, title: `Note ${n}`, author: 'a'.repeat(52), authorName: 'Ben', authorTrust: 'verified', at: Date.now() - n * 60_000, deleted: false });
    notes = [note(1), note(2)];
    render(<main class="panel"><NotesList groupId={GROUP as never} group={group({})} canWrite go={() => undefined} lastOpened={null} returning={false} /></main>, root);
    await until(() => expect(root.querySelectorAll('.note-row')).toHaveLength(2));
    expect(await unringed()).toEqual([]);
    notes = [];
  });

  it('verification tab', async () => {
    removeCss = usePageCss('panel');
    render(<VerifyApp search={`?group=${GROUP}&member=${PEER}`} />, root);
    await until(() => expect(root.querySelector('h1')?.textContent).toBe('Verify Ben'));
    await settle();
    expect(await unringed()).toEqual([]);
  });
});

function DialogHarness() {
  const [open, setOpen] = useState(false);
  const [done, setDone] = useState(false);
  return (
    <>
      <button type="button" onClick={() => setOpen(true)}>
        Delete note…
      </button>
      <button type="button">Something after</button>
      {done && <p>Deleted.</p>}
      <ConfirmDialog
        open={open}
        title="Delete this note?"
        confirmLabel="Delete for everyone"
        danger
        onConfirm={() => {
          setDone(true);
          setOpen(false);
        }}
        onCancel={() => setOpen(false)}
      >
        <p>Everyone in the group loses it.</p>
      </ConfirmDialog>
    </>
  );
}

describe('dialogs', () => {
  it('open on the safe choice, keep Tab and Shift+Tab inside, close with Escape and give focus back', async () => {
    removeCss = usePageCss('panel');
    render(<DialogHarness />, root);
    await settle(50);
    const opener = [...root.querySelectorAll('button')].find((b) => b.textContent === 'Delete note…')!;
    opener.focus();
    await userEvent.keyboard('{Enter}');
    await settle(50);
    const dialog = root.querySelector('dialog')!;
    expect(dialog.open).toBe(true);
    const name = (b: Element | null) => b?.textContent;
    expect(name(document.activeElement)).toBe('Cancel');
    await userEvent.tab();
    expect(name(document.activeElement)).toBe('Delete for everyone');
    await userEvent.tab();
    expect(name(document.activeElement)).toBe('Cancel');
    await userEvent.tab({ shift: true });
    expect(name(document.activeElement)).toBe('Delete for everyone');
    await userEvent.tab({ shift: true });
    expect(name(document.activeElement)).toBe('Cancel');
    expect(showsFocus(document.activeElement!)).toBe(true);

    await userEvent.keyboard('{Escape}');
    await settle(50);
    expect(dialog.open).toBe(false);
    expect(document.activeElement).toBe(opener);

    // Confirming gives focus back too.
    await userEvent.keyboard('{Enter}');
    await settle(50);
    await userEvent.tab();
    await userEvent.keyboard('{Enter}');
    await settle(50);
    expect(root.textContent).toContain('Deleted.');
    expect(dialog.open).toBe(false);
    expect(document.activeElement).toBe(opener);
  });
});
