/**
 * Question: with the built extension in real Chromium and the real servers on loopback,
 * how long until a newcomer reads the first note — (a) live, peer to peer: from the
 * newcomer accepting the invite (`group.join`) to the first note decrypted
 * (`notes.list`), while the inviter is online; (b) through the mailbox, as built: from
 * the admin's browser starting (coming online) to the note showing in the waiting
 * newcomer's open side panel, with no pick-up started by anyone? Targets (issues 6 and
 * 12): ≤ 1 s each on loopback (the median).
 *
 * Setup: `startSystem()` (storage API on a temporary SQLite file, signaling server, both
 * on 127.0.0.1:0), Chromium profiles with .output/chrome-mv3 (e2e/support/clients.ts):
 * an admin ("holder", online for the peer path), the newcomer ("joiner"), and one more
 * admin per mailbox run, all pointed at the servers through the options page. Groups use the "trusted by invite link" policy, so that the key is
 * handed over as soon as the joiner asks (under "verified only" a person's verification
 * comes first, which no bench can time). Each run uses a new group (one note in it) and
 * a fresh ordinary invite; the same joiner device joins each. Requests go to each
 * extension's background exactly as its pages send them (`chrome.runtime.sendMessage`),
 * timed inside the page (performance.now()); in (a) no screen rendering is included.
 *
 * (a) inviter online, one run: `group.join` (the first key-wait round: the holder is
 *     online, the live handover over WebRTC) then `notes.list` until the note is
 *     decrypted. Checked per run: the join answered `hasKey: true`. Since issue 12 the
 *     holder also hears the joiner's mailbox request on its live stream and answers it
 *     with a key box at once, racing the handover over WebRTC: the bench counts the runs
 *     in which the server holds no key box sealed by the holder to the joiner (the key
 *     came peer to peer only) and those in which it does.
 * (b) mailbox path, as built, one run: a new admin device makes a group (one note) and
 *     an invite, and its browser is closed; the joiner joins and waits (its request in
 *     the mailbox), with its side panel open on the group ("Waiting for the group's
 *     key"); timing starts as the admin's browser is launched again on its profile, and
 *     ends at the first frame after the note's row is in the joiner's panel (a
 *     MutationObserver in the panel notes the epoch time one requestAnimationFrame and one
 *     task after the row appears). Nothing is started by the bench: the admin's worker
 *     answers the mailbox when it starts (its first sync, or the `request`/`online`
 *     events of its stream), and the joiner's background hears it on its live stream
 *     (`box`, or `online` → a live handover from the admin) and tells its pages. The
 *     bench watches the SQLite file meanwhile for a key box sealed by the admin to the
 *     joiner, to split the time (admin online → box stored → shown) and to say which way
 *     the key came (a mailbox box, or peer to peer: no box from the admin).
 *     Before issue 12 nothing told the joiner and it read at its next one-minute alarm
 *     (41 s as built); that wait is gone, so it is no longer measured.
 * Baselines, in the same run: opening an extension page in a new tab until its heading
 *     is visible (popup.html), and a storage API round trip from an extension page
 *     (`fetch(<api>/health)`).
 *
 * Run: npx tsx bench/e2e-handover.bench.ts   (BENCH_RUNS to change the number of runs; needs `npx wxt build` first)
 */
import Database from 'better-sqlite3';
import { performance } from 'node:perf_hooks';
import type { Page } from 'playwright-core';
import { Client, disposeAll, VIEWPORTS } from '../e2e/support/clients.ts';
import { startSystem, type System } from '../e2e/support/system.ts';
import { fmt, median, printTable } from './support/harness.ts';
import { apiRoundTripMs, pageOpenMs } from './support/page-baselines.ts';
import { SHOW_TIMEOUT_MS, shownAt, watchFor } from './support/note-shown.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const TARGET_MS = 1000;
/** A mailbox run gives up when the note has not shown this long after the admin came online. */

console.log('\n=== e2e key handover (built extension, real Chromium, loopback) ===');
console.log(`Question: newcomer accepting an invite → first note decrypted (peer path), and admin coming online → waiting newcomer reading (mailbox path); target ≤ ${TARGET_MS} ms each.`);
console.log(`node ${process.version}, ${process.platform}/${process.arch}; figures are medians of ${RUNS} runs; "× page open" = that median ÷ the median of the page-open baseline, measured between the runs.\n`);

const epochNow = () => performance.timeOrigin + performance.now();

type Answer<T> = { ok: true; data: T } | { ok: false; error: { code: string; message: string } };

/** One background request from an extension page, as the pages send it; returns its data and the time it took in the page. */
async function ask<T>(page: Page, request: Record<string, unknown>): Promise<{ data: T; ms: number }> {
  const { answer, ms } = await page.evaluate(async (req) => {
    const start = performance.now();
    const answer = await (globalThis as unknown as { chrome: { runtime: { sendMessage(m: unknown): Promise<unknown> } } }).chrome.runtime.sendMessage({
      channel: 'conclave.request',
      request: req,
    });
    return { answer, ms: performance.now() - start };
  }, request);
  const typed = answer as Answer<T> | undefined;
  if (!typed?.ok) throw new Error(`${String(request.type)} failed: ${JSON.stringify(typed)}`);
  return { data: typed.data, ms };
}

/** join + list in one page evaluation, timed in the page: accepting the invite → first note decrypted. */
async function joinAndRead(page: Page, link: string, title: string): Promise<{ ms: number; joinMs: number; hasKey: boolean; groupId: string }> {
  // No named functions inside: tsx would wrap them in a helper the page does not have.
  return page.evaluate(
    async ({ link, title }) => {
      const runtime = (globalThis as unknown as { chrome: { runtime: { sendMessage(m: unknown): Promise<any> } } }).chrome.runtime;
      const start = performance.now();
      const joined = await runtime.sendMessage({ channel: 'conclave.request', request: { type: 'group.join', code: link } });
      if (!joined?.ok) throw new Error(`join failed: ${JSON.stringify(joined)}`);
      const joinMs = performance.now() - start;
      const listed = await runtime.sendMessage({ channel: 'conclave.request', request: { type: 'notes.list', groupId: joined.data.groupId } });
      if (!listed?.ok) throw new Error(`list failed: ${JSON.stringify(listed)}`);
      if (!listed.data.some((n: { ok: boolean; title?: string }) => n.ok && n.title === title)) throw new Error('the note was not decrypted');
      return { ms: performance.now() - start, joinMs, hasKey: joined.data.hasKey as boolean, groupId: joined.data.groupId as string };
    },
    { link, title },
  );
}

/** Key boxes stored for `member` in a group, sealed by `sender` (a joiner also stores one to itself after a live handover). */
function boxesFor(sqlitePath: string, groupId: string, member: string, sender: string): number {
  const db = new Database(sqlitePath, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 2000');
    const rows = db.prepare("SELECT box FROM key_boxes WHERE group_id = ? AND recipient_kind = 'member' AND recipient_id = ?").all(groupId, member) as Array<{ box: string }>;
    return rows.filter((r) => (JSON.parse(r.box) as { sender: string }).sender === sender).length;
  } finally {
    db.close();
  }
}


async function setUpDevice(client: Client, system: System, name: string): Promise<{ page: Page; fingerprint: string }> {
  await client.launch();
  // tsx (esbuild keepNames) wraps functions passed to page.evaluate in __name(), which pages lack.
  await client.context.addInitScript({ content: 'globalThis.__name ??= (f) => f;' });
  await (await client.useServers(system.apiUrl, system.signalingUrl)).close();
  const page = await client.open('options.html');
  const identity = await ask<{ fingerprint: string }>(page, { type: 'identity.create', displayName: name });
  return { page, fingerprint: identity.data.fingerprint };
}

/** A new group with one note and an ordinary invite, made on the holder. */
async function groupWithNote(page: Page, i: number, kind: string): Promise<{ groupId: string; link: string; title: string }> {
  const created = await ask<{ groupId: string }>(page, { type: 'group.create', name: `Bench ${kind} ${i}`, policy: 'invite-trust' });
  const groupId = created.data.groupId;
  await ask(page, { type: 'group.confirmRecoverySaved', groupId });
  const title = `Bench note ${kind} ${i}`;
  await ask(page, { type: 'notes.save', groupId, title, body: `Body of the bench note ${kind} ${i}.` });
  const invite = await ask<{ link: string }>(page, { type: 'group.invite', groupId, role: 'member', expiresInMs: 3_600_000, prekeyed: false });
  return { groupId, link: invite.data.link, title };
}

const system = await startSystem();
try {
  const holder = await Client.create('holder');
  const joiner = await Client.create('joiner');
  const h = await setUpDevice(holder, system, 'Bench Holder');
  const j = await setUpDevice(joiner, system, 'Bench Joiner');
  const openMs: number[] = [];
  const apiMs: number[] = [];
  const baselines = async () => {
    openMs.push(await pageOpenMs(joiner));
    for (let k = 0; k < 5; k++) apiMs.push(await apiRoundTripMs(j.page, system.apiUrl));
  };
  // Warm-up (untimed): the first join on a device also starts its peer transport.
  await baselines();
  const warm = await groupWithNote(h.page, 0, 'warm-up');
  await joinAndRead(j.page, warm.link, warm.title);

  // (a) peer path, holder online.
  const peer: Array<{ ms: number; joinMs: number }> = [];
  let peerOnly = 0;
  for (let i = 1; i <= RUNS; i++) {
    const group = await groupWithNote(h.page, i, 'peer');
    const run = await joinAndRead(j.page, group.link, group.title);
    if (!run.hasKey) throw new Error(`peer run ${i}: the key did not arrive during the join`);
    if (boxesFor(system.sqlitePath, group.groupId, j.fingerprint, h.fingerprint) === 0) peerOnly++;
    peer.push(run);
    await baselines();
  }

  // (b) mailbox path, as built: an admin comes online while the joiner waits with its
  // panel open. A new admin device per run, holding just that group.
  const mailbox: Array<{ launch: number; toBox: number | null; afterBox: number | null; total: number }> = [];
  for (let i = 1; i <= RUNS; i++) {
    const admin = await Client.create(`admin ${i}`);
    const a = await setUpDevice(admin, system, `Bench Admin ${i}`);
    const group = await groupWithNote(a.page, i, 'mailbox');
    await admin.close();
    const joined = await ask<{ groupId: string; hasKey: boolean }>(j.page, { type: 'group.join', code: group.link });
    if (joined.data.hasKey) throw new Error(`mailbox run ${i}: the key arrived with nobody online`);
    await ask(j.page, { type: 'draft.save', key: 'panel.selectedGroup', value: group.groupId });
    const panel = await joiner.open('sidepanel.html', VIEWPORTS.panel);
    await panel.getByRole('heading', { level: 1 }).first().waitFor({ timeout: 15_000 });
    await watchFor(panel, group.title);
    const start = epochNow();
    // Settled either way, so a failed launch is reported here rather than as an unhandled rejection.
    const launching = admin.launch().then(
      () => epochNow(),
      (error: unknown) => error as Error,
    );
    // Meanwhile: when (if) the admin's key box for the joiner is stored.
    let boxAt: number | null = null;
    let watching = true;
    const boxWatch = (async () => {
      while (watching && boxAt === null) {
        if (boxesFor(system.sqlitePath, group.groupId, j.fingerprint, a.fingerprint) > 0) boxAt = epochNow();
        else await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const shown = await shownAt(panel, group.title).catch(async () => {
      const launched = await launching;
      throw launched instanceof Error ? launched : new Error(`mailbox run ${i}: the note did not show in the joiner's panel within ${SHOW_TIMEOUT_MS / 1000} s of the admin coming online`);
    });
    const launched = await launching;
    watching = false;
    if (launched instanceof Error) throw launched;
    await boxWatch;
    mailbox.push({ launch: launched - start, toBox: boxAt === null ? null : boxAt - start, afterBox: boxAt === null ? null : shown - boxAt, total: shown - start });
    await panel.close();
    await admin.dispose();
    await baselines();
  }

  const base = median(openMs);
  const viaBox = mailbox.filter((r) => r.toBox !== null && r.afterBox !== null && r.afterBox >= 0);
  const api = median(apiMs);
  const row = (name: string, values: number[], targeted: boolean): string[] => {
    const m = median(values);
    return [name, fmt(m, 0), `${fmt(Math.min(...values), 0)}–${fmt(Math.max(...values), 0)}`, `${(m / base).toFixed(2)}×`, targeted ? (m <= TARGET_MS ? `met (≤ ${TARGET_MS})` : `NOT met (> ${TARGET_MS})`) : ''];
  };
  console.log(
    `runs: ${RUNS} of each path (after one untimed warm-up); (a) key during the join in every run; no key box from the holder (peer to peer only) in ${peerOnly}/${RUNS}, the holder's mailbox answer stored too in ${RUNS - peerOnly}/${RUNS}\n`,
  );
  printTable(
    ['measure', 'median ms', 'min–max ms', '× page open', 'target'],
    [
      row('(a) inviter online: accept invite → first note decrypted', peer.map((r) => r.ms), true),
      row('    of which group.join (incl. the key handover)', peer.map((r) => r.joinMs), false),
      row('(b) mailbox, as built: admin browser start → note shown in the joiner\'s panel', mailbox.map((r) => r.total), true),
      row('    of which Chromium starting, until its worker runs', mailbox.map((r) => r.launch), false),
      ...(viaBox.length > 0
        ? [
            row(`    admin browser start → key box stored (${viaBox.length} runs by box)`, viaBox.map((r) => r.toBox!), false),
            row('    key box stored → note shown (live event, sync, panel)', viaBox.map((r) => r.afterBox!), false),
          ]
        : []),
      row('baseline: open an extension page until its heading shows', openMs, false),
      row('baseline: storage API round trip from a page (/health)', apiMs, false),
    ],
  );
  console.log(`\n(b) the key came by a mailbox box sealed by the admin in ${viaBox.length} of ${RUNS} runs, peer to peer (no box from the admin) in ${RUNS - viaBox.length}.`);
  console.log(`storage API round trip median ${fmt(api, 1)} ms; page-open baseline median ${fmt(base, 0)} ms.`);
} finally {
  await disposeAll();
  await system.dispose();
}
// The PeerJS server's timers keep Node alive after close.
process.exit(0);
