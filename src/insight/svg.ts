/**
 * Pictures of execution, as self-contained SVG (no script, no external resources):
 *   - a block's schedule: one lane per worker plus the main thread, every attempt a bar, discarded runs marked,
 *     the critical path outlined;
 *   - the page served at /blocks/<n>: the schedule, the figures and the re-executions with their keys.
 */
import { keyLabel, MAIN_THREAD, type Attempt, type BlockTrace } from './trace.ts';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const COLORS = {
  speculative: '#4c78a8',
  discarded: '#e45756',
  reexecution: '#f58518',
  serial: '#9d9d9d',
  critical: '#111111',
};

function fmt(x: number, digits = 2): string {
  return x.toFixed(digits);
}

export function laneName(worker: number): string {
  return worker === MAIN_THREAD ? 'main thread' : `worker ${worker}`;
}

/** The block's schedule as an SVG document. */
export function scheduleSvg(t: BlockTrace, width = 1200): string {
  const lanes = [MAIN_THREAD];
  const seen = new Set<number>();
  for (const tx of t.txs) for (const a of tx.attempts) if (a.worker !== MAIN_THREAD) seen.add(a.worker);
  lanes.push(...[...seen].sort((a, b) => a - b));
  const left = 110;
  const right = 20;
  const top = 46;
  const laneH = 34;
  const plotW = width - left - right;
  const height = top + lanes.length * laneH + 58;
  const span = Math.max(t.spanMs, ...t.txs.flatMap((x) => x.attempts.map((a) => a.end)), 1e-3);
  const X = (ms: number) => left + (Math.max(0, ms) / span) * plotW;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="schedule" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(
    `<text x="${left}" y="18" font-size="14" font-weight="bold">Block ${esc(t.number)}: ${t.txs.length} transactions, ${esc(t.mode)}, ${t.workers} worker(s), ${fmt(t.spanMs)} ms</text>`,
  );
  out.push(
    `<text x="${left}" y="36">speedup achieved ${fmt(t.speedup.achieved)}x, bound ${fmt(t.speedup.boundByTime)}x by time (${fmt(t.speedup.boundByGas)}x by gas), critical path ${t.critical.gas.txs.length} tx</text>`,
  );
  // Time axis.
  const axisY = top + lanes.length * laneH + 6;
  out.push(`<line x1="${left}" y1="${axisY}" x2="${left + plotW}" y2="${axisY}" stroke="#333"/>`);
  const step = niceStep(span / 8);
  for (let ms = 0; ms <= span + 1e-9; ms += step) {
    const x = X(ms);
    out.push(`<line x1="${x}" y1="${axisY}" x2="${x}" y2="${axisY + 4}" stroke="#333"/><text x="${x}" y="${axisY + 16}" text-anchor="middle">${fmt(ms, step < 1 ? 2 : 0)}</text>`);
  }
  out.push(`<text x="${left + plotW}" y="${axisY + 30}" text-anchor="end">ms from the start of the transaction phase</text>`);
  lanes.forEach((w, li) => {
    const y = top + li * laneH;
    out.push(`<g class="lane" data-lane="${w === MAIN_THREAD ? 'main' : 'worker-' + w}">`);
    out.push(`<rect x="${left}" y="${y}" width="${plotW}" height="${laneH - 4}" fill="${li % 2 === 0 ? '#f4f4f4' : '#fafafa'}"/>`);
    out.push(`<text x="${left - 8}" y="${y + laneH / 2 + 2}" text-anchor="end">${laneName(w)}</text>`);
    for (const tx of t.txs) {
      for (const a of tx.attempts) {
        if (a.worker !== w) continue;
        out.push(bar(a, tx.index, tx.onCriticalPath, X, y + 3, laneH - 10));
      }
    }
    out.push('</g>');
  });
  // Legend.
  const ly = height - 14;
  let lx = left;
  for (const [label, color, outline] of [
    ['speculative run, committed', COLORS.speculative, false],
    ['speculative run, discarded', COLORS.discarded, false],
    ['re-execution', COLORS.reexecution, false],
    ['serial', COLORS.serial, false],
    ['critical path', '#ffffff', true],
  ] as const) {
    out.push(`<rect x="${lx}" y="${ly - 10}" width="14" height="10" fill="${color}" ${outline ? `stroke="${COLORS.critical}" stroke-width="2"` : ''}/>`);
    out.push(`<text x="${lx + 18}" y="${ly}">${label}</text>`);
    lx += 40 + label.length * 6.5;
  }
  out.push('</svg>');
  return out.join('\n');
}

function bar(a: Attempt, tx: number, critical: boolean, X: (ms: number) => number, y: number, h: number): string {
  const x0 = X(a.start);
  const w = Math.max(1, X(a.end) - x0);
  const kind = !a.committed ? 'discarded' : a.kind;
  const color = COLORS[kind];
  const cls = ['bar', kind, critical && a.committed ? 'critical' : ''].filter(Boolean).join(' ');
  const title = [
    `tx ${tx}: ${a.kind}${a.committed ? ', committed' : ', discarded'}`,
    `${fmt(a.start)}–${fmt(a.end)} ms`,
    ...(a.invalidatedBy ?? []).map((k) => `invalidated by ${keyLabel(k)}`),
  ].join('\n');
  const stroke = critical && a.committed ? ` stroke="${COLORS.critical}" stroke-width="2"` : '';
  const mark = !a.committed ? `<line x1="${x0}" y1="${y}" x2="${x0 + w}" y2="${y + h}" stroke="#ffffff" stroke-width="1"/>` : '';
  return `<rect class="${cls}" data-tx="${tx}" x="${fmt(x0, 2)}" y="${y}" width="${fmt(w, 2)}" height="${h}" fill="${color}"${stroke}><title>${esc(title)}</title></rect>${mark}`;
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-6)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/** The page served at /blocks/<n>. */
export function blockPage(t: BlockTrace): string {
  const reexec = t.txs.filter((x) => x.attempts.some((a) => !a.committed));
  const rows = reexec
    .slice(0, 200)
    .map((x) => {
      const keys = x.attempts.flatMap((a) => a.invalidatedBy ?? []).map((k) => esc(keyLabel(k)));
      return `<tr><td>${x.index}</td><td><code>${esc(x.hash)}</code></td><td>${keys.join('<br>')}</td></tr>`;
    })
    .join('\n');
  const figures: [string, string][] = [
    ['mode', t.mode],
    ['workers', String(t.workers)],
    ['transactions', String(t.txs.length)],
    ['gas', t.totalGas],
    ['transaction phase', `${fmt(t.spanMs)} ms (scheduling ${fmt(t.schedulingMs)} ms)`],
    ['speedup achieved', `${fmt(t.speedup.achieved)}x`],
    ['speedup bound (time, gas)', `${fmt(t.speedup.boundByTime)}x, ${fmt(t.speedup.boundByGas)}x`],
    ['bound with this many workers', `${fmt(t.speedup.boundWithWorkers)}x`],
    ['critical path (gas)', `${t.critical.gas.txs.length} transactions, ${t.critical.gas.gas} gas: ${t.critical.gas.txs.slice(0, 40).join(', ')}${t.critical.gas.txs.length > 40 ? ', …' : ''}`],
    ['re-executed', String(reexec.length)],
    ['value conserved', t.conservation === undefined ? 'not checked' : t.conservation.ok ? `yes (minted ${t.conservation.minted}, burned ${t.conservation.burned}, destroyed ${t.conservation.destroyed})` : 'NO'],
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Parallax: block ${esc(t.number)}</title>
<style>body{font-family:sans-serif;margin:16px;color:#222}table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}code{font-size:11px}</style>
</head><body>
<h1>Block ${esc(t.number)}</h1>
<p><code>${esc(t.hash)}</code> · <a href="/blocks/${esc(t.number)}/trace">trace as JSON</a></p>
${scheduleSvg(t)}
<h2>Figures</h2>
<table class="figures">${figures.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>
<h2>Re-executions and the keys that invalidated them</h2>
${reexec.length === 0 ? '<p>None: every speculative run was committed as it ran.</p>' : `<table class="reexecutions"><tr><th>tx</th><th>hash</th><th>invalidated by</th></tr>\n${rows}</table>`}
</body></html>
`;
}
