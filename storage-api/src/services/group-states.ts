/**
 * The server's validated view of each group: the log replayed with the same rules the
 * clients use (shared/src/verify.ts), cached by head and extended incrementally. Any
 * number of API processes can share one database: a cached state is used only when
 * the database's head extends it.
 */
import { extendLog, type GroupId, type GroupState } from '../../../shared/src/verify.ts';
import type { Store } from '../store/types.ts';

const CACHE_LIMIT = 256;
const READ_CHUNK = 500;

export class GroupStates {
  private readonly cache = new Map<GroupId, GroupState>();

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The validated state at the database's current head, or null for an unknown group.
   * @throws {LogVerificationError} when the stored log itself breaks a rule (edited behind the API's back).
   */
  async stateOf(groupId: GroupId): Promise<GroupState | null> {
    const head = await this.store.getHead(groupId);
    if (!head) return null;
    let state = this.cache.get(groupId) ?? null;
    const cachedIsPrefix = state && state.seq <= head.seq && !(state.seq === head.seq && state.head !== head.hash);
    try {
      state = await this.catchUp(groupId, cachedIsPrefix ? state : null, head.seq);
    } catch {
      // The cached prefix no longer fits what the database holds: replay from the start.
      state = await this.catchUp(groupId, null, head.seq);
    }
    this.remember(groupId, state);
    return state;
  }

  private async catchUp(groupId: GroupId, from: GroupState | null, headSeq: number): Promise<GroupState> {
    let state = from;
    while (!state || state.seq < headSeq) {
      const entries = await this.store.readLog(groupId, state ? state.seq + 1 : 0, READ_CHUNK);
      if (entries.length === 0) break;
      state = await extendLog(state, entries, { now: this.now() });
    }
    if (!state) throw new Error(`group ${groupId} has a head but no entries`);
    return state;
  }

  /** Records a state just validated and stored by this process. */
  remember(groupId: GroupId, state: GroupState): void {
    this.cache.delete(groupId);
    this.cache.set(groupId, state);
    if (this.cache.size > CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!);
  }
}
