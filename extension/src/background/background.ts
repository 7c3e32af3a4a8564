/**
 * The background service: one `handle` for every page request (validated with the
 * shared zod schema, answered with data or a named error), a `tick` for the periodic
 * sync (which also opens the live event stream, live-sync.ts), and `onIncomingChannel`
 * for peers asking this device for a group key.
 * Everything it needs is injected, so the same code runs in the extension and in Node
 * tests (two instances on two databases are two devices).
 */
import type { z } from 'zod';
import type { MessageChannel } from '@conclave/shared/p2p';
import { generateIdentity } from '@conclave/shared/crypto';
import type { GroupId } from '@conclave/shared/protocol';
import { requestSchema, SELECTED_GROUP_DRAFT, type ExtensionError, type Request, type Response } from '../messages/protocol.ts';
import type { Handlers } from '../messages/answers.ts';
import { addIdentity, loadIdentity, renameIdentity } from '../db/identity.ts';
import { groupIdsOf } from '../db/key-store.ts';
import { savedPersonId } from '../db/person-store.ts';
import { Connections, requireIdentity } from './connection.ts';
import type { BackgroundDeps, Ctx } from './context.ts';
import { fail, toExtensionError, type ErrorContext } from './errors.ts';
import { assertUsable, groupRow } from './group-state.ts';
import * as drafts from './drafts.ts';
import * as groups from './groups.ts';
import { serveIncoming } from './holder.ts';
import { DeviceLinks } from './device-link.ts';
import { listDevices, removeDevice } from './devices.ts';
import { routeIncoming } from './incoming.ts';
import { inviteState } from './invite-state.ts';
import * as keyCare from './key-care.ts';
import * as recovery from './recovery-codes.ts';
import { KeyWaits, SCANNED_QR_PREFIX } from './key-wait.ts';
import { ensureProfile } from './names.ts';
import * as notes from './note-requests.ts';
import * as history from './note-history.ts';
import { exportNotes } from './note-export.ts';
import { dismissPeerEvidence } from './peer-evidence.ts';
import { DEFAULT_SETTINGS, loadSettings, saveSettings } from './settings.ts';
import { identityView, statusView } from './summaries.ts';
import { GroupSyncs, Ticker, tickAndBadge, tickGroup } from './tick.ts';
import { LiveSync } from './live-sync.ts';
import { TrustBook } from './trust.ts';
import * as verify from './verify-requests.ts';

export interface Background {
  handle(raw: unknown): Promise<Response>;
  /** Periodic sync of every group (the alarm calls it every minute, and once on start). */
  tick(): Promise<void>;
  /** A peer opened a channel to this device (holder side of the live handover). */
  onIncomingChannel(channel: MessageChannel): Promise<void>;
  /**
   * A page opened its port (page-ports.ts): the live stream must be open while a page
   * shows something. Starts a tick (which opens it) unless the stream is open already;
   * a tick already running (the worker's start-up one) is joined, not doubled.
   */
  wake(): void;
  /** Resolves when no handover, key-wait round, live event or sync it started is running (tests). */
  idle(): Promise<void>;
  /** Closes the live event stream (the worker is going away; tests). */
  stop(): Promise<void>;
}

/** Draft keys the background keeps for itself (pages may not read or change them). */
const RESERVED_DRAFT_PREFIX = 'background.';

/** The first problem with a request, naming its field. */
export function invalidRequest(error: z.ZodError): ExtensionError {
  const issue = error.issues[0];
  const field = issue?.path.map(String).join('.') ?? '';
  if (field === 'type' || (issue?.code === 'invalid_union' && field === '')) {
    return { code: 'invalid-request', message: 'The extension received a request of a type it does not know.', action: 'Reload the extension; if it keeps happening, report it.' };
  }
  const what = field ? `"${field}"` : 'the request';
  return { code: 'invalid-request', message: `The request's ${what} is not valid: ${issue?.message ?? 'invalid input'}.`, action: 'Correct it and try again.' };
}

export function createBackground(deps: BackgroundDeps): Background {
  const now = deps.now ?? Date.now;
  const trust = new TrustBook(deps.db, now);
  const ctx: Ctx = {
    db: deps.db,
    transport: deps.transport,
    now,
    trust,
    connections: new Connections(deps.db, trust, now),
    counts: new Map(),
    profilesChecked: new Set(),
    servedLive: new Map(),
    handshakeTimeoutMs: deps.handshakeTimeoutMs,
    changed: (groupId?: GroupId) => {
      try {
        deps.broadcast?.({ type: 'conclave.changed', ...(groupId ? { groupId } : {}) });
      } catch {
        // Nobody listening: nothing to tell.
      }
    },
    badge: (text) => deps.badge?.(text),
  };
  const waits = new KeyWaits(ctx);
  // Once linked, a tick opens the live stream for the groups the new device now has.
  const links = new DeviceLinks(ctx, waits, () => void ticker.tick());
  const syncs = new GroupSyncs(tickAndBadge(ctx, waits));
  const live = deps.live ? new LiveSync(ctx, syncs, deps.live) : null;
  const ticker = new Ticker(ctx, syncs, (connection) => void live?.ensureIfCurrent(connection));
  const serving = new Set<Promise<unknown>>();

  // Typed by the contract (messages/answers.ts): a missing handler, or one answering
  // another shape than `Answers[type]`, fails `tsc`.
  const handlers: Handlers = {
    status: () => statusView(ctx),
    'identity.create': async (request) => {
      const existing = await loadIdentity(ctx.db);
      if (existing) fail('invalid-request', `This device already has an identity, named "${existing.displayName}".`, 'Rename it instead.');
      const identity = await generateIdentity();
      const row = { id: 'device' as const, identity, displayName: request.displayName, createdAt: now() };
      await addIdentity(ctx.db, row);
      await trust.learnName(identity.fingerprint, request.displayName);
      // Online for peers first, then the live stream (members who hear it can dial this device).
      void ctx.transport
        .start()
        .catch(() => undefined)
        .then(() => live?.reopen());
      ctx.changed();
      return identityView(row);
    },
    'identity.rename': async (request) => {
      const row = await requireIdentity(ctx.db);
      await renameIdentity(ctx.db, request.displayName);
      // The name is the person's (every device of theirs shows it).
      await trust.learnName((await savedPersonId(ctx.db)) ?? row.identity.fingerprint, request.displayName);
      // Published to every group now if possible; otherwise by the next tick.
      try {
        const connection = await ctx.connections.get();
        for (const groupId of await groupIdsOf(ctx.db)) {
          await ensureProfile(ctx, connection, groupId).catch((error: unknown) => console.warn('conclave: publishing the new name failed', (error as Error).name));
        }
      } catch (error) {
        console.warn('conclave: the new name will be published on the next sync', (error as Error).name);
      }
      ctx.changed();
      return identityView({ ...row, displayName: request.displayName });
    },
    'settings.get': () => loadSettings(ctx.db),
    'settings.save': async (request) => {
      const before = await loadSettings(ctx.db);
      const { type: _type, ...settings } = request;
      const saved = await saveSettings(ctx.db, settings);
      ctx.connections.forget();
      const transport =
        before.signalingUrl !== saved.signalingUrl || JSON.stringify(before.iceServers) !== JSON.stringify(saved.iceServers)
          ? deps.transport
              .stop()
              .then(() => deps.transport.start())
              .catch(() => undefined)
          : Promise.resolve();
      // The stream follows the new storage API address (on a new connection).
      void transport.then(() => live?.reopen());
      ctx.changed();
      return saved;
    },
    'group.create': (request) => groups.createGroup(ctx, request),
    'group.confirmRecoverySaved': (request) => recovery.confirmRecoverySaved(ctx, request),
    'group.recoveryCode': (request) => recovery.pendingRecoveryCode(ctx, request),
    'group.replaceRecovery': (request) => recovery.replaceRecovery(ctx, request),
    'group.rotateKey': (request) => keyCare.rotateKey(ctx, request),
    'group.invite': (request) => groups.invite(ctx, request),
    'group.join': (request) => groups.join(ctx, waits, request),
    'group.inviteState': (request) => inviteState(ctx, request),
    'group.restore': (request) => groups.restore(ctx, waits, request),
    'group.detail': (request) => groups.detail(ctx, request),
    'group.rename': (request) => groups.rename(ctx, request),
    'group.handOver': (request) => groups.handOver(ctx, request),
    'group.setRole': (request) => groups.setRole(ctx, request),
    'group.remove': (request) => groups.remove(ctx, request),
    'group.leave': (request) => groups.leave(ctx, request),
    'group.dismissPeerEvidence': (request) => dismissPeerEvidence(ctx, request),
    'group.sync': async (request) => {
      if (!request.groupId) {
        await ticker.tick();
        return statusView(ctx);
      }
      assertUsable(await groupRow(ctx, request.groupId));
      await tickGroup(ctx, waits, await ctx.connections.get(), request.groupId);
      return statusView(ctx);
    },
    'verify.info': (request) => verify.verifyInfo(ctx, request),
    'verify.scanned': (request) => verify.verifyScanned(ctx, waits, request),
    'verify.confirm': (request) => verify.verifyConfirm(ctx, waits, request),
    'verify.reset': (request) => verify.verifyReset(ctx, request),
    'notes.list': (request) => notes.listNotes(ctx, request),
    'notes.read': (request) => notes.readNote(ctx, request),
    'notes.header': (request) => notes.noteHeader(ctx, request),
    'notes.save': (request) => notes.saveNote(ctx, request),
    'notes.delete': (request) => notes.deleteNote(ctx, request),
    'notes.history': (request) => history.noteHistory(ctx, request),
    'notes.restore': (request) => history.restoreVersion(ctx, request),
    'notes.export': (request) => exportNotes(ctx, request),
    'draft.save': async (request) => {
      reservedDraft(request.key);
      await drafts.saveDraft(ctx, request.key, request.value);
      return null;
    },
    'draft.load': async (request) => {
      reservedDraft(request.key);
      return drafts.loadDraft(ctx, request.key);
    },
    'draft.clear': async (request) => {
      reservedDraft(request.key);
      await drafts.deleteDraft(ctx, request.key);
      return null;
    },
    'device.list': () => listDevices(ctx),
    'device.offerLink': () => links.offer(),
    'device.linkState': async () => links.view(),
    'device.cancelLink': async () => links.cancel(),
    'device.link': (request) => links.link(request.text),
    'device.confirmLink': (request) => links.confirm(request.accept),
    'device.remove': (request) => removeDevice(ctx, request),
    'panel.open': async (request) => {
      await drafts.saveDraft(ctx, SELECTED_GROUP_DRAFT, request.groupId ?? null);
      ctx.changed();
      return { groupId: request.groupId ?? null };
    },
  };

  function reservedDraft(key: string): void {
    if (key.startsWith(RESERVED_DRAFT_PREFIX) || key.startsWith(SCANNED_QR_PREFIX)) {
      fail('invalid-request', `Draft names starting with "${RESERVED_DRAFT_PREFIX}" are kept by the extension itself.`, 'Use another name for this draft.');
    }
  }

  function errorContext(request: Request): Omit<ErrorContext, 'apiUrl'> {
    switch (request.type) {
      case 'group.join':
        return { operation: 'join the group', typedCode: 'invite' };
      case 'group.restore':
        return { operation: 'restore the group', typedCode: 'recovery' };
      case 'group.dismissPeerEvidence':
        return { operation: 'dismiss the warning' };
      case 'device.list':
        return { operation: 'read your devices' };
      case 'device.remove':
        return { operation: 'remove the device' };
      case 'device.offerLink':
      case 'device.link':
        return { operation: 'link the device' };
      default:
        return {};
    }
  }

  const track = <T>(work: Promise<T>): Promise<T> => {
    serving.add(work);
    void work.finally(() => serving.delete(work)).catch(() => undefined);
    return work;
  };

  transportIncoming();
  function transportIncoming(): void {
    // A link's opening goes to the link waiting here; anything else is a key handover (incoming.ts).
    deps.transport.onIncoming((channel) => {
      void track(routeIncoming(channel, (c) => links.incoming(c), (c) => serveIncoming(ctx, c), (c, offer) => waits.offered(c, offer)));
    });
  }

  return {
    async handle(raw) {
      const parsed = requestSchema.safeParse(raw);
      if (!parsed.success) return { ok: false, error: invalidRequest(parsed.error) };
      const request = parsed.data;
      try {
        await trust.refresh();
        const handler = handlers[request.type] as (r: Request) => Promise<unknown>;
        return { ok: true, data: await track(handler(request)) };
      } catch (error) {
        const settings = await loadSettings(ctx.db).catch(() => DEFAULT_SETTINGS);
        const answer = toExtensionError(error, { apiUrl: settings.apiUrl, ...errorContext(request) });
        // Names of things only: messages may quote what the person typed.
        if (answer.code === 'internal') console.error(`conclave: ${request.type} failed`, (error as Error)?.name);
        return { ok: false, error: answer };
      }
    },
    tick: () => ticker.tick(),
    wake() {
      if (!live || live.isOpen) return;
      void ticker.tick();
    },
    async onIncomingChannel(channel) {
      await track(routeIncoming(channel, (c) => links.incoming(c), (c) => serveIncoming(ctx, c), (c, offer) => waits.offered(c, offer)));
    },
    async idle() {
      while (serving.size > 0) await Promise.allSettled([...serving]);
      await live?.idle();
      await syncs.idle();
      await waits.idle();
      await links.idle();
    },
    async stop() {
      await live?.close();
    },
  };
}
