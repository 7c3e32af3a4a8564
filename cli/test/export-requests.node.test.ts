/**
 * `conclave export` reads the group once (issue 11 review): one SDK listing
 * (`changedNotes(groupId, 0)`: one log sync, every note fetched and opened once with its
 * body) — not a listing and then a `readNote` (a sync and a second fetch) per note.
 * Counted as the procedures the storage API's HTTP server receives during the command
 * (a tRPC batch carries several).
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callsOf, recordRequests, type RequestRecorder } from '../../storage-api/test/support/request-recorder.ts';
import { startServer, type TestServer } from '../../storage-api/test/support/server.ts';
import { cliDevice, type CliDevice } from './support/cli.ts';

const NOTES = 4;

describe('requests per export', { timeout: 120_000 }, () => {
  let server: TestServer;
  let ana: CliDevice;
  let recorder: RequestRecorder;

  beforeAll(async () => {
    server = await startServer('sqlite', { config: { logLevel: 'silent' } });
    recorder = recordRequests(server);
    ana = cliDevice(server.url, 'ana: counting exports');
    await ana.json(['init', '--name', 'Ana']);
    await ana.json(['group', 'create', 'Counted']);
    for (let i = 0; i < NOTES; i++) await ana.json(['notes', 'put', 'Counted', '--title', `Note ${i}`, '--body', `body ${i}`]);
    // Names learned and the profile published: the export below only reads.
    await ana.json(['notes', 'ls', 'Counted']);
  });

  afterAll(async () => {
    await server?.close();
  });

  it(`exporting ${NOTES} notes syncs the log once and fetches each note once`, async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'conclave-export-count-')), 'out');
    const { result: ran, requests } = await recorder.during(() => ana.json<{ files: unknown[] }>(['export', 'Counted', dir]));
    expect(ran.files).toHaveLength(NOTES);
    expect(readdirSync(dir)).toHaveLength(NOTES);
    expect(callsOf(requests, 'groups.log')).toBe(1);
    // The notes and the two meta notes (the group's name, Ana's profile), each once.
    expect(callsOf(requests, 'notes.get')).toBe(NOTES + 2);
  });
});
