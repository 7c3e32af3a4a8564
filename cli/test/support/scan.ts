/** Reads every file under directories, for scanning what lies on disk. */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else if (entry.isFile()) out.push(path);
  }
  return out.sort();
}

/** Path → SHA-256 of every file under `dir` (to prove a failed command changed nothing). */
export function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(filesUnder(dir).map((f) => [f, createHash('sha256').update(readFileSync(f)).digest('hex')]));
}

export function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

/** The forms a secret could take in a file: as typed, and its bytes in hex, base64 and base64url. */
export function formsOf(secret: string | Uint8Array): Buffer[] {
  if (typeof secret === 'string') {
    const forms = [Buffer.from(secret, 'utf8')];
    const compact = secret.replace(/-/g, '');
    if (compact !== secret) forms.push(Buffer.from(compact, 'utf8'));
    return forms;
  }
  const bytes = Buffer.from(secret);
  return [bytes, Buffer.from(bytes.toString('hex')), Buffer.from(bytes.toString('base64').replace(/=+$/, '')), Buffer.from(bytes.toString('base64url'))];
}

/** Where any form of any secret occurs in the files: `file: label` lines (empty: clean). */
export function findSecrets(files: readonly string[], secrets: Record<string, string | Uint8Array>): string[] {
  const hits: string[] = [];
  for (const file of files) {
    const content = readFileSync(file);
    for (const [label, secret] of Object.entries(secrets)) {
      if (formsOf(secret).some((form) => form.length > 0 && content.includes(form))) hits.push(`${file}: ${label}`);
    }
  }
  return hits;
}
