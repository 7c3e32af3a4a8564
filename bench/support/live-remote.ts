/**
 * A live device (bench/support/live-member.ts) in a process of its own, driven over IPC,
 * for the rotation bench: devices sharing the bench's process run on one event loop, so
 * one of them finishing a call waits for the others' work; a device here runs beside
 * them as a device with its own CPU would (on a 2-core machine it still shares the cores).
 *
 * `startRemote(url)` forks it; it makes an identity and signs in. Then, in order:
 * `create()` (a new group, as its admin) or `join(groupId)` (after an admin added it),
 * `listen()` (its stream open, reacting to events), and as admin `add`, `rotate`,
 * `remove`. Times are epoch milliseconds (`performance.timeOrigin + performance.now()`),
 * comparable across processes on one machine: `boxAt` and `heldAt` (when the first `box`
 * event of each generation arrived, and when it first held that generation's key) and
 * the start and end of each rotation call. It stops on `close()`
 * or when the parent goes away.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { GroupClient, MemoryKeyStore } from '@conclave/shared/client';
import { generateIdentity } from '@conclave/shared/crypto';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import { LiveMember } from './live-member.ts';

/** Epoch milliseconds with sub-millisecond precision. */
export const epochNow = (): number => performance.timeOrigin + performance.now();

export interface RotationTimes {
  generation: number;
  /** Epoch ms: the call started, and resolved. */
  start: number;
  end: number;
}

export interface Remote {
  fingerprint: Fingerprint;
  /** Epoch ms at which it first held each generation's key. */
  heldAt: Map<number, number>;
  /** Epoch ms at which the first `box` event of each generation arrived. */
  boxAt: Map<number, number>;
  create(): Promise<GroupId>;
  join(groupId: GroupId): Promise<void>;
  listen(): Promise<void>;
  add(fingerprint: Fingerprint): Promise<void>;
  rotate(): Promise<RotationTimes>;
  remove(fingerprint: Fingerprint): Promise<RotationTimes>;
  close(): Promise<void>;
}

type Request = { id: number; op: 'create' | 'join' | 'listen' | 'add' | 'rotate' | 'remove'; arg?: string };
type FromChild = { fingerprint: Fingerprint } | { mark: 'box' | 'held'; generation: number; at: number } | { id: number; result?: unknown; error?: string };

export function startRemote(url: string): Promise<Remote> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [url], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const heldAt = new Map<number, number>();
  const boxAt = new Map<number, number>();
  const waiting = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  let next = 0;
  const call = <T>(op: Request['op'], arg?: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = next++;
      waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ id, op, arg } satisfies Request);
    });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      const error = new Error(`a bench device process exited with ${code}`);
      reject(error);
      for (const w of waiting.values()) w.reject(error);
    });
    child.on('message', (message: FromChild) => {
      if ('mark' in message) (message.mark === 'held' ? heldAt : boxAt).set(message.generation, message.at);
      else if ('id' in message) {
        const w = waiting.get(message.id);
        waiting.delete(message.id);
        if (message.error !== undefined) w?.reject(new Error(message.error));
        else w?.resolve(message.result);
      } else
        resolve({
          fingerprint: message.fingerprint,
          heldAt,
          boxAt,
          create: () => call<GroupId>('create'),
          join: (groupId) => call('join', groupId),
          listen: () => call('listen'),
          add: (fingerprint) => call('add', fingerprint),
          rotate: () => call<RotationTimes>('rotate'),
          remove: (fingerprint) => call<RotationTimes>('remove', fingerprint),
          async close() {
            if (child.exitCode === null && child.connected) child.disconnect();
            const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
            await exited;
            clearTimeout(timer);
          },
        });
    });
  });
}

// --- the child ------------------------------------------------------------------------

async function child(url: string): Promise<void> {
  const send = (message: FromChild) => process.send?.(message);
  const client = await GroupClient.connect(url, await generateIdentity(), new MemoryKeyStore());
  // Its person (a chain of this one device) is published first, as a client's first run does: an admin adds people the server knows.
  await client.publishPerson();
  let member: LiveMember | null = null;
  let groupId: GroupId | null = null;
  const take = (m: LiveMember) => {
    member = m;
    // The member's times are this process's performance.now(): sent as epoch time.
    m.onMark = (mark, generation, at) => send({ mark, generation, at: performance.timeOrigin + at });
  };
  const timed = async (run: () => Promise<{ generation: number }>): Promise<RotationTimes> => {
    const start = epochNow();
    const { generation } = await run();
    return { generation, start, end: epochNow() };
  };
  const ops: Record<Request['op'], (arg?: string) => Promise<unknown>> = {
    async create() {
      ({ groupId } = await client.createGroup({ policy: 'invite-trust' }));
      take(new LiveMember(client, groupId));
      await member!.known();
      return groupId;
    },
    async join(arg) {
      groupId = arg as GroupId;
      take(new LiveMember(client, groupId));
      await member!.open();
    },
    async listen() {
      member!.listen();
      while (member!.status !== 'open') await new Promise((r) => setTimeout(r, 2));
    },
    add: (arg) => client.addMember(groupId!, arg as Fingerprint, 'member'),
    rotate: () => timed(() => client.rotateKey(groupId!)),
    remove: (arg) => timed(() => client.removeMember(groupId!, arg as Fingerprint)),
  };
  process.on('message', (request: Request) => {
    ops[request.op](request.arg).then(
      (result) => send({ id: request.id, result }),
      (error: unknown) => send({ id: request.id, error: (error as Error).message }),
    );
  });
  process.on('disconnect', () => {
    void (member as LiveMember | null)?.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
  send({ fingerprint: client.fingerprint });
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  await child(process.argv[2]!);
}
