/**
 * What GET /ops/config.json answers: the operator console's thresholds and settings, no secret.
 * One type for both sides: the server fills it (server/ops/console.ts), the page reads it
 * (server/ops/console/src/contract.ts). It imports nothing, so the page's build takes it as is.
 */
export interface ConsoleConfig {
  /** OPS_ALERT_WAIT_MS: a call waiting (requested/offered) longer than this is an alert. */
  alertWaitMs: number;
  /** OPS_STALE_POSITION_MS: an online driver whose last update is older than this is stale. */
  stalePositionMs: number;
  /** OPS_ALERT_EXPIRY_RATE: offers expired / offers sent over the last minutes above this is an alert (0..1). */
  expiryRate: number;
  /** MAP_TILE_URL or null. */
  tileUrl: string | null;
  /** OPS_FEED_MS. */
  feedMs: number;
  /** The H3 resolution of the dispatcher's regions (MATCH_REGION_RESOLUTION, or sized to MATCH_RADIUS_M). */
  regionResolution: number;
}
