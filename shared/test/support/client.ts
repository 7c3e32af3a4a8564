/**
 * A protocol-level client for tests: one device's identity, its validated view of a
 * group, the seeds it holds and the trust it has in others — what the extension keeps
 * in IndexedDB, without the UI.
 */
import type { Fingerprint, GroupId, NoteId } from '../../src/protocol/ids.ts';
import type { LogEntry, LogHead, NoteEnvelope } from '../../src/protocol/schemas.ts';
import { generateIdentity, type DeviceIdentity } from '../../src/crypto/identity.ts';
import { currentGeneration, logHead, type GroupState } from '../../src/crypto/group-log.ts';
import { extendLog } from '../../src/crypto/log-replay.ts';
import { generationKeys, seedChain } from '../../src/crypto/generations.ts';
import { newNoteId, openNote, sealNote, type NotePlaintext } from '../../src/crypto/note-envelope.ts';
import { openKeyBox, openerFor } from '../../src/crypto/key-box.ts';
import type { TrustState } from '../../src/crypto/handshake.ts';
import type { MemoryServer } from './memory-server.ts';

export class TestClient {
  state: GroupState | null = null;
  pinned: LogHead | null = null;
  readonly seeds = new Map<number, Uint8Array>();
  readonly trust = new Map<Fingerprint, TrustState>();

  private constructor(
    readonly name: string,
    readonly identity: DeviceIdentity,
  ) {}

  static async create(name: string): Promise<TestClient> {
    return new TestClient(name, await generateIdentity());
  }

  get fingerprint(): Fingerprint {
    return this.identity.fingerprint;
  }

  get group(): GroupState {
    if (!this.state) throw new Error(`${this.name} has no group state`);
    return this.state;
  }

  /** Fetches the log and validates only what is new, refusing rollback and forks. */
  async sync(server: MemoryServer, groupId: GroupId): Promise<GroupState> {
    const log = server.log(groupId);
    const from = this.state ? this.state.seq + 1 : 0;
    this.state = await extendLog(this.state, log.slice(from), { pinned: this.pinned });
    this.pinned = logHead(this.state);
    return this.state;
  }

  adopt(state: GroupState): void {
    this.state = state;
    this.pinned = logHead(state);
  }

  async keepSeed(generation: number, seed: Uint8Array): Promise<void> {
    for (const [g, s] of await seedChain(this.group, generation, seed)) this.seeds.set(g, s);
  }

  /** Opens any box the server holds for this device at the newest generation. */
  async fetchKey(server: MemoryServer): Promise<boolean> {
    const generation = currentGeneration(this.group);
    for (const box of server.boxesFor(this.group.groupId, { kind: 'member', id: this.fingerprint })) {
      if (box.generation !== generation) continue;
      const seed = await openKeyBox(box, openerFor(this.identity), this.group);
      if (seed) {
        await this.keepSeed(generation, seed);
        return true;
      }
    }
    return false;
  }

  async write(server: MemoryServer, content: NotePlaintext, noteId: NoteId = newNoteId(), version = 1): Promise<NoteEnvelope> {
    const generation = currentGeneration(this.group);
    const seed = this.seeds.get(generation);
    if (!seed) throw new Error(`${this.name} has no key for generation ${generation}`);
    const { noteKey } = await generationKeys(seed, this.group.groupId, generation);
    const envelope = await sealNote(this.identity, { groupId: this.group.groupId, noteId, version, generation }, noteKey, content);
    server.putNote(envelope);
    return envelope;
  }

  async read(envelope: unknown, noteId: NoteId): Promise<NotePlaintext> {
    return openNote(envelope, this.group, { noteId }, async (g) => {
      const seed = this.seeds.get(g);
      return seed ? (await generationKeys(seed, this.group.groupId, g)).noteKey : undefined;
    });
  }

  async readAll(server: MemoryServer): Promise<string[]> {
    const titles: string[] = [];
    for (const envelope of server.latestNotes(this.group.groupId)) titles.push((await this.read(envelope, envelope.noteId)).title);
    return titles.sort();
  }

  trustOf = (fingerprint: Fingerprint): TrustState => this.trust.get(fingerprint) ?? 'unverified';

  seedFor = (generation: number): Uint8Array | undefined => this.seeds.get(generation);
}

export function appendAndAdopt(server: MemoryServer, client: TestClient, entries: LogEntry[], state: GroupState): void {
  server.append(state.groupId, entries);
  client.adopt(state);
}
