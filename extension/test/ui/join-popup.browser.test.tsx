/**
 * The popup's join and invite screens in real Chromium against a fake background
 * (issue 14): a waiting joiner can go to Verify and to the group from the popup
 * (friction 1); an invite someone already joined with says so instead of "It works
 * once…" (friction 6); in a "verified people only" group, "Let them read at once" says
 * what it gives up (friction 11).
 */
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Request } from '../../src/messages/protocol.ts';
import type { GroupSummary, StatusView } from '../../src/messages/views.ts';
import { addRoot, dropRoot } from './support/mount.ts';
import { emptyStatus as noIdentity, groupSummary } from './support/views.ts';
import { answerDraft } from './support/drafts.ts';

const opened = vi.hoisted(() => ({ tabs: [] as string[], panels: 0 }));
vi.mock('wxt/browser', () => ({
  browser: {
    runtime: {
      onMessage: { addListener: () => undefined, removeListener: () => undefined },
      openOptionsPage: () => Promise.resolve(),
      getURL: (path: string) => `chrome-extension://conclave${path}`,
    },
    windows: { getCurrent: () => Promise.resolve({ id: 1 }) },
    tabs: { create: (options: { url: string }) => Promise.resolve(void opened.tabs.push(options.url)) },
    sidePanel: { open: () => Promise.resolve(void opened.panels++) },
  },
}));

const state: { status: StatusView; drafts: Map<string, unknown>; asked: Request[]; invite: { state: 'open' | 'used' | 'expired' | 'revoked'; usedBy: string | null } } = {
  status: emptyStatus(),
  drafts: new Map(),
  asked: [],
  invite: { state: 'open', usedBy: null },
};
vi.mock('../../src/messages/client.ts', () => ({
  RequestError: class extends Error {},
  ask: async (request: Request) => {
    state.asked.push(request);
    const draft = answerDraft(state.drafts, request, true);
    if (draft) return draft.answer;
    switch (request.type) {
      case 'status':
        return structuredClone(state.status);
      case 'panel.open':
        return { groupId: request.groupId ?? null };
      case 'group.invite':
        return { code: 'INV1-AAAA-BBBB', link: 'conclave:join/INV1-AAAA-BBBB?from=Ana', expiresAt: Date.now() + request.expiresInMs };
      case 'group.inviteState':
        return structuredClone(state.invite);
      default:
        throw new Error(`unexpected ${request.type}`);
    }
  },
}));

const { App } = await import('../../src/ui/popup/App.tsx');
const { parseVerifyParams } = await import('../../src/ui/verify/logic.ts');

const G = 'AAAAAAAAAAAAAAAAAAAAAA';
const ANA = 'a'.repeat(52);
const ANA_DEVICE = 'd'.repeat(52);

function emptyStatus(): StatusView {
  return { ...noIdentity(), identity: { fingerprint: 'F'.repeat(52) as never, short: 'ABCDEFGHJKMNPQRS', displayName: 'Ben' } };
}

function group(fields: Partial<GroupSummary>): GroupSummary {
  return groupSummary({ groupId: G as never, name: 'Book club', ...fields });
}

/** Ben joined; Ana (online) refused: she has not verified him. */
function waiting(): GroupSummary {
  return group({
    name: null,
    role: 'member',
    hasKey: false,
    keyWait: {
      state: { phase: 'waiting', why: 'peers-failed', attempts: [{ peer: ANA_DEVICE as never, outcome: { kind: 'refused', reason: 'not-verified', by: 'peer', peer: ANA_DEVICE as never } }] },
      holders: [{ fingerprint: ANA_DEVICE as never, name: 'Ana', online: true }],
      updatedAt: 0,
      verifyFirst: [{ person: ANA as never, name: 'Ana' }],
    },
  });
}

let root: HTMLElement;
const settle = () => new Promise((resolve) => setTimeout(resolve, 450));
const open = async () => {
  render(<App />, root);
  await settle();
};
const button = (name: RegExp) => [...root.querySelectorAll('button')].find((b) => name.test(b.textContent ?? '') || name.test(b.getAttribute('aria-label') ?? ''));

beforeEach(() => {
  state.status = emptyStatus();
  state.drafts.clear();
  state.asked = [];
  state.invite = { state: 'open', usedBy: null };
  opened.tabs = [];
  opened.panels = 0;
  vi.spyOn(window, 'close').mockImplementation(() => undefined);
  root = addRoot();
});
afterEach(() => {
  dropRoot(root);
  vi.restoreAllMocks();
});

describe('friction 1: a waiting joiner can act from the popup', () => {
  it('the group row offers "Verify Ana" (the verification tab for Ana) and "Open the group" (the side panel)', async () => {
    state.status.groups = [waiting()];
    await open();
    expect(root.textContent).toContain('Waiting for Ana to verify you…');
    const verify = button(/^Verify Ana/)!;
    expect(verify).toBeDefined();
    expect(verify.getAttribute('aria-label')).toMatch(/^Verify Ana, for /);
    verify.click();
    await settle();
    expect(opened.tabs).toHaveLength(1);
    const url = new URL(opened.tabs[0]!);
    expect(url.pathname).toBe('/verify.html');
    // The verification tab reads back exactly that group and person.
    expect(parseVerifyParams(url.search)).toEqual({ groupId: G, fingerprint: ANA });

    button(/^Open the group/)!.click();
    await settle();
    expect(opened.panels).toBe(1);
    expect(state.asked).toContainEqual({ type: 'panel.open', groupId: G });
  });

  it('the waiting screen after joining offers the same', async () => {
    state.status.groups = [waiting()];
    state.drafts.set('popup.route', { screen: 'join' });
    state.drafts.set('popup.join', { text: '', groupId: G });
    await open();
    expect(root.querySelector('h1')?.textContent).toBe('Waiting for the group key');
    expect(button(/^Verify Ana$/)).toBeDefined();
    expect(button(/^Open the group$/)).toBeDefined();
  });

  it('a joiner who verified Ana already is told it is her turn, and can open the number to read out', async () => {
    const g = waiting();
    g.keyWait = { ...g.keyWait!, verifyFirst: [{ person: ANA as never, name: 'Ana', youVerified: true }] };
    state.status.groups = [g];
    await open();
    expect(button(/^Verify Ana/)).toBeUndefined();
    expect(button(/^Compare numbers with Ana/)).toBeDefined();
    expect(root.textContent).toMatch(/You verified Ana already: now they verify you/);
  });

  it('a joiner nobody refused (all offline) still gets "Open the group", and no Verify button for nobody', async () => {
    const g = waiting();
    g.keyWait = { ...g.keyWait!, state: { phase: 'waiting', why: 'nobody-online', attempts: [] }, verifyFirst: [] };
    state.status.groups = [g];
    await open();
    expect(button(/^Verify/)).toBeUndefined();
    expect(button(/^Open the group/)).toBeDefined();
  });
});

describe('friction 6: an invite someone already used', () => {
  it('reopened, the invite screen says who joined with it and no longer offers the link', async () => {
    state.status.groups = [group({ policy: 'verified' })];
    state.drafts.set('popup.route', { screen: 'invite', groupId: G });
    state.drafts.set(`popup.invite.${G}`, { expiry: '1d', role: 'member', prekeyed: false, result: { code: 'INV1-AAAA-BBBB', link: 'conclave:join/INV1-AAAA-BBBB?from=Ana', expiresAt: Date.now() + 3_600_000 } });
    state.invite = { state: 'used', usedBy: 'Ben' };
    await open();
    expect(state.asked).toContainEqual({ type: 'group.inviteState', groupId: G, code: 'INV1-AAAA-BBBB' });
    expect(root.textContent).toContain('Ben joined with this invite.');
    expect(root.textContent).not.toMatch(/It works once/);
    expect(root.textContent).not.toContain('conclave:join/INV1-AAAA-BBBB');
    expect(root.textContent).toMatch(/verify them/);
    expect(button(/^Make another invite$/)).toBeDefined();
  });

  it('a cancelled invite names both causes: its admin lost the role, or the device it was made on was removed', async () => {
    state.status.groups = [group({})];
    state.drafts.set('popup.route', { screen: 'invite', groupId: G });
    state.drafts.set(`popup.invite.${G}`, { expiry: '1d', role: 'member', prekeyed: false, result: { code: 'INV1-AAAA-BBBB', link: 'conclave:join/INV1-AAAA-BBBB?from=Ana', expiresAt: Date.now() + 3_600_000 } });
    state.invite = { state: 'revoked', usedBy: null };
    await open();
    expect(root.textContent).toContain('This invite was cancelled.');
    expect(root.textContent).toMatch(/no longer an admin, or the device it was made on was removed/);
  });

  it('while nobody has used it, it still says it works once', async () => {
    state.status.groups = [group({})];
    state.drafts.set('popup.route', { screen: 'invite', groupId: G });
    state.drafts.set(`popup.invite.${G}`, { expiry: '1d', role: 'member', prekeyed: false, result: { code: 'INV1-AAAA-BBBB', link: 'conclave:join/INV1-AAAA-BBBB?from=Ana', expiresAt: Date.now() + 3_600_000 } });
    await open();
    expect(root.textContent).toMatch(/It works once/);
    expect(root.textContent).toContain('conclave:join/INV1-AAAA-BBBB');
  });
});

describe('friction 11: "Let them read at once" in a group for verified people only', () => {
  it('says that it skips verification for this invite, and what that gives up', async () => {
    state.status.groups = [group({ policy: 'verified' })];
    await open();
    button(/Invite to Book club/)!.click();
    await settle();
    const box = root.querySelector<HTMLInputElement>('input[type=checkbox]')!;
    const explain = document.getElementById(box.getAttribute('aria-describedby')!)!;
    expect(explain.textContent).toMatch(/verified people only/);
    expect(explain.textContent).toMatch(/skips that check/);
    expect(explain.textContent).toMatch(/whoever opens it first reads everything/);
  });

  it('creating such a group no longer promises that a link can never be enough', async () => {
    await open();
    button(/Create a group/)!.click();
    await settle();
    expect(root.textContent).not.toMatch(/Nobody can join just by getting hold of a link/);
    expect(root.textContent).toMatch(/unless an admin chooses, for one invite, to let that person read at once/);
  });

  it('in a group trusted by invite, it keeps the plain explanation', async () => {
    state.status.groups = [group({ policy: 'invite-trust' })];
    await open();
    button(/Invite to Book club/)!.click();
    await settle();
    const box = root.querySelector<HTMLInputElement>('input[type=checkbox]')!;
    const explain = document.getElementById(box.getAttribute('aria-describedby')!)!;
    expect(explain.textContent).not.toMatch(/verified people only/);
    expect(explain.textContent).toMatch(/Anyone who gets hold of this invite can read the group/);
  });
});
