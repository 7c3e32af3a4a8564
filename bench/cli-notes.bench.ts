/**
 * Question: what does writing 1,000 notes through the `conclave` CLI cost, next to
 * 1,000 bare SDK `GroupClient.writeNote` calls in the same run?
 *
 * "Through the CLI" is measured the two ways a script would do it:
 * - batch: ONE process, `node cli/bin/conclave.js notes put <group> --batch`, the 1,000
 *   notes as JSON lines on its stdin (what docs/CLI.md tells scripts to use). It pays
 *   once for starting Node + tsx, the Argon2id key derivation and the sign-in, then for
 *   each note what the SDK pays plus the CLI's file stores (sealed group record, notes
 *   file, both written atomically with fsync).
 * - one process per note: `conclave notes put <group> --title … --body …`, the naive
 *   shell loop. Measured on a sample of PER_PROCESS_SAMPLE notes per round and scaled to
 *   1,000 (every note pays the whole start-up, so the cost is linear).
 * The baseline is a `GroupClient` in this process with the SDK's in-memory stores.
 *
 * All three write to the same real storage API (SQLite in a temporary directory), run
 * in a child process of its own (bench/support/bench-server.ts) so neither client
 * shares its event loop. Each subject writes into a fresh group per round (so no side
 * inherits a bigger group); rounds alternate the order (A B C, then C B A). Bodies are
 * 200 bytes of text.
 *
 * Run: npx tsx bench/cli-notes.bench.ts   (BENCH_NOTES, BENCH_ROUNDS, BENCH_PER_PROCESS to change the sizes)
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { GroupClient, MemoryKeyStore } from '@conclave/shared/client';
import { generateIdentity } from '@conclave/shared/crypto';
import { main } from '../cli/src/main.ts';
import type { Io } from '../cli/src/io.ts';
import { forkServer } from './support/bench-server.ts';
import { fmt, fmtRatio, header, median, pairedRatio, printTable, prng, type Samples } from './support/harness.ts';

const NOTES = Number(process.env.BENCH_NOTES ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const PER_PROCESS_SAMPLE = Number(process.env.BENCH_PER_PROCESS ?? 10);
const BODY_BYTES = 200;
const PASSPHRASE = 'bench passphrase, not a secret';
const BIN = fileURLToPath(new URL('../cli/bin/conclave.js', import.meta.url));
const REPO = fileURLToPath(new URL('..', import.meta.url));

header('notes through the CLI', `Question: writing ${NOTES.toLocaleString('en-US')} notes through \`conclave notes put\` (one batch process; one process per note), next to ${NOTES.toLocaleString('en-US')} bare SDK writeNote calls in the same run?`);

console.log(`Run: npx tsx bench/cli-notes.bench.ts   (notes ${NOTES}, rounds ${ROUNDS}, per-process sample ${PER_PROCESS_SAMPLE})\n`);

const random = prng(11);
const body = (i: number) => `note ${i}: ${Array.from({ length: BODY_BYTES }, () => 'abcdefghijklmnopqrstuvwxyz '[Math.floor(random() * 27)]).join('')}`.slice(0, BODY_BYTES);

const base = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'conclave-bench-cli-'));
const server = await forkServer({ mode: 'api', dataDir: join(base, 'api') });
const home = join(base, 'cli-home');
const env = { ...process.env, CONCLAVE_HOME: home, CONCLAVE_SERVER: server.url, CONCLAVE_PASSPHRASE: PASSPHRASE };

/** Runs the CLI in this process (set-up only). */
async function cliHere(args: string[]): Promise<string> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => void (out += t), err: (t) => void (err += t), env, readStdin: async () => '', askSecret: null, ask: null, runEditor: async () => 1 };
  const code = await main(args, io);
  if (code !== 0) throw new Error(`conclave ${args.join(' ')} exited ${code}: ${err}`);
  return out;
}

/** Runs the bin in a child process, as a script would. */
function cliProcess(args: string[], stdin?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [BIN, ...args], { cwd: REPO, env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`conclave ${args.slice(0, 3).join(' ')} failed: ${stderr}`));
      else resolve(stdout);
    });
    child.stdin?.end(stdin ?? '');
  });
}

await cliHere(['init', '--name', 'Bench']);
const identity = await generateIdentity();
const sdk = await GroupClient.connect(server.url, identity, new MemoryKeyStore());

let groupCount = 0;
async function cliGroup(): Promise<string> {
  const made = JSON.parse(await cliHere(['group', 'create', `bench ${++groupCount}`, '--json'])) as { groupId: string };
  return made.groupId;
}

const subjects: Array<{ name: string; notes: number; run: () => Promise<number> }> = [
  {
    name: 'bare SDK writeNote',
    notes: NOTES,
    async run() {
      const { groupId } = await sdk.createGroup();
      const start = performance.now();
      for (let i = 0; i < NOTES; i++) await sdk.writeNote(groupId, { title: `n${i}`, body: body(i) });
      return performance.now() - start;
    },
  },
  {
    name: 'CLI, one batch process',
    notes: NOTES,
    async run() {
      const groupId = await cliGroup();
      const lines = Array.from({ length: NOTES }, (_, i) => JSON.stringify({ title: `n${i}`, body: body(i) })).join('\n');
      const start = performance.now();
      const out = await cliProcess(['notes', 'put', '--batch', '--', groupId], lines);
      const elapsed = performance.now() - start;
      if (out.trim().split('\n').length !== NOTES) throw new Error('the batch did not write every note');
      return elapsed;
    },
  },
  {
    name: `CLI, one process per note (${PER_PROCESS_SAMPLE} sampled)`,
    notes: PER_PROCESS_SAMPLE,
    async run() {
      const groupId = await cliGroup();
      const start = performance.now();
      for (let i = 0; i < PER_PROCESS_SAMPLE; i++) await cliProcess(['notes', 'put', '--title', `n${i}`, '--body', body(i), '--', groupId]);
      return performance.now() - start;
    },
  },
];

const samples: Samples[] = subjects.map((s) => ({ name: s.name, msPerOp: [] }));
const started = performance.now();
for (let round = 0; round < ROUNDS; round++) {
  const order = subjects.map((_, i) => i);
  if (round % 2 === 1) order.reverse();
  for (const i of order) {
    const ms = await subjects[i]!.run();
    samples[i]!.msPerOp.push(ms / subjects[i]!.notes);
  }
}

const [bare, batch, perProcess] = samples as [Samples, Samples, Samples];
const rows = samples.map((s, i) => {
  const perNote = median(s.msPerOp);
  return [s.name, fmt(perNote), fmt(1000 / perNote, 1), fmt((perNote * NOTES) / 1000, 1), i === 0 ? '1.00×' : fmtRatio(pairedRatio(s, bare))];
});
printTable(['subject', 'ms/note', 'notes/s', `s per ${NOTES.toLocaleString('en-US')}`, 'vs bare SDK'], rows);
console.log(`\nBatch vs bare SDK: ${fmtRatio(pairedRatio(batch, bare))}; one process per note vs batch: ${fmtRatio(pairedRatio(perProcess, batch))}.`);
console.log(`The per-process figure is ${PER_PROCESS_SAMPLE} notes per round scaled to ${NOTES.toLocaleString('en-US')}; ${ROUNDS} rounds; ${((performance.now() - started) / 1000).toFixed(0)} s measured.`);

await server.close();
rmSync(base, { recursive: true, force: true });
