/** Stub: the real replay view comes from the panels' branch (it replaces this file at merge). */
import { html, type PanelProps } from './contract.js';

export function ReplayView(p: PanelProps & { callId: string; onClose(): void }) {
  return html`<section class="panel" data-panel="replay"><h2>Replay ${p.callId}</h2><button type="button" data-testid="replay-close" onClick=${() => p.onClose()}>Close</button></section>`;
}
