/**
 * The only way the view creates elements. Text goes in through textContent and attributes through
 * setAttribute, never through HTML parsing: token text is model output and untrusted.
 */

export interface ElementOptions {
  readonly className?: string;
  readonly text?: string;
  readonly attributes?: Readonly<Record<string, string>>;
}

export type Child = Node | string;

function fill(element: Element, options: ElementOptions, children: readonly Child[]): void {
  if (options.className !== undefined) element.setAttribute("class", options.className);
  for (const [name, value] of Object.entries(options.attributes ?? {})) {
    // Handlers are attached with addEventListener; an on* attribute would be inline script.
    if (name.toLowerCase().startsWith("on")) throw new Error(`refusing inline handler attribute ${name}`);
    element.setAttribute(name, value);
  }
  if (options.text !== undefined) element.textContent = options.text;
  element.append(...children);
}

export function html<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  options: ElementOptions = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  fill(element, options, children);
  return element;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  options: ElementOptions = {},
  ...children: Child[]
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG_NS, tag);
  fill(element, options, children);
  return element;
}
