/**
 * An open editor whose note changed underneath, in real Chromium against a fake
 * background: when the background says the group changed and the note's newest known
 * version is newer than the one being edited, the editor says who saved it (also
 * through the polite live region), keeps what was typed, and saving then shows both
 * versions to choose from. A newer version this device cannot open yet is said too,
 * in words that say so — once, through the same live region.
 */
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Request } from '../../src/messages/protocol.ts';
import type { NoteHeaderView, NoteView } from '../../src/messages/views.ts';
import { addRoot, dropRoot } from './support/mount.ts';
import { answerDraft } from './support/drafts.ts';
import { untilTrue as until } from './support/wait.ts';

const listeners = new Set<(message: unknown) => unknown>();
vi.mock('wxt/browser', () => ({
  browser: {
    runtime: {
      onMessage: { addListener: (l: (message: unknown) => unknown) => listeners.add(l), removeListener: (l: (message: unknown) => unknown) => listeners.delete(l) },
      getURL: (p: string) => p,
    },
  },
}));

const ME = 'me'.padEnd(52, 'a');
const BEN = 'ben'.padEnd(52, 'b');
const mine: NoteView = { noteId: 'n1' as never, version: 2, title: 'Tides', body: 'High water at six.', author: ME as never, authorName: 'Ana', authorTrust: 'verified' as never, at: 1, flags: [] };
const state: { asked: Request[]; header: NoteHeaderView | null; drafts: Map<string, unknown> } = { asked: [], header: null, drafts: new Map() };
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
        return state.header;
      case 'notes.save':
        return { saved: false, conflict: { mine: { title: request.title, body: request.body }, theirs: { ...mine, version: 3, body: 'High water at seven.', author: BEN, authorName: 'Ben' } } };
      default:
        throw new Error(`unexpected ${request.type}`);
    }
  },
}));

const { NoteEditor } = await import('../../src/ui/panel/NoteEditor.tsx');
const { Announcer } = await import('../../src/ui/components/Announcer.tsx');

let root: HTMLElement;
const broadcast = (groupId: string) => {
  for (const l of listeners) l({ type: 'conclave.changed', groupId });
};
const textarea = () => root.querySelector('textarea');
const live = () => root.querySelector('[aria-live="polite"]')?.textContent ?? '';

beforeEach(() => {
  state.asked = [];
  state.header = { noteId: 'n1' as never, version: 2, author: ME as never, authorName: 'Ana', isMe: true, at: 1, deleted: false, unopened: false };
  state.drafts = new Map();
  root = addRoot();
});
afterEach(() => dropRoot(root));

describe('the note editor while someone else saves', () => {
  it('says at once that a newer version was saved, keeps the text, and saving offers the choice', async () => {
    render(
      <>
        <Announcer />
        <NoteEditor groupId={'g1' as never} noteId={'n1' as never} go={() => undefined} />
      </>,
      root,
    );
    await until(() => textarea()?.value === mine.body, 'the editor');
    const box = textarea()!;
    box.value = 'High water at half past six.';
    box.dispatchEvent(new Event('input', { bubbles: true }));
    expect(root.textContent).not.toContain('changed while you were writing');

    // Another group's change: not this note's business.
    state.header = { noteId: 'n1' as never, version: 3, author: BEN as never, authorName: 'Ben', isMe: false, at: 2, deleted: false, unopened: false };
    const asked = state.asked.filter((r) => r.type === 'notes.header').length;
    broadcast('g2');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(state.asked.filter((r) => r.type === 'notes.header').length).toBe(asked);

    broadcast('g1');
    await until(() => root.textContent!.includes('This note changed while you were writing'), 'the notice');
    expect(root.textContent).toContain('Ben saved a newer version while you were writing. Your text is kept; when you save, you will choose what to keep.');
    await until(() => live().includes('Ben saved a newer version'), 'the announcement');
    expect(textarea()!.value).toBe('High water at half past six.');

    root.querySelector<HTMLButtonElement>('button[type="submit"]')!.click();
    await until(() => root.textContent!.includes('Someone else changed this note'), 'the conflict view');
    expect(root.textContent).toContain('High water at half past six.');
    expect(root.textContent).toContain('High water at seven.');
    expect(state.asked).toContainEqual(expect.objectContaining({ type: 'notes.save', baseVersion: 2, body: 'High water at half past six.' }));
  });

  it('says so when the newer version cannot be opened on this device yet, announced once', async () => {
    render(
      <>
        <Announcer />
        <NoteEditor groupId={'g1' as never} noteId={'n1' as never} go={() => undefined} />
      </>,
      root,
    );
    await until(() => textarea()?.value === mine.body, 'the editor');
    state.header = { noteId: 'n1' as never, version: 3, author: BEN as never, authorName: 'Ben', isMe: false, at: 2, deleted: false, unopened: true };
    broadcast('g1');
    const words = 'Ben saved a newer version that this device cannot open yet, while you were writing. Your text is kept';
    await until(() => root.textContent!.includes(words), 'the notice');
    expect(root.textContent).toContain('This note changed while you were writing');
    await until(() => live().includes(words), 'the announcement');
    // One live region says it; the notice itself is not a second one.
    expect(root.querySelectorAll('[aria-live], [role="status"], [role="alert"]')).toHaveLength(1);
    // Told again about the same version: asked again, but not announced again.
    let changes = 0;
    const watcher = new MutationObserver(() => void (changes += 1));
    watcher.observe(root.querySelector('[aria-live="polite"]')!, { childList: true, characterData: true, subtree: true });
    const asked = state.asked.filter((r) => r.type === 'notes.header').length;
    broadcast('g1');
    await until(() => state.asked.filter((r) => r.type === 'notes.header').length > asked, 'the header asked again');
    await new Promise((resolve) => setTimeout(resolve, 150));
    watcher.disconnect();
    expect(changes).toBe(0);
    expect(textarea()!.value).toBe(mine.body);
  });
});
