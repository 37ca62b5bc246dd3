/** The alerts panel: the rules of alert-rules.ts over the shell's state, each clickable to its call or driver. */
import { useMemo } from 'preact/hooks';
import { html, type PanelProps } from './contract.js';
import { alertsOf, type Alert } from './alert-rules.js';
import './panels.css';

export { alertsOf, type Alert };

/** Most alerts rendered (the rest counted). */
export const ALERT_CAP = 50;

export function AlertsPanel(p: PanelProps) {
  const alerts = useMemo(() => alertsOf(p.state, p.config, p.now), [p.state, p.config, p.now]);
  const open = (a: Alert) => {
    if (a.target?.callId) p.selectCall(a.target.callId);
    else if (a.target?.driverId) p.selectDriver(a.target.driverId);
  };
  return html`<section class="ops-panel ops-alerts">
    <h2>Alerts <span class="ops-count">${alerts.length}</span></h2>
    <ul data-testid="alerts">
      ${alerts.length === 0 ? html`<li class="ops-none">No alerts</li>` : null}
      ${alerts.slice(0, ALERT_CAP).map((a) => html`<li key=${a.id} data-testid="alert" data-kind=${a.kind}
          class=${`ops-alert ops-alert-${a.kind}${a.target ? ' ops-clickable' : ''}`}
          onClick=${() => open(a)}>${a.text}</li>`)}
    </ul>
    ${alerts.length > ALERT_CAP ? html`<div class="ops-none" data-testid="alerts-more">${alerts.length - ALERT_CAP} more</div>` : null}
  </section>`;
}
