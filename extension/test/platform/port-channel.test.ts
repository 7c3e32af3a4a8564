/**
 * A runtime port as a handshake channel (extension/src/p2p/port-channel.ts), over a
 * fake port pair with Chrome's semantics: ordered text both ways, early messages
 * kept for a late handler, queued sends for a late port, close in both directions.
 */
import { describe, expect, it, vi } from 'vitest';
import { runHandshake, memoryChannelPair, type MessageChannel } from '@conclave/shared/p2p';
import { channelFromPort, deferredChannel, pipeChannels } from '../../src/p2p/port-channel.ts';
import { fakePortPair } from './support/fake-runtime.ts';

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

function collect(channel: MessageChannel): unknown[] {
  const got: unknown[] = [];
  channel.onMessage((data) => got.push(data));
  return got;
}

describe('channelFromPort', () => {
  it('carries text both ways, in order', async () => {
    const [left, right] = fakePortPair('conclave.p2p:in:test-0001');
    const a = channelFromPort(left);
    const b = channelFromPort(right);
    const atA = collect(a);
    const atB = collect(b);
    for (let i = 0; i < 50; i++) a.send(`a${i}`);
    b.send('b0');
    b.send('b1');
    await vi.waitFor(() => expect(atB).toHaveLength(50));
    expect(atB).toEqual(Array.from({ length: 50 }, (_, i) => `a${i}`));
    await vi.waitFor(() => expect(atA).toEqual(['b0', 'b1']));
  });

  it('keeps messages that arrive before the first handler and replays them to it', async () => {
    const [left, right] = fakePortPair('conclave.p2p:in:test-0002');
    const b = channelFromPort(right);
    left.postMessage('early 1');
    left.postMessage('early 2');
    await tick();
    const got = collect(b);
    expect(got).toEqual(['early 1', 'early 2']);
    left.postMessage('late');
    await vi.waitFor(() => expect(got).toEqual(['early 1', 'early 2', 'late']));
  });

  it('closing one side closes the other, and close handlers run once', async () => {
    const [left, right] = fakePortPair('conclave.p2p:in:test-0003');
    const a = channelFromPort(left);
    const b = channelFromPort(right);
    const closedA = vi.fn();
    const closedB = vi.fn();
    a.onClose(closedA);
    b.onClose(closedB);
    a.close();
    a.close();
    expect(closedA).toHaveBeenCalledTimes(1);
    expect(left.disconnected).toBe(true);
    await vi.waitFor(() => expect(closedB).toHaveBeenCalledTimes(1));
    // Sends after the close are dropped, not thrown.
    expect(() => a.send('x')).not.toThrow();
    expect(() => b.send('x')).not.toThrow();
    // A handler added after the close still hears about it.
    const late = vi.fn();
    b.onClose(late);
    await tick();
    expect(late).toHaveBeenCalledTimes(1);
  });

  it('a message that is not text closes the channel (protocol violation)', async () => {
    const [left, right] = fakePortPair('conclave.p2p:in:test-0004');
    const b = channelFromPort(right);
    const got = collect(b);
    const closed = vi.fn();
    b.onClose(closed);
    left.postMessage({ not: 'text' });
    await vi.waitFor(() => expect(closed).toHaveBeenCalledTimes(1));
    expect(got).toEqual([]);
    expect(right.disconnected).toBe(true);
  });

  it('a send on a port the other side already dropped closes the channel instead of throwing', async () => {
    const [left, right] = fakePortPair('conclave.p2p:in:test-0005');
    const a = channelFromPort(left);
    const closed = vi.fn();
    a.onClose(closed);
    // Simulate the far context vanishing without our onDisconnect having fired yet.
    (left as unknown as { disconnect(): void }).disconnect();
    right.disconnect();
    expect(() => a.send('x')).not.toThrow();
    expect(closed).toHaveBeenCalled();
  });
});

describe('deferredChannel', () => {
  it('queues sends until a far end is attached, then flushes them in order', async () => {
    const outer = deferredChannel();
    outer.send('1');
    outer.send('2');
    const [left, right] = fakePortPair('conclave.p2p:out:test-0006');
    const far = channelFromPort(right);
    const got = collect(far);
    outer.attach(channelFromPort(left));
    outer.send('3');
    await vi.waitFor(() => expect(got).toEqual(['1', '2', '3']));
  });

  it('closed before the far end arrives: the far end is closed when it does', async () => {
    const outer = deferredChannel();
    const closed = vi.fn();
    outer.onClose(closed);
    outer.close();
    expect(closed).toHaveBeenCalledTimes(1);
    const [left, right] = fakePortPair('conclave.p2p:out:test-0007');
    const far = channelFromPort(right);
    const farClosed = vi.fn();
    far.onClose(farClosed);
    outer.attach(channelFromPort(left));
    await vi.waitFor(() => expect(farClosed).toHaveBeenCalledTimes(1));
  });

  it('a second attach is refused (closed), the first keeps working', async () => {
    const outer = deferredChannel();
    const [first, second] = memoryChannelPair();
    const [third] = memoryChannelPair();
    const thirdClosed = vi.fn();
    third.onClose(thirdClosed);
    outer.attach(first);
    outer.attach(third);
    expect(thirdClosed).toHaveBeenCalledTimes(1);
    const got = collect(second);
    outer.send('still here');
    await tick();
    expect(got).toEqual(['still here']);
  });
});

describe('pipeChannels', () => {
  it('a handshake runs end to end through a relay of two port pairs (the offscreen document in the middle)', async () => {
    // background A ⇄ port ⇄ [offscreen A: pipe] ⇄ "data connection" ⇄ [offscreen B: pipe] ⇄ port ⇄ background B
    const [bgA, offA] = fakePortPair('conclave.p2p:out:test-0008');
    const [bgB, offB] = fakePortPair('conclave.p2p:in:test-0009');
    const [connA, connB] = memoryChannelPair();
    pipeChannels(channelFromPort(offA), connA);
    pipeChannels(channelFromPort(offB), connB);
    const a = channelFromPort(bgA);
    const b = channelFromPort(bgB);
    const echo = collect(a);
    b.onMessage((text) => b.send(`echo ${String(text)}`));
    a.send('hello');
    await vi.waitFor(() => expect(echo).toEqual(['echo hello']));
    const bClosed = vi.fn();
    b.onClose(bClosed);
    a.close();
    await vi.waitFor(() => expect(bClosed).toHaveBeenCalledTimes(1));
  });

  it('runHandshake over a port channel ends cleanly when the far side disconnects', async () => {
    const [left, right] = fakePortPair('conclave.p2p:in:test-0010');
    const channel = channelFromPort(left);
    const outcome = runHandshake(channel, { start: () => ({ send: [] }), receive: async () => ({ send: [] }) }, { timeoutMs: 5_000 });
    right.disconnect();
    await expect(outcome).resolves.toMatchObject({ kind: 'refused', reason: 'closed' });
  });
});
