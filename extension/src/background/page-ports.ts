/**
 * The background's side of the pages' ports (messages/page-port.ts): registered
 * synchronously at worker start, so the port that woke a stopped worker finds its
 * listener. A page's port only says "a page is open": `onPage` makes sure the live
 * stream is open (or being opened). Ports with other names (the p2p transport's) are
 * left to their own listener; ports from outside this extension are refused.
 */
import { PAGE_PORT } from '../messages/page-port.ts';

interface PagePort {
  readonly name: string;
  readonly sender?: { id?: string | undefined } | undefined;
  readonly onDisconnect: { addListener(listener: () => void): void };
  disconnect(): void;
}

export interface PagePortRuntime {
  readonly id: string;
  readonly onConnect: { addListener(listener: (port: PagePort) => void): void };
}

/** Listens for pages' ports; returns the ports open now (tests). */
export function listenForPages(runtime: PagePortRuntime, onPage: () => void): { open(): number } {
  // Held until the page goes: nothing else keeps a reference to them.
  const open = new Set<PagePort>();
  runtime.onConnect.addListener((port) => {
    if (port.name !== PAGE_PORT) return; // another listener's port (p2p)
    if (port.sender?.id !== runtime.id) {
      port.disconnect();
      return;
    }
    open.add(port);
    port.onDisconnect.addListener(() => open.delete(port));
    onPage();
  });
  return { open: () => open.size };
}
