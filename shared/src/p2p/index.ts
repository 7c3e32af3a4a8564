/** Peer to peer: registration with the signaling server, presence, and the live key handover over PeerJS. */
export { makeRegistrationToken } from './registration-token.ts';
export { channelFromDataConnection, type DataConnectionLike } from './peerjs-channel.ts';
export { fetchPresence, makePresenceToken, PresenceError, PRESENCE_BATCH } from './presence.ts';
export { serveKeyHandover, serveChannel, GroupDispatchingHolder, type HeldGroup, type HeldGroupLookup, type PeerLike } from './holder-service.ts';
export { receiveKeyFromPeers, receiveKeyOnChannel, keyHolderCandidates, keyOfferMessage, parseKeyOffer, type KeyOffer, type JoinerTransport, type PeerAttempt, type PeerKeyResult } from './joiner-handover.ts';
export { keyWaitRound, waitForGroupKey, type KeyWaitState, type KeyWaitSteps } from './key-waiting.ts';
export * from './channel.ts';
export { isLinkOpening, LINK_REFUSALS, type LinkRefusal } from './device-link.ts';
export { incomingFromPeer } from './incoming.ts';
