/**
 * The storage API's procedures that `GroupClient` calls, answered from a `MemoryServer`
 * in the shape the tRPC client gives (errors are `TRPCClientError`s carrying a Conclave
 * code), so the real client SDK runs in protocol tests — in Node and in Chromium —
 * without an HTTP server. Like `MemoryServer` it checks nothing but compare-and-set
 * (for logs, notes and device chains): a server the clients must not rely on. The `lie` helpers play a server that rewinds,
 * swaps or hides notes behind the clients' backs.
 */
import { TRPCClientError } from '@trpc/client';
import type { ApiClient, ApiSession } from '../../src/client/api-session.ts';
import { deviceEntryHash } from '../../src/crypto/device-chain.ts';
import { entryHash } from '../../src/crypto/group-log.ts';
import { fingerprintOf, type DeviceIdentity } from '../../src/crypto/identity.ts';
import type { ApiErrorData } from '../../src/protocol/api.ts';
import type { Fingerprint, GroupId, NoteId } from '../../src/protocol/ids.ts';
import type { DeviceEntry, KeyBox, LogEntry, NoteEnvelope, PublicBundle } from '../../src/protocol/schemas.ts';
import { MemoryServer } from './memory-server.ts';

function refused(data: ApiErrorData, message: string): TRPCClientError<never> {
  return new TRPCClientError(message, { result: { error: { message, code: -32000, data: { conclave: data } } } } as never);
}

export class MemoryApi {
  readonly server = new MemoryServer();
  private readonly bundles = new Map<Fingerprint, PublicBundle>();
  /** Device chains by person id, as appended. */
  readonly people = new Map<Fingerprint, DeviceEntry[]>();
  /** Which person's chain last named each device as linked (or founded); unlinks drop it. */
  private readonly personOf = new Map<Fingerprint, Fingerprint>();
  /** Link offers by lookup. */
  private readonly offers = new Map<string, { bundle: PublicBundle; expiresAt: number }>();
  /** The list cursor of each note's last change (`group/note` → change number). */
  private readonly changes = new Map<string, number>();
  private changeCounter = 0;

  /** A signed-in session for a device (its bundle published, as sign-in does). */
  session(identity: DeviceIdentity): ApiSession {
    this.bundles.set(identity.fingerprint, identity.bundle);
    const api = this.client(identity.fingerprint);
    return { api, token: 'memory', expiresAt: Number.MAX_SAFE_INTEGER, logout: async () => undefined };
  }

  private touch(groupId: GroupId, noteId: NoteId): void {
    this.changes.set(this.server.noteKey(groupId, noteId), ++this.changeCounter);
  }

  private versions(groupId: GroupId, noteId: NoteId): NoteEnvelope[] {
    return this.server.notes.get(this.server.noteKey(groupId, noteId)) ?? [];
  }

  /** Versions of a note as stored (copies). */
  stored(groupId: GroupId, noteId: NoteId): NoteEnvelope[] {
    return structuredClone(this.versions(groupId, noteId));
  }

  readonly lie = {
    /** Forgets every version after `version` and lists the note again as changed. */
    rollBack: (groupId: GroupId, noteId: NoteId, version: number): void => {
      this.versions(groupId, noteId).splice(version);
      this.touch(groupId, noteId);
    },
    /** Drops the note entirely, with no deletion. */
    vanish: (groupId: GroupId, noteId: NoteId): void => {
      this.server.notes.delete(this.server.noteKey(groupId, noteId));
      this.changes.delete(this.server.noteKey(groupId, noteId));
    },
    /** Replaces version `envelope.version` (and drops any later one). */
    replace: (envelope: NoteEnvelope): void => {
      const versions = this.versions(envelope.groupId, envelope.noteId);
      versions.splice(envelope.version - 1, versions.length, structuredClone(envelope));
      this.touch(envelope.groupId, envelope.noteId);
    },
    /** Answers NOT_FOUND for one version of a note (a hole in its chain). */
    hide: (groupId: GroupId, noteId: NoteId, version: number): void => {
      delete this.versions(groupId, noteId)[version - 1];
    },
    /** Stores a version nobody honest would accept (a departed member's), as the next one. */
    inject: (envelope: NoteEnvelope): void => {
      this.server.putNote(envelope);
      this.touch(envelope.groupId, envelope.noteId);
    },
  };

  private client(me: Fingerprint): ApiClient {
    const server = this.server;
    const head = (groupId: GroupId) => {
      const log = server.log(groupId);
      const last = log.at(-1)!;
      return { seq: last.seq, hash: entryHash(last) };
    };
    const append = (groupId: GroupId, entries: LogEntry[], boxes: KeyBox[]) => {
      const expected = server.log(groupId).length;
      if (entries[0]!.seq !== expected) throw refused({ code: 'CONFLICT', head: head(groupId) }, 'the log has moved on');
      server.append(groupId, entries);
      server.postBoxes(boxes);
    };
    const chainAnswer = (person: Fingerprint) => {
      const entries = this.people.get(person);
      if (!entries) throw refused({ code: 'NOT_FOUND' }, 'no device chain is stored for this person');
      return { entries: structuredClone(entries), head: { seq: entries.length - 1, hash: deviceEntryHash(entries.at(-1)!) } };
    };
    const procedures = {
      people: {
        get: { query: async ({ person }: { person: Fingerprint }) => chainAnswer(person) },
        ofDevice: {
          query: async ({ device }: { device: Fingerprint }) => {
            const person = this.personOf.get(device);
            if (!person) throw refused({ code: 'NOT_FOUND' }, 'no device chain names this device');
            return chainAnswer(person);
          },
        },
        append: {
          mutate: async ({ person, entries }: { person: Fingerprint; entries: DeviceEntry[] }) => {
            const held = this.people.get(person) ?? [];
            if (entries[0]!.seq !== held.length) {
              throw refused({ code: 'CONFLICT', ...(held.length ? { head: { seq: held.length - 1, hash: deviceEntryHash(held.at(-1)!) } } : {}) } as ApiErrorData, 'the chain has moved on');
            }
            this.people.set(person, [...held, ...structuredClone(entries)]);
            for (const entry of entries) {
              if (entry.op === 'unlink') this.personOf.delete(entry.body.device);
              else this.personOf.set(fingerprintOf(entry.body.device), person);
            }
          },
        },
      },
      links: {
        offer: {
          mutate: async ({ lookup, bundle, expiresAt }: { lookup: string; bundle: PublicBundle; expiresAt: number }) => {
            this.offers.set(lookup, { bundle: structuredClone(bundle), expiresAt });
          },
        },
        find: {
          query: async ({ lookup }: { lookup: string }) => {
            const offer = this.offers.get(lookup);
            if (!offer) throw refused({ code: 'NOT_FOUND' }, 'no device is waiting under this code');
            return structuredClone(offer);
          },
        },
      },
      groups: {
        create: { mutate: async ({ entries, boxes = [] }: { entries: LogEntry[]; boxes?: KeyBox[] }) => append(entries[0]!.groupId, entries, boxes) },
        append: { mutate: async ({ groupId, entries, boxes = [] }: { groupId: GroupId; entries: LogEntry[]; boxes?: KeyBox[] }) => append(groupId, entries, boxes) },
        log: {
          query: async ({ groupId, fromSeq = 0, limit = 500 }: { groupId: GroupId; fromSeq?: number; limit?: number }) => {
            const log = server.log(groupId);
            if (log.length === 0) throw refused({ code: 'NOT_FOUND' }, 'no such group');
            return { entries: log.slice(fromSeq, fromSeq + limit), head: head(groupId) };
          },
        },
      },
      boxes: {
        post: { mutate: async ({ boxes }: { boxes: KeyBox[] }) => server.postBoxes(boxes) },
        mine: {
          query: async ({ groupId, generation }: { groupId: GroupId; generation?: number }) =>
            server.boxesFor(groupId, { kind: 'member', id: me }).filter((b) => generation === undefined || b.generation === generation),
        },
      },
      mailbox: {
        request: { mutate: async () => undefined },
        pending: { query: async () => [] },
      },
      identities: {
        get: {
          query: async ({ fingerprint }: { fingerprint: Fingerprint }) => {
            const bundle = this.bundles.get(fingerprint);
            if (!bundle) throw refused({ code: 'NOT_FOUND' }, 'no such device');
            return structuredClone(bundle);
          },
        },
      },
      notes: {
        put: {
          mutate: async ({ envelope }: { envelope: NoteEnvelope }) => {
            const current = this.versions(envelope.groupId, envelope.noteId).length;
            if (envelope.version !== current + 1) throw refused({ code: 'CONFLICT', currentVersion: current }, `the stored version is ${current}`);
            server.putNote(envelope);
            this.touch(envelope.groupId, envelope.noteId);
            return { noteId: envelope.noteId, version: envelope.version, cursor: this.changeCounter };
          },
        },
        get: {
          query: async ({ groupId, noteId, version }: { groupId: GroupId; noteId: NoteId; version?: number }) => {
            const versions = this.versions(groupId, noteId);
            const found = version === undefined ? versions.at(-1) : versions[version - 1];
            if (!found) throw refused({ code: 'NOT_FOUND' }, 'no such note');
            return structuredClone(found);
          },
        },
        list: {
          query: async ({ groupId, since = 0, limit = 200 }: { groupId: GroupId; since?: number; limit?: number }) => {
            const changed = [...this.changes.entries()]
              .filter(([key, change]) => key.startsWith(`${groupId}/`) && change > since && server.notes.has(key))
              .sort((a, b) => a[1] - b[1]);
            const page = changed.slice(0, limit);
            const items = page.map(([key]) => {
              const { body, ...header } = structuredClone(server.notes.get(key)!.at(-1)!);
              return { ...header, bodyBytes: body.length };
            });
            return { items, cursor: page.at(-1)?.[1] ?? since, more: changed.length > limit };
          },
        },
      },
    };
    return procedures as unknown as ApiClient;
  }
}
