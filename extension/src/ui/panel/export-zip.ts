/**
 * The side panel's export, made in the page: the Markdown files the background rendered
 * (client/markdown.ts) put in one zip (fflate), saved through the browser's own
 * download of an in-memory object URL. Nothing leaves this computer: no request is made,
 * and the URL is revoked once the browser has taken the file.
 */
import { strToU8, zipSync } from 'fflate';
import { fileSlug } from '@conclave/shared/client';

/** The zip's name: the group's name and the day, e.g. `harbour-watch-notes-2026-11-29.zip`. */
export function exportZipName(groupName: string | null, now: Date = new Date()): string {
  const day = [now.getFullYear(), now.getMonth() + 1, now.getDate()].map((n) => String(n).padStart(2, '0')).join('-');
  return `${fileSlug(groupName ?? '') || 'conclave'}-notes-${day}.zip`;
}

/**
 * The files in one zip, each under its own name: a name already taken (compared without
 * case, as Windows and macOS compare them) gets `-2`, `-3`… before `.md`.
 */
export function zipNotes(files: ReadonlyArray<{ name: string; text: string }>, now: Date = new Date()): Uint8Array {
  const entries: Record<string, [Uint8Array, { mtime: Date }]> = {};
  const taken = new Set<string>();
  for (const file of files) {
    let name = file.name;
    for (let n = 2; taken.has(name.toLowerCase()); n++) name = file.name.replace(/(\.md)?$/, `-${n}$1`);
    taken.add(name.toLowerCase());
    entries[name] = [strToU8(file.text), { mtime: now }];
  }
  return zipSync(entries, { level: 6 });
}

/** How long the object URL stays valid after the download started (the browser reads it at once). */
const REVOKE_AFTER_MS = 60_000;

/** Saves bytes as a file through the browser's download (to the person's downloads folder, or where they choose). */
export function saveFile(bytes: Uint8Array, name: string, type = 'application/zip'): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.hidden = true;
  // Firefox follows only a link that is in the document.
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), REVOKE_AFTER_MS);
}
