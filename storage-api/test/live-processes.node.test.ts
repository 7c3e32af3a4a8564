/**
 * Two real API processes on one PostgreSQL schema (docs/OPERATIONS.md "Several API
 * processes"): a write on process 1 reaches a stream on process 2 (and the other way
 * round) through LISTEN/NOTIFY; the listening side killed and started again is
 * reconnected to, and its first `heads` shows what moved while it was down.
 *
 * Prints the delay from `writeNote` on process 1 (sealing, signing, `notes.put`) to its
 * event arriving on a stream of process 2.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GroupId, LiveEvent } from '@conclave/shared/protocol';
import { startApiProcess, type ApiProcess } from './support/api-process.ts';
import { newDevice, type Device } from './support/clients.ts';
import { openLive, type LiveSocket } from './support/live-socket.ts';
import { pgQuery, TEST_DATABASE_URL } from './support/server.ts';

const NOTES_TIMED = 20;
const isNote = (groupId: GroupId, noteId: string) => (e: LiveEvent) => e.type === 'note' && e.groupId === groupId && e.noteId === noteId;

describe('live events across two API processes on one PostgreSQL', () => {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const processes: ApiProcess[] = [];
  const sockets: LiveSocket[] = [];
  let one: ApiProcess;
  let two: ApiProcess;
  let writer: Device;
  let reader: Device;
  let groupId: GroupId;

  const start = async (port = 0) => {
    const started = await startApiProcess({ databaseUrl: TEST_DATABASE_URL, schema, port });
    processes.push(started);
    return started;
  };

  async function stream(device: Device, url: string): Promise<LiveSocket> {
    const socket = await openLive(url, device.session.token);
    sockets.push(socket);
    await socket.waitEvent((e) => e.type === 'heads', 'heads');
    return socket;
  }

  beforeAll(async () => {
    await pgQuery(`CREATE SCHEMA ${schema}`);
    // One after the other: the first migrates the schema.
    one = await start();
    two = await start();
    writer = await newDevice('Writer', one.url);
    reader = await newDevice('Reader', two.url);
    ({ groupId } = await writer.client.createGroup());
    await writer.client.addMember(groupId, reader.fingerprint, 'member');
  }, 60_000);

  afterAll(async () => {
    for (const socket of sockets) await socket.close();
    for (const p of processes) await p.kill('SIGTERM');
    await pgQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  });

  it('a note written on process 1 reaches a stream on process 2', async () => {
    const socket = await stream(reader, two.url);
    const delays: number[] = [];
    const afterAnswer: number[] = [];
    for (let i = 0; i < NOTES_TIMED; i++) {
      const writing = performance.now();
      const { noteId, version } = await writer.client.writeNote(groupId, { title: `Note ${i}`, body: '' });
      const written = performance.now();
      const message = await socket.waitMessage((m) => m.result?.type === 'data' && isNote(groupId, noteId)(m.result.data as LiveEvent), `note ${i} on process 2`);
      const arrived = socket.receivedAt[socket.messages.indexOf(message)]!;
      delays.push(arrived - writing);
      afterAnswer.push(arrived - written);
      expect(message.result!.data).toMatchObject({ type: 'note', groupId, noteId, version });
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!.toFixed(1);
    // The API publishes before it answers, so an event may arrive before the writer has read its own answer.
    const beforeAnswer = afterAnswer.filter((ms) => ms <= 0).length;
    console.log(
      `writeNote on process 1 → its event on process 2: median ${median(delays)} ms, max ${Math.max(...delays).toFixed(1)} ms; ` +
        `${beforeAnswer} of ${NOTES_TIMED} events arrived before the writer read notes.put's answer`,
    );
  });

  it("a member added on process 1 gets the group and its key box on process 2; a key request on process 2 reaches the admin's stream on process 1", async () => {
    const newcomer = await newDevice('Newcomer', two.url);
    const newcomerLive = await stream(newcomer, two.url);
    const adminLive = await stream(writer, one.url);
    await writer.client.addMember(groupId, newcomer.fingerprint, 'member');
    await newcomerLive.waitEvent((e) => e.type === 'box', 'the box');
    expect(newcomerLive.events().slice(1).map((e) => e.type)).toEqual(['log', 'box']);
    await newcomer.client.requestKey(groupId);
    expect(await adminLive.waitEvent((e) => e.type === 'request', 'the request')).toEqual({ type: 'request', groupId });
    // The newcomer waits in the mailbox: when the admin's device comes online on process 1,
    // its stream on process 2 hears it (and can dial it).
    await stream(writer, one.url);
    expect(await newcomerLive.waitEvent((e) => e.type === 'online' && e.device === writer.fingerprint, 'online')).toEqual({ type: 'online', groupId, device: writer.fingerprint });
  });

  it('the listening process killed and started again: the client reconnects and its heads show what moved meanwhile', async () => {
    const socket = await stream(reader, two.url);
    const before = (socket.events()[0] as Extract<LiveEvent, { type: 'heads' }>).groups.find((g) => g.groupId === groupId)!;
    await two.kill('SIGKILL');
    await socket.waitClosed();

    const { noteId } = await writer.client.writeNote(groupId, { title: 'While process 2 was down', body: '' });
    const { cursor } = await writer.session.api.notes.list.query({ groupId, since: 0, limit: 500 });
    two = await start(two.port);

    const again = await stream(reader, two.url);
    const after = (again.events()[0] as Extract<LiveEvent, { type: 'heads' }>).groups.find((g) => g.groupId === groupId)!;
    expect(after).toMatchObject({ seq: before.seq, noteCursor: cursor });
    expect(cursor).toBeGreaterThan(before.noteCursor);
    expect(noteId).toBeTruthy();
    // And live events flow to the new process.
    const next = await writer.client.writeNote(groupId, { title: 'After the restart', body: '' });
    await again.waitEvent(isNote(groupId, next.noteId), 'a note after the restart');
  });
});
