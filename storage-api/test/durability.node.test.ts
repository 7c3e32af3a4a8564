/**
 * An acknowledged write survives kill -9. A child process (support/durability-writer.ts)
 * writes bursts of concurrent, competing log appends and note puts to a SQLite store
 * and prints a line for each write the store acknowledged; the test SIGKILLs it in the
 * middle of a burst, reopens the file with a new SqliteStore, and finds every
 * acknowledged write, byte for byte, with logs still hash-linked and gap-free.
 *
 * (A process kill proves the store commits before it acknowledges; `synchronous = FULL`
 * additionally syncs the WAL on every commit for power loss, which a test cannot cut.)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { GroupId, NoteId } from '@conclave/shared/protocol';
import { entryHash } from '@conclave/shared/crypto';
import { SQLITE_FILE_NAME, SqliteStore } from '../src/store/sqlite.ts';
import type { Ack } from './support/durability-writer.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const writer = fileURLToPath(new URL('./support/durability-writer.ts', import.meta.url));
const KILL_AFTER_ACKS = 400;

/** Runs the writer until `killAfter` acks, SIGKILLs it, and returns every complete ack line it printed. */
function runAndKill(dir: string, killAfter: number): Promise<{ acks: Ack[]; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    // node --import tsx: the process we kill is the one holding the database.
    const child = spawn(process.execPath, ['--import', 'tsx', writer, dir], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let buffered = '';
    let stderr = '';
    const acks: Ack[] = [];
    let killed = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`writer produced only ${acks.length} acks in time; stderr: ${stderr}`));
    }, 25_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? ''; // an incomplete last line is not an ack
      for (const line of lines) if (line) acks.push(JSON.parse(line) as Ack);
      if (!killed && acks.length >= killAfter) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      clearTimeout(timer);
      if (!killed) reject(new Error(`writer exited by itself (${signal}); stderr: ${stderr}`));
      else resolve({ acks, signal });
    });
  });
}

describe('SQLite durability', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps every acknowledged write, byte for byte, after kill -9 mid-burst', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'conclave-durability-'));
    dirs.push(dir);

    // Two rounds: the second reopens a file left by a kill, writes on, and is killed again.
    const acks: Ack[] = [];
    for (let round = 0; round < 2; round++) {
      const run = await runAndKill(dir, KILL_AFTER_ACKS);
      expect(run.signal).toBe('SIGKILL');
      expect(run.acks.length).toBeGreaterThanOrEqual(KILL_AFTER_ACKS);
      acks.push(...run.acks);
    }
    const entryAcks = acks.filter((a): a is Extract<Ack, { t: 'entry' }> => a.t === 'entry');
    const noteAcks = acks.filter((a): a is Extract<Ack, { t: 'note' }> => a.t === 'note');
    expect(entryAcks.length).toBeGreaterThan(0);
    expect(noteAcks.length).toBeGreaterThan(0);

    // The raw file first: intact, and holding exactly the acknowledged text.
    const raw = new Database(join(dir, SQLITE_FILE_NAME), { readonly: true });
    try {
      expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
      const entryText = raw.prepare('SELECT entry FROM log_entries WHERE group_id = ? AND seq = ?');
      const noteText = raw.prepare('SELECT envelope FROM note_versions WHERE group_id = ? AND note_id = ? AND version = ?');
      for (const a of entryAcks) expect((entryText.get(a.groupId, a.seq) as { entry: string } | undefined)?.entry).toBe(a.json);
      for (const a of noteAcks) expect((noteText.get(a.groupId, a.noteId, a.version) as { envelope: string } | undefined)?.envelope).toBe(a.json);
    } finally {
      raw.close();
    }

    // Then through a new store.
    const store = new SqliteStore(dir);
    try {
      await store.migrate();
      for (const a of entryAcks) {
        const [entry] = await store.readLog(a.groupId, a.seq, 1);
        expect(JSON.stringify(entry)).toBe(a.json);
      }
      for (const a of noteAcks) {
        expect(JSON.stringify(await store.getNote(a.groupId, a.noteId, a.version))).toBe(a.json);
      }

      // Each log: gap-free from 0 to its head, hash-linked, at least as far as the last ack.
      const lastAck = new Map<GroupId, number>();
      for (const a of entryAcks) lastAck.set(a.groupId, Math.max(lastAck.get(a.groupId) ?? -1, a.seq));
      for (const [groupId, seq] of lastAck) {
        const head = await store.getHead(groupId);
        expect(head!.seq).toBeGreaterThanOrEqual(seq);
        const log = await store.readLog(groupId, 0, head!.seq + 1);
        expect(log.map((e) => e.seq)).toEqual(Array.from({ length: head!.seq + 1 }, (_, i) => i));
        log.forEach((e, i) => expect(e.prev).toBe(i === 0 ? null : entryHash(log[i - 1]!)));
        expect(entryHash(log[log.length - 1]!)).toBe(head!.hash);
      }

      // Each note: at least its last acknowledged version, listed with a cursor no smaller than that ack's.
      const lastNote = new Map<string, Extract<Ack, { t: 'note' }>>();
      for (const a of noteAcks) {
        const key = `${a.groupId}/${a.noteId}`;
        if ((lastNote.get(key)?.version ?? 0) < a.version) lastNote.set(key, a);
      }
      for (const a of lastNote.values()) {
        const latest = await store.getNote(a.groupId, a.noteId as NoteId);
        expect(latest!.version).toBeGreaterThanOrEqual(a.version);
        const listed = (await store.listNotes(a.groupId, 0, 1000)).find((i) => i.header.noteId === a.noteId);
        expect(listed!.header.version).toBe(latest!.version);
        expect(listed!.cursor).toBeGreaterThanOrEqual(a.cursor);
      }
    } finally {
      await store.close();
    }
  });
});
