/** Module mocks that several component tests used word for word; `vi.mock` stays in each file (it is hoisted per file) and returns one of these. */

/** `wxt/browser` for a page that only listens for messages, makes extension URLs and opens tabs. */
export const quietBrowser = {
  browser: { runtime: { onMessage: { addListener: () => undefined, removeListener: () => undefined }, getURL: (path: string) => path }, tabs: { create: () => Promise.resolve() } },
};

/** `messages/client.ts` for a view that must not ask the background anything. */
export const askNothing = {
  RequestError: class extends Error {},
  ask: async () => {
    throw new Error('nothing is asked here');
  },
};
