/**
 * Driving a page with the keyboard only, as a person who cannot use a mouse does: Tab
 * (and Shift+Tab) move the focus until it is on the control wanted, then Enter, Space,
 * arrow keys or typed characters act on it. Nothing here clicks, hovers or focuses an
 * element from script: a control that cannot be reached with Tab fails the test, and so
 * does one whose focus cannot be seen (no outline and no shadow while focused).
 */
import type { BrowserContext, Locator, Page } from 'playwright-core';

/** How many Tab presses a control may be away before it counts as unreachable. */
const MAX_TABS = 60;

export class Keyboard {
  /** Controls that took the focus without showing it ("popup: Create a group — button "Continue""). */
  readonly focusNotVisible: string[] = [];
  /** Every Tab pressed: how far a keyboard user travels through the flow. */
  tabs = 0;
  /** Pointer events a person made (trusted ones: a script's synthetic events are not counted), by page. */
  readonly pointer: string[] = [];

  /**
   * Watches every page of a browser for a trusted mouse or pointer event from now on:
   * a flow that means to be keyboard-only proves it by `pointer` staying empty.
   * Call right after the browser starts, before its pages open.
   */
  async watch(context: BrowserContext): Promise<void> {
    await context.exposeBinding('__conclaveKeyboardOnlyPointer', ({ page }, type: string) => {
      this.pointer.push(`${new URL(page.url()).pathname}: ${type}`);
    });
    await context.addInitScript(() => {
      const report = (globalThis as unknown as { __conclaveKeyboardOnlyPointer: (type: string) => void }).__conclaveKeyboardOnlyPointer;
      for (const type of ['pointerdown', 'mousedown', 'click', 'contextmenu', 'wheel']) {
        addEventListener(type, (event) => {
          // A click that Enter or Space made on a button has no pointer (detail 0): it is the keyboard's.
          if (event.isTrusted && !(event.type === 'click' && (event as MouseEvent).detail === 0)) void report(event.type);
        }, true);
      }
    });
  }

  /** Where the focus was after each move to another screen ("popup: Create a group → h1 "Create a group""). */
  readonly landings: Array<{ screen: string; on: string; lost: boolean }> = [];

  /**
   * Presses Tab (or Shift+Tab with `backwards`) until `target` has the focus.
   * @throws when it is not reached within MAX_TABS presses: not reachable by keyboard.
   */
  async tabTo(page: Page, target: Locator, what: string, options: { backwards?: boolean } = {}): Promise<void> {
    await page.bringToFront();
    await target.waitFor({ timeout: 15_000 });
    for (let i = 0; i <= MAX_TABS; i++) {
      if (await target.evaluate((el) => el === document.activeElement || el.contains(document.activeElement))) {
        await this.checkFocusVisible(page, what);
        return;
      }
      if (i === MAX_TABS) break;
      await page.keyboard.press(options.backwards ? 'Shift+Tab' : 'Tab');
      this.tabs++;
    }
    const focused = await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 200) ?? 'nothing');
    throw new Error(`${what} cannot be reached with the Tab key (after ${MAX_TABS} presses the focus is on ${focused})`);
  }

  /**
   * Notes where the focus is now that `screen` is shown: on something of the new screen
   * (its heading, its first field), or lost (on the page's body, or on nothing), which
   * sends a keyboard user back to the top of the page.
   */
  async landed(page: Page, screen: string): Promise<void> {
    const focused = () =>
      page.evaluate(() => {
        const el = document.activeElement;
        if (!el || el === document.body || !el.isConnected) return '';
        const name = (el.getAttribute('aria-label') ?? el.textContent ?? '').replace(/\s+/g, ' ').trim().slice(0, 60);
        return `${el.tagName.toLowerCase()} "${name}"`;
      });
    // The screen moves the focus once it has drawn itself (an effect after the render): wait for it, as for anything on screen.
    let on = await focused();
    for (let i = 0; !on && i < 50; i++) {
      await page.waitForTimeout(100);
      on = await focused();
    }
    this.landings.push({ screen, on: on || 'body (focus lost)', lost: !on });
  }

  /** Tab to a button (or link) and press Enter. */
  async press(page: Page, target: Locator, what: string, key = 'Enter'): Promise<void> {
    await this.tabTo(page, target, what);
    try {
      await page.keyboard.press(key);
    } catch (error) {
      // The key's action closed the page before the key came up (the popup closes itself once it opened a tab).
      if (!page.isClosed()) throw error;
    }
  }

  /** Tab to a field, select what it holds and type `text` over it. */
  async type(page: Page, field: Locator, what: string, text: string): Promise<void> {
    await this.tabTo(page, field, what);
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.type(text);
  }

  /** Tab into a group of radio buttons, then arrow keys until `choice` is the one checked. */
  async choose(page: Page, group: Locator, choice: Locator, what: string): Promise<void> {
    await this.tabTo(page, group, what);
    for (let i = 0; i < 6 && !(await choice.isChecked()); i++) await page.keyboard.press('ArrowDown');
    if (!(await choice.isChecked())) throw new Error(`${what}: the arrow keys did not reach it`);
  }

  /** Tab to a checkbox and press Space when it is not in the state wanted. */
  async tick(page: Page, box: Locator, what: string, checked: boolean): Promise<void> {
    await this.tabTo(page, box, what);
    if ((await box.isChecked()) !== checked) await page.keyboard.press('Space');
    if ((await box.isChecked()) !== checked) throw new Error(`${what}: Space did not ${checked ? 'tick' : 'untick'} it`);
  }

  /** The focused element shows it: an outline or a box shadow (the :focus-visible style), on it or on its card (up to 2 levels up). */
  private async checkFocusVisible(page: Page, what: string): Promise<void> {
    const visible = await page.evaluate(() => {
      const focused = document.activeElement as HTMLElement | null;
      if (!focused || focused === document.body) return true;
      const shows = (el: Element): boolean => {
        const style = getComputedStyle(el);
        const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
        const shadow = style.boxShadow !== 'none' && style.boxShadow !== '';
        return outline || shadow;
      };
      // The ring may be drawn on the control or on its card (a list row's :focus-within).
      for (let el: Element | null = focused, up = 0; el && el !== document.body && up < 3; el = el.parentElement, up++) if (shows(el)) return true;
      return false;
    });
    if (!visible) this.focusNotVisible.push(`${new URL(page.url()).pathname}: ${what}`);
  }
}
