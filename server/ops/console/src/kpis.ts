/** Stub: the real panel comes from the panels' branch (it replaces this file at merge). */
import { html, type PanelProps } from './contract.js';

export function KpiStrip(_p: PanelProps) {
  return html`<section class="panel" data-panel="kpis"><h2>kpis</h2></section>`;
}
