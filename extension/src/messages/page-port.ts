/**
 * The port every open extension page (popup, side panel, options, verification tab)
 * holds to the background. It carries no messages: its only job is that Chrome tells
 * the page, by disconnecting it, when the service worker was stopped — the page then
 * connects again, which starts the worker (its `onConnect` listener, registered at
 * start, finds the port), and the worker reopens the live event stream.
 * The p2p transport's ports are named `conclave.p2p:…`; this name is not one of them.
 */
export const PAGE_PORT = 'conclave.page';
