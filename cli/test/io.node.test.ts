/** The real process's Io (src/io.ts): what the editor child is given. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { processIo } from '../src/io.ts';

const saved = process.env.CONCLAVE_PASSPHRASE;
afterEach(() => {
  if (saved === undefined) delete process.env.CONCLAVE_PASSPHRASE;
  else process.env.CONCLAVE_PASSPHRASE = saved;
});

test('the editor saw CONCLAVE_PASSPHRASE in its environment', async () => {
  process.env.CONCLAVE_PASSPHRASE = 'the-secret-passphrase-123';
  const file = join(mkdtempSync(join(tmpdir(), 'conclave-io-')), 'note.md');
  // The "editor" writes its whole environment into the file it was given.
  expect(await processIo().runEditor('env >', file)).toBe(0);
  const seen = readFileSync(file, 'utf8');
  expect(seen).toContain(`CONCLAVE_EDIT_FILE=${file}`);
  expect(seen).not.toContain('the-secret-passphrase-123');
  expect(seen).not.toMatch(/^CONCLAVE_PASSPHRASE=/m);
});
