/**
 * Reading a group log from the storage API and validating it on this device
 * (DESIGN §4): the server's answer is input, never truth. A device asks from the
 * entry it pinned (one entry of overlap), so a server that rolls the log back or
 * forks it is caught at the pinned entry itself, not only by a broken link later.
 */
import { LogVerificationError } from '../crypto/errors.ts';
import { entryHash, logHead, type GroupState } from '../crypto/group-log.ts';
import { extendLog, replayLog } from '../crypto/log-replay.ts';
import { MAX_ENTRIES_PER_CALL } from '../protocol/api.ts';
import type { GroupId } from '../protocol/ids.ts';
import { logEntrySchema, type LogHead } from '../protocol/schemas.ts';
import type { ApiClient } from './api-session.ts';
import { call } from './errors.ts';
import type { GroupRecord } from './key-store.ts';

/**
 * Every entry from `fromSeq` to the server's head, page by page.
 * @returns the raw entries (unvalidated) and the head the server claims.
 */
export async function fetchLog(api: ApiClient, groupId: GroupId, fromSeq: number): Promise<{ entries: unknown[]; head: LogHead }> {
  const entries: unknown[] = [];
  let next = fromSeq;
  for (;;) {
    const page = await call('reading the group log', () => api.groups.log.query({ groupId, fromSeq: next, limit: MAX_ENTRIES_PER_CALL }));
    entries.push(...page.entries);
    next += page.entries.length;
    if (page.entries.length === 0 || next > page.head.seq) return { entries, head: page.head };
  }
}

/** Validates a whole log fetched from the server, from `create`. @throws {LogVerificationError} */
export async function fetchAndReplay(api: ApiClient, groupId: GroupId, now: number): Promise<GroupState> {
  const { entries } = await fetchLog(api, groupId, 0);
  const state = await replayLog(entries, { now });
  if (state.groupId !== groupId) throw new LogVerificationError('wrong-group', 'the server answered with the log of another group');
  return state;
}

/**
 * Brings a record up to the server's head: validates only what is new and refuses a
 * log that does not extend the pinned head.
 * @throws {LogVerificationError} `rollback` when the server no longer has the pinned
 *   entry, `fork` when it has a different one there, or the rule a new entry breaks.
 */
export async function syncRecord(api: ApiClient, record: GroupRecord, now: number): Promise<GroupRecord> {
  const { pinned, state } = record;
  const { entries } = await fetchLog(api, record.groupId, pinned.seq);
  const first = entries[0];
  if (first === undefined) {
    throw new LogVerificationError('rollback', `the server no longer has entry ${pinned.seq} of the group log, which this device has already seen`);
  }
  const parsed = logEntrySchema.safeParse(first);
  if (!parsed.success || parsed.data.seq !== pinned.seq || parsed.data.groupId !== record.groupId) {
    throw new LogVerificationError('fork', `the server's entry ${pinned.seq} is not the one this device saw`, pinned.seq);
  }
  if (entryHash(parsed.data) !== pinned.hash) {
    throw new LogVerificationError('fork', `the group log differs from the one this device saw at entry ${pinned.seq}`, pinned.seq);
  }
  if (entries.length === 1) return record;
  const next = await extendLog(state, entries.slice(1), { pinned, now });
  return { ...record, state: next, pinned: logHead(next) };
}
