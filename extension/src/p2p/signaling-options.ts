/**
 * From the person's settings to PeerJS options (DESIGN §7; docs/OPERATIONS.md "The
 * signaling server"). `settings.signalingUrl` is the server's base, e.g.
 * `http://127.0.0.1:9000/peerjs`: presence is `<base>/presence`, the PeerJS
 * configuration `<base>/config` ({path, key, iceServers}), the socket `<base>/peerjs`.
 */
import { z } from 'zod';
import type { Fingerprint } from '@conclave/shared/protocol';
import type { Settings } from '../messages/views.ts';
import { iceServerSchema, registrationOptionsSchema, type RegistrationOptions } from './internal-messages.ts';
import { TransportError } from './transport-error.ts';

const serverConfigSchema = z.object({ path: z.string().startsWith('/'), key: z.string().min(1), iceServers: z.array(iceServerSchema).max(16) });

/** The signaling base URL without a trailing slash (what `fetchPresence` takes). */
export function signalingBase(settings: Settings): string {
  return settings.signalingUrl.replace(/\/+$/, '');
}

/**
 * Asks the signaling server for its PeerJS configuration and builds the options to
 * register `id` with. ICE servers set in the options page win over the server's.
 * @throws {TransportError} `signaling-unreachable` when the server cannot be asked.
 */
export async function resolveRegistrationOptions(id: Fingerprint, settings: Settings, fetchImpl: typeof fetch = fetch): Promise<RegistrationOptions> {
  const base = signalingBase(settings);
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new TransportError('signaling-unreachable', `the signaling address "${settings.signalingUrl}" is not a URL: correct it in the options`);
  }
  let answer: unknown;
  try {
    const response = await fetchImpl(`${base}/config`, { cache: 'no-store' });
    if (!response.ok) throw new Error(`it answered ${response.status}`);
    answer = await response.json();
  } catch (error) {
    throw new TransportError('signaling-unreachable', `the signaling server at ${base} cannot be reached (${(error as Error).message}): check its address in the options`);
  }
  const config = serverConfigSchema.safeParse(answer);
  if (!config.success) throw new TransportError('signaling-unreachable', `${base}/config is not a Conclave signaling server's configuration: check the address in the options`);
  const secure = url.protocol === 'https:';
  return registrationOptionsSchema.parse({
    id,
    host: url.hostname,
    port: url.port ? Number(url.port) : secure ? 443 : 80,
    secure,
    path: config.data.path,
    key: config.data.key,
    iceServers: settings.iceServers.length > 0 ? settings.iceServers : config.data.iceServers,
  });
}

/** Same options, same registration: used to make `start()` idempotent. */
export function sameRegistration(a: RegistrationOptions | undefined, b: RegistrationOptions): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}
