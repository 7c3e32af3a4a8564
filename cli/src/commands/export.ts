/**
 * `conclave export <group> <dir>`: the group's notes as plaintext Markdown, one file per
 * note with its metadata in a front matter block, written only to this computer (the
 * directory is created mode 0700, each file 0600). Nothing is sent anywhere. The notes
 * come from one SDK listing (`changedNotes` from 0: one log sync, each note fetched once).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { VANISHED } from '@conclave/shared/client';
import { currentGeneration } from '@conclave/shared/crypto';
import type { Device } from '../device.ts';
import { CliError, EXIT } from '../errors.ts';
import { ensureDir, writeAtomic, writeNew } from '../files.ts';
import { openAllWithNames } from '../names.ts';
import { nameOfDevice, personOf } from '../people.ts';
import { emit, iso } from '../output.ts';
import { resolveGroup } from '../resolve.ts';

/** A file name from a title: letters, digits and dashes, then the id's start so two equal titles never collide. */
export function fileNameFor(title: string, noteId: string): string {
  const slug = title
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60);
  return `${slug || 'note'}--${noteId.slice(0, 8)}.md`;
}

/** A YAML scalar that reads back as the same string. */
function yamlString(text: string): string {
  return JSON.stringify(text);
}

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
    const file = fileNameFor(note.title, note.noteId);
    const front = [
      '---',
      `title: ${yamlString(note.title)}`,
      `note_id: ${note.noteId}`,
      `version: ${note.version}`,
      `group: ${yamlString(groupName ?? '')}`,
      `group_id: ${groupId}`,
      `author: ${yamlString(nameOfDevice(device, state, note.author) ?? '')}`,
      `author_fingerprint: ${personOf(state, note.author)}`,
      `author_device: ${note.author}`,
      `written_at: ${iso(note.at)}`,
      `key_generation: ${note.generation}`,
      ...(note.warnings.length > 0 ? [`warnings: ${yamlString(note.warnings.map((w) => w.message).join(' / '))}`] : []),
      '---',
      '',
      '',
    ];
    write(join(target, file), `${front.join('\n')}${note.body}${note.body.endsWith('\n') ? '' : '\n'}`);
    files.push({ noteId: note.noteId, file, title: note.title, version: note.version });
  }
  emit(device.ctx, options.json, { groupId, name: groupName, dir: target, generation: currentGeneration(state), files, skipped }, [
    `Exported ${files.length} note${files.length === 1 ? '' : 's'} of ${groupName ? `"${groupName}"` : groupId} to ${target} (plaintext: keep it safe).`,
    ...skipped.map((s) => `Not exported: ${s.noteId} (${s.problem})`),
  ]);
}
