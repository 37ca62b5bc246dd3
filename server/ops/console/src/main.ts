/**
 * The operator console's shell: sign-in (a pasted admin token, or #token=… once), the feed
 * (store.ts), the map (map.ts) with filters and cards holding the levers (REST, api.ts), and the
 * panels (KPI strip, alerts, calls table, replay) fed the same state. Test hook:
 * window.__opsConsole = { drivers(), calls(), mode() }.
 */
import 'leaflet/dist/leaflet.css';
import '../console.css';
import { render } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { AlertsPanel } from './alerts.js';
import { makeApi } from './api.js';
import { CallsPanel } from './calls.js';
import { ApiError, html, type Api, type Call, type ConsoleConfig, type ConsoleState, type OpsDriver, type PanelProps } from './contract.js';
import { KpiStrip } from './kpis.js';
import { CALL_STATES, DRIVER_STATES, driverState, isStale, OpsMap, type DriverState, type Filters } from './map.js';
import { ReplayView } from './replay.js';
import { emptyState, openFeed, type FeedError } from './store.js';

const TOKEN_KEY = 'ops-console-token';
const TERMINAL = new Set(['completed', 'cancelled', 'unfulfilled']);
const REDISPATCHABLE = new Set(['dispatched', 'arrived']);
const DURATIONS: readonly { label: string; ms: number | null }[] = [
  { label: '15 min', ms: 15 * 60 * 1000 },
  { label: '1 hour', ms: 60 * 60 * 1000 },
  { label: '1 day', ms: 24 * 60 * 60 * 1000 },
  { label: 'until lifted', ms: null },
];

interface Hook {
  drivers(): { driverId: string; state: string; lat: number; lng: number }[];
  calls(): { callId: string; state: string }[];
  mode(): 'dom' | 'canvas';
}
declare global {
  interface Window { __opsConsole?: Hook }
}

type Selection = { kind: 'driver'; id: string } | { kind: 'call'; id: string } | null;

const age = (ms: number) => (ms < 60000 ? `${Math.max(0, Math.round(ms / 1000))} s` : `${Math.round(ms / 60000)} min`);
const errText = (e: unknown) => (e instanceof ApiError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e));

/** A lever's outcome, shown in the card. */
type Outcome = { ok: true; text: string } | { ok: false; text: string } | null;

function Result({ outcome }: { outcome: Outcome }) {
  if (!outcome) return null;
  return html`<p class=${outcome.ok ? 'result ok' : 'result error'} data-testid=${outcome.ok ? 'lever-result' : 'lever-error'} role="status">${outcome.text}</p>`;
}

function useLever(): [Outcome, boolean, (run: () => Promise<string>) => void] {
  const [outcome, setOutcome] = useState<Outcome>(null);
  const [busy, setBusy] = useState(false);
  const pull = (run: () => Promise<string>) => {
    setBusy(true);
    setOutcome(null);
    run().then((text) => setOutcome({ ok: true, text }), (e: unknown) => setOutcome({ ok: false, text: errText(e) })).finally(() => setBusy(false));
  };
  return [outcome, busy, pull];
}

function DriverCard({ d, api, now, config, onClose, selectCall, onLever }: { d: OpsDriver; api: Api; now: number; config: ConsoleConfig; onLever: (d: OpsDriver, suspended: boolean) => void; onClose: () => void; selectCall: (id: string) => void }) {
  const [reason, setReason] = useState('');
  const [duration, setDuration] = useState('3');
  const [outcome, busy, pull] = useLever();
  const id = encodeURIComponent(d.driverId);
  const suspend = () => pull(async () => {
    const ms = DURATIONS[Number(duration)]?.ms ?? null;
    const r = await api.post<{ until: string | null }>(`/api/drivers/${id}/suspend`, { reason, ...(ms === null ? {} : { durationMs: ms }) });
    onLever(d, true);
    return `suspended ${r.until ? `until ${new Date(r.until).toLocaleString()}` : 'until lifted'}`;
  });
  const lift = () => pull(async () => {
    await api.post(`/api/drivers/${id}/lift`, reason ? { reason } : {});
    onLever(d, false);
    return 'suspension lifted';
  });
  const state = driverState(d);
  return html`<section class="card" data-testid="driver-card" data-card-driver-id=${d.driverId}>
    <header><h2>Driver <span data-testid="card-id">${d.driverId}</span></h2><button type="button" class="close" data-testid="card-close" onClick=${onClose} aria-label="Close">×</button></header>
    <dl>
      <dt>State</dt><dd data-testid="card-state" class=${`state state-${state}`}>${state}${isStale(d, now, config) ? ' (stale)' : ''}</dd>
      <dt>Vehicle class</dt><dd>${d.vehicleClass ?? '—'}</dd>
      <dt>Last update</dt><dd>${age(now - d.updatedAt)} ago</dd>
      <dt>Trip</dt><dd>${d.callId ? html`<a href="#" data-testid="card-trip" onClick=${(e: Event) => { e.preventDefault(); selectCall(d.callId!); }}>${d.callId}</a>` : '—'}</dd>
      <dt>Suspended</dt><dd>${d.suspended ? 'yes' : 'no'}</dd>
      <dt>Position</dt><dd>${d.lat !== null && d.lng !== null ? `${d.lat.toFixed(5)}, ${d.lng.toFixed(5)}` : '—'}</dd>
    </dl>
    <div class="levers">
      <label>Reason <input type="text" maxlength="200" data-testid="lever-reason" value=${reason} onInput=${(e: Event) => setReason((e.target as HTMLInputElement).value)} /></label>
      ${d.suspended
        ? html`<button type="button" data-testid="lever-lift" disabled=${busy} onClick=${lift}>Lift</button>`
        : html`<label>For <select data-testid="lever-duration" value=${duration} onChange=${(e: Event) => setDuration((e.target as HTMLSelectElement).value)}>
              ${DURATIONS.map((o, i) => html`<option value=${String(i)}>${o.label}</option>`)}
            </select></label>
            <button type="button" class="danger" data-testid="lever-suspend" disabled=${busy || reason.trim() === ''} onClick=${suspend}>Suspend</button>`}
    </div>
    <${Result} outcome=${outcome} />
  </section>`;
}

function CallCard({ c, api, now, onClose, onReplay, selectDriver }: { c: Call; api: Api; now: number; onClose: () => void; onReplay: (id: string) => void; selectDriver: (id: string) => void }) {
  const [reason, setReason] = useState('');
  const [outcome, busy, pull] = useLever();
  const id = encodeURIComponent(c.id);
  const cancel = () => pull(async () => (await api.post<Call>(`/api/calls/${id}/cancel`, { reason })).status);
  const redispatch = () => pull(async () => (await api.post<Call>(`/api/calls/${id}/redispatch`, { reason })).status);
  const ended = TERMINAL.has(c.status);
  return html`<section class="card" data-testid="call-card" data-card-call-id=${c.id}>
    <header><h2>Call <span data-testid="card-id">${c.id}</span></h2><button type="button" class="close" data-testid="card-close" onClick=${onClose} aria-label="Close">×</button></header>
    <dl>
      <dt>Status</dt><dd data-testid="card-state" class=${`state call-${c.status}`}>${c.status}</dd>
      ${c.cancelReason !== undefined ? html`<dt>Reason</dt><dd data-testid="card-reason">${c.cancelReason}</dd>` : null}
      <dt>Rider</dt><dd>${c.passengerId}</dd>
      <dt>Driver</dt><dd>${c.driverId ? html`<a href="#" data-testid="card-driver" onClick=${(e: Event) => { e.preventDefault(); selectDriver(c.driverId!); }}>${c.driverId}</a>` : '—'}</dd>
      <dt>Vehicle class</dt><dd>${c.vehicleClass ?? '—'}</dd>
      <dt>Created</dt><dd>${new Date(c.createdAt).toLocaleTimeString()} (${age(now - Date.parse(c.createdAt))} ago)</dd>
      <dt>Pickup</dt><dd>${c.pickup.address ?? `${c.pickup.lat.toFixed(5)}, ${c.pickup.lng.toFixed(5)}`}</dd>
    </dl>
    ${ended
      ? html`<div class="levers"><button type="button" data-testid="lever-replay" onClick=${() => onReplay(c.id)}>Replay</button></div>`
      : html`<div class="levers">
          <label>Reason <input type="text" maxlength="200" data-testid="lever-reason" value=${reason} onInput=${(e: Event) => setReason((e.target as HTMLInputElement).value)} /></label>
          <button type="button" class="danger" data-testid="lever-cancel" disabled=${busy || reason.trim() === ''} onClick=${cancel}>Cancel</button>
          ${REDISPATCHABLE.has(c.status) ? html`<button type="button" data-testid="lever-redispatch" disabled=${busy || reason.trim() === ''} onClick=${redispatch}>Re-dispatch</button>` : null}
        </div>`}
    <${Result} outcome=${outcome} />
  </section>`;
}

function MapPane({ config, state, filters, now, select, fitRef }: { config: ConsoleConfig; state: ConsoleState; filters: Filters; now: number; select: (s: Selection) => void; fitRef: { current: (() => void) | null } }) {
  const el = useRef<HTMLDivElement>(null);
  const map = useRef<OpsMap | null>(null);
  const selectRef = useRef(select);
  selectRef.current = select;
  useEffect(() => {
    if (!el.current) return;
    const m = new OpsMap(el.current, config, {
      driver: (id) => selectRef.current({ kind: 'driver', id }),
      call: (id) => selectRef.current({ kind: 'call', id }),
    });
    map.current = m;
    window.__opsConsole = { drivers: () => m.hook().drivers, calls: () => m.hook().calls, mode: () => m.mode() };
    return () => {
      m.map.remove();
      map.current = null;
      delete window.__opsConsole;
    };
  }, []);
  const stateRef = useRef(state);
  stateRef.current = state;
  fitRef.current = () => map.current?.fit(stateRef.current);
  useEffect(() => {
    map.current?.update(state, filters, now);
  }, [state, filters, now]);
  return html`<div class="map" ref=${el} data-testid="map"></div>`;
}

function Legend() {
  return html`<div class="legend" data-testid="legend">
    ${DRIVER_STATES.map((s) => html`<span class="legend-item"><i class=${`dot driver-${s}`}></i>${s}</span>`)}
    <span class="legend-item"><i class="dot stale"></i>stale</span>
    ${CALL_STATES.map((s) => html`<span class="legend-item"><i class=${`sq call-${s}`}></i>${s.replace('_', ' ')}</span>`)}
  </div>`;
}

function Toolbar({ filters, setFilters, live, onFit, onSignOut, counts }: { filters: Filters; setFilters: (f: Filters) => void; live: boolean; onFit: () => void; onSignOut: () => void; counts: { drivers: number; calls: number } }) {
  const toggle = <T,>(set: ReadonlySet<T>, v: T) => {
    const next = new Set(set);
    if (next.has(v)) next.delete(v);
    else next.add(v);
    return next;
  };
  return html`<div class="toolbar">
    <h1>Operator console</h1>
    <span class=${live ? 'live on' : 'live off'} data-testid="live" data-live=${String(live)}>${live ? 'live' : 'reconnecting…'}</span>
    <span class="count" data-testid="counts">${counts.drivers} drivers · ${counts.calls} calls</span>
    <fieldset class="filters"><legend>Drivers</legend>
      <label><input type="checkbox" data-testid="filter-online" checked=${filters.onlyOnline} onChange=${() => setFilters({ ...filters, onlyOnline: !filters.onlyOnline })} /> only online</label>
      ${DRIVER_STATES.map((s) => html`<label><input type="checkbox" data-testid=${`filter-driver-${s}`} checked=${filters.drivers.has(s)} onChange=${() => setFilters({ ...filters, drivers: toggle(filters.drivers, s) })} /> ${s}</label>`)}
    </fieldset>
    <fieldset class="filters"><legend>Calls</legend>
      ${CALL_STATES.map((s) => html`<label><input type="checkbox" data-testid=${`filter-call-${s}`} checked=${filters.calls.has(s)} onChange=${() => setFilters({ ...filters, calls: toggle(filters.calls, s) })} /> ${s.replace('_', ' ')}</label>`)}
    </fieldset>
    <button type="button" data-testid="fit" onClick=${onFit}>Fit to activity</button>
    <button type="button" data-testid="signout" onClick=${onSignOut}>Sign out</button>
  </div>`;
}

function ConsoleView({ token, config, onRefused, onSignOut }: { token: string; config: ConsoleConfig; onRefused: (e: FeedError) => void; onSignOut: () => void }) {
  const [feedState, setState] = useState<ConsoleState>(emptyState);
  // A driver suspended from this page leaves the online index (the feed says `gone`) unless on a
  // trip: kept here, drawn `suspended`, so that it can be lifted from its card; dropped at lift.
  const [suspended, setSuspended] = useState<ReadonlyMap<string, OpsDriver>>(new Map());
  const onLever = (d: OpsDriver, on: boolean) => setSuspended((prev) => {
    const next = new Map(prev);
    if (on) next.set(d.driverId, { ...d, suspended: true, status: d.status === 'busy' ? 'busy' : 'offline', offered: false });
    else next.delete(d.driverId);
    return next;
  });
  const state = useMemo<ConsoleState>(() => {
    const extra = [...suspended.values()].filter((d) => !feedState.drivers.has(d.driverId));
    if (extra.length === 0) return feedState;
    const drivers = new Map(feedState.drivers);
    for (const d of extra) drivers.set(d.driverId, d);
    return { ...feedState, drivers };
  }, [feedState, suspended]);
  const [now, setNow] = useState(Date.now());
  const [selection, setSelection] = useState<Selection>(null);
  const [replay, setReplay] = useState<string | null>(null);
  const [filters, setFilters] = useState<Filters>(() => ({
    onlyOnline: true,
    drivers: new Set<DriverState>(DRIVER_STATES),
    calls: new Set<string>(CALL_STATES.filter((s) => !TERMINAL.has(s))),
  }));
  const api = useMemo(() => makeApi(token), [token]);
  const fitRef = useRef<(() => void) | null>(null);
  useEffect(() => {
    const feed = openFeed(token, { onState: setState, onRefused });
    const tick = setInterval(() => setNow(Date.now()), 1000);
    return () => {
      feed.close();
      clearInterval(tick);
    };
  }, [token]);
  const panel: PanelProps = {
    state, config, api, now,
    selectCall: (id) => setSelection({ kind: 'call', id }),
    selectDriver: (id) => setSelection({ kind: 'driver', id }),
  };
  let card = null;
  if (selection?.kind === 'driver') {
    const d = state.drivers.get(selection.id);
    card = d
      ? html`<${DriverCard} key=${d.driverId} d=${d} api=${api} now=${now} config=${config} onLever=${onLever} onClose=${() => setSelection(null)} selectCall=${(id: string) => panel.selectCall(id)} />`
      : html`<section class="card" data-testid="driver-card"><p>Driver ${selection.id} is offline.</p><button type="button" data-testid="card-close" onClick=${() => setSelection(null)}>Close</button></section>`;
  } else if (selection?.kind === 'call') {
    const c = state.calls.get(selection.id);
    card = c
      ? html`<${CallCard} key=${c.id} c=${c} api=${api} now=${now} onClose=${() => setSelection(null)} onReplay=${setReplay} selectDriver=${(id: string) => panel.selectDriver(id)} />`
      : html`<section class="card" data-testid="call-card"><p>Call ${selection.id} is not in the feed.</p><button type="button" data-testid="card-close" onClick=${() => setSelection(null)}>Close</button></section>`;
  }
  return html`<div class="console" data-testid="console">
    <${Toolbar} filters=${filters} setFilters=${setFilters} live=${state.live} onFit=${() => fitRef.current?.()} onSignOut=${onSignOut} counts=${{ drivers: state.drivers.size, calls: state.calls.size }} />
    <div class="top"><${KpiStrip} ...${panel} /><${AlertsPanel} ...${panel} /></div>
    <div class="main">
      <div class="map-wrap"><${MapPane} config=${config} state=${state} filters=${filters} now=${now} select=${setSelection} fitRef=${fitRef} /><${Legend} /></div>
      <aside class="side">${card}${replay ? html`<${ReplayView} ...${panel} callId=${replay} onClose=${() => setReplay(null)} />` : null}</aside>
    </div>
    <div class="bottom"><${CallsPanel} ...${panel} /></div>
  </div>`;
}

function SignIn({ error, onToken }: { error: FeedError | null; onToken: (t: string) => void }) {
  const [text, setText] = useState('');
  const submit = (e: Event) => {
    e.preventDefault();
    const t = text.trim();
    if (t) onToken(t);
  };
  return html`<form class="signin" data-testid="signin" onSubmit=${submit}>
    <h1>Operator console</h1>
    <p>Paste an admin token. Make one with <code>npx dispatch token --role admin</code> (the server's JWT_SECRET signs it).</p>
    <textarea data-testid="token" rows="5" spellcheck="false" autocomplete="off" value=${text} onInput=${(e: Event) => setText((e.target as HTMLTextAreaElement).value)}></textarea>
    ${error ? html`<p class="error" data-testid="signin-error" data-code=${error.code} role="alert"><strong>${error.code}</strong> ${error.message}</p>` : null}
    <button type="submit" data-testid="signin-submit">Sign in</button>
  </form>`;
}

function App({ config }: { config: ConsoleConfig }) {
  const [token, setToken] = useState<string | null>(() => sessionStorage.getItem(TOKEN_KEY));
  const [error, setError] = useState<FeedError | null>(null);
  const signIn = (t: string) => {
    sessionStorage.setItem(TOKEN_KEY, t);
    setError(null);
    setToken(t);
  };
  const signOut = (e: FeedError | null = null) => {
    sessionStorage.removeItem(TOKEN_KEY);
    setError(e);
    setToken(null);
  };
  if (!token) return html`<${SignIn} error=${error} onToken=${signIn} />`;
  return html`<${ConsoleView} key=${token} token=${token} config=${config} onRefused=${(e: FeedError) => signOut(e)} onSignOut=${() => signOut()} />`;
}

async function start(): Promise<void> {
  const root = document.getElementById('app');
  if (!root) return;
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ''));
  const fromUrl = fragment.get('token');
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    history.replaceState(null, '', location.pathname + location.search);
  }
  let config: ConsoleConfig;
  try {
    const res = await fetch('/ops/config.json');
    config = (await res.json()) as ConsoleConfig;
  } catch (err) {
    root.textContent = `Could not read /ops/config.json: ${errText(err)}`;
    return;
  }
  root.textContent = '';
  render(html`<${App} config=${config} />`, root);
}

void start();
