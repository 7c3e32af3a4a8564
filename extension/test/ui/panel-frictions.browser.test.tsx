/**
 * The side panel and popup as a person meets them (issue 14, frictions 2, 4, 5, 9, 10),
 * rendered in real Chromium against a fake background: a removed member sees the notes
 * this device kept, read-only; a "verified people only" group offers "Verify" to a
 * waiting member who must be verified, not a hand-over that fails; a member whose name
 * has not arrived says so beside their fingerprint; an empty note is not sent; a group
 * that removed this device offers to clear it, and its members offer no "Verify".
 */
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Request } from '../../src/messages/protocol.ts';
import type { GroupDetailView, ListedNoteView, MemberView } from '../../src/messages/views.ts';
import { addRoot, dropRoot } from './support/mount.ts';
import { groupDetail, groupSummary as summary, memberView } from './support/views.ts';
import { answerDraft } from './support/drafts.ts';

vi.mock('wxt/browser', () => ({
  browser: {
    runtime: { onMessage: { addListener: () => undefined, removeListener: () => undefined }, getURL: (p: string) => p },
    tabs: { create: () => Promise.resolve() },
  },
}));

const AUTHOR = 'a'.repeat(52);
const state: { asked: Request[]; drafts: Map<string, unknown>; list: ListedNoteView[] } = { asked: [], drafts: new Map(), list: [] };
vi.mock('../../src/messages/client.ts', () => ({
  RequestError: class RequestError extends Error {},
  ask: async (request: Request) => {
    state.asked.push(request);
    const draft = answerDraft(state.drafts, request);
    if (draft) return draft.answer;
    switch (request.type) {
      case 'notes.list':
        return state.list;
      case 'notes.save':
        return { saved: true, noteId: 'n9', version: 1 };
      case 'notes.read':
        return { noteId: 'n9', version: 1, title: 't', body: 'b', author: AUTHOR, authorName: 'Ana', authorTrust: 'verified', at: 1, flags: [] };
      case 'group.leave':
        return { groupId: request.groupId };
      default:
        throw new Error(`unexpected ${request.type}`);
    }
  },
}));

const { MembersView } = await import('../../src/ui/panel/MembersView.tsx');
const { NotesView } = await import('../../src/ui/panel/NotesView.tsx');
const { GroupRow } = await import('../../src/ui/popup/GroupRow.tsx');

const member = (fields: Partial<MemberView>) => memberView({ fingerprint: 'c'.repeat(52) as never, short: 'cccc dddd eeee ffff', name: 'Cleo', trust: 'unverified', online: true, ...fields });
const me = member({ fingerprint: 'm'.repeat(52) as never, short: 'mmmm nnnn oooo pppp', name: 'Ana', role: 'admin', trust: 'verified', isMe: true });
const UNNAMED = 'Member cccc dddd eeee ffff (name not known yet)';

const detail = (members: MemberView[], fields: Partial<GroupDetailView> = {}) => groupDetail({ members, ...fields });

let root: HTMLElement;
const settle = () => new Promise((r) => setTimeout(r, 30));
const until = async (check: () => boolean, what: string) => {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${root.textContent}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};
const buttons = () => [...root.querySelectorAll('button')].map((b) => b.getAttribute('aria-label') ?? b.textContent?.trim() ?? '');

beforeEach(() => {
  state.asked = [];
  state.drafts = new Map();
  state.list = [];
  root = addRoot();
});
afterEach(() => dropRoot(root));

describe('friction 4: a verified-only group offers Verify to a waiting member, not a hand-over that fails', () => {
  it('an unverified member waiting: "Verify <name>" in the notice, no "Hand over the key"', async () => {
    render(<MembersView groupId={'g1' as never} detail={detail([me, member({ waitingForKey: true, handoverSkip: 'not-verified' })])} reload={async () => undefined} />, root);
    await settle();
    const notice = root.querySelector('.notice-warn')!;
    expect(notice.textContent).toContain('Cleo is waiting for the key');
    expect(notice.textContent).toContain('This group gives the key only to people you have verified');
    expect([...notice.querySelectorAll('button')].map((b) => b.textContent?.trim())).toEqual(['Verify Cleo']);
    expect(buttons()).not.toContain('Hand over the key');
  });

  it('a verified member waiting (or a group trusted by invite link): "Hand over the key"', async () => {
    render(<MembersView groupId={'g1' as never} detail={detail([me, member({ waitingForKey: true, trust: 'verified' })])} reload={async () => undefined} />, root);
    await settle();
    expect(buttons()).toContain('Hand over the key');
    render(<MembersView groupId={'g1' as never} detail={detail([me, member({ waitingForKey: true })], { policy: 'invite-trust' })} reload={async () => undefined} />, root);
    await settle();
    expect(buttons()).toContain('Hand over the key');
  });
});

describe('who is offered "Verify" follows the background’s answer (the SDK’s hand-over rule), not a copy of it', () => {
  it('an unverified member the hand-over would still serve (entitled before this key): "Hand over the key", no "Verify"', async () => {
    render(<MembersView groupId={'g1' as never} detail={detail([me, member({ waitingForKey: true })])} reload={async () => undefined} />, root);
    await settle();
    expect(buttons()).toContain('Hand over the key');
    // Not told to verify Cleo before she gets the key (her row still offers to verify her).
    expect([...root.querySelector('.notice-warn')!.querySelectorAll('button')].map((b) => b.textContent?.trim())).toEqual(['Hand over the key']);
  });

  it('a verified member the hand-over would skip (their key changed): "Verify Cleo", no hand-over', async () => {
    render(<MembersView groupId={'g1' as never} detail={detail([me, member({ waitingForKey: true, trust: 'verified', handoverSkip: 'key-changed' })], { policy: 'invite-trust' })} reload={async () => undefined} />, root);
    await settle();
    const notice = root.querySelector('.notice-warn')!;
    expect([...notice.querySelectorAll('button')].map((b) => b.textContent?.trim())).toEqual(['Verify Cleo']);
    expect(notice.textContent).toContain('Someone whose key changed must be verified again.');
    expect(buttons()).not.toContain('Hand over the key');
  });
});

describe('friction 5: a member whose name has not arrived', () => {
  it('shows "Name not known yet" by the fingerprint and says why', async () => {
    render(<MembersView groupId={'g1' as never} detail={detail([me, member({ name: UNNAMED, nameUnknown: true })])} reload={async () => undefined} />, root);
    await settle();
    const row = [...root.querySelectorAll('li.member')][1]!;
    expect(row.querySelector('.member-name')!.textContent).toBe('Name not known yet');
    expect(row.textContent).toContain('Their name shows once their device has been online with the group’s key');
    expect(row.textContent).not.toContain('Unnamed');
    // The buttons still name them by their fingerprint.
    expect([...row.querySelectorAll('button')].map((b) => b.getAttribute('aria-label'))).toContain(`Verify ${UNNAMED}`);
  });
});

describe('friction 10: a group that removed this device', () => {
  it('its members offer no Verify, no admin actions; the group can be removed from this device', async () => {
    render(<MembersView groupId={'g1' as never} detail={detail([me, member({ trust: 'verified' })], { removed: true })} reload={async () => undefined} />, root);
    await settle();
    expect(buttons().filter((b) => /^(Verify|Make)|Cleo/.test(b))).toEqual([]);
    expect(buttons()).toContain('Remove “Harbour” from this device…');
  });

  it('the popup row offers to read what was kept and to remove the group from this device', async () => {
    let opened = 0;
    render(<GroupRow group={summary({ removed: true, hasKey: false, role: null })} onOpen={() => opened++} onInvite={() => undefined} />, root);
    await settle();
    (root.querySelector('button[aria-label="Read what you kept of Harbour"]') as HTMLButtonElement).click();
    expect(opened).toBe(1);
    const clear = [...root.querySelectorAll('button')].find((b) => b.textContent?.trim() === 'Remove “Harbour” from this device…')!;
    expect(clear).toBeDefined();
    clear.click();
    await until(() => root.textContent!.includes('Remove it from this device'), 'the confirmation');
    [...root.querySelectorAll('button')].find((b) => b.textContent?.trim() === 'Remove it from this device')!.click();
    await until(() => state.asked.some((r) => r.type === 'group.leave'), 'group.leave');
    expect(state.asked.find((r) => r.type === 'group.leave')).toEqual({ type: 'group.leave', groupId: 'g1' });
  });
});

describe('friction 2: a removed member reads what this device kept, read-only', () => {
  it('lists the kept notes, says they are read-only, and offers no new note', async () => {
    state.list = [{ ok: true, noteId: 'n1' as never, version: 1, title: 'Oars', author: AUTHOR as never, authorName: 'Ana', authorTrust: 'verified', at: Date.now(), deleted: false }];
    render(<NotesView groupId={'g1' as never} group={summary({ removed: true, hasKey: false, role: null })} route={{ view: 'notes', mode: 'list', noteId: null }} go={() => undefined} />, root);
    await until(() => root.textContent!.includes('Oars'), 'the kept list');
    expect(root.textContent).toContain('What this device kept from before you were removed: read-only');
    expect(root.textContent).not.toContain('could not be loaded');
    expect(buttons().some((b) => b.includes('New note'))).toBe(false);
  });
});

describe('friction 9: an empty note is not saved', () => {
  it('Save with no title and no text says what to do and sends nothing; the title field says what an empty title becomes', async () => {
    render(<NotesView groupId={'g1' as never} group={summary()} route={{ view: 'notes', mode: 'edit', noteId: null }} go={() => undefined} />, root);
    await until(() => root.querySelector('form.note-edit') !== null, 'the editor');
    expect(root.textContent).toContain('Optional: left empty, the first line of the text becomes the title.');
    (root.querySelector('button[type=submit]') as HTMLButtonElement).click();
    await until(() => root.textContent!.includes('Write a title or some text first.'), 'the empty-note message');
    expect(state.asked.some((r) => r.type === 'notes.save')).toBe(false);
    const title = root.querySelector('input[type=text]') as HTMLInputElement;
    expect(title.getAttribute('aria-invalid')).toBe('true');
    expect(document.activeElement).toBe(title);
  });
});
