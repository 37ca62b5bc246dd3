/** Stub: the real panel comes from the panels' branch (it replaces this file at merge). */
import { html, type PanelProps } from './contract.js';

export function CallsPanel(_p: PanelProps) {
  return html`<section class="panel" data-panel="calls"><h2>calls</h2></section>`;
}
