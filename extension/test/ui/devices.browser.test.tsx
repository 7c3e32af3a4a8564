/**
 * The options page's devices area (Devices.tsx) in real Chromium against a fake
 * background: "Link to my identity" on a fresh device (QR image, the code spelled out,
 * then who it joined and each group), "Link a new device" on a device already set up
 * (typed code, the fingerprint check, the report), a failed link in words, and removing
 * a device behind a confirmation with a report per group. Focus moves to each result.
 */
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Request } from '../../src/messages/protocol.ts';
import type { DevicesView, LinkStateView, RemovedDeviceView } from '../../src/messages/views.ts';
import { addRoot, dropRoot } from './support/mount.ts';

vi.mock('wxt/browser', () => ({
  browser: {
    runtime: { onMessage: { addListener: () => undefined, removeListener: () => undefined }, getURL: (path: string) => path },
  },
}));

const fake: { asked: Request[]; link: LinkStateView; list: DevicesView; onLink: (text: string) => LinkStateView; onConfirm: (accept: boolean) => LinkStateView; removed: RemovedDeviceView | null } = {
  asked: [],
  link: { role: 'none' },
  list: devices(false),
  onLink: () => ({ role: 'none' }),
  onConfirm: () => ({ role: 'none' }),
  removed: null,
};

vi.mock('../../src/messages/client.ts', () => ({
  RequestError: class extends Error {},
  ask: async (request: Request) => {
    fake.asked.push(request);
    switch (request.type) {
      case 'device.linkState':
        return structuredClone(fake.link);
      case 'device.list':
        return structuredClone(fake.list);
      case 'device.offerLink':
        fake.link = { role: 'new', phase: 'waiting', offer: { qrText: 'conclave:v3:link:AAAA', code: 'LNK1-ABCD-EFGH-JKMN-PQRS-TVWX-YZ01-2', deviceShort: 'NNNNMMMMKKKKJJJJ', expiresAt: Date.now() + 900_000 } };
        return structuredClone(fake.link);
      case 'device.cancelLink':
        fake.link = { role: 'none' };
        return fake.link;
      case 'device.link':
        fake.link = fake.onLink(request.text);
        return structuredClone(fake.link);
      case 'device.confirmLink':
        fake.link = fake.onConfirm(request.accept);
        return structuredClone(fake.link);
      case 'device.remove':
        return fake.removed;
      default:
        throw new Error(`unexpected ${request.type}`);
    }
  },
}));

const { DevicesArea } = await import('../../src/ui/options/Devices.tsx');

function devices(setUp: boolean): DevicesView {
  return {
    person: 'A'.repeat(52) as never,
    personShort: 'AAAABBBBCCCCDDDD',
    name: 'Ana',
    devices: setUp
      ? [
          { fingerprint: 'A'.repeat(52) as never, short: 'AAAABBBBCCCCDDDD', addedAt: 0, addedBy: null, thisDevice: true, removed: null },
          { fingerprint: 'P'.repeat(52) as never, short: 'PPPPQQQQRRRRSSSS', addedAt: Date.UTC(2026, 10, 29, 20), addedBy: 'this device', thisDevice: false, removed: null },
        ]
      : [{ fingerprint: 'A'.repeat(52) as never, short: 'AAAABBBBCCCCDDDD', addedAt: 0, addedBy: null, thisDevice: true, removed: null }],
    canLinkOthers: true,
    canBeLinked: !setUp,
    offline: false,
  };
}

let root: HTMLElement;
beforeEach(() => {
  root = addRoot();
  fake.asked = [];
  fake.link = { role: 'none' };
});
afterEach(() => dropRoot(root));

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 10));
}

function button(name: string | RegExp): HTMLButtonElement {
  const found = [...root.querySelectorAll('button')].find((b) => (typeof name === 'string' ? b.textContent?.trim() === name : name.test(b.textContent ?? '')));
  if (!found) throw new Error(`no button ${String(name)} in: ${root.textContent}`);
  return found;
}

describe('link to my identity (a fresh device)', () => {
  it('shows the QR image, the code spelled out and this device’s fingerprint; then who it joined and each group, with focus on it', async () => {
    fake.list = devices(false);
    render(<DevicesArea hasIdentity={false} onChanged={() => undefined} />, root);
    await settle();
    expect(root.querySelector('[data-testid=devices]')).toBeNull();
    button('Link to my identity').click();
    await settle();
    expect(fake.asked.some((r) => r.type === 'device.offerLink')).toBe(true);
    const qr = root.querySelector('svg[role=img]');
    expect(qr?.getAttribute('aria-label')).toBe('QR code to link this device to your identity');
    const code = root.querySelector('[data-testid=link-code]');
    expect(code?.textContent).toContain('LNK1-');
    // Read out one character at a time, never as a word.
    expect(code?.getAttribute('aria-label')).toBe('Link code: L N K 1, A B C D, E F G H, J K M N, P Q R S, T V W X, Y Z 0 1, 2');
    expect(root.querySelector('[aria-label^="This device\'s fingerprint"]')?.getAttribute('aria-label')).toBe("This device's fingerprint: N N N N, M M M M, K K K K, J J J J");
    expect(root.textContent).toMatch(/Waiting for your other device/);

    fake.link = { role: 'new', phase: 'linked', personShort: 'AAAABBBBCCCCDDDD', name: 'Ana', byShort: 'PPPPQQQQRRRRSSSS', groups: [{ groupId: 'g1' as never, name: 'Harbour', ok: true }, { groupId: 'g2' as never, name: null, ok: false }] };
    // The page asks again while waiting (a broadcast may be missed).
    await new Promise((r) => setTimeout(r, 2_300));
    await settle();
    const linked = root.querySelector<HTMLElement>('[data-testid=link-linked]');
    expect(linked?.textContent).toMatch(/This device is now linked to Ana/);
    expect(document.activeElement).toBe(linked);
    const groups = [...root.querySelectorAll('[data-testid=linked-group]')].map((li) => li.textContent);
    expect(groups).toEqual(['Harbour: readable now.', 'A group (its name arrives with its key): waiting for its key — it arrives when another member or your other device is online.']);
  });

  it('an expired or refused link says what happened and offers a new code', async () => {
    fake.list = devices(false);
    fake.link = { role: 'new', phase: 'failed', message: 'The link code expired (codes last 15 minutes).', action: 'Show a new code on the new device and scan or type it again.' };
    render(<DevicesArea hasIdentity={true} onChanged={() => undefined} />, root);
    await settle();
    const alert = root.querySelector('[role=alert]');
    expect(alert?.textContent).toMatch(/This device was not linked/);
    expect(alert?.textContent).toMatch(/expired/);
    expect(alert?.textContent).toMatch(/What to do: Show a new code/);
    button('Show a new code').click();
    await settle();
    expect(fake.asked.filter((r) => r.type === 'device.offerLink')).toHaveLength(1);
  });
});

describe('a first device (an identity, no groups yet)', () => {
  it('offers both: to be linked, or to link others — with a warning which is which', async () => {
    fake.list = devices(false);
    render(<DevicesArea hasIdentity={true} onChanged={() => undefined} />, root);
    await settle();
    expect(root.querySelector('[data-testid=link-to-identity]')).not.toBeNull();
    expect(root.querySelector('[data-testid=link-new-device]')).not.toBeNull();
    expect(root.querySelector('[data-testid=link-new-device-first]')?.textContent).toMatch(/If this is the new device, use “Link to my identity” above instead/);
    // While this device shows its own code, it does not offer to link others.
    button('Link to my identity').click();
    await settle();
    expect(root.querySelector('[data-testid=link-new-device]')).toBeNull();
  });
});

describe('link a new device (a device already set up)', () => {
  it('a typed code asks for the fingerprint check, then reports per group', async () => {
    fake.list = devices(true);
    fake.onLink = () => ({ role: 'existing', phase: 'confirm', deviceShort: 'NNNNMMMMKKKKJJJJ', myShort: 'AAAABBBBCCCCDDDD' });
    fake.onConfirm = (accept) =>
      accept ? { role: 'existing', phase: 'done', deviceShort: 'NNNNMMMMKKKKJJJJ', groups: [{ groupId: 'g1' as never, name: 'Harbour', ok: true }, { groupId: 'g2' as never, name: 'Attic', ok: false, message: 'The group kept changing meanwhile: it is updated at its next sync.' }] } : { role: 'none' };
    render(<DevicesArea hasIdentity={true} onChanged={() => undefined} />, root);
    await settle();
    expect(root.querySelector('[data-testid=link-to-identity]')).toBeNull();
    // Nothing typed: said next to the field, focus on it.
    root.querySelector<HTMLButtonElement>('button[aria-label="Link the new device"]')!.click();
    await settle();
    expect(root.textContent).toMatch(/Type the code first, or scan the QR code/);
    const input = root.querySelector<HTMLInputElement>('input[placeholder="LNK1-…"]')!;
    expect(document.activeElement).toBe(input);
    expect(root.querySelector(`label[for="${input.id}"]`)?.textContent).toBe('Or type the code the new device shows');
    input.value = 'LNK1-ABCD-EFGH';
    input.dispatchEvent(new Event('input', { bubbles: true }));
    await settle();
    root.querySelector<HTMLButtonElement>('button[aria-label="Link the new device"]')!.click();
    await settle();
    expect(fake.asked).toContainEqual({ type: 'device.link', text: 'LNK1-ABCD-EFGH' });
    const step = root.querySelector<HTMLElement>('[data-testid=link-confirm]');
    expect(document.activeElement).toBe(step);
    expect(step?.textContent).toMatch(/About to add this device to your identity/);
    expect(step?.querySelector('[aria-label^="The new device\'s fingerprint"]')?.getAttribute('aria-label')).toBe("The new device's fingerprint: N N N N, M M M M, K K K K, J J J J");
    button('Yes, the fingerprints match: link it').click();
    await settle();
    expect(fake.asked).toContainEqual({ type: 'device.confirmLink', accept: true });
    const report = root.querySelector<HTMLElement>('[data-testid=link-report]');
    expect(document.activeElement).toBe(report);
    expect([...report!.querySelectorAll('[data-testid=linked-group]')].map((li) => li.textContent)).toEqual(['Harbour: key handed over.', 'Attic: The group kept changing meanwhile: it is updated at its next sync.']);
  });

  it('a link that failed says what happened and what to do', async () => {
    fake.list = devices(true);
    fake.onLink = () => ({ role: 'existing', phase: 'failed', message: 'The new device does not know this code, so the link was stopped.', action: 'Check the code letter by letter, or scan the QR code instead.' });
    render(<DevicesArea hasIdentity={true} onChanged={() => undefined} />, root);
    await settle();
    const input = root.querySelector<HTMLInputElement>('input[placeholder="LNK1-…"]')!;
    input.value = 'LNK1-WRONG';
    input.dispatchEvent(new Event('input', { bubbles: true }));
    await settle();
    root.querySelector<HTMLButtonElement>('button[aria-label="Link the new device"]')!.click();
    await settle();
    const alert = root.querySelector('[role=alert]');
    expect(alert?.textContent).toMatch(/The device was not linked/);
    expect(alert?.textContent).toMatch(/does not know this code/);
    expect(alert?.textContent).toMatch(/What to do: Check the code letter by letter/);
  });
});

describe('the device list', () => {
  it('lists devices with who added them; removing one asks first, says every key changes, then reports per group', async () => {
    fake.list = devices(true);
    fake.removed = { device: 'P'.repeat(52) as never, deviceShort: 'PPPPQQQQRRRRSSSS', groups: [{ groupId: 'g1' as never, name: 'Harbour', ok: true }] };
    render(<DevicesArea hasIdentity={true} onChanged={() => undefined} />, root);
    await settle();
    const rows = [...root.querySelectorAll('[data-testid=device-row]')];
    expect(rows.map((r) => r.getAttribute('data-this-device'))).toEqual(['true', 'false']);
    expect(rows[0]!.textContent).toMatch(/This device.*your first device/);
    expect(rows[1]!.textContent).toMatch(/by this device/);
    // What losing every device means, in words (issue 13).
    expect(root.querySelector('[data-testid=devices]')!.textContent).toMatch(/If you lose every one of them, nobody can bring your identity back.*invite you again.*remove your old identity/);
    // The device in use has no remove button; the other one does, named for screen readers.
    expect(rows[0]!.querySelector('button')).toBeNull();
    const remove = rows[1]!.querySelector<HTMLButtonElement>('button')!;
    // The accessible name holds the visible words, then which device.
    expect(remove.getAttribute('aria-label')).toBe('Remove this device (PPPPQQQQRRRRSSSS)…');
    remove.click();
    await settle();
    const dialog = document.querySelector('dialog[open]');
    expect(dialog?.textContent).toMatch(/Remove device PPPPQQQQRRRRSSSS\?/);
    expect(dialog?.textContent).toMatch(/The key of every group you are in is changed, so that device cannot read anything written from now on/);
    expect(fake.asked.some((r) => r.type === 'device.remove')).toBe(false);
    [...dialog!.querySelectorAll('button')].find((b) => b.textContent === "Remove and change every group's key")!.click();
    await settle();
    expect(fake.asked).toContainEqual({ type: 'device.remove', device: 'P'.repeat(52) });
    const report = root.querySelector<HTMLElement>('[data-testid=device-removed-report]');
    expect(report?.textContent).toMatch(/Device PPPPQQQQRRRRSSSS removed/);
    expect(report?.textContent).toMatch(/Harbour: new key — the removed device cannot read anything written from now on/);
    expect(document.activeElement).toBe(report);
  });
});
