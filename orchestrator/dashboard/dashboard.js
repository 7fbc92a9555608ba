// The Castnet dashboard's script: renders /dashboard/snapshot as it arrives over server-sent events
// (/dashboard/events; polling the snapshot when the feed refuses or fails), and the operator's stream-key
// form. Every value is written with textContent (never as HTML). The admin token stays in sessionStorage and
// is only ever sent as an Authorization header, to this origin.
'use strict';

(() => {
  const TOKEN_KEY = 'castnet-admin-token';
  const POLL_MS = 5000;
  const $ = (id) => document.getElementById(id);
  const el = (tag, props = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  };
  const short = (id) => (id && id.length > 14 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id || '');
  const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '');
  const stateBadge = (state) => el('span', { class: `state state-${state}`, text: state });
  const rendered = {};

  /** Re-renders a section only when its part of the snapshot changed, so focus and scroll stay put otherwise. */
  function section(name, data, render) {
    const json = JSON.stringify(data);
    if (rendered[name] === json) return;
    rendered[name] = json;
    render(data);
  }

  function fillTable(table, rows) {
    const tbody = table.tBodies[0];
    tbody.replaceChildren(...rows.map((cells) => el('tr', {}, ...cells.map((c) => (c instanceof Node && c.nodeName === 'TD' ? c : el('td', {}, c))))));
  }

  function idCell(full) {
    return el('td', { class: 'id', title: full }, full);
  }

  function thumbnail(s) {
    const placeholder = () => el('div', { class: 'thumb placeholder', role: 'img', 'aria-label': `no thumbnail yet for ${s.playbackId}` }, s.state === 'ended' ? 'Ended' : 'No picture yet');
    if (!s.thumbnailUrl || s.state === 'ended') return placeholder();
    // The relay refreshes it every ~10 s: a new URL per 10 s window fetches the new picture.
    const img = el('img', { class: 'thumb', alt: `latest picture of stream ${s.playbackId}`, src: `${s.thumbnailUrl}?t=${Math.floor(Date.now() / 10000)}`, loading: 'lazy' });
    img.addEventListener('error', () => img.replaceWith(placeholder()), { once: true });
    return img;
  }

  function renderStreams(streams) {
    $('streams-empty').textContent = streams.some((s) => s.state !== 'ended') ? '' : 'No live streams.';
    $('streams').replaceChildren(
      ...streams.map((s) => {
        const renditions = s.renditions.map((r) => `${r.name} ${r.width}×${r.height}`).join(', ') || 'source only';
        const facts = el('dl', { class: 'facts' },
          el('dt', { text: 'State' }), el('dd', {}, stateBadge(s.state)),
          el('dt', { text: 'Viewers' }), el('dd', { text: String(s.viewers) }),
          el('dt', { text: 'Renditions' }), el('dd', { text: renditions }),
          el('dt', { text: s.state === 'ended' ? 'Ended' : 'Started' }), el('dd', { text: time(s.state === 'ended' ? s.endedAt : s.startedAt) }));
        const card = el('li', { class: 'card', 'data-playback-id': s.playbackId, 'data-state': s.state }, thumbnail(s), el('h3', { text: s.playbackId }), facts);
        if (s.watchUrl) card.append(el('a', { href: s.watchUrl, text: `Watch ${s.playbackId}` }));
        for (const w of s.warnings) card.append(el('p', { class: 'error', text: w }));
        return card;
      }),
    );
  }

  function renderNodes(nodes) {
    fillTable($('nodes'), nodes.map((n) => [
      idCell(n.id),
      n.role + (n.edge ? ' (edge)' : ''),
      n.encoders.join(', ') || '—',
      `${n.sessions}/${n.maxSessions} sessions, ${n.inFlight} in flight`,
      `${n.price} per ${n.priceUnit}`,
      el('td', {}, stateBadge(n.state), n.stateReason ? ` ${n.stateReason}` : '', n.bannedUntil ? ` until ${time(n.bannedUntil)}` : ''),
      `${n.score}${n.recentFailures ? ` (${n.recentFailures} recent failures)` : ''}`,
      String(n.streams),
      n.earned,
    ]));
  }

  function renderLedger(snapshot) {
    $('ledger-note').textContent = snapshot.accounts ? '' : 'This network settles on chain: deposits and redemptions are the TicketBroker contract\'s (castnet wallet --settlement chain).';
    fillTable($('accounts'), (snapshot.accounts || []).map((a) => [idCell(a.address), a.deposit, a.reserve, a.spent, a.earned, a.withdrawn]));
  }

  function renderDeliveries(deliveries) {
    fillTable($('deliveries'), deliveries.map((d) => [
      d.type,
      idCell(d.playbackId),
      idCell(d.url),
      el('td', {}, stateBadge(d.state)),
      String(d.attempts),
      d.lastError || (d.lastStatus ? `HTTP ${d.lastStatus}` : '—'),
    ]));
  }

  function renderEvents(events) {
    $('events').replaceChildren(...(events.length ? events : [{ at: null, level: 'info', text: 'Nothing yet.' }]).map((e) => el('li', { class: e.level }, el('time', e.at ? { datetime: e.at, text: time(e.at) } : {}), e.text)));
  }

  let lastCounts = '';
  function render(snapshot) {
    section('streams', snapshot.streams, renderStreams);
    section('nodes', snapshot.nodes, renderNodes);
    section('ledger', { accounts: snapshot.accounts }, renderLedger);
    section('deliveries', snapshot.deliveries, renderDeliveries);
    section('events', snapshot.events, renderEvents);
    const live = snapshot.streams.filter((s) => s.state === 'live').length;
    const counts = `${live} live ${live === 1 ? 'stream' : 'streams'}, ${snapshot.nodes.length} ${snapshot.nodes.length === 1 ? 'node' : 'nodes'}`;
    // The live region speaks only when the counts change, not on every update.
    if (counts !== lastCounts) {
      lastCounts = counts;
      $('status').textContent = `${counts} (updated ${new Date().toLocaleTimeString()})`;
    }
    document.body.dataset.updated = String(Date.now());
  }

  let polling = null;
  function poll() {
    if (polling) return;
    const once = () => fetch('/dashboard/snapshot', { cache: 'no-store' }).then((r) => r.json()).then(render).catch(() => { $('status').textContent = 'Cannot reach the orchestrator; retrying…'; });
    once();
    polling = setInterval(once, POLL_MS);
  }

  function connect() {
    if (!window.EventSource) return poll();
    const source = new EventSource('/dashboard/events');
    source.addEventListener('snapshot', (e) => render(JSON.parse(e.data)));
    source.addEventListener('error', () => {
      // CLOSED: the server refused (503: too many live viewers) or is gone for good; poll instead.
      if (source.readyState === EventSource.CLOSED) {
        $('status').textContent = 'Live updates unavailable: refreshing every few seconds.';
        poll();
      }
    });
  }

  // Stream keys: the operator's admin token, as a bearer header only.
  const token = () => sessionStorage.getItem(TOKEN_KEY) || '';
  function showTokenState() {
    $('token-state').textContent = token() ? 'A token is set for this tab.' : 'No token set.';
  }
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = $('token').value.trim();
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    $('token').value = '';
    showTokenState();
  });
  $('forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showTokenState();
  });

  async function admin(method) {
    $('key-error').textContent = '';
    const headers = token() ? { authorization: `Bearer ${token()}` } : {};
    const res = await fetch('/dashboard/stream-keys', { method, headers, cache: 'no-store' });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      const message = (body.error && body.error.message) || `HTTP ${res.status}`;
      $('key-error').textContent = res.status === 401 ? `Refused: ${message}. Paste the admin token above.` : `Refused: ${message}`;
      return null;
    }
    return body;
  }

  function copyButton(label, value) {
    const b = el('button', { type: 'button', class: 'secondary', text: 'Copy', 'aria-label': `Copy ${label}` });
    b.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(value);
        b.textContent = 'Copied';
      } catch {
        b.textContent = 'Select and copy';
      }
    });
    return b;
  }

  $('create-key').addEventListener('click', async () => {
    const key = await admin('POST');
    if (!key) return;
    const rows = [
      ['Service', key.obs.service, false],
      ['Server', key.obs.server, true],
      ['Stream Key', key.obs.streamKey, true],
      ['Keyframe interval', key.obs.keyframeInterval, false],
      ['Video', key.obs.video, false],
      ['Audio', key.obs.audio, false],
      ['Playback id', key.playbackId, true],
    ];
    if (key.watchUrl) rows.push(['Watch page', key.watchUrl, true]);
    $('obs-settings').replaceChildren(...rows.flatMap(([label, value, copy]) => [el('dt', { text: label }), el('dd', { 'data-field': label }, el('code', { text: value }), ...(copy ? [copyButton(label, value)] : []))]));
    $('obs').hidden = false;
    $('obs-h').focus();
  });

  $('list-keys').addEventListener('click', async () => {
    const list = await admin('GET');
    if (!list) return;
    fillTable($('keys'), list.keys.map((k) => [idCell(k.playbackId), time(k.createdAt), idCell(k.streamKey)]));
    $('keys-list').hidden = false;
  });

  showTokenState();
  connect();
})();
