/**
 * A stand-in for the storage API in protocol unit tests: it keeps logs, key boxes and
 * notes in memory and applies compare-and-set, nothing more. It trusts nothing and
 * checks nothing else, like a server the clients must not rely on. The real API has
 * its own integration tests.
 */
import type { GroupId, InviteId, NoteId } from '../../src/protocol/ids.ts';
import type { KeyBox, KeyBoxRecipient, LogEntry, NoteEnvelope } from '../../src/protocol/schemas.ts';

export class MemoryServer {
  readonly logs = new Map<GroupId, LogEntry[]>();
  readonly boxes: KeyBox[] = [];
  readonly notes = new Map<string, NoteEnvelope[]>();

  append(groupId: GroupId, entries: LogEntry[]): void {
    const log = this.logs.get(groupId) ?? [];
    for (const entry of entries) {
      if (entry.seq !== log.length) throw new Error(`CONFLICT: expected seq ${log.length}, got ${entry.seq}`);
      log.push(entry);
    }
    this.logs.set(groupId, log);
  }

  log(groupId: GroupId): LogEntry[] {
    return structuredClone(this.logs.get(groupId) ?? []);
  }

  postBoxes(boxes: KeyBox[]): void {
    this.boxes.push(...structuredClone(boxes));
  }

  boxesFor(groupId: GroupId, recipient: KeyBoxRecipient): KeyBox[] {
    return structuredClone(this.boxes.filter((b) => b.groupId === groupId && b.recipient.kind === recipient.kind && b.recipient.id === recipient.id));
  }

  putNote(envelope: NoteEnvelope): void {
    const key = `${envelope.groupId}/${envelope.noteId}`;
    const versions = this.notes.get(key) ?? [];
    if (envelope.version !== versions.length + 1) throw new Error(`CONFLICT: note is at version ${versions.length}`);
    versions.push(structuredClone(envelope));
    this.notes.set(key, versions);
  }

  latestNotes(groupId: GroupId): NoteEnvelope[] {
    return [...this.notes.entries()]
      .filter(([key]) => key.startsWith(`${groupId}/`))
      .map(([, versions]) => structuredClone(versions[versions.length - 1]!));
  }

  inviteBox(groupId: GroupId, invite: InviteId): KeyBox | undefined {
    return this.boxesFor(groupId, { kind: 'invite', id: invite })[0];
  }

  noteKey(groupId: GroupId, noteId: NoteId): string {
    return `${groupId}/${noteId}`;
  }
}
