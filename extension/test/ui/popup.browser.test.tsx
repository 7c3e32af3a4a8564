/**
 * The popup rendered in real Chromium (vitest browser mode) against a fake
 * background: first run, the home screen's words and alarms, and the create flow's
 * recovery code that survives the popup closing.
 */
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Request } from '../../src/messages/protocol.ts';
import type { GroupSummary, StatusView } from '../../src/messages/views.ts';
import { seriousViolations } from './axe-check.ts';
import { addRoot } from './support/mount.ts';
import { emptyStatus, groupSummary } from './support/views.ts';
import { answerDraft } from './support/drafts.ts';
import { until } from './support/wait.ts';

const listeners = new Set<(message: unknown) => void>();
vi.mock('wxt/browser', () => ({
  browser: {
    runtime: {
      onMessage: { addListener: (l: (m: unknown) => void) => listeners.add(l), removeListener: (l: (m: unknown) => void) => listeners.delete(l) },
      openOptionsPage: () => Promise.resolve(),
      getURL: (path: string) => path,
    },
    windows: { getCurrent: () => Promise.resolve({ id: 1 }) },
    permissions: { request: (p: { origins: string[] }) => Promise.resolve(permission.grant(p.origins)) },
  },
}));
const permission = { asked: [] as string[][], answer: true, grant(origins: string[]) { this.asked.push(origins); return this.answer; } };

/** The fake background: answers from `state`, keeps drafts like the real one, and recovery codes until confirmed. */
const state: { status: StatusView; drafts: Map<string, unknown>; asked: Request[]; pending: Map<string, { code: string; replaced: boolean }> } = {
  status: emptyStatus(),
  drafts: new Map(),
  asked: [],
  pending: new Map(),
};
const refusal = vi.hoisted(() => {
  class RequestError extends Error {
    constructor(readonly error: { code: string; message: string; action: string }) {
      super(error.message);
    }
  }
  return { RequestError };
});
vi.mock('../../src/messages/client.ts', () => ({
  RequestError: refusal.RequestError,
  ask: async (request: Request) => {
    state.asked.push(request);
    const draft = answerDraft(state.drafts, request, true);
    if (draft) return draft.answer;
    switch (request.type) {
      case 'group.recoveryCode': {
        const pending = state.pending.get(request.groupId);
        if (!pending) throw new refusal.RequestError({ code: 'recovery-invalid', message: 'No code waits.', action: 'Nothing.' });
        const name = state.status.groups.find((g) => g.groupId === request.groupId)?.name ?? null;
        return { groupId: request.groupId, name, recoveryCode: pending.code, replaced: pending.replaced };
      }
      case 'group.replaceRecovery':
        state.pending.set(request.groupId, { code: 'REC1-NEWW-CODE-HERE', replaced: true });
        state.status.groups = state.status.groups.map((g) => (g.groupId === request.groupId ? { ...g, recoveryUnconfirmed: true, recoveryUsed: null } : g));
        return { groupId: request.groupId, name: 'Family', recoveryCode: 'REC1-NEWW-CODE-HERE', generation: 2 };
      case 'group.restore':
        return new Promise(() => undefined);
      case 'status':
        return structuredClone(state.status);
      case 'identity.create':
        state.status.identity = { fingerprint: 'F'.repeat(52) as never, short: 'ABCDEFGHJKMNPQRS', displayName: request.displayName };
        return state.status.identity;
      case 'group.create':
        state.status.groups.push(group({ groupId: 'g-new' as never, name: request.name, recoveryUnconfirmed: true }));
        state.pending.set('g-new', { code: 'REC1-AAAA-BBBB-CCCC', replaced: false });
        return { groupId: 'g-new', recoveryCode: 'REC1-AAAA-BBBB-CCCC' };
      case 'group.join':
        state.status.groups.push(
          group({
            groupId: 'g-joined' as never,
            name: null,
            role: 'member',
            hasKey: false,
            keyWait: {
              state: { phase: 'waiting', why: 'nobody-online', attempts: [] },
              holders: [
                { fingerprint: 'A'.repeat(52) as never, name: 'Ana', online: false },
                { fingerprint: 'B'.repeat(52) as never, name: 'Ben', online: false },
              ],
              updatedAt: 0,
            },
          }),
        );
        return { groupId: 'g-joined', hasKey: false, keyWait: null };
      case 'group.invite':
        return { code: 'INV1-AAAA-BBBB', link: 'conclave:join/INV1-AAAA-BBBB?from=Ana', expiresAt: Date.now() + request.expiresInMs };
      case 'settings.save':
        return { apiUrl: request.apiUrl, signalingUrl: request.signalingUrl, iceServers: request.iceServers };
      // The options page's devices area (Devices.tsx): one device, nothing linking.
      case 'device.linkState':
        return { role: 'none' };
      case 'device.list':
        return { person: 'F'.repeat(52), personShort: 'ABCDEFGHJKMNPQRS', name: state.status.identity?.displayName ?? '', devices: [], canLinkOthers: false, canBeLinked: false, offline: false };
      case 'group.confirmRecoverySaved':
        state.pending.delete(request.groupId);
        state.status.groups = state.status.groups.map((g) => ({ ...g, recoveryUnconfirmed: false }));
        return null;
      default:
        throw new Error(`unexpected ${request.type}`);
    }
  },
}));

const { App } = await import('../../src/ui/popup/App.tsx');
const { OptionsApp } = await import('../../src/ui/options/OptionsApp.tsx');
const { encodeSecretCode } = await import('../../../shared/src/crypto/secret-code.ts');

const group = (fields: Partial<GroupSummary>) => groupSummary({ name: 'Family', ...fields });

let root: HTMLElement;
const settle = () => new Promise((resolve) => setTimeout(resolve, 450));
const me = () => ({ fingerprint: 'F'.repeat(52) as never, short: 'ABCDEFGHJKMNPQRS', displayName: 'Ana' });
const open = async (page = <App />) => {
  render(page, root);
  await settle();
};
const close = () => render(null, root);
const button = (name: RegExp) => [...root.querySelectorAll('button')].find((b) => name.test(b.textContent ?? '') || name.test(b.getAttribute('aria-label') ?? ''));
/** Types into a field and lets Preact render, as a person's next keypress or click would. */
const type = async (input: HTMLInputElement | HTMLTextAreaElement, text: string) => {
  input.value = text;
  input.dispatchEvent(new Event('input', { bubbles: true }));
  await new Promise((resolve) => setTimeout(resolve, 20));
};

beforeEach(() => {
  state.status = emptyStatus();
  state.drafts.clear();
  state.pending.clear();
  state.asked = [];
  permission.asked = [];
  permission.answer = true;
  root = addRoot();
});
afterEach(() => {
  close();
  root.remove();
});

describe('popup', () => {
  it('sets up a device on first run, with a labelled name field', async () => {
    await open();
    expect(root.querySelector('h1')?.textContent).toBe('Set up this device');
    const input = root.querySelector<HTMLInputElement>('input[type=text]')!;
    expect(root.querySelector(`label[for="${input.id}"]`)?.textContent).toMatch(/Your name/);
    button(/^Set up$/)!.click();
    await settle();
    expect(root.querySelector('.field-error')?.textContent).toMatch(/Type a name/);
    await type(input, 'Ana');
    button(/^Set up$/)!.click();
    await settle();
    expect(state.asked).toContainEqual({ type: 'identity.create', displayName: 'Ana' });
    expect(root.querySelector('h1')?.textContent).toBe('Conclave');
  });

  it('shows groups with counts in words, and a named alarm with what to do', async () => {
    state.status.identity = { fingerprint: 'F'.repeat(52) as never, short: 'ABCDEFGHJKMNPQRS', displayName: 'Ana' };
    state.status.groups = [group({ unread: 2, pending: 1 }), group({ groupId: 'g2' as never, name: 'Work', role: 'member', alarm: 'The server showed an older history.' })];
    await open();
    expect(root.textContent).toContain('2 unread notes · 1 person waiting for the key');
    const alarm = root.querySelector('[role=alert]')!;
    expect(alarm.textContent).toMatch(/Danger in “Work”/);
    expect(alarm.textContent).toMatch(/What to do/);
    expect(root.querySelector('[aria-label^="This device\'s fingerprint"]')?.getAttribute('aria-label')).toBe(
      "This device's fingerprint: A B C D, E F G H, J K M N, P Q R S",
    );
    expect(button(/Invite to Family/)).toBeDefined();
    expect(button(/Invite to Work/)).toBeUndefined();
  });

  it('shows the recovery code again after the popup closes, until it is confirmed saved', async () => {
    state.status.identity = { fingerprint: 'F'.repeat(52) as never, short: 'ABCDEFGHJKMNPQRS', displayName: 'Ana' };
    await open();
    button(/Create a group/)!.click();
    await settle();
    await type(root.querySelector<HTMLInputElement>('input[type=text]')!, 'Trip');
    button(/Create the group/)!.click();
    await settle();
    expect(root.querySelector('[aria-label^="Recovery code"]')?.textContent).toBe('REC1-AAAA-BBBB-CCCC');
    // The page's draft never holds the code: the background keeps it (sealed) and hands it back.
    expect(JSON.stringify([...state.drafts.values()])).not.toContain('REC1');

    close();
    await open();
    expect(root.querySelector('h1')?.textContent).toMatch(/Save the recovery code of “Trip”/);
    expect(root.querySelector('[aria-label^="Recovery code"]')?.textContent).toBe('REC1-AAAA-BBBB-CCCC');
    button(/^Continue$/)!.click();
    await settle();
    expect(state.asked.some((r) => r.type === 'group.confirmRecoverySaved')).toBe(false);
    expect(root.querySelector('.field-error')?.textContent).toMatch(/tick this box/);

    root.querySelector<HTMLInputElement>('input[type=checkbox]')!.click();
    await settle();
    button(/^Continue$/)!.click();
    await settle();
    expect(state.asked).toContainEqual({ type: 'group.confirmRecoverySaved', groupId: 'g-new' });
    expect(root.querySelector('h1')?.textContent).toBe('Conclave');
    expect(state.drafts.has('popup.create')).toBe(false);
  });

  it('restore: the typed recovery code is never put in a draft, and is gone once the popup closes', async () => {
    state.status.identity = me();
    await open();
    button(/Restore a group with a recovery code/)!.click();
    await settle();
    const field = root.querySelector('textarea')!;
    expect(root.querySelector(`label[for="${field.id}"]`)?.textContent).toBe('Recovery code');
    const code = encodeSecretCode('recovery', { groupId: 'AAAAAAAAAAAAAAAAAAAAAA' as never, secret: new Uint8Array(16).fill(9) });
    await type(field, code);
    await settle();
    expect(root.textContent).toMatch(/not kept if this window closes/);
    close();
    const saved = state.asked.filter((r) => r.type === 'draft.save');
    expect(JSON.stringify(saved)).not.toContain(code.slice(0, 12));
    expect(JSON.stringify([...state.drafts.values()])).not.toContain('REC1');
    // Reopening comes back to the Restore screen, with an empty field.
    await open();
    expect(root.querySelector('h1')?.textContent).toBe('Restore a group');
    expect(root.querySelector('textarea')!.value).toBe('');
  });

  it('tells an admin a recovery code added a device, and replaces it from there: the new kit shows until saved', async () => {
    state.status.identity = me();
    state.status.groups = [group({ recoveryUsed: { at: Date.UTC(2026, 2, 3, 14, 5), device: 'D'.repeat(52) as never, deviceName: 'Dee', isMe: false, count: 1 } })];
    await open();
    const banner = [...root.querySelectorAll('.notice')].find((n) => /recovery code added/.test(n.textContent ?? ''))!;
    expect(banner.textContent).toMatch(/The recovery code added a device \(Dee\) as admin on .*2026/);
    const replaceButton = button(/Replace the recovery code of Family/)!;
    replaceButton.click();
    await settle();
    expect(root.querySelector('h1')?.textContent).toBe('Replace the recovery code of “Family”?');
    expect(root.textContent).toMatch(/The old recovery code stops working at once/);
    button(/^Replace the recovery code$/)!.click();
    await settle();
    await until(() => expect(root.querySelector('h1')?.textContent).toBe('Save the new recovery code of “Family”'));
    expect(root.querySelector('[aria-label^="Recovery code"]')?.textContent).toBe('REC1-NEWW-CODE-HERE');
    expect(root.textContent).toMatch(/The old recovery code no longer works/);
    expect(JSON.stringify([...state.drafts.values()])).not.toContain('REC1');

    close();
    await open();
    expect(root.querySelector('h1')?.textContent).toBe('Save the new recovery code of “Family”');
    root.querySelector<HTMLInputElement>('input[type=checkbox]')!.click();
    await settle();
    button(/^Continue$/)!.click();
    await settle();
    expect(state.asked).toContainEqual({ type: 'group.confirmRecoverySaved', groupId: 'g1' });
    expect(root.querySelector('h1')?.textContent).toBe('Conclave');
    expect(root.textContent).not.toMatch(/recovery code added/);
  });

  it('a replacement finished while the popup was closed shows the new code, never a second replacement', async () => {
    state.status.identity = me();
    state.status.groups = [group({ recoveryUnconfirmed: true })];
    state.pending.set('g1', { code: 'REC1-NEWW-CODE-HERE', replaced: true });
    state.drafts.set('popup.route', { screen: 'replace-recovery', groupId: 'g1' });
    await open();
    await until(() => expect(root.querySelector('h1')?.textContent).toBe('Save the new recovery code of “Family”'));
    expect(button(/^Replace the recovery code$/)).toBeUndefined();
    expect(state.asked.some((r) => r.type === 'group.replaceRecovery')).toBe(false);
  });

  it('joins with a pasted link, says what is wrong with a bad one, then names who it waits for', async () => {
    state.status.identity = me();
    await open();
    button(/Join with an invite/)!.click();
    await settle();
    const field = root.querySelector('textarea')!;
    expect(root.querySelector(`label[for="${field.id}"]`)?.textContent).toBe('Invite link or code');
    await type(field, 'REC1-AAAA');
    button(/^Join$/)!.click();
    await settle();
    expect(field.getAttribute('aria-invalid')).toBe('true');
    expect(root.textContent).toMatch(/This is a recovery code, not an invite/);
    // The field's error, checked with axe-core (the e2e story never types a wrong code).
    expect(await seriousViolations(root)).toEqual([]);

    const code = encodeSecretCode('invite', { groupId: 'AAAAAAAAAAAAAAAAAAAAAA' as never, secret: new Uint8Array(16) });
    await type(field, `conclave:join/${code}?from=Ana`);
    button(/^Join$/)!.click();
    await settle();
    expect(state.asked).toContainEqual({ type: 'group.join', code: `conclave:join/${code}?from=Ana` });
    expect(root.querySelector('h1')?.textContent).toBe('Waiting for the group key');
    expect(root.textContent).toContain('Waiting for Ana or Ben to come online…');
    expect(root.textContent).toContain("Asked the group's admins through the mailbox");

    // Reopening the popup resumes the wait.
    close();
    await open();
    expect(root.textContent).toContain('Waiting for Ana or Ben to come online…');
  });

  it('makes an invite and shows its code, link and QR code, until Done', async () => {
    state.status.identity = me();
    state.status.groups = [group({})];
    await open();
    button(/Invite to Family/)!.click();
    await settle();
    root.querySelector<HTMLInputElement>('input[type=checkbox]')!.click();
    await settle();
    button(/Make the invite/)!.click();
    await settle();
    expect(state.asked).toContainEqual({ type: 'group.invite', groupId: 'g1', role: 'member', expiresInMs: 86_400_000, prekeyed: true });
    expect(root.textContent).toContain('conclave:join/INV1-AAAA-BBBB?from=Ana');
    expect(root.textContent).toMatch(/trusted by link/);
    await until(() => expect(root.querySelector('img.qr')).not.toBeNull());
    const qr = root.querySelector<HTMLImageElement>('img.qr')!;
    expect(qr.alt).toMatch(/QR code/);
    expect(qr.src).toMatch(/^data:image\/svg\+xml/);

    close();
    await open();
    expect(root.textContent).toContain('INV1-AAAA-BBBB');
    button(/^Done$/)!.click();
    await settle();
    expect(root.querySelector('h1')?.textContent).toBe('Conclave');
    expect(state.drafts.has('popup.invite.g1')).toBe(false);
  });
});

describe('options', () => {
  it('shows errors next to their fields, and asks permission for a server elsewhere', async () => {
    state.status.identity = me();
    await open(<OptionsApp />);
    const api = root.querySelector<HTMLInputElement>('input[type=url]')!;
    await type(api, 'http://notes.example.org');
    button(/^Save$/)!.click();
    await settle();
    const error = document.getElementById(`${api.id}-error`);
    expect(error?.textContent).toMatch(/https/);
    expect(api.getAttribute('aria-describedby')).toContain(`${api.id}-error`);
    expect(document.activeElement).toBe(api);
    expect(await seriousViolations(root)).toEqual([]);

    permission.answer = false;
    await type(api, 'https://notes.example.org');
    button(/^Save$/)!.click();
    await settle();
    expect(permission.asked).toEqual([['https://notes.example.org/*']]);
    expect(root.querySelector('[role=alert]')?.textContent).toMatch(/permission refused/);
    expect(await seriousViolations(root)).toEqual([]);
    expect(state.asked.some((r) => r.type === 'settings.save')).toBe(false);

    permission.answer = true;
    button(/^Save$/)!.click();
    await settle();
    expect(state.asked.some((r) => r.type === 'settings.save' && r.apiUrl === 'https://notes.example.org')).toBe(true);
    expect(root.textContent).toMatch(/Saved/);
  });
});

describe('QR codes', () => {
  it('reads back the invite link from a picture of its QR code', async () => {
    const { decodeQrImage } = await import('../../src/ui/popup/qr-decode.ts');
    const qrcode = await import('qrcode');
    const link = 'https://conclave.example/join#INV1-AAAA-BBBB-CCCC';
    const canvas = document.createElement('canvas');
    await (qrcode.default ?? qrcode).toCanvas(canvas, link, { margin: 4, scale: 6 });
    const picture = await new Promise<Blob>((resolve) => canvas.toBlob((blob) => resolve(blob!), 'image/png'));
    expect(await decodeQrImage(picture)).toBe(link);
    const blank = document.createElement('canvas');
    blank.width = blank.height = 100;
    const empty = await new Promise<Blob>((resolve) => blank.toBlob((blob) => resolve(blob!), 'image/png'));
    expect(await decodeQrImage(empty)).toBeNull();
  });
});
