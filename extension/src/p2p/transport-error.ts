/**
 * Why the peer-to-peer transport could not do what was asked. `start()` rejects with
 * one; the background turns the reason into words for the person (`no-identity` →
 * create an identity first; `signaling-unreachable` → check the address in the options).
 */
export type TransportFailure =
  /** This device has no identity yet: nothing to register. */
  | 'no-identity'
  /** The signaling server could not be reached or is not one. */
  | 'signaling-unreachable'
  /** The server refused the registration, or PeerJS failed while registering. */
  | 'registration-failed'
  /** Registration took longer than the transport waits (it keeps retrying). */
  | 'timeout'
  /** The offscreen document could not be created or did not answer (Chrome). */
  | 'offscreen'
  /** `stop()` was called while this was in progress. */
  | 'stopped';

export class TransportError extends Error {
  override readonly name = 'TransportError';
  constructor(
    readonly reason: TransportFailure,
    message: string,
  ) {
    super(message);
  }
}
