/**
 * The side panel's members list and the verification tab as they look in real Chromium
 * (issue 14, frictions 8 and 12): the admin a recovery code added is named as such for
 * every member, "Former members" stands apart from the list above it, and the typed
 * safety number shows all 60 digits at once.
 */
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { page, userEvent } from 'vitest/browser';
import type { Request } from '../../src/messages/protocol.ts';
import type { GroupDetailView, MemberView } from '../../src/messages/views.ts';
import { usePageCss } from './support/page-css.ts';
import { addRoot, dropRoot } from './support/mount.ts';
import { groupDetail, memberView as member } from './support/views.ts';
import { until } from './support/wait.ts';

vi.mock('wxt/browser', () => ({
  browser: { runtime: { onMessage: { addListener: () => undefined, removeListener: () => undefined }, getURL: (path: string) => path }, tabs: { create: () => Promise.resolve() } },
}));

const GROUP = 'AAAAAAAAAAAAAAAAAAAAAA';
const PEER = 'b'.repeat(52);
const SAFETY = ['12345', '67890', '11111', '22222', '33333', '44444', '55555', '66666', '77777', '88888', '99999', '00000'];

const asked: Request[] = [];
vi.mock('../../src/messages/client.ts', () => ({
  RequestError: class extends Error {},
  ask: async (request: Request) => {
    asked.push(request);
    if (request.type === 'verify.confirm') return { trust: 'verified', keyWait: null };
    if (request.type === 'verify.info') {
      const view = { groupId: GROUP as never, peer: { fingerprint: PEER as never, short: 'bbbbccccddddeeee', name: 'Ben', trust: 'unverified', devices: 1 }, safetyNumber: SAFETY, qrText: 'conclave-verify:1', keySide: null };
      return view;
    }
    throw new Error(`unexpected ${request.type}`);
  },
}));

const { MembersView } = await import('../../src/ui/panel/MembersView.tsx');
const { VerifyApp } = await import('../../src/ui/verify/VerifyApp.tsx');

const detail = (members: MemberView[], departed: GroupDetailView['departed'] = []) => groupDetail({ groupId: GROUP as never, role: 'member', members, departed });

let root: HTMLElement;
let removeCss: () => void;
const settle = () => new Promise((resolve) => setTimeout(resolve, 100));
beforeEach(() => {
  removeCss = usePageCss('panel');
  root = addRoot();
});
afterEach(() => {
  dropRoot(root);
  removeCss();
});

describe('members list', () => {
  it('names the admin a recovery code added, and when, to every member (friction 8)', async () => {
    const at = Date.UTC(2026, 2, 3, 14, 5);
    const members = [member({ fingerprint: 'M'.repeat(52) as never, name: 'Mo', isMe: true }), member({ name: 'Dee', role: 'admin', trust: 'unverified', addedByRecovery: at })];
    render(<div class="panel"><MembersView groupId={GROUP as never} detail={detail(members)} reload={async () => undefined} /></div>, root);
    await settle();
    const rows = [...root.querySelectorAll('li.member')];
    expect(rows[0]!.textContent).not.toMatch(/recovery code/);
    const dee = rows[1]!;
    expect(dee.textContent).toMatch(/Added with the recovery code on .*2026/);
    expect(dee.textContent).toMatch(/If you do not know who restored the group, tell an admin/);
    // An admin is told what they can do about it themselves.
    render(null, root);
    render(<div class="panel"><MembersView groupId={GROUP as never} detail={{ ...detail(members.map((m) => (m.isMe ? { ...m, role: 'admin' as const } : m))), role: 'admin' }} reload={async () => undefined} /></div>, root);
    await settle();
    expect(root.querySelectorAll('li.member')[1]!.textContent).toMatch(/If nobody expected it, remove them and replace the recovery code/);
  });

  it('“Former members” stands apart from the list above it (friction 12)', async () => {
    const members = [member({ fingerprint: 'M'.repeat(52) as never, name: 'Mo', isMe: true }), member({})];
    render(
      <div class="panel">
        <MembersView groupId={GROUP as never} detail={detail(members, [{ fingerprint: 'C'.repeat(52) as never, name: 'Cy', how: 'left' }, { fingerprint: 'D'.repeat(52) as never, name: 'Di', how: 'removed' }])} reload={async () => undefined} />
      </div>,
      root,
    );
    await settle();
    const heading = [...root.querySelectorAll('h3')].find((h) => h.textContent === 'Former members')!;
    const above = heading.previousElementSibling!;
    const gap = heading.getBoundingClientRect().top - above.getBoundingClientRect().bottom;
    expect(gap).toBeGreaterThanOrEqual(16);
    const items = [...root.querySelectorAll('.departed-list li')];
    expect(items).toHaveLength(2);
    expect(items[1]!.getBoundingClientRect().top - items[0]!.getBoundingClientRect().bottom).toBeGreaterThanOrEqual(4);
  });
});

describe('verification tab (friction 12)', () => {
  it('the typed safety number shows all 60 digits without scrolling, and Enter checks it', async () => {
    await page.viewport(800, 900);
    render(<VerifyApp search={`?group=${GROUP}&member=${PEER}`} />, root);
    await until(() => expect(root.querySelector('h1')?.textContent).toBe('Verify Ben'));
    const field = root.querySelector<HTMLInputElement | HTMLTextAreaElement>('.typed-input')!;
    expect(root.querySelector(`label[for="${field.id}"]`)?.textContent).toBe('Their safety number');
    field.value = SAFETY.join('');
    field.dispatchEvent(new Event('input', { bubbles: true }));
    await settle();
    expect(field.value).toBe(SAFETY.join(' '));
    expect(field.scrollWidth).toBeLessThanOrEqual(field.clientWidth);
    expect(field.scrollHeight).toBeLessThanOrEqual(field.clientHeight);
    // Enter checks the number (a line break is never typed into it).
    field.focus();
    await userEvent.keyboard('{Enter}');
    await until(() => expect(asked).toContainEqual({ type: 'verify.confirm', groupId: GROUP, fingerprint: PEER, typed: SAFETY.join('') }));
  });
});
