/**
 * One chain per person, on the server and in every group log (THREAT-MODEL §4 item 9).
 * A group log carries copies of its members' device chains (`create.creator`,
 * `add.member`, `devices.entries`); the log rules check that each copy continues the one
 * the log held, but a log cannot know the chain elsewhere. So before the API stores a
 * group append it makes every copy the append changes agree with the person's stored
 * chain (people-chains.ts):
 *
 * - at a seq both have, the same entry hash (hash-linked: the hash at the last common
 *   seq decides), else `LOG_REJECTED device-chain` — a device of the person (a thief's,
 *   not yet unlinked) writing its own continuation into one group is refused here;
 * - entries beyond the stored head (a person never published: the whole chain) are
 *   checked with the chain rules and appended to the stored chain, with compare-and-set,
 *   *before* the log append. A lost compare-and-set re-reads the chain and compares again,
 *   so a person's change racing a group append ends with one continuation.
 *
 * Chain first, log second, each with its own compare-and-set: at every moment every log
 * copy is a prefix of the stored chain. If the log append then loses its own race, the
 * chain keeps entries the person's devices signed and the chain rules accept, which any
 * of those devices could have appended itself; the client rebuilding its group change
 * finds them stored and agreeing.
 */
import {
  chainHead,
  DeviceChainError,
  extendChain,
  LogVerificationError,
  type DeviceEntry,
  type Fingerprint,
  type GroupState,
  type LogEntry,
  type PersonState,
} from '@conclave/shared/verify';
import { apiError } from '../errors.ts';
import type { Store } from '../store/types.ts';
import { logRejected } from './log-writes.ts';
import { deviceChanges, storedPerson } from './people-chains.ts';

/** Compare-and-set attempts against people's own chain appends before answering CONFLICT. */
const ATTEMPTS = 3;

function disagrees(person: Fingerprint, why: string): Error {
  return apiError(
    'LOG_REJECTED',
    `the device chain of ${person} in these entries ${why} (device-chain): a group log carries the person's chain as the server stores it. Fetch the chain (people.get), rebuild the change on it and send it again`,
    { reason: 'device-chain' },
  );
}

function behind(person: Fingerprint, seq: number, storedSeq: number): Error {
  return apiError(
    'LOG_REJECTED',
    `the device chain of ${person} in these entries stops at entry ${seq}, behind the stored chain's head (entry ${storedSeq}) (device-chain): a create or add carries the person's current chain. Fetch the person's current devices (people.get), rebuild the change with that chain and send it again`,
    { reason: 'device-chain' },
  );
}

/**
 * Refuses a `create` or `add` whose chain stops behind the person's stored head, before
 * anything else looks at its boxes (a box to a device unlinked since would otherwise be
 * the complaint). settleChains checks it again, against a chain that may have moved.
 */
export async function refuseStaleChains(store: Store, after: GroupState, entries: readonly LogEntry[]): Promise<void> {
  for (const person of wholeChains(entries)) {
    const copy = after.members.get(person)?.chain;
    const stored = copy ? await storedPerson(store, person) : null;
    if (copy && stored && copy.seq < stored.state.seq) throw behind(person, copy.seq, stored.state.seq);
  }
}

/** The device entries the appended log entries carry, by person and seq. */
function carriedEntries(entries: readonly LogEntry[]): Map<Fingerprint, Map<number, DeviceEntry>> {
  const carried = new Map<Fingerprint, Map<number, DeviceEntry>>();
  const keep = (chain: readonly DeviceEntry[]) => {
    for (const entry of chain) {
      let bySeq = carried.get(entry.person);
      if (!bySeq) carried.set(entry.person, (bySeq = new Map()));
      bySeq.set(entry.seq, entry);
    }
  };
  for (const entry of entries) {
    if (entry.op === 'create') keep(entry.body.creator);
    else if (entry.op === 'add') keep(entry.body.member);
    else if (entry.op === 'devices') keep(entry.body.entries);
  }
  return carried;
}

/** The people whose whole chain a `create` or `add` among the entries carries. */
function wholeChains(entries: readonly LogEntry[]): Set<Fingerprint> {
  const whole = new Set<Fingerprint>();
  for (const entry of entries) {
    const chain = entry.op === 'create' ? entry.body.creator : entry.op === 'add' ? entry.body.member : undefined;
    if (chain?.[0]) whole.add(chain[0].person);
  }
  return whole;
}

/** The member chains `after` holds that `before` did not hold at that head. */
function changedChains(before: GroupState | null, after: GroupState): PersonState[] {
  const changed: PersonState[] = [];
  for (const [person, member] of after.members) {
    if (!member.chain) continue; // the recovery key has no chain
    const old = before?.members.get(person)?.chain;
    if (old && old.seq === member.chain.seq && old.head === member.chain.head) continue;
    changed.push(member.chain);
  }
  return changed;
}

/** Makes one person's stored chain agree with (and reach) the log's copy `copy`. */
async function settle(store: Store, copy: PersonState, carried: Map<number, DeviceEntry> | undefined, whole: boolean, now: number): Promise<void> {
  const person = copy.person;
  for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
    const stored = await storedPerson(store, person);
    const storedSeq = stored ? stored.state.seq : -1;
    const common = Math.min(copy.seq, storedSeq);
    if (common >= 0 && copy.hashes[common] !== stored!.state.hashes[common]) {
      throw disagrees(person, `differs from the stored chain at entry ${common}`);
    }
    // A whole chain (create, add) behind the stored head would bring into a new group a
    // device its person has since unlinked: it must be the person's current chain.
    if (whole && copy.seq < storedSeq) throw behind(person, copy.seq, storedSeq);
    if (copy.seq <= storedSeq) return;
    const missing: DeviceEntry[] = [];
    for (let seq = storedSeq + 1; seq <= copy.seq; seq += 1) {
      const entry = carried?.get(seq);
      if (!entry) throw disagrees(person, `goes on past the stored chain's head (entry ${storedSeq}) without carrying entry ${seq}`);
      missing.push(entry);
    }
    let after: PersonState;
    try {
      after = await extendChain(stored?.state ?? null, missing, { person, now });
    } catch (error) {
      if (error instanceof DeviceChainError) throw disagrees(person, `does not continue the stored chain (${error.reason})`);
      throw error;
    }
    if (after.head !== copy.head) throw disagrees(person, 'does not end where the log says');
    const result = await store.appendChain(person, missing, chainHead(after), deviceChanges(stored?.state ?? null, after));
    if (result.ok) return;
    if ('claimed' in result) {
      throw logRejected(new LogVerificationError('device-claimed', `a device of ${person} belongs to another person's device chain`));
    }
    // Another append reached the chain first: compare again with what it stored.
  }
  throw apiError('CONFLICT', `the device chain of ${person} kept changing while these entries were stored: sync the group log, fetch the chain and send the change again`);
}

/**
 * Makes every device chain the entries change agree with the stored chains, storing what
 * they carry beyond a stored head (see the module comment). Call it after every other
 * check of the append, right before the log's own compare-and-set.
 * @throws LOG_REJECTED `device-chain` (a copy that differs from the stored chain, or does
 *   not continue it, or a `create`/`add` chain behind the stored head), `device-claimed` (it links a device another person holds), CONFLICT.
 */
export async function settleChains(store: Store, before: GroupState | null, after: GroupState, entries: readonly LogEntry[], now: number): Promise<void> {
  const carried = carriedEntries(entries);
  const whole = wholeChains(entries);
  for (const copy of changedChains(before, after)) await settle(store, copy, carried.get(copy.person), whole.has(copy.person), now);
}
