/**
 * A note writer in a process of its own, for the fan-out bench: its `notes.put` answer
 * must not wait behind the thousands of events the bench's own process is receiving, and
 * its sealing must not delay their receipt.
 *
 * `startWriter()` forks it; it makes an identity (its single-device chain is reported, for
 * the bench to add it to groups as a person) and, per API address, signs in (`signIn(url)`). `put(url, groupId,
 * seed, noteId)` seals version 1 of the note with generation 0's key (untimed), then
 * sends `notes.put` and answers the epoch milliseconds (`performance.timeOrigin +
 * performance.now()`, comparable across processes) at which the call was sent and
 * answered. It stops on `close()` or when the parent goes away.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { signIn, type ApiSession } from '@conclave/shared/client';
import { generateIdentity, generationKeys, importAeadKey, sealNote, singleDeviceChain } from '@conclave/shared/crypto';
import { fromBase64url, toBase64url, type DeviceEntry, type GroupId, type NoteId } from '@conclave/shared/protocol';

export interface PutTimes {
  /** Epoch ms: sent, and answered. */
  start: number;
  end: number;
}

export interface Writer {
  /** The writer's person: a chain of its one device (what an `add` entry carries). */
  chain: DeviceEntry[];
  signIn(url: string): Promise<void>;
  put(url: string, groupId: GroupId, seed: Uint8Array, noteId: NoteId): Promise<PutTimes>;
  close(): Promise<void>;
}

type Request = { id: number; op: 'signIn'; url: string } | { id: number; op: 'put'; url: string; groupId: GroupId; seed: string; noteId: NoteId };
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
type FromChild = { chain: DeviceEntry[] } | { id: number; result?: unknown; error?: string };

export function startWriter(): Promise<Writer> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const waiting = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  let next = 0;
  const call = <T>(request: WithoutId<Request>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = next++;
      waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ ...request, id });
    });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      const error = new Error(`the writer process exited with ${code}`);
      reject(error);
      for (const w of waiting.values()) w.reject(error);
    });
    child.on('message', (message: FromChild) => {
      if ('chain' in message) {
        resolve({
          chain: message.chain,
          signIn: (url) => call({ op: 'signIn', url }),
          put: (url, groupId, seed, noteId) => call<PutTimes>({ op: 'put', url, groupId, seed: toBase64url(seed), noteId }),
          async close() {
            if (child.exitCode === null && child.connected) child.disconnect();
            const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
            await exited;
            clearTimeout(timer);
          },
        });
        return;
      }
      const w = waiting.get(message.id);
      waiting.delete(message.id);
      if (message.error !== undefined) w?.reject(new Error(message.error));
      else w?.resolve(message.result);
    });
  });
}

// --- the child ------------------------------------------------------------------------

async function child(): Promise<void> {
  const identity = await generateIdentity();
  const sessions = new Map<string, ApiSession>();
  const send = (message: FromChild) => process.send?.(message);
  const run = async (request: Request): Promise<unknown> => {
    if (request.op === 'signIn') {
      sessions.set(request.url, await signIn(request.url, identity));
      return null;
    }
    const session = sessions.get(request.url);
    if (!session) throw new Error(`not signed in at ${request.url}`);
    const noteKey = await importAeadKey((await generationKeys(fromBase64url(request.seed, 32), request.groupId, 0)).noteKey);
    const envelope = await sealNote(identity, { groupId: request.groupId, noteId: request.noteId, version: 1, generation: 0 }, noteKey, { title: 'fan-out', body: 'x'.repeat(1000) });
    const start = performance.timeOrigin + performance.now();
    await session.api.notes.put.mutate({ envelope });
    return { start, end: performance.timeOrigin + performance.now() } satisfies PutTimes;
  };
  process.on('message', (request: Request) => {
    run(request).then(
      (result) => send({ id: request.id, result }),
      (error: unknown) => send({ id: request.id, error: (error as Error).message }),
    );
  });
  process.on('disconnect', () => process.exit(0));
  send({ chain: await singleDeviceChain(identity) });
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  await child();
}
