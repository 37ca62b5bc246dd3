/**
 * Region outlines: the H3 cells (at the resolution the dispatcher matches in, GET /ops/config.json
 * regionResolution) that hold open calls, drawn as hexagons on the map with no basemap needed. A
 * region is the unit of a matching round (server/region.ts), so a stadium's crowd shows as one
 * region filling up. Each outline's path carries data-region (the cell) and data-calls (how many
 * open calls it holds). At most MAX_REGIONS are drawn, the busiest first.
 */
import * as L from 'leaflet';
import { cellToBoundary, latLngToCell } from 'h3-js';
import type { Call } from './contract.js';

const MAX_REGIONS = 300;
const OPEN = new Set<string>(['requested', 'offered', 'dispatched', 'arrived', 'in_progress']);

/** Open calls per region (`cellOf` a call's), the busiest first, at most MAX_REGIONS. */
export function regionCounts(calls: Iterable<Call>, cellOf: (c: Call) => string): [string, number][] {
  const counts = new Map<string, number>();
  for (const c of calls) {
    if (!OPEN.has(c.status)) continue;
    const cell = cellOf(c);
    counts.set(cell, (counts.get(cell) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, MAX_REGIONS);
}

export class RegionLayer {
  private readonly drawn = new Map<string, { shape: L.Polygon; calls: number }>();
  /** Each open call's region, found once: a pickup does not move, and the map updates every second. */
  private cells = new Map<string, string>();

  constructor(private readonly map: L.Map, private readonly resolution: number) {}

  update(calls: Iterable<Call>): void {
    const cells = new Map<string, string>();
    const cellOf = (c: Call) => {
      const cell = this.cells.get(c.id) ?? latLngToCell(c.pickup.lat, c.pickup.lng, this.resolution);
      cells.set(c.id, cell);
      return cell;
    };
    const counts = regionCounts(calls, cellOf);
    this.cells = cells;
    const keep = new Set<string>();
    for (const [cell, n] of counts) {
      keep.add(cell);
      let entry = this.drawn.get(cell);
      if (!entry) {
        const shape = L.polygon(cellToBoundary(cell), { className: 'ops-region', weight: 1, fillOpacity: 0.06, interactive: false }).addTo(this.map);
        shape.getElement()?.setAttribute('data-region', cell);
        entry = { shape, calls: -1 };
        this.drawn.set(cell, entry);
      }
      if (entry.calls !== n) {
        entry.calls = n;
        entry.shape.getElement()?.setAttribute('data-calls', String(n));
      }
    }
    for (const [cell, e] of this.drawn) if (!keep.has(cell)) {
      e.shape.remove();
      this.drawn.delete(cell);
    }
  }
}
