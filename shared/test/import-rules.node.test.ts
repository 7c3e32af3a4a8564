/**
 * The package boundaries `npm test` enforces (eslint.config.js, run by `npm run lint`)
 * really refuse what they say they refuse, and the import-circle check finds a circle:
 * each rule is fed a file that breaks it and one that keeps it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { afterAll, describe, expect, it } from 'vitest';
import { importCircles } from '../../scripts/import-cycles.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const eslint = new ESLint({ cwd: root });

/** The messages of the import rule for `code` placed at `filePath` (relative to the repository). */
async function restricted(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, filePath) });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('import rules (eslint.config.js)', () => {
  it('the background and the CLI reach the storage API only through GroupClient', async () => {
    expect(await restricted('extension/src/background/x.ts', "import { createTRPCClient } from '@trpc/client';\n")).toHaveLength(1);
    expect(await restricted('extension/src/background/x.ts', "import { signIn, type ApiClient } from '@conclave/shared/client';\n")).toHaveLength(2);
    expect(await restricted('cli/src/x.ts', "import { call } from '@conclave/shared/client';\n")).toHaveLength(1);
    expect(await restricted('extension/src/background/x.ts', "import { GroupClient } from '@conclave/shared/client';\n")).toEqual([]);
  });

  it('outside shared/, the core is reached only through its subpath exports', async () => {
    const [message] = await restricted('cli/src/x.ts', "import { GroupClient } from '../../shared/src/client/group-client.ts';\n");
    expect(message).toMatch(/subpath exports/);
    expect(await restricted('e2e/x.ts', "import { fingerprintOf } from '@conclave/shared/crypto';\n")).toEqual([]);
  });

  it('servers see only @conclave/shared/verify', async () => {
    expect(await restricted('storage-api/src/x.ts', "import { openNote } from '@conclave/shared/crypto';\n")).toHaveLength(1);
    expect(await restricted('signaling-server/src/x.ts', "import { GroupClient } from '@conclave/shared/client';\n")).toHaveLength(1);
    expect(await restricted('storage-api/src/x.ts', "import { replayLog } from '@conclave/shared/verify';\n")).toEqual([]);
  });

  it('pages speak to the background only through messages/', async () => {
    expect(await restricted('extension/src/ui/popup/x.tsx', "import { groupSummaries } from '../../background/groups.ts';\n")).toHaveLength(1);
    expect(await restricted('extension/src/ui/popup/x.tsx', "import { db } from '../../db/schema.ts';\n")).toHaveLength(1);
    expect(await restricted('extension/src/ui/popup/x.tsx', "import { ask } from '../../messages/client.ts';\n")).toEqual([]);
  });

  it('wire formats import no cryptography, and cryptography no client code', async () => {
    expect(await restricted('shared/src/protocol/x.ts', "import { signLabelled } from '../crypto/identity.ts';\n")).toHaveLength(1);
    expect(await restricted('shared/src/crypto/x.ts', "import { GroupClient } from '../client/group-client.ts';\n")).toHaveLength(1);
    expect(await restricted('shared/src/crypto/x.ts', "import { EncodingError } from '../errors.ts';\n")).toEqual([]);
  });
});

describe('import circles (scripts/import-cycles.ts)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'conclave-circles-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds a circle, type-only imports included, and nothing in a tree without one', () => {
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src/a.ts'), "import { b } from './b.ts';\nexport const a = b;\n");
    writeFileSync(join(dir, 'src/b.ts'), "import type { C } from './c.ts';\nexport const b = 1 as unknown as C;\n");
    writeFileSync(join(dir, 'src/c.ts'), "import { a } from './a.ts';\nexport type C = typeof a;\n");
    writeFileSync(join(dir, 'src/d.ts'), "import { a } from './a.ts';\nexport const d = a;\n");
    expect(importCircles(dir, ['src']).circles).toEqual([['src/a.ts', 'src/b.ts', 'src/c.ts']]);

    writeFileSync(join(dir, 'src/c.ts'), 'export type C = number;\n');
    expect(importCircles(dir, ['src']).circles).toEqual([]);
  });

  it('the repository has none', () => {
    const { files, circles } = importCircles(root);
    expect(files).toBeGreaterThan(150);
    expect(circles).toEqual([]);
  });
});
