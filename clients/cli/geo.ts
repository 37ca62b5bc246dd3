/** Small geometry for simulated users: parsing points, random points in a disc, moving toward a point. */
import type { LatLng } from '../../protocol/index.js';

const EARTH_RADIUS_M = 6_371_000;
const RAD = Math.PI / 180;

/** Parse "lat,lng" (decimal degrees); throws an Error that says what is wrong. */
export function parseLatLng(text: string): LatLng {
  const parts = text.split(',').map((s) => s.trim());
  const [lat, lng] = parts.map(Number);
  if (parts.length !== 2 || lat === undefined || lng === undefined || parts.some((p) => p === '') || !Number.isFinite(lat) || !Number.isFinite(lng)) {
    throw new Error(`expected "lat,lng" in decimal degrees, got ${JSON.stringify(text)}`);
  }
  if (lat < -90 || lat > 90) throw new Error(`latitude ${lat} is outside -90..90`);
  if (lng < -180 || lng > 180) throw new Error(`longitude ${lng} is outside -180..180`);
  return { lat, lng };
}

/** Great-circle distance in metres (haversine). */
export function distanceM(a: LatLng, b: LatLng): number {
  const dLat = (b.lat - a.lat) * RAD;
  const dLng = (b.lng - a.lng) * RAD;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * RAD) * Math.cos(b.lat * RAD) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** The point `northM` metres north and `eastM` metres east of `p` (flat-earth, fine for a city). */
export function offset(p: LatLng, northM: number, eastM: number): LatLng {
  const lat = clamp(p.lat + northM / (EARTH_RADIUS_M * RAD), -90, 90);
  const cos = Math.max(Math.cos(p.lat * RAD), 1e-6);
  let lng = p.lng + eastM / (EARTH_RADIUS_M * RAD * cos);
  if (lng > 180) lng -= 360;
  if (lng < -180) lng += 360;
  return { lat: round6(lat), lng: round6(lng) };
}

/** A point drawn uniformly from the disc of `radiusM` metres around `center`. */
export function randomPointWithin(center: LatLng, radiusM: number, random: () => number = Math.random): LatLng {
  const r = radiusM * Math.sqrt(random());
  const theta = 2 * Math.PI * random();
  return offset(center, r * Math.cos(theta), r * Math.sin(theta));
}

/** Move from `from` toward `to` by at most `maxM` metres. */
export function stepToward(from: LatLng, to: LatLng, maxM: number): LatLng {
  const d = distanceM(from, to);
  if (d <= maxM || d === 0) return { ...to };
  const f = maxM / d;
  return { lat: round6(from.lat + (to.lat - from.lat) * f), lng: round6(from.lng + (to.lng - from.lng) * f) };
}

/** A random step of up to `stepM` metres that stays within `radiusM` of `center`. */
export function wander(p: LatLng, center: LatLng, radiusM: number, stepM: number, random: () => number = Math.random): LatLng {
  const next = randomPointWithin(p, stepM, random);
  return distanceM(next, center) <= radiusM ? next : stepToward(p, center, stepM);
}

/** "410 m" or "1.2 km". */
export function formatDistance(m: number): string {
  return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(1)} km`;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

function round6(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}
