/**
 * Question: how much does incremental note sync save? A group holds 10,000 notes.
 * (1) First sync of the headers with `notes.list` and its cursor, pages of 1000, versus
 * fetching every note whole with `notes.get` (and, as a floor for that, the total bytes
 * of the body ciphertexts alone): time and bytes received.
 * (2) Ten notes change: the second sync from the saved cursor, plus fetching just those
 * ten notes — time and bytes (should be tiny next to (1)).
 *
 * The real storage API (`build(config)` + listen on 127.0.0.1:0, SQLite), signed in as a
 * group member; requests are plain HTTP as the tRPC client sends them (one GET per call,
 * no batching), `notes.get` with 10 in flight (the shared client's batch size).
 * "Bytes" are response bytes as fetch sees them: status line, headers and body.
 *
 * Pre-filled quickly: 10,000 small notes (200-byte bodies, real envelopes from
 * `sealNote`) written straight through the store (`putNoteVersion`, the header built as
 * `notes.put` builds it), into a data directory on /dev/shm when there is one — the
 * bench is about transfer, not fsync. The ten changes go through `notes.put` over HTTP.
 * The rate limit is raised: at the default 6000 requests per minute per session, the
 * 10,000 single `notes.get` calls alone would take more than a minute and a half.
 *
 * Run: npx tsx bench/note-sync.bench.ts
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { signIn } from '@conclave/shared/client';
import { generationKeys } from '@conclave/shared/crypto';
import { createGroup } from '@conclave/shared/crypto';
import { generateIdentity } from '@conclave/shared/crypto';
import { newNoteId, sealNote } from '@conclave/shared/crypto';
import { noteVersionHash } from '@conclave/shared/crypto';
import { importAeadKey } from '@conclave/shared/crypto';
import type { NoteHeader } from '@conclave/shared/protocol';
import { base64urlByteLength } from '@conclave/shared/protocol';
import type { NoteId } from '@conclave/shared/protocol';
import type { NoteEnvelope } from '@conclave/shared/protocol';
import { build } from '../storage-api/src/app.ts';
import { loadConfig } from '../storage-api/src/config.ts';
import { fmt, header, median, printTable } from './support/harness.ts';

const NOTES = 10_000;
const PAGE = 1000;
const CHANGED = 10;
const BODY_BYTES = 200;
const IN_FLIGHT = 10;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);

header(
  'note sync',
  `Question: for ${NOTES.toLocaleString('en-US')} notes, what do an incremental header sync (notes.list, pages of ${PAGE}) and a re-sync after ${CHANGED} changes cost, next to fetching every note whole?`,
);
const started = performance.now();

// --- server, member, group --------------------------------------------------------------------

const dataDir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'conclave-bench-sync-'));
const config = loadConfig({}, { dataDir, logLevel: 'info', rateLimitPerMinute: 1_000_000_000 });
const app = await build(config, { logStream: new Writable({ write: (_chunk, _encoding, done) => done() }) });
const url = await app.fastify.listen({ host: '127.0.0.1', port: 0 });

try {
  const identity = await generateIdentity();
  const group = await createGroup(identity);
  const groupId = group.state.groupId;
  const session = await signIn(url, identity);
  await session.api.groups.create.mutate({ entries: group.entries, boxes: group.boxes });
  const noteKey = await importAeadKey((await generationKeys(group.seed, groupId, 0)).noteKey);
  const auth = { authorization: `Bearer ${session.token}` };

  // --- pre-fill ----------------------------------------------------------------------------------

  const t0 = performance.now();
  const envelopes: NoteEnvelope[] = [];
  while (envelopes.length < NOTES) {
    const batch = Math.min(500, NOTES - envelopes.length);
    envelopes.push(
      ...(await Promise.all(
        Array.from({ length: batch }, (_, i) =>
          sealNote(identity, { groupId, noteId: newNoteId(), version: 1, generation: 0 }, noteKey, {
            title: `note ${envelopes.length + i}`,
            body: 'b'.repeat(BODY_BYTES),
          }),
        ),
      )),
    );
  }
  const sealedMs = performance.now() - t0;
  for (const envelope of envelopes) {
    const { body: _body, ...rest } = envelope;
    const stored = await app.deps.store.putNoteVersion(envelope, { ...rest, bodyBytes: base64urlByteLength(envelope.body) });
    if (!stored.ok) throw new Error('pre-fill: a note was refused');
  }
  console.log(`pre-filled ${NOTES} notes: sealed in ${(sealedMs / 1000).toFixed(1)} s, stored in ${((performance.now() - t0 - sealedMs) / 1000).toFixed(1)} s\n`);

  // --- measuring -----------------------------------------------------------------------------------

  interface Transfer {
    ms: number;
    bytes: number;
    requests: number;
  }

  /** Response bytes as received: status line, headers and body. */
  async function fetchCounted(path: string, init: RequestInit = {}): Promise<{ json: unknown; bytes: number }> {
    const response = await fetch(`${url}${path}`, { ...init, headers: { ...auth, ...(init.headers as Record<string, string> | undefined) } });
    const body = Buffer.from(await response.arrayBuffer());
    if (response.status !== 200) throw new Error(`${path.split('?')[0]}: HTTP ${response.status} ${body.toString().slice(0, 200)}`);
    let head = `HTTP/1.1 ${response.status} ${response.statusText}\r\n`.length + 2;
    response.headers.forEach((value, key) => (head += `${key}: ${value}\r\n`.length));
    return { json: JSON.parse(body.toString('utf8')), bytes: head + body.length };
  }

  const query = (path: string, input: unknown) => fetchCounted(`/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`);

  /** notes.list from `since` until `more` is false; the headers and the cursor to keep. */
  async function syncHeaders(since: number): Promise<Transfer & { items: NoteHeader[]; cursor: number }> {
    const start = performance.now();
    let cursor = since;
    let bytes = 0;
    let requests = 0;
    const items: NoteHeader[] = [];
    for (;;) {
      const { json, bytes: b } = await query('notes.list', { groupId, since: cursor, limit: PAGE });
      bytes += b;
      requests++;
      const page = (json as { result: { data: { items: NoteHeader[]; cursor: number; more: boolean } } }).result.data;
      items.push(...page.items);
      cursor = page.cursor;
      if (!page.more) break;
    }
    return { ms: performance.now() - start, bytes, requests, items, cursor };
  }

  /** notes.get of each note, IN_FLIGHT at a time. */
  async function fetchBodies(noteIds: NoteId[]): Promise<Transfer> {
    const start = performance.now();
    let bytes = 0;
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(IN_FLIGHT, noteIds.length) }, async () => {
        while (next < noteIds.length) {
          const noteId = noteIds[next++]!;
          // Awaited before adding: `bytes += await …` would read `bytes` before the await and lose updates.
          const { bytes: received } = await query('notes.get', { groupId, noteId });
          bytes += received;
        }
      }),
    );
    return { ms: performance.now() - start, bytes, requests: noteIds.length };
  }

  const allIds = envelopes.map((e) => e.noteId);
  const bodyCiphertextBytes = envelopes.reduce((n, e) => n + base64urlByteLength(e.body), 0);
  const bodyWireBytes = envelopes.reduce((n, e) => n + e.body.length, 0);

  // Warm-up: one small page and a few gets.
  await query('notes.list', { groupId, since: 0, limit: 10 });
  await fetchBodies(allIds.slice(0, 200));

  // First sync, alternating with the whole fetch.
  const headerRuns: Array<Transfer & { cursor: number; items: NoteHeader[] }> = [];
  const bodyRuns: Transfer[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const steps = [async () => void headerRuns.push(await syncHeaders(0)), async () => void bodyRuns.push(await fetchBodies(allIds))];
    if (r % 2 === 1) steps.reverse();
    for (const step of steps) await step();
  }
  const first = headerRuns[0]!;
  if (first.items.length !== NOTES) throw new Error(`the header sync returned ${first.items.length} notes, not ${NOTES}`);

  // Ten notes change (version 2, through the API), then the second sync from the saved cursor.
  const changed = allIds.filter((_, i) => i % Math.floor(NOTES / CHANGED) === 0).slice(0, CHANGED);
  for (const noteId of changed) {
    // Version 2 names version 1's hash (notes.put checks it).
    const v1 = (await (await fetch(`${url}/trpc/notes.get?input=${encodeURIComponent(JSON.stringify({ groupId, noteId, version: 1 }))}`, { headers: auth })).json()) as { result: { data: NoteEnvelope } };
    const prev = await noteVersionHash(v1.result.data);
    const envelope = await sealNote(identity, { groupId, noteId, version: 2, generation: 0 }, noteKey, { title: 'changed', body: 'c'.repeat(BODY_BYTES) }, { prev });
    const response = await fetch(`${url}/trpc/notes.put`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ envelope }) });
    if (response.status !== 200) throw new Error(`notes.put: HTTP ${response.status} ${await response.text()}`);
  }
  const secondRuns: Array<Transfer & { items: NoteHeader[] }> = [];
  const changedBodyRuns: Transfer[] = [];
  for (let r = 0; r < Math.max(3, ROUNDS); r++) {
    secondRuns.push(await syncHeaders(first.cursor));
    changedBodyRuns.push(await fetchBodies(secondRuns.at(-1)!.items.map((h) => h.noteId)));
  }
  const second = secondRuns[0]!;
  const changedSeen = new Set(second.items.map((h) => h.noteId));
  if (second.items.length !== CHANGED || !changed.every((id) => changedSeen.has(id)) || !second.items.every((h) => h.version === 2)) {
    throw new Error(`the second sync returned ${second.items.length} headers, not the ${CHANGED} changed notes at version 2`);
  }

  // --- report --------------------------------------------------------------------------------------

  /** `notes`: how many notes the transfer covers (for bytes per note). */
  const row = (what: string, runs: Transfer[], notes: number, note = ''): string[] => {
    const bytes = median(runs.map((r) => r.bytes));
    return [what, String(runs[0]!.requests), fmt(median(runs.map((r) => r.ms)), 1), fmt(bytes / 1024, 1), fmt(bytes / notes, 0), note];
  };
  const wholeBytes = median(bodyRuns.map((r) => r.bytes));
  const headerBytes = median(headerRuns.map((r) => r.bytes));
  const secondBytes = median(secondRuns.map((r) => r.bytes));
  const changedBytes = median(changedBodyRuns.map((r) => r.bytes));
  console.log(`${NOTES.toLocaleString('en-US')} notes of ${BODY_BYTES} B plaintext (${BODY_BYTES + 28} B ciphertext); medians of ${ROUNDS} alternating rounds (the re-sync: ${secondRuns.length} runs)\n`);
  printTable(
    ['sync', 'requests', 'time ms', 'KiB received', 'B per note covered', 'vs fetching all'],
    [
      row(`first sync: notes.list, pages of ${PAGE}`, headerRuns, NOTES, `${((headerBytes / wholeBytes) * 100).toFixed(0)}% of the bytes`),
      row(`every note whole: notes.get × ${NOTES.toLocaleString('en-US')} (${IN_FLIGHT} in flight)`, bodyRuns, NOTES, '100%'),
      [
        'floor: body ciphertexts alone (base64url on the wire)',
        '—',
        '—',
        fmt(bodyWireBytes / 1024, 1),
        fmt(bodyWireBytes / NOTES, 0),
        `${((bodyWireBytes / wholeBytes) * 100).toFixed(0)}% (${fmt(bodyCiphertextBytes / 1024, 1)} KiB as bytes)`,
      ],
      row(`re-sync after ${CHANGED} changes: notes.list from the cursor`, secondRuns, CHANGED, `${((secondBytes / wholeBytes) * 100).toFixed(2)}% (${((secondBytes / headerBytes) * 100).toFixed(2)}% of the first sync)`),
      row(`  + the ${CHANGED} changed notes whole (notes.get)`, changedBodyRuns, CHANGED, `${(((secondBytes + changedBytes) / wholeBytes) * 100).toFixed(2)}% together`),
    ],
  );
  console.log(
    '\nnote: a header carries the title ciphertext but not the body, and the author signs the body digest: a client must fetch a version whole before it can trust its title (shared/src/client/notes.ts does), so the first sync of a new device costs both rows above; the re-sync is what steady state costs.',
  );
} finally {
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
}
console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`);
