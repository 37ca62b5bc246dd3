/**
 * The KPI strip: one tile per KPI of figures.ts with its current value and a uPlot sparkline of
 * the series since the page opened, and the sockets per gateway. One uPlot instance per tile,
 * made and destroyed in useEffect, updated with setData.
 */
import { useEffect, useMemo, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { html, type PanelProps } from './contract.js';
import { formatKpi, kpiSeries, lastValue, socketsPerGateway, type KpiName, type Point } from './figures.js';
import './panels.css';

/** The tiles shown, in order, with their labels. */
export const TILES: readonly { name: KpiName; label: string }[] = [
  { name: 'calls.requested', label: 'requested / min' },
  { name: 'calls.completed', label: 'completed / min' },
  { name: 'calls.cancelled', label: 'cancelled / min' },
  { name: 'calls.unfulfilled', label: 'unfulfilled / min' },
  { name: 'calls.open', label: 'open calls' },
  { name: 'acceptance', label: 'acceptance' },
  { name: 'unfulfilledRate', label: 'unfulfilled rate' },
  { name: 'expiryRate', label: 'offer expiry' },
  { name: 'dispatch.p50', label: 'to dispatch p50' },
  { name: 'dispatch.p99', label: 'to dispatch p99' },
  { name: 'drivers.online', label: 'drivers online' },
  { name: 'drivers.available', label: 'available' },
  { name: 'drivers.busy', label: 'busy' },
  { name: 'drivers.away', label: 'away' },
  { name: 'queue', label: 'queue depth' },
  { name: 'ledgerLag', label: 'ledger lag' },
  { name: 'round.size', label: 'round size' },
  { name: 'round.seconds', label: 'round time' },
];

function aligned(points: readonly Point[]): uPlot.AlignedData {
  return [points.map((q) => q.at / 1000), points.map((q) => q.value)];
}

function Sparkline(p: { points: readonly Point[] }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const u = new uPlot({
      width: 120, height: 32, class: 'ops-spark',
      legend: { show: false }, cursor: { show: false }, select: { show: false, left: 0, top: 0, width: 0, height: 0 },
      scales: { x: { time: true } },
      axes: [{ show: false }, { show: false }],
      series: [{}, { stroke: '#1f77b4', width: 1, spanGaps: false }],
    }, aligned([]), el);
    plot.current = u;
    return () => {
      u.destroy();
      plot.current = null;
    };
  }, []);
  useEffect(() => {
    plot.current?.setData(aligned(p.points));
  }, [p.points]);
  return html`<div class="ops-kpi-spark" ref=${box}></div>`;
}

export function KpiStrip(p: PanelProps) {
  const series = useMemo(() => kpiSeries(p.state.summaries), [p.state.summaries]);
  const latest = p.state.summaries[p.state.summaries.length - 1];
  const gateways = useMemo(() => (latest ? socketsPerGateway(latest.summary) : []), [latest]);
  return html`<section class="ops-panel ops-kpi-strip">
    <div class="ops-kpis">
      ${TILES.map((t) => html`<div key=${t.name} class="ops-kpi" data-testid="kpi" data-kpi=${t.name}>
        <div class="ops-kpi-label">${t.label}</div>
        <div class="ops-kpi-value" data-testid="kpi-value">${formatKpi(t.name, lastValue(series[t.name]))}</div>
        <${Sparkline} points=${series[t.name]} />
      </div>`)}
      <div class="ops-kpi" data-testid="kpi" data-kpi="sockets">
        <div class="ops-kpi-label">sockets per gateway</div>
        <ul class="ops-sockets" data-testid="gateway-sockets">
          ${gateways.length === 0 ? html`<li class="ops-none">—</li>` : null}
          ${gateways.map((g) => html`<li key=${g.id} class=${g.gone ? 'ops-gone' : ''} title=${g.id}>
            ${g.id.split(':').slice(1, 3).join(':') || g.host}: ${g.total}${g.gone ? ' (gone)' : ''}</li>`)}
        </ul>
      </div>
    </div>
  </section>`;
}
