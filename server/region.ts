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

/** Redis GEO's distance (haversine on its earth radius), so distances computed here match GEODIST. */
const EARTH_M = 6372797.560856;
const RAD = Math.PI / 180;
export function geoDistanceM(a: LatLng, b: LatLng): number {
  const dLat = (b.lat - a.lat) * RAD;
  const dLng = (b.lng - a.lng) * RAD;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * RAD) * Math.cos(b.lat * RAD) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_M * Math.asin(Math.sqrt(h));
}

/**
 * Pickups close together (one H3 cell of resolution 10, edges of about 76 m) share one search for
 * drivers: from the cell's centre, wider by `slackM`, which covers every point of the cell.
 */
const CLUSTER_RESOLUTION = 10;
export const CLUSTER_SLACK_M = Math.ceil(1.5 * h3.getHexagonEdgeLengthAvg(CLUSTER_RESOLUTION, h3.UNITS.m));
export function clusterOf(pos: LatLng): { key: string; centre: LatLng } {
  const key = h3.latLngToCell(pos.lat, pos.lng, CLUSTER_RESOLUTION);
  const [lat, lng] = h3.cellToLatLng(key);
  return { key, centre: { lat, lng } };
}
