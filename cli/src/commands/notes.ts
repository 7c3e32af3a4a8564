/** `conclave notes ls|cat|put|edit|rm`: the group's notes, read and written through the SDK. */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isEmptyNote, NoteConflictError, titleToSave, type GroupClient, type ListedNote } from '@conclave/shared/client';
import { RESERVED_TITLE_PREFIX, type GroupState } from '@conclave/shared/crypto';
import type { GroupId, NoteId } from '@conclave/shared/protocol';
import { paths, type Device } from '../device.ts';
import { CliError, EXIT, explain } from '../errors.ts';
import { FILE_MODE } from '../files.ts';
import { newEditDir } from '../edit-files.ts';
import { listWithNames } from '../names.ts';
import { nameOfDevice, personOf } from '../people.ts';
import { emit, iso, oneLine, table } from '../output.ts';
import { resolveGroup, resolveNote } from '../resolve.ts';
import { confirm } from './confirm.ts';
import { warnVisible } from '../secret-input.ts';

export interface NoteLineJson {
  noteId: NoteId;
  ok: boolean;
  title: string | null;
  version: number;
  /** The device that wrote it. */
  author: string;
  /** The person that device speaks (or spoke) for. */
  authorPerson: string;
  authorName: string | null;
  at: number | null;
  deleted: boolean;
  bodyBytes: number | null;
  warnings: string[];
  problem: string | null;
}

function lineJson(device: Device, state: GroupState, note: ListedNote): NoteLineJson {
  // Authors are devices; the name is their person's.
  const by = { author: note.author, authorPerson: personOf(state, note.author), authorName: nameOfDevice(device, state, note.author) ?? null };
  return note.ok
    ? { noteId: note.noteId, ok: true, title: note.title, version: note.version, ...by, at: note.at, deleted: note.deleted, bodyBytes: note.bodyBytes, warnings: note.warnings.map((w) => w.message), problem: null }
    : { noteId: note.noteId, ok: false, title: null, version: note.version, ...by, at: null, deleted: false, bodyBytes: null, warnings: [], problem: note.message };
}

export async function ls(device: Device, ref: string, options: { json?: boolean; deleted?: boolean }): Promise<void> {
  const groupId = await resolveGroup(device, ref);
  const { notes } = await listWithNames(device, groupId);
  const state = await (await device.client()).state(groupId);
  const shown = notes.filter((n) => options.deleted || !(n.ok && n.deleted)).map((n) => lineJson(device, state, n));
  shown.sort((a, b) => (b.at ?? 0) - (a.at ?? 0));
  emit(device.ctx, options.json, { groupId, notes: shown }, shown.length === 0
    ? ['No notes yet: `conclave notes put <group> --title "…"` writes one.']
    : table([['ID', 'TITLE', 'VERSION', 'AUTHOR', 'WRITTEN'], ...shown.map((n) => [n.noteId.slice(0, 8), n.ok ? `${n.deleted ? '(deleted) ' : ''}${n.title}` : `(cannot open: ${n.problem})`, String(n.version), n.authorName ?? n.authorPerson.slice(0, 8), n.at ? iso(n.at) : ''])]));
}

export async function cat(device: Device, ref: string, noteRef: string, options: { json?: boolean; version?: string }): Promise<void> {
  const groupId = await resolveGroup(device, ref);
  const client = await device.client();
  const noteId = await findNote(device, groupId, noteRef);
  const version = options.version === undefined ? undefined : Number(options.version);
  if (version !== undefined && (!Number.isInteger(version) || version < 1)) throw new CliError(EXIT.usage, '--version takes a version number (1, 2, …)');
  const note = await client.readNote(groupId, noteId, version);
  for (const warning of note.warnings) device.progress(`warning: ${warning.message}`);
  const state = await client.state(groupId);
  emit(device.ctx, options.json, { groupId, noteId, title: note.title, body: note.body, version: note.version, author: note.author, authorPerson: personOf(state, note.author), authorName: nameOfDevice(device, state, note.author) ?? null, at: note.at, generation: note.generation, deleted: note.deleted, warnings: note.warnings.map((w) => w.message) }, note.body);
}

/**
 * A note named by id, id prefix or title. To `write` (put --note, edit, rm, a batch
 * line), a meta note — the group's name or a member's profile, which the CLI writes
 * itself (names.ts) — is refused: overwriting it would rename the group or a member.
 */
async function findNote(device: Device, groupId: GroupId, ref: string, purpose: 'read' | 'write' = 'read'): Promise<NoteId> {
  let noteId: NoteId;
  if (/^[A-Za-z0-9_-]{22}$/.test(ref)) noteId = ref as NoteId;
  else {
    const { notes } = await listWithNames(device, groupId);
    noteId = resolveNote(notes, ref).noteId;
  }
  if (purpose === 'write') await refuseMeta(device, groupId, [noteId]);
  return noteId;
}

async function refuseMeta(device: Device, groupId: GroupId, noteIds: readonly NoteId[]): Promise<void> {
  const meta = await (await device.client()).metaNotes(groupId);
  const hit = noteIds.find((id) => meta.has(id));
  if (hit) throw new CliError(EXIT.refused, `note ${hit} keeps the group's name or a member's profile: it is not written as a note (\`conclave rename\` changes your name). Nothing was written.`);
}

function checkTitle(title: string): string {
  if (title.startsWith(RESERVED_TITLE_PREFIX)) throw new CliError(EXIT.usage, `a title may not start with "${RESERVED_TITLE_PREFIX}" (it is kept for names)`);
  return title;
}

/** Writes content as a new note, or as the next version of `noteId`, merging nothing: a conflict is reported. */
async function writeVersion(client: GroupClient, groupId: GroupId, content: { title: string; body: string }, noteId?: NoteId, currentVersion?: number): Promise<{ noteId: NoteId; version: number }> {
  // The extension's rule too (SDK note-content.ts): no empty note; an empty title takes the first line.
  if (isEmptyNote(content.title, content.body)) throw new CliError(EXIT.usage, 'this note is empty (no title and no text): nothing was written. Give it a title (--title "…") or some text.');
  const saved = { title: checkTitle(titleToSave(content.title, content.body)), body: content.body };
  try {
    return await client.writeNote(groupId, saved, noteId ? { noteId, version: (currentVersion ?? 0) + 1 } : {});
  } catch (error) {
    if (error instanceof NoteConflictError) throw new CliError(EXIT.refused, `someone saved version ${error.currentVersion} of this note meanwhile: nothing was written. Read it again (\`conclave notes cat\`) and write your change on top.`);
    throw error;
  }
}

export async function put(device: Device, ref: string, options: { title?: string; body?: string; file?: string; note?: string; batch?: boolean; json?: boolean }): Promise<void> {
  const groupId = await resolveGroup(device, ref);
  if (options.batch) return putBatch(device, groupId, options);
  const client = await device.client();
  if (options.body !== undefined) warnVisible(device.ctx, 'note body', 'pipe it in on standard input or use --file');
  const body = options.body ?? (options.file ? readBody(options.file) : await device.ctx.io.readStdin());
  let written;
  if (options.note) {
    const noteId = await findNote(device, groupId, options.note, 'write');
    const current = await client.readNote(groupId, noteId);
    written = await writeVersion(client, groupId, { title: checkTitle(options.title ?? current.title), body }, noteId, current.version);
  } else {
    if (options.title === undefined) throw new CliError(EXIT.usage, 'a new note needs a title: --title "…"');
    written = await writeVersion(client, groupId, { title: checkTitle(options.title), body });
  }
  emit(device.ctx, options.json, { groupId, ...written }, `Saved ${written.noteId} (version ${written.version}).`);
}

function readBody(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(EXIT.notFound, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/**
 * `notes put --batch`: one JSON object per line on stdin, `{"title", "body"}` for a new
 * note or `{"note": "<id>", "title"?, "body"}` for the next version of one; one JSON
 * line per note written on stdout. One process, one sign-in, one key derivation for
 * the whole batch (what a script writing many notes should use).
 */
async function putBatch(device: Device, groupId: GroupId, options: { json?: boolean }): Promise<void> {
  const client = await device.client();
  const lines = (await device.ctx.io.readStdin()).split('\n').filter((l) => l.trim() !== '');
  const items = lines.map((line, i) => {
    try {
      const item = JSON.parse(line) as { title?: unknown; body?: unknown; note?: unknown };
      if (typeof item.body !== 'string' || (item.title !== undefined && typeof item.title !== 'string') || (item.note !== undefined && typeof item.note !== 'string')) throw new Error('shape');
      if (item.note === undefined && item.title === undefined) throw new Error('title');
      return item as { title?: string; body: string; note?: string };
    } catch {
      throw new CliError(EXIT.usage, `line ${i + 1} of the batch is not {"title": "…", "body": "…"} (or {"note": "<id>", "body": "…"}): no line was written (every line is read before the first write).`);
    }
  });
  await refuseMeta(device, groupId, items.flatMap((item) => (item.note ? [item.note as NoteId] : [])));
  for (const item of items) if (item.title !== undefined) checkTitle(item.title);
  let done = 0;
  for (const item of items) {
    let written;
    try {
      if (item.note) {
        const current = await client.readNote(groupId, item.note as NoteId);
        written = await writeVersion(client, groupId, { title: checkTitle(item.title ?? current.title), body: item.body }, item.note as NoteId, current.version);
      } else {
        written = await writeVersion(client, groupId, { title: checkTitle(item.title!), body: item.body });
      }
    } catch (error) {
      if (done === 0) throw error;
      // Earlier lines were written: say so, instead of the single command's "nothing was changed".
      const { exitCode, message } = explain(error, device.server);
      const reason = message.replace(/\s*(Nothing|nothing) was (changed|written|done)\.?/g, '').replace(/[:;,]\s*$/, '');
      throw new CliError(exitCode, `line ${done + 1} of the batch failed: ${done} of ${items.length} notes were written (printed on stdout), none after it. ${reason}`);
    }
    device.ctx.io.out(`${JSON.stringify(written)}\n`);
    done++;
    if (done % 100 === 0 || done === items.length) device.progress(`${done}/${items.length} notes saved`);
  }
}

/** The text the editor sees: the title on the first line, a blank line, the body. */
function editable(title: string, body: string): string {
  return `${title}\n\n${body}`;
}

function parseEditable(text: string): { title: string; body: string } {
  const newline = text.indexOf('\n');
  const title = (newline === -1 ? text : text.slice(0, newline)).trim();
  let body = newline === -1 ? '' : text.slice(newline + 1);
  if (body.startsWith('\n')) body = body.slice(1);
  return { title, body };
}

/**
 * Opens the note in `$VISUAL` / `$EDITOR`. The plaintext sits in a file of this device's
 * state directory (tmp/, mode 0600) only while the editor runs, and is deleted after.
 */
export async function edit(device: Device, ref: string, noteRef: string, options: { json?: boolean }): Promise<void> {
  const editor = device.ctx.io.env.VISUAL || device.ctx.io.env.EDITOR;
  if (!editor) throw new CliError(EXIT.usage, 'no editor: set EDITOR (for example EDITOR=nano), or use `conclave notes put --note <note>`');
  const groupId = await resolveGroup(device, ref);
  const client = await device.client();
  const noteId = await findNote(device, groupId, noteRef, 'write');
  const current = await client.readNote(groupId, noteId);
  if (current.deleted) throw new CliError(EXIT.notFound, 'this note was deleted');
  const dir = newEditDir(paths(device.ctx.global.home).tmp);
  const file = join(dir, 'note.md');
  try {
    writeFileSync(file, editable(current.title, current.body), { mode: FILE_MODE });
    const code = await device.outsideLock(() => device.ctx.io.runEditor(editor, file));
    if (code !== 0) throw new CliError(EXIT.cancelled, `the editor exited with ${code}: nothing was saved.`);
    const next = parseEditable(readFileSync(file, 'utf8'));
    if (!next.title) throw new CliError(EXIT.usage, 'the first line (the title) is empty: nothing was saved.');
    if (next.title === current.title && next.body === current.body) {
      emit(device.ctx, options.json, { groupId, noteId, version: current.version, changed: false }, 'No change: nothing was saved.');
      return;
    }
    const written = await writeVersion(client, groupId, { title: checkTitle(next.title), body: next.body }, noteId, current.version);
    emit(device.ctx, options.json, { groupId, ...written, changed: true }, `Saved ${noteId} (version ${written.version}).`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function rm(device: Device, ref: string, noteRef: string, options: { json?: boolean }): Promise<void> {
  const groupId = await resolveGroup(device, ref);
  const client = await device.client();
  const noteId = await findNote(device, groupId, noteRef, 'write');
  const current = await client.readNote(groupId, noteId);
  if (current.deleted) throw new CliError(EXIT.notFound, 'this note is already deleted');
  await confirm(device.ctx, `Delete "${oneLine(current.title)}" for every member? Its history stays readable. [y/N] `);
  const written = await client.writeNote(groupId, { title: '', body: '' }, { noteId, version: current.version + 1, deleted: true });
  emit(device.ctx, options.json, { groupId, ...written, deleted: true }, `Deleted "${oneLine(current.title)}" (version ${written.version} is the deletion).`);
}
