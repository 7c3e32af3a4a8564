/**
 * The side panel's group key and recovery code section (KeyCare) in real Chromium,
 * against a fake background: what admins and members are told (a recovery code used
 * and not replaced, a rotation owed since someone left, a broken key named by its
 * maker), and the remedies behind plain-word confirmations, with the new recovery kit
 * shown until it is confirmed saved.
 */
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Request } from '../../src/messages/protocol.ts';
import type { GroupDetailView, KeyHealthView } from '../../src/messages/views.ts';
import { addRoot, dropRoot } from './support/mount.ts';
import { groupDetail } from './support/views.ts';

vi.mock('wxt/browser', () => ({
  browser: { runtime: { onMessage: { addListener: () => undefined, removeListener: () => undefined }, getURL: (p: string) => p } },
}));
const state: { asked: Request[]; pending: string | null } = { asked: [], pending: null };
vi.mock('../../src/messages/client.ts', () => ({
  RequestError: class RequestError extends Error {},
  ask: async (request: Request) => {
    state.asked.push(request);
    switch (request.type) {
      case 'group.rotateKey':
        return { generation: 3, unreachable: 1 };
      case 'group.replaceRecovery':
        state.pending = 'REC1-FRSH-CODE';
        return { groupId: request.groupId, name: 'Family', recoveryCode: 'REC1-FRSH-CODE', generation: 3 };
      case 'group.recoveryCode':
        return { groupId: request.groupId, name: 'Family', recoveryCode: state.pending, replaced: true };
      case 'group.confirmRecoverySaved':
        state.pending = null;
        return { groupId: request.groupId };
      default:
        throw new Error(`unexpected ${request.type}`);
    }
  },
}));

const { KeyCare } = await import('../../src/ui/panel/KeyCare.tsx');

const AT = Date.UTC(2026, 2, 3, 14, 5);
function detail(fields: Partial<GroupDetailView>, health: Partial<KeyHealthView> = {}): GroupDetailView {
  return groupDetail({ name: 'Family', generation: 2, keyHealth: { owedRotation: null, faults: [], canRepair: false, ...health }, ...fields });
}

let root: HTMLElement;
const settle = () => new Promise((resolve) => setTimeout(resolve, 100));
const button = (name: RegExp) => [...root.querySelectorAll('button')].find((b) => name.test(b.textContent ?? '') || name.test(b.getAttribute('aria-label') ?? ''));
const dialog = () => [...root.querySelectorAll('dialog')].find((d) => d.open);
const show = async (view: GroupDetailView, showActions = true) => {
  const reloads = { count: 0 };
  render(<KeyCare group={view} detail={view} reload={async () => void reloads.count++} showActions={showActions} />, root);
  await settle();
  return reloads;
};

beforeEach(() => {
  state.asked = [];
  state.pending = null;
  root = addRoot();
});
afterEach(() => dropRoot(root));

describe('the group key and recovery code in the side panel', () => {
  it("tells an admin the key was not rotated since someone left and that a key is broken, named by its maker; Repair asks first, then works", async () => {
    const reloads = await show(
      detail({}, { owedRotation: { name: 'Zed', at: AT }, faults: [{ generation: 2, authorName: 'Mallory', at: AT, kind: 'bad-link', reason: 'it does not lead back to the keys before it' }], canRepair: true }),
      false,
    );
    expect(root.textContent).toMatch(/The key has not been rotated since Zed left/);
    expect(root.querySelector('[role=alert]')!.textContent).toMatch(/The key made by Mallory’s device on .*2026.* is broken: it does not lead back/);
    button(/^Repair…$/)!.click();
    await settle();
    expect(dialog()!.querySelector('h2')!.textContent).toBe('Repair the group key?');
    expect(dialog()!.textContent).toMatch(/continues from the newest key that works/);
    expect(state.asked).toEqual([]);
    button(/^Repair the key$/)!.click();
    await settle();
    expect(state.asked).toEqual([{ type: 'group.rotateKey', groupId: 'g1' }]);
    expect(root.textContent).toMatch(/A new key was started/);
    expect(root.textContent).toMatch(/could not yet be sealed to 1 member/);
    expect(reloads.count).toBe(1);
  });

  it('a member is told too, without the admin buttons', async () => {
    await show(detail({ role: 'member' }, { owedRotation: { name: 'Zed', at: AT }, faults: [{ generation: 2, authorName: 'Mallory', at: AT, kind: 'bad-seed', reason: 'x' }], canRepair: false }));
    expect(root.textContent).toMatch(/not been rotated since Zed left/);
    expect(root.textContent).toMatch(/Tell an admin of the group/);
    expect(button(/Repair|Rotate|Replace/)).toBeUndefined();
  });

  it('an admin told that the recovery code added a device replaces it: a confirmation in plain words, then the new kit until saved', async () => {
    await show(detail({ recoveryUsed: { at: AT, device: 'D'.repeat(52) as never, deviceName: 'Dee', isMe: false, count: 2 } }));
    expect(root.textContent).toMatch(/The recovery code added a device \(Dee\) as admin on .*2026/);
    expect(root.textContent).toMatch(/used 2 times/);
    button(/^Replace the recovery code…$/)!.click();
    await settle();
    expect(dialog()!.querySelector('h2')!.textContent).toBe('Replace the recovery code of “Family”?');
    expect(dialog()!.textContent).toMatch(/old recovery code stops working at once/);
    button(/^Replace the recovery code$/)!.click();
    await settle();
    expect(state.asked).toContainEqual({ type: 'group.replaceRecovery', groupId: 'g1' });
    expect(root.querySelector('h1')!.textContent).toBe('Save the new recovery code of “Family”');
    expect(root.querySelector('[aria-label^="Recovery code"]')!.textContent).toBe('REC1-FRSH-CODE');
    root.querySelector<HTMLInputElement>('input[type=checkbox]')!.click();
    await settle();
    button(/^Continue$/)!.click();
    await settle();
    expect(state.asked).toContainEqual({ type: 'group.confirmRecoverySaved', groupId: 'g1' });
    expect(root.querySelector('h1')).toBeNull();
  });

  it('a replaced code not yet saved comes back after the panel closed, asked of the background', async () => {
    state.pending = 'REC1-FRSH-CODE';
    await show(detail({ recoveryUnconfirmed: true }));
    button(/^Show the recovery code$/)!.click();
    await settle();
    expect(state.asked).toContainEqual({ type: 'group.recoveryCode', groupId: 'g1' });
    expect(root.querySelector('[aria-label^="Recovery code"]')!.textContent).toBe('REC1-FRSH-CODE');
  });

  it('the admin section offers both remedies by name; rotating asks first', async () => {
    await show(detail({}));
    expect(root.querySelector('#key-actions-heading')!.textContent).toBe('Group key and recovery code');
    button(/^Rotate the key now…$/)!.click();
    await settle();
    expect(dialog()!.querySelector('h2')!.textContent).toBe('Start a new group key now?');
    button(/^Cancel$/)!.click();
    await settle();
    expect(dialog()).toBeUndefined();
    expect(state.asked).toEqual([]);
  });
});
