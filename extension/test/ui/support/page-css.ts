/**
 * The extension's stylesheets, put into the test page as the built page has them, for
 * component tests that check how something looks (sizes, spacing, focus rings).
 */
import base from '../../../src/ui/styles/base.css?raw';
import panel from '../../../src/ui/styles/panel.css?raw';
import popup from '../../../src/ui/popup/popup.css?raw';
import options from '../../../src/ui/options/options.css?raw';

/**
 * Chromium's own stylesheet for extension pages sets `body { font-size: 75% }` (the built
 * popup and options page showed 12 px text); a plain test page does not have it, so it
 * is added first.
 */
const CHROME_EXTENSION_PAGE = 'body { font-size: 75%; }';

const SHEETS = { popup: [base, popup], options: [base, options], panel: [base, panel] } as const;

/** Adds a page's stylesheets (after Chromium's extension-page default); returns a function that removes them. */
export function usePageCss(page: keyof typeof SHEETS): () => void {
  const styles = [CHROME_EXTENSION_PAGE, ...SHEETS[page]].map((text) => {
    const style = document.createElement('style');
    style.textContent = text;
    document.head.append(style);
    return style;
  });
  return () => styles.forEach((style) => style.remove());
}
