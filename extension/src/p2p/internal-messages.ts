/**
 * What the background and the offscreen document say to each other (DESIGN §7, MV3).
 * Only the background sends commands; only the offscreen document asks for
 * registration tokens; every payload is parsed with zod on arrival. Data connections
 * travel on their own `runtime.connect` ports, named here.
 *
 * None of this reaches the pages: their requests use the `conclave.request` channel.
 */
import { z } from 'zod';
import { fingerprintSchema } from '@conclave/shared/protocol';

/** The `channel` of every internal peer-to-peer message; other listeners ignore it. */
export const P2P_CHANNEL = 'conclave.p2p';
/** Where the offscreen document lives in the build (WXT unlisted page `offscreen`). */
export const OFFSCREEN_PATH = '/offscreen.html';
/** Ports that carry one data connection each: `conclave.p2p:<in|out>:<connId>`. */
export const PORT_PREFIX = `${P2P_CHANNEL}:`;

export type PortDirection = 'in' | 'out';

const connIdSchema = z.string().regex(/^[A-Za-z0-9-]{8,64}$/);

export function portName(direction: PortDirection, connId: string): string {
  return `${PORT_PREFIX}${direction}:${connId}`;
}

/** The direction and id a port name carries, or null when the port is not a data connection of ours. */
export function parsePortName(name: string): { direction: PortDirection; connId: string } | null {
  if (!name.startsWith(PORT_PREFIX)) return null;
  const [direction, connId, ...rest] = name.slice(PORT_PREFIX.length).split(':');
  if (rest.length > 0 || (direction !== 'in' && direction !== 'out') || !connIdSchema.safeParse(connId).success) return null;
  return { direction, connId: connId! };
}

export const iceServerSchema = z.strictObject({
  urls: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  username: z.string().optional(),
  credential: z.string().optional(),
});

/** Everything PeerJS needs to register, except the token (asked for fresh at each registration). */
export const registrationOptionsSchema = z.strictObject({
  /** This device's fingerprint: its peer id. */
  id: fingerprintSchema,
  host: z.string().min(1),
  port: z.number().int().min(1).max(65_535),
  secure: z.boolean(),
  /** PeerJS mount path (`/peerjs`): the socket is `<path>/peerjs`. */
  path: z.string().startsWith('/'),
  key: z.string().min(1),
  iceServers: z.array(iceServerSchema).max(16),
});
export type RegistrationOptions = z.infer<typeof registrationOptionsSchema>;

/** Commands from the background to the offscreen document. */
export const offscreenCommandSchema = z.discriminatedUnion('type', [
  /** Register with these options (idempotent); answered once registered, or with why not. */
  z.strictObject({ channel: z.literal(P2P_CHANNEL), to: z.literal('offscreen'), type: z.literal('start'), options: registrationOptionsSchema }),
  /** Open a data connection to `peer` and hand it over on the port `conclave.p2p:out:<connId>`. */
  z.strictObject({ channel: z.literal(P2P_CHANNEL), to: z.literal('offscreen'), type: z.literal('connect'), connId: connIdSchema, peer: fingerprintSchema }),
  z.strictObject({ channel: z.literal(P2P_CHANNEL), to: z.literal('offscreen'), type: z.literal('stop') }),
]);
export type OffscreenCommand = z.infer<typeof offscreenCommandSchema>;

/** Requests from the offscreen document to the background. */
export const backgroundRequestSchema = z.strictObject({ channel: z.literal(P2P_CHANNEL), to: z.literal('background'), type: z.literal('token') });
export type BackgroundRequest = z.infer<typeof backgroundRequestSchema>;

export const commandReplySchema = z.union([z.strictObject({ ok: z.literal(true) }), z.strictObject({ ok: z.literal(false), error: z.string() })]);
export type CommandReply = z.infer<typeof commandReplySchema>;

export const tokenReplySchema = z.union([z.strictObject({ ok: z.literal(true), token: z.string().min(1) }), z.strictObject({ ok: z.literal(false), error: z.string() })]);
export type TokenReply = z.infer<typeof tokenReplySchema>;

/** Who sent a runtime message or opened a port (the part of `runtime.MessageSender` we check). */
export interface SenderLike {
  id?: string | undefined;
  url?: string | undefined;
  tab?: unknown;
}

/**
 * True when `sender` is this extension's offscreen document: same extension id, not a
 * tab (content scripts have one), and the offscreen page's URL.
 */
export function isOffscreenSender(sender: SenderLike | undefined, extensionId: string, offscreenUrl: string): boolean {
  if (!sender || sender.id !== extensionId || sender.tab !== undefined || typeof sender.url !== 'string') return false;
  try {
    const url = new URL(sender.url);
    const expected = new URL(offscreenUrl);
    return url.origin === expected.origin && url.pathname === expected.pathname;
  } catch {
    return false;
  }
}
