/**
 * The WebSocket guard (services/socket-guard.ts) with a count that takes time, as when
 * it is asked of Redis: messages reach tRPC in the order they came, however their counts
 * resolve; heartbeats are never counted; over the limit the socket closes (1008) and the
 * message is dropped; a socket with too many messages waiting is over the limit; nothing
 * reaches tRPC once the socket has closed. (A stand-in socket: only the guard is under test.)
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { guardSocket, OVER_LIMIT_CLOSE_CODE } from '../src/services/socket-guard.ts';

class StandInSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  closedWith: number | null = null;
  sent: string[] = [];
  close(code: number): void {
    if (this.closedWith !== null) return;
    this.closedWith = code;
    this.readyState = 3;
    this.emit('close', code);
  }
  send(text: string): void {
    this.sent.push(text);
  }
}

const settle = (ms = 30) => new Promise((resolve) => setTimeout(resolve, ms));

function guarded(overLimit: () => Promise<boolean>) {
  const socket = new StandInSocket();
  const delivered: string[] = [];
  guardSocket(socket as unknown as WebSocket, { overLimit, idleMs: 60_000 });
  socket.on('message', (data: Buffer) => delivered.push(data.toString()));
  const message = (text: string) => socket.emit('message', Buffer.from(text), false);
  return { socket, delivered, message };
}

describe('the WebSocket guard with a count that takes time', () => {
  it('delivers messages in the order they came, each once its count has answered, however long that takes', async () => {
    const delays = [20, 1, 10, 0];
    let asked = 0;
    const { delivered, message } = guarded(() => new Promise((resolve) => setTimeout(() => resolve(false), delays[asked++ % delays.length])));
    for (const text of ['a', 'b', 'PING', 'c', 'd']) message(text);
    expect(delivered).toEqual([]);
    await settle(100);
    expect(delivered).toEqual(['a', 'b', 'PING', 'c', 'd']);
    // PING was not counted.
    expect(asked).toBe(4);
  });

  it('closes the socket with 1008 past the limit and drops that message and what follows', async () => {
    let count = 0;
    const { socket, delivered, message } = guarded(async () => ++count > 2);
    for (const text of ['a', 'b', 'c', 'd']) message(text);
    await settle();
    expect(delivered).toEqual(['a', 'b']);
    expect(socket.closedWith).toBe(OVER_LIMIT_CLOSE_CODE);
  });

  it('a socket with more than 32 messages waiting for their count is over the limit', async () => {
    const { socket, delivered, message } = guarded(() => new Promise((resolve) => setTimeout(() => resolve(false), 5)));
    for (let i = 0; i < 40; i++) message(`m${i}`);
    expect(socket.closedWith).toBe(OVER_LIMIT_CLOSE_CODE);
    await settle();
    expect(delivered).toEqual([]);
  });

  it('refuses a batch without passing it on, and answers heartbeats at once when nothing waits', async () => {
    const { socket, delivered, message } = guarded(async () => false);
    message('PING');
    expect(delivered).toEqual(['PING']);
    message(' [{"id":1}]');
    await settle();
    expect(delivered).toEqual(['PING']);
    expect(socket.sent[0]).toMatch(/batches are not accepted/);
  });

  it('a listener that throws closes that socket (1011) instead of stopping the process', async () => {
    const { socket, message } = guarded(async () => false);
    socket.on('message', () => {
      throw new Error('listener failed');
    });
    message('a');
    await settle();
    expect(socket.closedWith).toBe(1011);
  });
});
