/**
 * The side panel's note editor while the group's key is briefly missing (a rotation's
 * log synced before its new box is opened: `status` answers hasKey:false for a moment),
 * in real Chromium against a fake background: the editor stays mounted — the same
 * text box, still focused, every keystroke kept — says it is waiting for the new key,
 * and keeps Save disabled until the key is back.
 */
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Request } from '../../src/messages/protocol.ts';
import type { GroupSummary, NoteView } from '../../src/messages/views.ts';
import type { Route } from '../../src/ui/panel/route.ts';
import { addRoot, dropRoot } from './support/mount.ts';
import { groupSummary } from './support/views.ts';
import { answerDraft } from './support/drafts.ts';
import { untilTrue as until } from './support/wait.ts';

vi.mock('wxt/browser', () => ({
  browser: { runtime: { onMessage: { addListener: () => undefined, removeListener: () => undefined }, getURL: (p: string) => p } },
}));

const ME = 'me'.padEnd(52, 'a');
const mine: NoteView = { noteId: 'n1' as never, version: 2, title: 'Tides', body: 'High water at six.', author: ME as never, authorName: 'Ana', authorTrust: 'verified' as never, at: 1, flags: [] };
const state: { asked: Request[]; drafts: Map<string, unknown> } = { asked: [], drafts: new Map() };
vi.mock('../../src/messages/client.ts', () => ({
  RequestError: class RequestError extends Error {},
  ask: async (request: Request) => {
    state.asked.push(request);
    const draft = answerDraft(state.drafts, request);
    if (draft) return draft.answer;
    switch (request.type) {
      case 'notes.read':
        return mine;
      case 'notes.header':
        return { noteId: 'n1', version: 2, author: ME, authorName: 'Ana', isMe: true, at: 1, deleted: false, unopened: false };
      case 'notes.list':
        return [];
      case 'notes.save':
        return { saved: true, noteId: 'n1', version: 3 };
      default:
        throw new Error(`unexpected ${request.type}`);
    }
  },
}));

const { NotesView } = await import('../../src/ui/panel/NotesView.tsx');

const group = (hasKey: boolean): GroupSummary => groupSummary({ role: 'member', hasKey });
const EDIT: Route = { view: 'notes', mode: 'edit', noteId: 'n1' };
const WAITING = "Waiting for the group's new key — your text is kept";

let root: HTMLElement;
const show = (hasKey: boolean, route: Route = EDIT) => render(<NotesView groupId={'g1' as never} group={group(hasKey)} route={route} go={() => undefined} />, root);
const type = (box: HTMLTextAreaElement, text: string) => {
  box.value = text;
  box.dispatchEvent(new Event('input', { bubbles: true }));
};
const saveButton = () => root.querySelector<HTMLButtonElement>('button[type="submit"]');

beforeEach(() => {
  state.asked = [];
  state.drafts = new Map();
  root = addRoot();
});
afterEach(() => dropRoot(root));

describe('the note editor while the key is briefly missing', () => {
  it('stays mounted and focused, keeps every keystroke, and saves only once the key is back', async () => {
    show(true);
    await until(() => root.querySelector('textarea')?.value === mine.body, 'the editor');
    const box = root.querySelector('textarea')!;
    box.focus();
    type(box, 'High water at half past six.');
    expect(saveButton()!.disabled).toBe(false);

    // The rotation's log is synced; its box is not opened yet.
    show(false);
    await until(() => root.textContent!.includes(WAITING), 'the waiting notice');
    expect(root.querySelector('textarea')).toBe(box);
    expect(document.activeElement).toBe(box);
    expect(saveButton()!.disabled).toBe(true);
    expect(saveButton()!.getAttribute('aria-describedby')).toBe(root.querySelector(`p.notice`)!.id);
    // Typing goes on meanwhile; Ctrl+Enter does not save.
    type(box, 'High water at half past six, or a little later.');
    box.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', ctrlKey: true, bubbles: true }));
    expect(state.asked.some((r) => r.type === 'notes.save')).toBe(false);

    // The key is back: same box, same text, Save works.
    show(true);
    await until(() => !root.textContent!.includes(WAITING), 'the notice gone');
    expect(root.querySelector('textarea')).toBe(box);
    expect(box.value).toBe('High water at half past six, or a little later.');
    expect(saveButton()!.disabled).toBe(false);
    saveButton()!.click();
    await until(() => state.asked.some((r) => r.type === 'notes.save'), 'the save');
    expect(state.asked.find((r) => r.type === 'notes.save')).toMatchObject({ baseVersion: 2, body: 'High water at half past six, or a little later.' });
  });

  it('a group opened without its key shows the list, not an editor (only an open editor is kept)', async () => {
    show(false);
    await until(() => root.textContent!.includes('The notes show here once this device has the group’s key.'), 'the list');
    expect(root.querySelector('textarea')).toBeNull();
    expect(state.asked.some((r) => r.type === 'notes.read')).toBe(false);
  });
});
