/**
 * The map: Leaflet with no tile layer unless MAP_TILE_URL is set (then its tiles), else a drawn
 * grid; over either, the outlines of the regions holding open calls (regions.ts). Drivers and calls are markers whose element carries data-driver-id / data-call-id and
 * data-state (DOM mode) while at most DOM_LIMIT are drawn; above that, circle markers on one
 * canvas, clustered on a pixel grid. Trips get a line from the driver to the pickup
 * (data-line-call-id on its path). Every value reaches the DOM through setAttribute/textContent.
 */
import * as L from 'leaflet';
import type { Call, ConsoleConfig, ConsoleState, OpsDriver } from './contract.js';
import { RegionLayer } from './regions.js';

export const DOM_LIMIT = 2000;
export type DriverState = 'available' | 'offered' | 'busy' | 'away' | 'suspended' | 'offline';
export const DRIVER_STATES: readonly DriverState[] = ['available', 'offered', 'busy', 'away', 'suspended', 'offline'];
export const CALL_STATES = ['requested', 'offered', 'dispatched', 'arrived', 'in_progress', 'completed', 'cancelled', 'unfulfilled'] as const;
export type CallState = (typeof CALL_STATES)[number];
const LINE_STATES = new Set<string>(['dispatched', 'arrived', 'in_progress']);

export interface Filters {
  onlyOnline: boolean;
  drivers: ReadonlySet<DriverState>;
  calls: ReadonlySet<string>;
}

export function driverState(d: OpsDriver): DriverState {
  if (d.suspended) return 'suspended';
  if (d.status === 'offline') return 'offline';
  if (d.away) return 'away';
  if (d.status === 'busy') return 'busy';
  if (d.offered) return 'offered';
  return 'available';
}

export const isStale = (d: OpsDriver, now: number, config: ConsoleConfig) => now - d.updatedAt > config.stalePositionMs;

export interface Drawn {
  drivers: { driverId: string; state: DriverState; lat: number; lng: number }[];
  calls: { callId: string; state: string }[];
}

/** A grid of tile borders, drawn locally (no request leaves the page). */
const GridLayer = L.GridLayer.extend({
  createTile(coords: L.Coords) {
    const tile = document.createElement('canvas');
    tile.width = 256;
    tile.height = 256;
    const g = tile.getContext('2d');
    if (g) {
      g.strokeStyle = '#c9d1d9';
      g.lineWidth = 1;
      g.strokeRect(0.5, 0.5, 255, 255);
      g.fillStyle = '#8b949e';
      g.font = '10px sans-serif';
      g.fillText(`${coords.z}/${coords.x}/${coords.y}`, 4, 12);
    }
    return tile;
  },
}) as unknown as new (o?: L.GridLayerOptions) => L.GridLayer;

interface DomEntry { marker: L.Marker; el: HTMLElement }

function pin(kind: 'driver' | 'call', id: string): HTMLElement {
  const el = document.createElement('div');
  el.className = `pin pin-${kind}`;
  el.setAttribute(kind === 'driver' ? 'data-driver-id' : 'data-call-id', id);
  el.setAttribute('data-testid', `${kind}-marker`);
  el.title = `${kind} ${id}`;
  return el;
}

export class OpsMap {
  readonly map: L.Map;
  private readonly dom = { drivers: new Map<string, DomEntry>(), calls: new Map<string, DomEntry>(), lines: new Map<string, L.Polyline>() };
  private readonly canvas = L.canvas({ padding: 0.2 });
  private readonly canvasLayer = L.layerGroup();
  private readonly regions: RegionLayer;
  private currentMode: 'dom' | 'canvas' = 'dom';
  private drawn: Drawn = { drivers: [], calls: [] };
  private fitted = false;
  private last: { state: ConsoleState; filters: Filters; now: number } | undefined;

  constructor(el: HTMLElement, private readonly config: ConsoleConfig, private readonly on: { driver(id: string): void; call(id: string): void }) {
    this.map = L.map(el, { center: [37.5547, 126.9707], zoom: 13, preferCanvas: false, attributionControl: Boolean(config.tileUrl) });
    if (config.tileUrl) L.tileLayer(config.tileUrl, { maxZoom: 19 }).addTo(this.map);
    else new GridLayer({ maxZoom: 19 }).addTo(this.map);
    this.regions = new RegionLayer(this.map, config.regionResolution);
    this.canvasLayer.addTo(this.map);
    this.map.on('zoomend moveend', () => {
      if (this.currentMode === 'canvas' && this.last) this.update(this.last.state, this.last.filters, this.last.now);
    });
  }

  mode(): 'dom' | 'canvas' {
    return this.currentMode;
  }

  hook(): Drawn {
    return this.drawn;
  }

  update(state: ConsoleState, filters: Filters, now: number): void {
    this.last = { state, filters, now };
    const drivers: Drawn['drivers'] = [];
    const driverRows: { d: OpsDriver; state: DriverState; stale: boolean; lat: number; lng: number }[] = [];
    for (const d of state.drivers.values()) {
      const s = driverState(d);
      if (d.lat === null || d.lng === null) continue;
      if (filters.onlyOnline && s === 'offline') continue;
      if (!filters.drivers.has(s)) continue;
      driverRows.push({ d, state: s, stale: isStale(d, now, this.config), lat: d.lat, lng: d.lng });
      drivers.push({ driverId: d.driverId, state: s, lat: d.lat, lng: d.lng });
    }
    const callRows = [...state.calls.values()].filter((c) => filters.calls.has(c.status));
    this.regions.update(state.calls.values());
    this.drawn = { drivers, calls: callRows.map((c) => ({ callId: c.id, state: c.status })) };
    const mode = driverRows.length + callRows.length > DOM_LIMIT ? 'canvas' : 'dom';
    if (mode !== this.currentMode) {
      this.clearDom();
      this.canvasLayer.clearLayers();
      this.currentMode = mode;
    }
    if (mode === 'dom') this.drawDom(driverRows, callRows, state);
    else this.drawCanvas(driverRows, callRows);
    if (!this.fitted && (driverRows.length > 0 || callRows.length > 0)) {
      this.fitted = true;
      this.fit(state);
    }
  }

  /** Fit to open calls and busy/offered drivers, or to every driver when there are none. */
  fit(state: ConsoleState): void {
    const pts: L.LatLngTuple[] = [];
    for (const c of state.calls.values()) if (!['completed', 'cancelled', 'unfulfilled'].includes(c.status)) pts.push([c.pickup.lat, c.pickup.lng]);
    for (const d of state.drivers.values()) {
      const s = driverState(d);
      if ((s === 'busy' || s === 'offered') && d.lat !== null && d.lng !== null) pts.push([d.lat, d.lng]);
    }
    if (pts.length === 0) for (const d of state.drivers.values()) if (d.lat !== null && d.lng !== null) pts.push([d.lat, d.lng]);
    if (pts.length === 0) return;
    // Not animated: the view is settled when the update that fitted it returns.
    this.map.fitBounds(L.latLngBounds(pts), { padding: [40, 40], maxZoom: 15, animate: false });
  }

  private clearDom(): void {
    for (const e of this.dom.drivers.values()) e.marker.remove();
    for (const e of this.dom.calls.values()) e.marker.remove();
    for (const l of this.dom.lines.values()) l.remove();
    this.dom.drivers.clear();
    this.dom.calls.clear();
    this.dom.lines.clear();
  }

  private entry(kind: 'driver' | 'call', id: string, lat: number, lng: number): DomEntry {
    const table = kind === 'driver' ? this.dom.drivers : this.dom.calls;
    let e = table.get(id);
    if (!e) {
      const el = pin(kind, id);
      const marker = L.marker([lat, lng], {
        icon: L.divIcon({ html: el, className: `ops-icon ops-icon-${kind}`, iconSize: kind === 'driver' ? [16, 16] : [20, 20] }),
        keyboard: true,
        zIndexOffset: kind === 'call' ? 500 : 0,
      });
      marker.on('click', () => (kind === 'driver' ? this.on.driver(id) : this.on.call(id)));
      marker.addTo(this.map);
      e = { marker, el };
      table.set(id, e);
    } else {
      const at = e.marker.getLatLng();
      if (at.lat !== lat || at.lng !== lng) e.marker.setLatLng([lat, lng]);
    }
    return e;
  }

  private drawDom(drivers: { d: OpsDriver; state: DriverState; stale: boolean; lat: number; lng: number }[], calls: Call[], state: ConsoleState): void {
    const keepD = new Set<string>();
    for (const r of drivers) {
      keepD.add(r.d.driverId);
      const e = this.entry('driver', r.d.driverId, r.lat, r.lng);
      e.el.setAttribute('data-state', r.state);
      e.el.setAttribute('data-stale', String(r.stale));
    }
    for (const [id, e] of this.dom.drivers) if (!keepD.has(id)) {
      e.marker.remove();
      this.dom.drivers.delete(id);
    }
    const keepC = new Set<string>();
    const keepL = new Set<string>();
    for (const c of calls) {
      keepC.add(c.id);
      const e = this.entry('call', c.id, c.pickup.lat, c.pickup.lng);
      e.el.setAttribute('data-state', c.status);
      const d = c.driverId ? state.drivers.get(c.driverId) : undefined;
      if (LINE_STATES.has(c.status) && d && d.lat !== null && d.lng !== null) {
        keepL.add(c.id);
        const pts: L.LatLngTuple[] = [[d.lat, d.lng], [c.pickup.lat, c.pickup.lng]];
        let line = this.dom.lines.get(c.id);
        if (!line) {
          line = L.polyline(pts, { className: 'ops-line', weight: 3, dashArray: '6 4', interactive: false }).addTo(this.map);
          line.getElement()?.setAttribute('data-line-call-id', c.id);
          this.dom.lines.set(c.id, line);
        } else line.setLatLngs(pts);
      }
    }
    for (const [id, e] of this.dom.calls) if (!keepC.has(id)) {
      e.marker.remove();
      this.dom.calls.delete(id);
    }
    for (const [id, l] of this.dom.lines) if (!keepL.has(id)) {
      l.remove();
      this.dom.lines.delete(id);
    }
  }

  /** Above DOM_LIMIT: circle markers on one canvas; below zoom 15, counts per 48-pixel cell. */
  private drawCanvas(drivers: { d: OpsDriver; state: DriverState; lat: number; lng: number }[], calls: Call[]): void {
    this.canvasLayer.clearLayers();
    const cluster = this.map.getZoom() < 15;
    const cells = new Map<string, { lat: number; lng: number; n: number }>();
    const add = (lat: number, lng: number, cls: string, onClick: () => void) => {
      if (cluster) {
        const p = this.map.project([lat, lng]);
        const key = `${Math.floor(p.x / 48)}:${Math.floor(p.y / 48)}`;
        const cell = cells.get(key);
        if (cell) {
          cell.n++;
          cell.lat += (lat - cell.lat) / cell.n;
          cell.lng += (lng - cell.lng) / cell.n;
        } else cells.set(key, { lat, lng, n: 1 });
        return;
      }
      const m = L.circleMarker([lat, lng], { renderer: this.canvas, radius: 5, className: cls, color: colourOf(cls), fillOpacity: 0.8, weight: 1 });
      m.on('click', onClick);
      this.canvasLayer.addLayer(m);
    };
    for (const r of drivers) add(r.lat, r.lng, `driver-${r.state}`, () => this.on.driver(r.d.driverId));
    for (const c of calls) add(c.pickup.lat, c.pickup.lng, `call-${c.status}`, () => this.on.call(c.id));
    // Counts are labels of their own (in view only), so that clearing the layer takes them at once.
    const view = this.map.getBounds().pad(0.2);
    for (const cell of cells.values()) {
      const m = L.circleMarker([cell.lat, cell.lng], { renderer: this.canvas, radius: Math.min(24, 6 + Math.log2(cell.n) * 2), color: '#1f6feb', fillOpacity: 0.5, weight: 1 });
      m.on('click', () => this.map.setView([cell.lat, cell.lng], this.map.getZoom() + 2));
      this.canvasLayer.addLayer(m);
      if (cell.n > 1 && view.contains([cell.lat, cell.lng])) {
        const label = document.createElement('span');
        label.textContent = String(cell.n);
        this.canvasLayer.addLayer(L.marker([cell.lat, cell.lng], { icon: L.divIcon({ html: label, className: 'cluster-count', iconSize: [28, 16] }), interactive: false, keyboard: false }));
      }
    }
  }
}

/** Canvas colours (the DOM markers take theirs from console.css). */
export function colourOf(cls: string): string {
  const table: Record<string, string> = {
    'driver-available': '#2da44e', 'driver-offered': '#d4a72c', 'driver-busy': '#0969da', 'driver-away': '#8c959f',
    'driver-suspended': '#cf222e', 'driver-offline': '#57606a',
    'call-requested': '#bf3989', 'call-offered': '#e16f24', 'call-dispatched': '#0550ae', 'call-arrived': '#1a7f37',
    'call-in_progress': '#8250df', 'call-completed': '#6e7781', 'call-cancelled': '#a40e26', 'call-unfulfilled': '#3d444d',
  };
  return table[cls] ?? '#8250df';
}
