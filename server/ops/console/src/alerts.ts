/** Stub: the real panel comes from the panels' branch (it replaces this file at merge). */
import { html, type PanelProps } from './contract.js';

export function AlertsPanel(_p: PanelProps) {
  return html`<section class="panel" data-panel="alerts"><h2>alerts</h2></section>`;
}
