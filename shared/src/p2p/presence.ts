/**
 * Presence (DESIGN §7, issue 4): which of a group's members have an open signaling
 * connection right now. The signaling server answers only that — it learns which ids
 * were asked about, and nothing of groups, names or keys — and only to a peer that is
 * registered right now: every request carries a fresh, single-use presence token
 * (`Authorization: Bearer <token>`) signed by the asking device.
 *
 * token = base64url(canonicalJson({bundle, at, nonce, sig})), sig over
 * labelled(LABELS.signalingToken, {id, at, nonce, purpose: 'presence'}) with id = the
 * fingerprint: the registration token's form (registration-token.ts) over another
 * statement, so neither passes for the other (signaling-server/src/auth.ts verifies it).
 */
import { z } from 'zod';
import type { DeviceIdentity } from '../crypto/identity.ts';
import type { Fingerprint } from '../protocol/ids.ts';
import { makeSignalingToken } from './registration-token.ts';

/** The most ids one presence request may carry (the server's limit). */
export const PRESENCE_BATCH = 100;

const presenceAnswer = z.object({ online: z.array(z.string()).max(PRESENCE_BATCH) });

export class PresenceError extends Error {
  override readonly name = 'PresenceError';
}

/** A new presence token for one request (the server refuses a token it has seen). */
export function makePresenceToken(identity: DeviceIdentity, now: number = Date.now()): Promise<string> {
  return makeSignalingToken(identity, { purpose: 'presence' }, now);
}

/** What the server says when it refuses a presence request. */
const REFUSALS: Record<number, string> = {
  401: 'the signaling server did not accept this device\'s presence token',
  403: 'this device is not registered with the signaling server yet: it answers presence only to registered peers',
  429: 'the signaling server is limiting presence requests from this address: try again in a minute',
};

/**
 * Asks the signaling server at `baseUrl` (e.g. `http://127.0.0.1:9000/peerjs`) which of
 * `ids` are online, as the registered device whose fresh presence token `token()` makes
 * (one per request: `() => makePresenceToken(identity)`). Each id is asked about once,
 * and only ids that were asked about are believed, each at most once (a server that
 * repeats an id gets no second attempt).
 * @throws {PresenceError} when the server cannot be reached, refuses (this device is not
 * registered, its token is refused, too many requests) or answers nonsense.
 */
export async function fetchPresence(baseUrl: string, ids: readonly Fingerprint[], token: () => Promise<string>, fetchImpl: typeof fetch = fetch): Promise<Fingerprint[]> {
  const unique = [...new Set(ids)];
  const notYetOnline = new Set<string>(unique);
  const online: Fingerprint[] = [];
  for (let i = 0; i < unique.length; i += PRESENCE_BATCH) {
    const batch = unique.slice(i, i + PRESENCE_BATCH);
    const url = `${baseUrl.replace(/\/+$/, '')}/presence?ids=${batch.map(encodeURIComponent).join(',')}`;
    const authorization = `Bearer ${await token()}`;
    let response: Response;
    try {
      response = await fetchImpl(url, { headers: { authorization } });
    } catch (error) {
      throw new PresenceError(`the signaling server at ${baseUrl} cannot be reached (${(error as Error).message}): check its address in the options`);
    }
    if (!response.ok) throw new PresenceError(REFUSALS[response.status] ?? `the signaling server answered ${response.status} to a presence request`);
    const parsed = presenceAnswer.safeParse(await response.json().catch(() => null));
    if (!parsed.success) throw new PresenceError('the signaling server answered a presence request with something that is not a presence list');
    for (const id of parsed.data.online) {
      if (!notYetOnline.delete(id)) continue;
      online.push(id as Fingerprint);
    }
  }
  return online;
}
