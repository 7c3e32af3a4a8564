/**
 * The side panel's note history and export, rendered in real Chromium against a fake
 * background: the versions newest first with author, time and key generation; one
 * opened to read; an earlier one restored after asking (the request names the version
 * and the newest the person saw); a restore that lost a race says so and shows the
 * history again. The export zips the background's Markdown files in the page and saves
 * them through a download link (the zip is read back here), and says what was left out.
 */
import { render } from 'preact';
import { unzipSync, strFromU8 } from 'fflate';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Request } from '../../src/messages/protocol.ts';
import type { ExportView, NoteHistoryView } from '../../src/messages/views.ts';
import { addRoot, dropRoot } from './support/mount.ts';
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
const broadcast = (groupId: string) => {
  for (const l of listeners) l({ type: 'conclave.changed', groupId });
};

const ANA = 'ana'.padEnd(52, 'a');
const BEN = 'ben'.padEnd(52, 'b');
const AT = Date.UTC(2026, 10, 29, 9, 59);
const history: NoteHistoryView = {
  noteId: 'n1' as never,
  versions: [
    { ok: true, version: 3, generation: 1, author: ANA as never, authorName: 'Ana', authorTrust: 'verified', at: AT + 120_000, deleted: false, title: 'Tides (spring)', body: 'High water at 07:05.' },
    { ok: false, version: 2, generation: 0, author: BEN as never, authorName: 'Ben', authorTrust: 'unverified', at: AT + 60_000, deleted: false, message: 'It cannot be decrypted — damaged or tampered.', action: "Do not trust this note; tell the group's admin." },
    { ok: true, version: 1, generation: 0, author: ANA as never, authorName: 'Ana', authorTrust: 'verified', at: AT, deleted: false, title: 'Tides', body: 'High water at 06:12.' },
  ],
};
const exported: ExportView = {
  groupName: 'Harbour Watch',
  files: [
    { name: 'tides--n1n1n1n1.md', title: 'Tides', text: '---\ntitle: "Tides"\n---\n\nHigh water at 06:12.\n' },
    { name: 'TIDES--N1N1N1N1.md', title: 'TIDES', text: '---\ntitle: "TIDES"\n---\n\nLoud.\n' },
  ],
  skipped: [{ noteId: 'n9' as never, title: 'Ferry', message: 'Written before you could have the key.', action: 'Ask its author to open it and save it again.' }],
};
const state: { asked: Request[]; restore: 'ok' | 'conflict'; newest: number } = { asked: [], restore: 'ok', newest: 3 };
vi.mock('../../src/messages/client.ts', () => {
  class RequestError extends Error {
    constructor(readonly error: { code: string; message: string; action: string }) {
      super(error.message);
    }
  }
  return {
    RequestError,
    ask: async (request: Request) => {
      state.asked.push(request);
      switch (request.type) {
        case 'notes.history':
          return history;
        case 'notes.restore':
          if (state.restore === 'conflict') {
            throw new RequestError({ code: 'conflict', message: 'Someone saved a newer version of this note since you opened its history.', action: 'Look at the history again.' });
          }
          return { noteId: request.noteId, version: 4, restoredFrom: request.version };
        case 'notes.export':
          return exported;
        case 'notes.header':
          return { noteId: request.noteId, version: state.newest, author: ANA, authorName: 'Ana', isMe: false, at: AT, deleted: false, unopened: false };
        case 'notes.read':
          return { noteId: 'n1', version: 3, title: 'Tides (spring)', body: 'High water at 07:05.', author: ANA, authorName: 'Ana', authorTrust: 'verified', at: AT, flags: [] };
        default:
          throw new Error(`unexpected ${request.type}`);
      }
    },
  };
});

const { NoteHistory } = await import('../../src/ui/panel/NoteHistory.tsx');
const { ExportNotes } = await import('../../src/ui/panel/ExportNotes.tsx');
const { NoteReader } = await import('../../src/ui/panel/NoteReader.tsx');
const { Announcer } = await import('../../src/ui/components/Announcer.tsx');

let root: HTMLElement;
const button = (name: string | RegExp) => {
  const found = [...document.querySelectorAll<HTMLButtonElement>('button')].find((b) => (typeof name === 'string' ? b.textContent!.trim() === name : name.test(b.textContent!)));
  if (!found) throw new Error(`no button ${name}`);
  return found;
};
const live = () => root.querySelector('[aria-live="polite"]')?.textContent ?? '';

beforeEach(() => {
  state.asked = [];
  state.restore = 'ok';
  state.newest = 3;
  root = addRoot();
});
afterEach(() => {
  dropRoot(root);
  vi.restoreAllMocks();
});

describe('a note’s history', () => {
  it('lists every version newest first, opens one, and restores it after asking', async () => {
    const went: unknown[] = [];
    render(
      <>
        <Announcer />
        <NoteHistory groupId={'g1' as never} noteId={'n1' as never} canWrite go={(next) => went.push(next)} />
      </>,
      root,
    );
    await until(() => root.querySelector('ol') !== null, 'the versions');
    await until(() => document.activeElement?.textContent === 'History of “Tides (spring)”', 'focus on the heading');
    const rows = [...root.querySelectorAll('ol > li')].map((li) => li.textContent!.replace(/\s+/g, ' '));
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(/^Version 3: Tides \(spring\)by Ana .*· key generation 1 · newest$/);
    expect(rows[1]).toMatch(/^Version 2: Cannot be read on this deviceby Ben .*· key generation 0$/);
    expect(rows[2]).toMatch(/^Version 1: Tidesby Ana .*· key generation 0$/);
    // Each row's button is described by its author, time and generation.
    const first = root.querySelector<HTMLButtonElement>('button[data-version="1"]')!;
    expect(document.getElementById(first.getAttribute('aria-describedby')!)!.textContent).toContain('key generation 0');

    first.click();
    await until(() => root.querySelector('#version-title') !== null, 'version 1');
    expect(document.activeElement?.id).toBe('version-title');
    expect(root.querySelector('#version-title')!.textContent).toBe('Version 1: Tides');
    expect(root.querySelector('[aria-label="Text of version 1"]')!.textContent).toBe('High water at 06:12.');

    button('Restore this version…').click();
    const dialog = root.querySelector('dialog')!;
    await until(() => dialog.open, 'the dialog');
    expect(dialog.textContent).toContain('saved as a new version (4)');
    [...dialog.querySelectorAll('button')].find((b) => b.textContent === 'Restore')!.click();
    await until(() => went.length > 0, 'the way back to the note');
    expect(state.asked).toContainEqual({ type: 'notes.restore', groupId: 'g1', noteId: 'n1', version: 1, baseVersion: 3 });
    expect(went).toEqual([{ mode: 'read', noteId: 'n1' }]);
    await until(() => live().includes('Version 1 was restored: it is now version 4.'), 'the announcement');
  });

  it('offers no restore for the newest version, one it cannot read, or without the right to write', async () => {
    render(<NoteHistory groupId={'g1' as never} noteId={'n1' as never} canWrite go={() => undefined} />, root);
    await until(() => root.querySelector('ol') !== null, 'the versions');
    root.querySelector<HTMLButtonElement>('button[data-version="3"]')!.click();
    await until(() => root.querySelector('#version-title') !== null, 'version 3');
    expect(root.textContent).toContain('This is the newest version');
    expect(root.textContent).not.toContain('Restore this version');
    button(/All versions$/).click();
    await until(() => document.activeElement === root.querySelector('button[data-version="3"]'), 'focus back on version 3');
    root.querySelector<HTMLButtonElement>('button[data-version="2"]')!.click();
    await until(() => root.querySelector('#version-title') !== null, 'version 2');
    expect(root.textContent).toContain('It cannot be decrypted — damaged or tampered.');
    expect(root.textContent).not.toContain('Restore this version');

    render(null, root);
    render(<NoteHistory groupId={'g1' as never} noteId={'n1' as never} canWrite={false} go={() => undefined} />, root);
    await until(() => root.querySelector('button[data-version="1"]') !== null, 'the versions');
    root.querySelector<HTMLButtonElement>('button[data-version="1"]')!.click();
    await until(() => root.querySelector('#version-title') !== null, 'version 1');
    expect(root.textContent).not.toContain('Restore this version');
  });

  it('says so when someone saved first, and asks for the history again', async () => {
    state.restore = 'conflict';
    render(<NoteHistory groupId={'g1' as never} noteId={'n1' as never} canWrite go={() => undefined} />, root);
    await until(() => root.querySelector('button[data-version="1"]') !== null, 'the versions');
    root.querySelector<HTMLButtonElement>('button[data-version="1"]')!.click();
    await until(() => root.querySelector('#version-title') !== null, 'version 1');
    const before = state.asked.filter((r) => r.type === 'notes.history').length;
    button('Restore this version…').click();
    [...root.querySelectorAll('dialog button')].find((b) => b.textContent === 'Restore')!.dispatchEvent(new MouseEvent('click', { bubbles: true }));
    await until(() => root.querySelector('[role="alert"]') !== null, 'the notice');
    expect(root.querySelector('[role="alert"]')!.textContent).toContain('Someone saved a newer version of this note since you opened its history.');
    await until(() => state.asked.filter((r) => r.type === 'notes.history').length > before, 'the history asked again');
  });
});

describe('a note’s history while the group changes', () => {
  it('is fetched again when the note has a newer version, not when another note changed', async () => {
    render(<NoteHistory groupId={'g1' as never} noteId={'n1' as never} canWrite go={() => undefined} />, root);
    await until(() => root.querySelector('ol') !== null, 'the versions');
    const fetched = () => state.asked.filter((r) => r.type === 'notes.history').length;
    const headers = () => state.asked.filter((r) => r.type === 'notes.header').length;
    expect(fetched()).toBe(1);
    // Another note of the group changed: this one's newest version is still 3.
    let asked = headers();
    broadcast('g1');
    await until(() => headers() > asked, 'the header asked');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fetched()).toBe(1);
    // Someone saved version 4 of this note.
    state.newest = 4;
    asked = headers();
    broadcast('g1');
    await until(() => fetched() === 2, 'the history fetched again');
    expect(headers()).toBeGreaterThan(asked);
  });
});

describe('the way to a note’s history', () => {
  it('the note offers its history, saying how many versions it has; not on a device removed from the group', async () => {
    const went: unknown[] = [];
    render(<NoteReader groupId={'g1' as never} noteId={'n1' as never} canWrite go={(next) => went.push(next)} />, root);
    await until(() => root.querySelector('.note-body') !== null, 'the note');
    button('History (3 versions)').click();
    expect(went).toEqual([{ mode: 'history', noteId: 'n1' }]);

    render(null, root);
    render(<NoteReader groupId={'g1' as never} noteId={'n1' as never} canWrite={false} canSeeHistory={false} go={() => undefined} />, root);
    await until(() => root.querySelector('.note-body') !== null, 'the note');
    expect([...root.querySelectorAll('button')].map((b) => b.textContent)).not.toContainEqual(expect.stringMatching(/History/));
  });
});

describe('export', () => {
  it('saves the Markdown files in one zip made in the page, and says what was left out', async () => {
    const saved: Array<{ href: string; download: string }> = [];
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      saved.push({ href: this.href, download: this.download });
    });
    render(
      <>
        <Announcer />
        <ExportNotes groupId={'g1' as never} />
      </>,
      root,
    );
    button('Export notes (zip)').click();
    await until(() => saved.length === 1, 'the download');
    const today = new Date();
    const day = [today.getFullYear(), today.getMonth() + 1, today.getDate()].map((n) => String(n).padStart(2, '0')).join('-');
    expect(saved[0]!.download).toBe(`harbour-watch-notes-${day}.zip`);
    expect(saved[0]!.href).toMatch(/^blob:/);
    const zip = unzipSync(new Uint8Array(await (await fetch(saved[0]!.href)).arrayBuffer()));
    // Two names that differ only in case are kept apart.
    expect(Object.keys(zip).sort()).toEqual(['TIDES--N1N1N1N1-2.md', 'tides--n1n1n1n1.md']);
    expect(strFromU8(zip['tides--n1n1n1n1.md']!)).toBe(exported.files[0]!.text);
    expect(strFromU8(zip['TIDES--N1N1N1N1-2.md']!)).toBe(exported.files[1]!.text);
    expect(root.textContent).toContain(`Saved 2 notes in harbour-watch-notes-${day}.zip`);
    // Left out for the reason each line gives: not always "cannot read" (the server may have dropped it).
    expect(root.textContent).toContain('One note was left out of the zip:');
    expect(root.textContent).not.toContain('cannot read');
    expect(root.textContent).toContain('“Ferry”: Written before you could have the key.');
    await until(() => live().includes('Saved 2 notes'), 'the announcement');
    expect(state.asked).toEqual([{ type: 'notes.export', groupId: 'g1' }]);
  });
});
