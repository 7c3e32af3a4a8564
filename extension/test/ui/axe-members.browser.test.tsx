/**
 * axe-core on the members list as an admin sees it (issue 14, "Checked by machine"): the
 * e2e story found its role buttons read out as "Make Ana an admin" while they show
 * "Make admin" (WCAG 2.5.3, label in name: a person using speech control says what they
 * see). Checked here in real Chromium, in a second, for every row's buttons.
 */
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { MemberView } from '../../src/messages/views.ts';
import { seriousViolations } from './axe-check.ts';
import { addRoot, dropRoot } from './support/mount.ts';
import { groupDetail, memberView as member } from './support/views.ts';

vi.mock('wxt/browser', async () => (await import('./support/mocks.ts')).quietBrowser);
vi.mock('../../src/messages/client.ts', async () => (await import('./support/mocks.ts')).askNothing);

const { MembersView } = await import('../../src/ui/panel/MembersView.tsx');

const detail = (members: MemberView[]) => groupDetail({ members });

let root: HTMLElement;
beforeEach(() => {
  root = addRoot('main');
});
afterEach(() => dropRoot(root));

describe('the members list, checked with axe-core', () => {
  it('an admin’s view has no serious or critical violation, and each button’s spoken name starts with the words it shows', async () => {
    const members = [
      member({ fingerprint: 'M'.repeat(52) as never, name: 'Mo', isMe: true, role: 'admin' }),
      member({ name: 'Ana', role: 'admin' }),
      member({ fingerprint: 'B'.repeat(52) as never, short: 'BBBBCCCCDDDDEEEE', name: 'Ben', trust: 'unverified', waitingForKey: true }),
    ];
    render(<MembersView groupId={'g1' as never} detail={detail(members)} reload={async () => undefined} />, root);
    await new Promise((r) => setTimeout(r, 50));
    const buttons = [...root.querySelectorAll('li.member button')];
    expect(buttons.length).toBeGreaterThanOrEqual(6);
    for (const button of buttons) {
      const shown = (button.textContent ?? '').replace(/[…\s]+$/, '').trim();
      expect(button.getAttribute('aria-label') ?? shown).toMatch(new RegExp(`^${shown}`));
    }
    expect(await seriousViolations(root)).toEqual([]);
  });
});
