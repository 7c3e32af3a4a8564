/**
 * The SDK's persistence ports over files in the state directory (docs/CLI.md "Files"):
 *
 * - `FileKeyStore` (`KeyStore`): one file per group, `groups/<group id>.sealed`, the
 *   whole `GroupRecord` (validated log state, pinned head, seeds, evidence) serialized
 *   with Node's structured-clone format (v8) and sealed under the store key: no seed
 *   and no log in clear on disk.
 * - `FileNoteStore` (`NoteStore`): one file per group, `notes/<group id>.json`, hashes
 *   and numbers only (no title, no body, no key), as the port promises.
 * - `FilePersonStore` (`PersonStore`): this device's person — its device chain, the
 *   head it pinned and the profile it hands to a device it links — in `person.sealed`,
 *   and the chains of other people it validated, `people/<person id>.sealed`. Chains
 *   are public, but a pinned head that could be swapped on disk would let a rolled-back
 *   list of devices pass, and the profile carries the display name: sealed like the rest.
 *
 * Every write is atomic and mode 0600 (files.ts). Records are read from disk each time,
 * so two commands run one after the other always see each other's changes.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { supersedes, type GroupClientOptions, type GroupRecord, type KeyStore, type NoteStore, type SeenNote } from '@conclave/shared/client';
import type { PersonState } from '@conclave/shared/crypto';
import type { Fingerprint, GroupId, NoteId } from '@conclave/shared/protocol';
import { z } from 'zod';
import { open, seal } from './at-rest.ts';
import { CliError, EXIT } from './errors.ts';
import { readIfExists, removeFile, writeAtomic } from './files.ts';

const GROUP_ID = /^[A-Za-z0-9_-]{22}$/;

function checkId(groupId: string): string {
  // A group id names a file: refuse anything that is not one.
  if (!GROUP_ID.test(groupId)) throw new CliError(EXIT.usage, `"${groupId}" is not a group id`);
  return groupId;
}

export class FileKeyStore implements KeyStore {
  constructor(
    private readonly dir: string,
    private readonly key: Uint8Array,
  ) {}

  private path(groupId: string): string {
    return join(this.dir, `${checkId(groupId)}.sealed`);
  }

  async load(groupId: GroupId): Promise<GroupRecord | undefined> {
    const raw = readIfExists(this.path(groupId));
    if (!raw) return undefined;
    let plain: Uint8Array;
    try {
      plain = await open(this.key, `conclave-cli-group/1|${groupId}`, new Uint8Array(raw));
    } catch {
      throw new CliError(EXIT.damaged, `the file of group ${groupId} (${this.path(groupId)}) does not open: it is damaged or from another key file. Nothing was changed. Put back a backup, or restore the group with its recovery code in a new state directory.`);
    }
    return deserialize(plain) as GroupRecord;
  }

  async save(record: GroupRecord): Promise<void> {
    const sealed = await seal(this.key, `conclave-cli-group/1|${record.groupId}`, serialize(record));
    writeAtomic(this.path(record.groupId), sealed);
  }

  async remove(groupId: GroupId): Promise<void> {
    removeFile(this.path(groupId));
  }

  async groups(): Promise<GroupId[]> {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names.filter((n) => n.endsWith('.sealed') && GROUP_ID.test(n.slice(0, -7))).map((n) => n.slice(0, -7) as GroupId);
  }
}

const seenNoteSchema = z.looseObject({
  noteId: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
  version: z.number().int().min(1),
  hash: z.string(),
  generation: z.number().int().min(0),
  author: z.string().regex(/^[a-z2-7]{52}$/),
  deleted: z.boolean(),
  seenAtSeq: z.number().int().min(0),
});
const notesFileSchema = z.strictObject({ from: z.number().int().min(0), notes: z.record(z.string(), seenNoteSchema) });

interface NotesFile {
  from: number;
  notes: Record<string, SeenNote>;
}

/** What identifies one written version of a file: every atomic write makes a new inode. */
function versionOf(path: string): string | undefined {
  try {
    const stat = statSync(path, { bigint: true });
    return `${stat.ino}/${stat.mtimeNs}/${stat.size}`;
  } catch {
    return undefined;
  }
}

export class FileNoteStore implements NoteStore {
  /**
   * The parsed file per group, kept while the file on disk is the one parsed (same
   * inode, time and size): a batch of writes does not parse the whole file again for
   * every note, and a write by another process is still seen.
   */
  private readonly parsed = new Map<string, { version: string; file: NotesFile }>();

  constructor(private readonly dir: string) {}

  private path(groupId: string): string {
    return join(this.dir, `${checkId(groupId)}.json`);
  }

  private read(groupId: GroupId): NotesFile | undefined {
    const path = this.path(groupId);
    const version = versionOf(path);
    const cached = this.parsed.get(groupId);
    if (version !== undefined && cached?.version === version) return cached.file;
    const raw = readIfExists(path);
    if (!raw) return undefined;
    let file: NotesFile;
    try {
      const parsed = notesFileSchema.parse(JSON.parse(raw.toString('utf8')));
      if (Object.entries(parsed.notes).some(([id, note]) => note.noteId !== id)) throw new Error('key');
      file = parsed as unknown as NotesFile;
    } catch {
      throw new CliError(EXIT.damaged, `the notes file ${path} is damaged. Nothing was changed. Put back a backup, or delete it: this device then tracks the group's notes afresh from now on.`);
    }
    const after = versionOf(path);
    if (after !== undefined && after === version) this.parsed.set(groupId, { version: after, file });
    return file;
  }

  private write(groupId: GroupId, file: NotesFile): void {
    const path = this.path(groupId);
    this.parsed.delete(groupId);
    writeAtomic(path, JSON.stringify(file));
    const version = versionOf(path);
    if (version !== undefined) this.parsed.set(groupId, { version, file });
  }

  async trackedFrom(groupId: GroupId): Promise<number | undefined> {
    return this.read(groupId)?.from;
  }

  async track(groupId: GroupId, seq: number): Promise<void> {
    if (!this.read(groupId)) this.write(groupId, { from: seq, notes: {} });
  }

  async get(groupId: GroupId, noteIds: readonly NoteId[]): Promise<Array<SeenNote | undefined>> {
    const notes = this.read(groupId)?.notes ?? {};
    return noteIds.map((id) => (Object.hasOwn(notes, id) ? { ...notes[id]! } : undefined));
  }

  async all(groupId: GroupId): Promise<SeenNote[]> {
    return Object.values(this.read(groupId)?.notes ?? {}).map((n) => ({ ...n }));
  }

  async record(groupId: GroupId, notes: readonly SeenNote[]): Promise<void> {
    if (notes.length === 0) return;
    // A copy: the cached file changes only once the new one is on disk.
    const known = this.read(groupId);
    const file: NotesFile = known ? { from: known.from, notes: { ...known.notes } } : { from: Math.min(...notes.map((n) => n.seenAtSeq)), notes: {} };
    let changed = false;
    for (const note of notes) {
      if (supersedes(note, Object.hasOwn(file.notes, note.noteId) ? file.notes[note.noteId] : undefined)) {
        file.notes[note.noteId] = { ...note };
        changed = true;
      }
    }
    if (changed) this.write(groupId, file);
  }

  async forget(groupId: GroupId): Promise<void> {
    this.parsed.delete(groupId);
    removeFile(this.path(groupId));
  }
}

/** The SDK's port for device chains (`GroupClientOptions.people`). */
export type PersonStore = NonNullable<GroupClientOptions['people']>;
export type PersonRecord = NonNullable<Awaited<ReturnType<PersonStore['load']>>>;

const PERSON_ID = /^[a-z2-7]{52}$/;

export class FilePersonStore implements PersonStore {
  /**
   * @param ownPath `person.sealed`: this device's own person.
   * @param othersDir `people/`: one sealed file per other person whose chain was validated.
   */
  constructor(
    private readonly ownPath: string,
    private readonly othersDir: string,
    private readonly key: Uint8Array,
  ) {}

  private async openFile<T>(path: string, what: string, damaged: string): Promise<T | undefined> {
    const raw = readIfExists(path);
    if (!raw) return undefined;
    try {
      return deserialize(await open(this.key, what, new Uint8Array(raw))) as T;
    } catch {
      throw new CliError(EXIT.damaged, damaged);
    }
  }

  async load(): Promise<PersonRecord | null> {
    const record = await this.openFile<PersonRecord>(this.ownPath, 'conclave-cli-person/1', `the file of this device's person (${this.ownPath}) does not open: it is damaged or from another key file. Nothing was changed. Put back a backup; without it this device no longer knows which person it speaks for.`);
    return record ?? null;
  }

  async save(record: PersonRecord): Promise<void> {
    writeAtomic(this.ownPath, await seal(this.key, 'conclave-cli-person/1', serialize(record)));
  }

  private otherPath(person: string): string {
    // A person id names a file: refuse anything that is not one.
    if (!PERSON_ID.test(person)) throw new CliError(EXIT.usage, `"${person}" is not a person id`);
    return join(this.othersDir, `${person}.sealed`);
  }

  async known(person: Fingerprint): Promise<PersonState | undefined> {
    const path = this.otherPath(person);
    return this.openFile<PersonState>(path, `conclave-cli-people/1|${person}`, `the pinned device list of ${person} (${path}) does not open: it is damaged or from another key file. Nothing was changed. Put back a backup, or delete it: this device then pins that person's devices afresh.`);
  }

  async keep(state: PersonState): Promise<void> {
    writeAtomic(this.otherPath(state.person), await seal(this.key, `conclave-cli-people/1|${state.person}`, serialize(state)));
  }
}
