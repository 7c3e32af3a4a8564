/**
 * When a note first shows in an extension page, as the browser paints it: `watchFor`
 * starts watching a page for a note row holding `title`, and `shownAt` waits for the
 * epoch time (ms) of the first frame after that row was in the DOM. One observer per
 * awaited title.
 */
import type { Page } from 'playwright-core';

/** Longest wait for a note to show, unless the caller gives another. */
export const SHOW_TIMEOUT_MS = 30_000;

export async function watchFor(page: Page, title: string): Promise<void> {
  await page.evaluate((t) => {
    const w = window as unknown as { __shown?: Record<string, number> };
    const shown = (w.__shown ??= {});
    const present = () => [...document.querySelectorAll('.note-row')].some((row) => row.textContent?.includes(t));
    const mark = () => requestAnimationFrame(() => setTimeout(() => (shown[t] = performance.timeOrigin + performance.now()), 0));
    if (present()) {
      mark();
      return;
    }
    const observer = new MutationObserver(() => {
      if (!present()) return;
      observer.disconnect();
      mark();
    });
    observer.observe(document.body, { childList: true, subtree: true, characterData: true });
  }, title);
}

export async function shownAt(page: Page, title: string, timeoutMs = SHOW_TIMEOUT_MS): Promise<number> {
  const handle = await page.waitForFunction((t) => (window as unknown as { __shown?: Record<string, number> }).__shown?.[t], title, { timeout: timeoutMs, polling: 10 });
  return (await handle.jsonValue()) as number;
}
