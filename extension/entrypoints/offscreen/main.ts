/**
 * The offscreen document (Chrome): holds the PeerJS peer the service worker cannot
 * and relays each data connection to the background over a port (DESIGN §7).
 */
import { browser } from 'wxt/browser';
import { startOffscreenHost, type OffscreenRuntime } from '../../src/p2p/offscreen-host.ts';
import { createPeerJs } from '../../src/p2p/peerjs-factory.ts';

startOffscreenHost({ runtime: browser.runtime, createPeer: createPeerJs });
