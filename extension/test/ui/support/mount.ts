/** Every component test mounts into a fresh element of the page and unmounts after; this is that, once. */
import { render } from 'preact';

/** A new element (a `div` unless told) appended to the page, to render into. */
export function addRoot(tag: keyof HTMLElementTagNameMap = 'div'): HTMLElement {
  const root = document.createElement(tag);
  document.body.append(root);
  return root;
}

/** Unmounts what was rendered into `root` and takes it out of the page. */
export function dropRoot(root: HTMLElement): void {
  render(null, root);
  root.remove();
}
