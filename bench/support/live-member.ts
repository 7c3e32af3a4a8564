/**
 * A Node device on the SDK that keeps one group up to date from its live stream, the
 * way a client reacts to events (docs/API.md "Live events"): `heads` or `log` past what
 * it holds → `sync`, then `fetchKey` if the synced log names a generation it has no key
 * for; `box` for a generation it does not hold → `fetchKey`. Work is coalesced: one
 * step at a time, and events arriving meanwhile make one more step.
 *
 * It notes (performance.now()) when the first `box` event of each generation arrived and
 * when, after a step, it first held that generation's key: what the rotation bench reads.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { GroupClient, MemoryKeyStore } from '@conclave/shared/client';
import type { LiveStatus, LiveStream } from '@conclave/shared/client';
import { currentGeneration, generateIdentity, type GroupState } from '@conclave/shared/crypto';
import type { GroupId } from '@conclave/shared/protocol';
import type { LiveEvent } from '@conclave/shared/protocol';

export class LiveMember {
  /** When this device first held the key of each generation (after a step). */
  readonly heldAt = new Map<number, number>();
  /** When the first `box` event of each generation arrived. */
  readonly boxAt = new Map<number, number>();
  /** Told when the first `box` event of a generation arrives, and when this device first holds its key. */
  onMark: ((what: 'box' | 'held', generation: number, at: number) => void) | null = null;
  status: LiveStatus = 'closed';
  removed = false;
  events = 0;
  steps = 0;
  failures: string[] = [];
  private stream: LiveStream | null = null;
  private seq = -1;
  private held = -1;
  private wantSync = false;
  private wantKey = false;
  private running: Promise<void> | null = null;

  constructor(
    readonly client: GroupClient,
    readonly groupId: GroupId,
  ) {}

  /** A new device, signed in, its person published; a member once an admin adds it and it `open`s the group. */
  static async create(url: string, groupId: GroupId): Promise<LiveMember> {
    const client = await GroupClient.connect(url, await generateIdentity(), new MemoryKeyStore());
    await client.publishPerson();
    return new LiveMember(client, groupId);
  }

  /** Takes up the group (after an admin added this device) and notes what it holds. */
  async open(): Promise<void> {
    await this.client.openGroup(this.groupId);
    await this.note();
  }

  /** Notes what a device that already keeps the group (its creator) holds. */
  async known(): Promise<void> {
    await this.note();
  }

  listen(): void {
    this.stream = this.client.live({
      WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
      onEvent: (event) => this.onEvent(event),
      onStatus: (status) => {
        this.status = status;
      },
    });
  }

  get idle(): boolean {
    return this.running === null;
  }

  async close(): Promise<void> {
    await this.stream?.close();
    await this.running;
  }

  private onEvent(event: LiveEvent): void {
    this.events++;
    switch (event.type) {
      case 'heads': {
        const mine = event.groups.find((g) => g.groupId === this.groupId);
        if (mine && mine.seq > this.seq) this.kick('sync');
        break;
      }
      case 'log':
        if (event.groupId === this.groupId && event.seq > this.seq) this.kick('sync');
        break;
      case 'box':
        if (event.groupId !== this.groupId) break;
        if (!this.boxAt.has(event.generation)) {
          const at = performance.now();
          this.boxAt.set(event.generation, at);
          this.onMark?.('box', event.generation, at);
        }
        if (event.generation > this.held) this.kick('key');
        break;
      case 'removed':
        if (event.groupId === this.groupId) this.removed = true;
        break;
      default:
        break;
    }
  }

  private kick(kind: 'sync' | 'key'): void {
    if (this.removed) return;
    if (kind === 'key') this.wantKey = true;
    else this.wantSync = true;
    this.running ??= this.loop().finally(() => {
      this.running = null;
    });
  }

  private async loop(): Promise<void> {
    while (this.wantSync || this.wantKey) {
      const key = this.wantKey;
      this.wantSync = this.wantKey = false;
      try {
        // One store read per step at most beyond the SDK's own (the store clones records, as IndexedDB does).
        let state = key ? null : await this.client.sync(this.groupId);
        let holds = state !== null && currentGeneration(state) <= this.held;
        if (!holds) {
          holds = await this.client.fetchKey(this.groupId);
          state = await this.client.state(this.groupId);
        }
        this.steps++;
        this.noteState(state!, holds);
      } catch (error) {
        if (!this.removed) this.failures.push((error as Error).message);
      }
    }
  }

  /** Records the log head and the newest generation held, and when it was first held. */
  private noteState(state: GroupState, holdsCurrent: boolean): void {
    this.seq = state.seq;
    if (!holdsCurrent) return;
    const generation = currentGeneration(state);
    this.held = Math.max(this.held, generation);
    if (this.heldAt.has(generation)) return;
    const at = performance.now();
    this.heldAt.set(generation, at);
    this.onMark?.('held', generation, at);
  }

  private async note(): Promise<void> {
    this.noteState(await this.client.state(this.groupId), (await this.client.keyHealth(this.groupId)).holdsCurrentKey);
  }
}
