/**
 * The real PeerJS behind `PeerFactory`. Imported only where RTCPeerConnection exists
 * (the offscreen document, Firefox's background page): peerjs touches `window` when
 * it loads, so it must never reach Chrome's service worker bundle.
 */
import { Peer } from 'peerjs';
import type { PeerFactory } from './peer-registration.ts';

export const createPeerJs: PeerFactory = (id, options) => new Peer(id, options);
