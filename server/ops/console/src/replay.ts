/**
 * A call's replay: GET /api/calls/:id/replay (the call, its status timeline and the driver's
 * thinned track), the timeline, and the track drawn on a small Leaflet map of its own (no tile
 * layer unless config.tileUrl), with play/pause and a time slider that moves a marker along the
 * track and highlights the status at that time. The map is removed on unmount.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import L from 'leaflet';
import 'leaflet/dist/leaflet.css';
import type { CallReplay, TrackPoint } from '../../../../protocol/index.js';
import { ApiError, html, type PanelProps } from './contract.js';
import './panels.css';

/** A playback runs through the whole replay in about this long. */
const PLAY_MS = 20_000;
const TICK_MS = 100;

type Loaded = { loading: true } | { error: string } | { replay: CallReplay };

/** The track point at time t: the last one not after t, moved part way to the next one of the same trip. */
export function positionAt(track: readonly TrackPoint[], t: number): [number, number] | null {
  if (track.length === 0) return null;
  let j = -1;
  for (let k = 0; k < track.length; k++) if (Date.parse(track[k]!.at) <= t) j = k;
  if (j < 0) return null;
  const a = track[j]!;
  const b = track[j + 1];
  if (!b || b.gen !== a.gen) return [a.lat, a.lng];
  const ta = Date.parse(a.at);
  const tb = Date.parse(b.at);
  const f = tb > ta ? Math.min(1, (t - ta) / (tb - ta)) : 0;
  return [a.lat + (b.lat - a.lat) * f, a.lng + (b.lng - a.lng) * f];
}

export function ReplayView(p: PanelProps & { callId: string; onClose(): void }) {
  const [loaded, setLoaded] = useState<Loaded>({ loading: true });
  const [t, setT] = useState(0);
  const [playing, setPlaying] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  const marker = useRef<L.CircleMarker | null>(null);

  useEffect(() => {
    let live = true;
    setLoaded({ loading: true });
    p.api.get<CallReplay>(`/api/calls/${encodeURIComponent(p.callId)}/replay`).then(
      (replay) => live && setLoaded({ replay }),
      (err: unknown) => live && setLoaded({ error: err instanceof ApiError ? `${err.code}: ${err.message}` : String(err) }),
    );
    return () => { live = false; };
  }, [p.callId, p.api]);

  const replay = 'replay' in loaded ? loaded.replay : null;
  const range = useMemo(() => {
    if (!replay) return { from: 0, to: 0 };
    const times = [...replay.events.map((e) => Date.parse(e.at)), ...replay.track.map((q) => Date.parse(q.at))].filter(Number.isFinite);
    return times.length ? { from: Math.min(...times), to: Math.max(...times) } : { from: 0, to: 0 };
  }, [replay]);

  useEffect(() => setT(range.from), [range.from]);

  useEffect(() => {
    const el = box.current;
    if (!replay || !el) return;
    const map = L.map(el, { attributionControl: !!p.config.tileUrl, zoomControl: true });
    if (p.config.tileUrl) L.tileLayer(p.config.tileUrl, { maxZoom: 19 }).addTo(map);
    const bounds = L.latLngBounds([]);
    const pickup = L.latLng(replay.call.pickup.lat, replay.call.pickup.lng);
    const dropoff = L.latLng(replay.call.dropoff.lat, replay.call.dropoff.lng);
    L.circleMarker(pickup, { radius: 6, color: '#2ca02c', fillOpacity: 0.8 }).bindTooltip('pickup').addTo(map);
    L.circleMarker(dropoff, { radius: 6, color: '#d62728', fillOpacity: 0.8 }).bindTooltip('dropoff').addTo(map);
    bounds.extend(pickup).extend(dropoff);
    const byGen = new Map<number, L.LatLng[]>();
    for (const q of replay.track) {
      const ll = L.latLng(q.lat, q.lng);
      byGen.set(q.gen, [...(byGen.get(q.gen) ?? []), ll]);
      bounds.extend(ll);
    }
    for (const line of byGen.values()) L.polyline(line, { color: '#1f77b4', weight: 3 }).addTo(map);
    map.fitBounds(bounds.pad(0.2), { maxZoom: 16 });
    marker.current = L.circleMarker(pickup, { radius: 7, color: '#000', fillColor: '#ffbf00', fillOpacity: 1 }).addTo(map);
    return () => {
      marker.current = null;
      map.remove();
    };
  }, [replay, p.config.tileUrl]);

  useEffect(() => {
    if (!replay || !marker.current) return;
    const at = positionAt(replay.track, t);
    if (at) marker.current.setLatLng(at).setStyle({ opacity: 1, fillOpacity: 1 });
    else marker.current.setStyle({ opacity: 0, fillOpacity: 0 });
  }, [replay, t]);

  useEffect(() => {
    if (!playing) return;
    const step = Math.max(1, ((range.to - range.from) * TICK_MS) / PLAY_MS);
    const timer = setInterval(() => {
      setT((cur) => {
        const next = Math.min(range.to, cur + step);
        if (next >= range.to) setPlaying(false);
        return next;
      });
    }, TICK_MS);
    return () => clearInterval(timer);
  }, [playing, range.from, range.to]);

  const current = replay ? replay.events.reduce((k, e, j) => (Date.parse(e.at) <= t ? j : k), -1) : -1;
  return html`<section class="ops-panel ops-replay" data-testid="replay" data-call-id=${p.callId}>
    <h2>Replay of ${p.callId} <button type="button" data-testid="replay-close" onClick=${() => p.onClose()}>close</button></h2>
    ${'loading' in loaded ? html`<div class="ops-none">loading…</div>` : null}
    ${'error' in loaded ? html`<div class="ops-error" data-testid="replay-error">${loaded.error}</div>` : null}
    ${replay ? html`
      <div class="ops-replay-controls">
        <button type="button" data-testid="replay-play" onClick=${() => {
          if (!playing && t >= range.to) setT(range.from);
          setPlaying(!playing);
        }}>${playing ? 'pause' : 'play'}</button>
        <input type="range" data-testid="replay-slider" min=${range.from} max=${range.to} step="1000" value=${t}
          onInput=${(e: Event) => { setPlaying(false); setT(Number((e.currentTarget as HTMLInputElement).value)); }} />
        <span>${range.to ? new Date(t).toLocaleTimeString() : ''}</span>
        <span data-testid="replay-point-count">${replay.track.length}</span> points
      </div>
      <div class="ops-replay-map" ref=${box}></div>
      <ol class="ops-timeline">
        ${replay.events.map((e, j) => html`<li key=${e.seq} data-testid="timeline-item" data-status=${e.status} class=${j === current ? 'ops-current' : ''}>
          <time datetime=${e.at}>${new Date(e.at).toLocaleTimeString()}</time> <span class="ops-badge" data-state=${e.status}>${e.status}</span>
          ${e.driverId ? ` driver ${e.driverId}` : ''}</li>`)}
      </ol>` : null}
  </section>`;
}
