/**
 * Regions: the unit of a matching round (server/dispatch/round.ts) and of the keys a round owns
 * (server/redis/keys.ts), and the unit a later Redis Cluster key scheme will shard by. A region is
 * the H3 cell of a call's pickup at one resolution. Regions are sized against MATCH_RADIUS_M (a
 * cell's edge at least the radius), so two regions' rounds rarely compete for the same drivers.
 * Candidates are searched by radius in the one free-driver set, so a call near a region's edge
 * still gets the nearest drivers across it.
 */
import h3 from 'h3-js';
import type { LatLng } from '../protocol/index.js';

/** The finest H3 resolution whose average cell edge is at least `radiusM` (0 if none is). */
export function resolutionFor(radiusM: number): number {
  for (let res = 15; res >= 0; res--) if (h3.getHexagonEdgeLengthAvg(res, h3.UNITS.m) >= radiusM) return res;
  return 0;
}

/** The region of a pickup. */
export function regionOf(pos: LatLng, resolution: number): string {
  return h3.latLngToCell(pos.lat, pos.lng, resolution);
}

/** The resolution regions use: MATCH_REGION_RESOLUTION, or the one sized to MATCH_RADIUS_M. */
export function regionResolution(config: { MATCH_REGION_RESOLUTION?: number | undefined; MATCH_RADIUS_M: number }): number {
  return config.MATCH_REGION_RESOLUTION ?? resolutionFor(config.MATCH_RADIUS_M);
}
