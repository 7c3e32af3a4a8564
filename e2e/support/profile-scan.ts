/**
 * Looking for secrets where a browser keeps the extension's data: every byte of the
 * IndexedDB files of a client's Chromium profile (what a copy of the profile's files
 * would hold). Seeds are known only inside the extension, so `seedsOf` reads them as
 * the extension does — from its database, opened with its device key, in its service
 * worker — the one look behind the screens here, to know what to search for.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { bytesNeedles, textNeedles, type Haystack, type Needle } from '../../storage-api/test/support/scan.ts';
import type { Client } from './clients.ts';

/** Every file under the profile's IndexedDB folders (LevelDB logs and tables, blobs), named by client and file. */
export function indexedDbFiles(client: Client): Haystack[] {
  const out: Haystack[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else out.push({ where: `${client.label}: ${path.relative(client.profileDir, full)}`, bytes: readFileSync(full) });
    }
  };
  for (const folder of [path.join(client.profileDir, 'Default', 'IndexedDB'), path.join(client.profileDir, 'IndexedDB')]) {
    if (existsSync(folder)) walk(folder);
  }
  return out;
}

/**
 * A text as Chromium may store it in IndexedDB: V8 serializes a string as Latin-1
 * (ASCII text is its UTF-8) or as UTF-16LE; both, and every encoding `textNeedles` knows.
 */
export function storedTextNeedles(what: string, text: string): Needle[] {
  return [...textNeedles(what, text), { what: `${what} (UTF-16)`, bytes: Buffer.from(text, 'utf16le') }];
}

export interface HeldSeed {
  groupId: string;
  generation: number;
  seed: Uint8Array;
  /** The row's sealed bytes (nonce ‖ ciphertext ‖ tag): they are in the files, and the scan must find them. */
  sealed: Uint8Array;
  /** The group's name as the row keeps it (in clear: a found text, for the scan's control). */
  name: string | null;
}

/** The seeds this client's extension holds, opened with its own device key inside its service worker. */
export async function seedsOf(client: Client): Promise<HeldSeed[]> {
  const worker = client.context.serviceWorkers().find((w) => w.url().startsWith(`chrome-extension://${client.id}/`));
  if (!worker) throw new Error(`${client.label}: the extension's service worker is not running`);
  const held = await worker.evaluate(async () => {
    const request = <T,>(r: IDBRequest<T>) =>
      new Promise<T>((resolve, reject) => {
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
    const db = await request(indexedDB.open('conclave'));
    try {
      const all = (store: string) => request(db.transaction(store).objectStore(store).getAll()) as Promise<Array<Record<string, unknown>>>;
      const [groups, keys] = await Promise.all([all('groups'), all('deviceKey')]);
      const key = keys.find((k) => k.id === 'at-rest')?.key as CryptoKey | undefined;
      if (!key) throw new Error('no device key');
      const out: Array<{ groupId: string; generation: number; seed: number[]; sealed: number[]; name: string | null }> = [];
      for (const row of groups) {
        for (const [generation, value] of row.seeds as Map<number, { sealed: Uint8Array }>) {
          const aad = new TextEncoder().encode(['conclave/v2/extension/at-rest/seed', String(row.groupId), String(generation)].join('\n'));
          const seed = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: value.sealed.slice(0, 12), additionalData: aad }, key, value.sealed.slice(12));
          out.push({ groupId: String(row.groupId), generation, seed: [...new Uint8Array(seed)], sealed: [...value.sealed], name: (row.name as string | null) ?? null });
        }
      }
      return out;
    } finally {
      db.close();
    }
  });
  return held.map((h) => ({ ...h, seed: new Uint8Array(h.seed), sealed: new Uint8Array(h.sealed) }));
}

/** The needles of seeds: raw bytes, hex, base64 at every alignment. */
export function seedNeedles(seeds: HeldSeed[]): Needle[] {
  return seeds.flatMap((s) => bytesNeedles(`seed of generation ${s.generation}`, s.seed));
}

/** The names of the drafts this client's extension keeps (to know a draft was really stored before it must be gone). */
export async function draftKeys(client: Client): Promise<string[]> {
  const worker = client.context.serviceWorkers().find((w) => w.url().startsWith(`chrome-extension://${client.id}/`));
  if (!worker) throw new Error(`${client.label}: the extension's service worker is not running`);
  return worker.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const r = indexedDB.open('conclave');
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    try {
      return await new Promise<string[]>((resolve, reject) => {
        const r = db.transaction('drafts').objectStore('drafts').getAllKeys();
        r.onsuccess = () => resolve(r.result.map(String));
        r.onerror = () => reject(r.error);
      });
    } finally {
      db.close();
    }
  });
}
