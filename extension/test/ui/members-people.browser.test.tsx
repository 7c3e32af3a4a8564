/**
 * The members list shows people (issue 13): one row per person whatever their devices,
 * "2 devices" (read out as "Ana uses 2 devices"), "You" for this person, and "key
 * changed" explained as a different identity using a verified name, with the key
 * withheld until they are verified again.
 */
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { MemberView } from '../../src/messages/views.ts';
import { addRoot, dropRoot } from './support/mount.ts';
import { groupDetail, memberView as member } from './support/views.ts';

vi.mock('wxt/browser', async () => (await import('./support/mocks.ts')).quietBrowser);
vi.mock('../../src/messages/client.ts', async () => (await import('./support/mocks.ts')).askNothing);

const { MembersView } = await import('../../src/ui/panel/MembersView.tsx');

const detail = (members: MemberView[]) => groupDetail({ role: 'member', members });

let root: HTMLElement;
beforeEach(() => {
  root = addRoot();
});
afterEach(() => dropRoot(root));

describe('members are people', () => {
  it('one row per person, their device count, "You", and key changed in words', async () => {
    const members = [
      member({ fingerprint: 'M'.repeat(52) as never, name: 'Mo', isMe: true, devices: 2, role: 'admin' }),
      member({ devices: 2 }),
      member({ fingerprint: 'C'.repeat(52) as never, name: 'Ana', short: 'CCCCDDDDEEEEFFFF', trust: 'key-changed' }),
    ];
    render(<MembersView groupId={'g1' as never} detail={detail(members)} reload={async () => undefined} />, root);
    await new Promise((r) => setTimeout(r, 20));
    const rows = [...root.querySelectorAll('li.member')];
    expect(rows).toHaveLength(3);
    expect(rows[0]!.textContent).toMatch(/Mo \(you\).*You/);
    const counts = [...root.querySelectorAll('[data-testid=member-devices]')];
    expect(counts.map((c) => c.textContent?.trim())).toEqual(['2 devices', '2 devices']);
    expect(counts[1]!.getAttribute('aria-label')).toBe('Ana uses 2 devices');
    // One device: nothing said.
    expect(rows[2]!.querySelector('[data-testid=member-devices]')).toBeNull();
    expect(rows[2]!.textContent).toMatch(/Someone new is using the name “Ana”: this is a different identity from the Ana you verified/);
    expect(rows[2]!.textContent).toMatch(/do not get the group key from this device until you verify them again/);
  });
});
