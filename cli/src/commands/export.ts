/**
 * `conclave export <group> <dir>`: the group's notes as plaintext Markdown, one file per
 * note with its metadata in a front matter block, written only to this computer (the
 * directory is created mode 0700, each file 0600). Nothing is sent anywhere. The notes
 * come from one SDK listing (`changedNotes` from 0: one log sync, each note fetched once);
 * each file is the SDK's Markdown rendering (`noteMarkdown`), the one the side panel's export uses.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { noteFileName, noteMarkdown, VANISHED } from '@conclave/shared/client';
import { currentGeneration } from '@conclave/shared/crypto';
import type { Device } from '../device.ts';
import { CliError, EXIT } from '../errors.ts';
import { ensureDir, writeAtomic, writeNew } from '../files.ts';
import { openAllWithNames } from '../names.ts';
import { nameOfDevice, personOf } from '../people.ts';
import { emit } from '../output.ts';
import { resolveGroup } from '../resolve.ts';

export async function exportGroup(device: Device, ref: string, dir: string, options: { json?: boolean; force?: boolean }): Promise<void> {
  const groupId = await resolveGroup(device, ref);
  const target = resolve(dir);
  if (existsSync(target) && readdirSync(target).length > 0 && !options.force) {
    throw new CliError(EXIT.usage, `${target} is not empty: choose an empty or new directory (or pass --force to write into it).`);
  }
  // One listing: one log sync, every note fetched and opened once, bodies included.
  const { changes, notes } = await openAllWithNames(device, groupId);
  const live = notes.filter((n) => !n.deleted);
  const groupName = device.names.groupName(groupId) ?? null;
  const { state } = changes;
  ensureDir(target);
  const files: Array<{ noteId: string; file: string; title: string; version: number }> = [];
  const skipped: Array<{ noteId: string; problem: string }> = [
    ...changes.failed.filter((f) => !changes.meta.has(f.noteId)).map((f) => ({ noteId: f.noteId, problem: f.message })),
    ...changes.vanished.filter((v) => !changes.meta.has(v.noteId)).map((v) => ({ noteId: v.noteId, problem: VANISHED })),
  ];
  // Without --force nothing that exists is replaced, even a file that appeared after the check above.
  const write = options.force ? writeAtomic : writeNew;
  let done = 0;
  for (const note of live) {
    done++;
    device.progress(`exporting ${done}/${live.length}`);
    const file = noteFileName(note.title, note.noteId);
    const markdown = noteMarkdown({
      ...note,
      groupId,
      groupName,
      authorName: nameOfDevice(device, state, note.author) ?? null,
      authorFingerprint: personOf(state, note.author),
      authorDevice: note.author,
      warnings: note.warnings.map((w) => w.message),
    });
    write(join(target, file), markdown);
    files.push({ noteId: note.noteId, file, title: note.title, version: note.version });
  }
  emit(device.ctx, options.json, { groupId, name: groupName, dir: target, generation: currentGeneration(state), files, skipped }, [
    `Exported ${files.length} note${files.length === 1 ? '' : 's'} of ${groupName ? `"${groupName}"` : groupId} to ${target} (plaintext: keep it safe).`,
    ...skipped.map((s) => `Not exported: ${s.noteId} (${s.problem})`),
  ]);
}
