/**
 * The calls panel: open and recent calls from the feed (plus ended ones loaded from GET
 * /api/calls/closed), filtered, searched and sorted, at most ROW_CAP rows rendered. A click selects
 * the call and opens its timeline (GET /api/calls/:id/history) under the row.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { CallHistory } from '../../../../protocol/index.js';
import { ApiError, html, type Call, type PanelProps } from './contract.js';
import './panels.css';

/** Most rows rendered. */
export const ROW_CAP = 200;
const STATUSES = ['requested', 'offered', 'dispatched', 'arrived', 'in_progress', 'completed', 'cancelled', 'unfulfilled'] as const;
const AGES: readonly { label: string; ms: number }[] = [
  { label: 'any age', ms: 0 }, { label: '> 1 min', ms: 60_000 }, { label: '> 5 min', ms: 300_000 }, { label: '> 15 min', ms: 900_000 },
];

type Timeline = { loading: true } | { error: string } | { events: CallHistory['events'] };

function errorText(err: unknown): string {
  if (err instanceof ApiError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m ${s % 60}s` : `${Math.floor(m / 60)}h ${m % 60}m`;
}

const short = (id: string) => (id.length > 10 ? `${id.slice(0, 8)}…` : id);

export function CallsPanel(p: PanelProps) {
  const [search, setSearch] = useState('');
  const [statuses, setStatuses] = useState<readonly string[]>([]);
  const [vehicleClass, setVehicleClass] = useState('');
  const [minAge, setMinAge] = useState(0);
  const [newestFirst, setNewestFirst] = useState(true);
  const [expanded, setExpanded] = useState<string | null>(null);
  const [timeline, setTimeline] = useState<Timeline | null>(null);
  const [closed, setClosed] = useState<ReadonlyMap<string, Call>>(new Map());
  const [closedNext, setClosedNext] = useState<string | null | undefined>(undefined);
  const [closedState, setClosedState] = useState<{ loading: boolean; error: string | null }>({ loading: false, error: null });

  const all = useMemo(() => {
    if (closed.size === 0) return [...p.state.calls.values()];
    const m = new Map(closed);
    for (const [id, c] of p.state.calls) m.set(id, c);
    return [...m.values()];
  }, [p.state.calls, closed]);

  const classes = useMemo(() => [...new Set(all.map((c) => c.vehicleClass).filter((v): v is string => !!v))].sort(), [all]);

  const rows = useMemo(() => {
    const q = search.trim().toLowerCase();
    const wanted = new Set(statuses);
    const out = all.filter((c) => {
      if (wanted.size && !wanted.has(c.status)) return false;
      if (vehicleClass && c.vehicleClass !== vehicleClass) return false;
      if (minAge && !(p.now - Date.parse(c.createdAt) > minAge)) return false;
      if (q && !c.id.toLowerCase().includes(q) && !c.passengerId.toLowerCase().includes(q) && !(c.driverId ?? '').toLowerCase().includes(q)) return false;
      return true;
    });
    out.sort((a, b) => (newestFirst ? b.createdAt.localeCompare(a.createdAt) : a.createdAt.localeCompare(b.createdAt)) || a.id.localeCompare(b.id));
    return out;
  }, [all, search, statuses, vehicleClass, minAge, newestFirst, p.now]);

  useEffect(() => {
    if (!expanded) return;
    let live = true;
    setTimeline({ loading: true });
    p.api.get<CallHistory>(`/api/calls/${encodeURIComponent(expanded)}/history`).then(
      (h) => live && setTimeline({ events: h.events }),
      (err: unknown) => live && setTimeline({ error: errorText(err) }),
    );
    return () => { live = false; };
  }, [expanded, p.api]);

  const click = (id: string) => {
    p.selectCall(id);
    setExpanded((cur) => (cur === id ? null : id));
  };

  const loadClosed = () => {
    setClosedState({ loading: true, error: null });
    const cursor = closedNext ? `&cursor=${encodeURIComponent(closedNext)}` : '';
    p.api.get<{ items: Call[]; next: string | null }>(`/api/calls/closed?limit=200${cursor}`).then(
      (page) => {
        setClosed((m) => {
          const n = new Map(m);
          for (const c of page.items) n.set(c.id, c);
          return n;
        });
        setClosedNext(page.next);
        setClosedState({ loading: false, error: null });
      },
      (err: unknown) => setClosedState({ loading: false, error: errorText(err) }),
    );
  };

  const shown = rows.slice(0, ROW_CAP);
  return html`<section class="ops-panel ops-calls">
    <h2>Calls <span class="ops-count">${rows.length} of ${all.length}</span></h2>
    <div class="ops-calls-controls">
      <input type="search" placeholder="call, rider or driver id" data-testid="calls-search" value=${search}
        onInput=${(e: Event) => setSearch((e.currentTarget as HTMLInputElement).value)} />
      <select multiple data-testid="calls-status-filter" title="status (none selected: all)"
        onChange=${(e: Event) => setStatuses([...(e.currentTarget as HTMLSelectElement).selectedOptions].map((o) => o.value))}>
        ${STATUSES.map((s) => html`<option value=${s} selected=${statuses.includes(s)}>${s}</option>`)}
      </select>
      <select data-testid="calls-class-filter" value=${vehicleClass}
        onChange=${(e: Event) => setVehicleClass((e.currentTarget as HTMLSelectElement).value)}>
        <option value="">any class</option>
        ${classes.map((c) => html`<option value=${c}>${c}</option>`)}
      </select>
      <select data-testid="calls-age-filter" value=${String(minAge)}
        onChange=${(e: Event) => setMinAge(Number((e.currentTarget as HTMLSelectElement).value))}>
        ${AGES.map((a) => html`<option value=${String(a.ms)}>${a.label}</option>`)}
      </select>
      <button type="button" data-testid="calls-sort" onClick=${() => setNewestFirst((v) => !v)}>${newestFirst ? 'newest first' : 'oldest first'}</button>
      <button type="button" data-testid="calls-load-closed" disabled=${closedState.loading || closedNext === null} onClick=${loadClosed}>
        ${closedNext === undefined ? 'load closed calls' : closedNext === null ? 'no more closed calls' : 'load more closed calls'}
      </button>
      ${closedState.error ? html`<span class="ops-error" data-testid="calls-closed-error">${closedState.error}</span>` : null}
      ${p.state.truncated.calls ? html`<span class="ops-error">the snapshot was cut: not every open call is listed</span>` : null}
    </div>
    <table data-testid="calls-table">
      <thead><tr><th>id</th><th>status</th><th>rider</th><th>driver</th><th>class</th><th>age</th></tr></thead>
      <tbody>
        ${shown.map((c) => html`
          <tr key=${c.id} data-testid="call-row" data-call-id=${c.id} data-state=${c.status}
            class=${`ops-clickable${expanded === c.id ? ' ops-selected' : ''}`} onClick=${() => click(c.id)}>
            <td title=${c.id}>${short(c.id)}</td>
            <td><span class="ops-badge" data-state=${c.status}>${c.status}</span></td>
            <td>${c.passengerId}</td>
            <td>${c.driverId ?? '—'}</td>
            <td>${c.vehicleClass ?? '—'}</td>
            <td>${age(p.now - Date.parse(c.createdAt))}</td>
          </tr>
          ${expanded === c.id ? html`<tr key=${`${c.id}:timeline`} data-testid="call-timeline"><td colspan="6">${timelineOf(timeline)}</td></tr>` : null}`)}
      </tbody>
    </table>
    ${rows.length > ROW_CAP ? html`<div class="ops-none" data-testid="calls-more">${rows.length - ROW_CAP} more (narrow the filters)</div>` : null}
  </section>`;
}

function timelineOf(t: Timeline | null) {
  if (!t || 'loading' in t) return html`<span class="ops-none">loading history…</span>`;
  if ('error' in t) return html`<span class="ops-error" data-testid="timeline-error">${t.error}</span>`;
  if (t.events.length === 0) return html`<span class="ops-none">no status change in the ledger yet</span>`;
  return html`<ol class="ops-timeline">
    ${t.events.map((e) => html`<li key=${e.seq} data-testid="timeline-item" data-status=${e.status}>
      <time datetime=${e.at}>${new Date(e.at).toLocaleTimeString()}</time> <span class="ops-badge" data-state=${e.status}>${e.status}</span>
      ${e.driverId ? ` driver ${e.driverId}` : ''}</li>`)}
  </ol>`;
}
