/**
 * `parallax bench --plot FILE.svg`: throughput against worker count for each workload (left), and each workload's
 * speedup over one worker beside the bound its dependency graphs allow (right; dashed lines), with the ideal
 * linear speedup for reference. Self-contained SVG.
 */
import type { ScalingResult } from '../bench/run.ts';

const PALETTE = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#ff9da6', '#9d755d'];
const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

interface Panel {
  x: number;
  y: number;
  w: number;
  h: number;
  xMax: number;
  yMax: number;
}

function ticks(max: number, n = 5): number[] {
  const raw = max / n;
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const out: number[] = [];
  for (let v = 0; v <= max + 1e-9; v += step) out.push(Number(v.toPrecision(6)));
  return out;
}

function axes(pn: Panel, title: string, xLabel: string, yLabel: string, xs: number[]): string[] {
  const o: string[] = [];
  const X = (v: number) => pn.x + (v / pn.xMax) * pn.w;
  const Y = (v: number) => pn.y + pn.h - (v / pn.yMax) * pn.h;
  o.push(`<text x="${pn.x + pn.w / 2}" y="${pn.y - 14}" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`);
  o.push(`<rect x="${pn.x}" y="${pn.y}" width="${pn.w}" height="${pn.h}" fill="#fafafa" stroke="#999"/>`);
  for (const v of ticks(pn.yMax)) {
    o.push(`<line x1="${pn.x}" x2="${pn.x + pn.w}" y1="${Y(v)}" y2="${Y(v)}" stroke="#e5e5e5"/><text x="${pn.x - 6}" y="${Y(v) + 4}" text-anchor="end">${v}</text>`);
  }
  for (const v of xs) o.push(`<text x="${X(v)}" y="${pn.y + pn.h + 16}" text-anchor="middle">${v}</text>`);
  o.push(`<text x="${pn.x + pn.w / 2}" y="${pn.y + pn.h + 34}" text-anchor="middle">${esc(xLabel)}</text>`);
  o.push(`<text transform="translate(${pn.x - 42},${pn.y + pn.h / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  return o;
}

function polyline(pn: Panel, pts: [number, number][], color: string, cls: string, dashed = false): string {
  const X = (v: number) => pn.x + (v / pn.xMax) * pn.w;
  const Y = (v: number) => pn.y + pn.h - (Math.min(v, pn.yMax) / pn.yMax) * pn.h;
  const d = pts.map(([a, b]) => `${X(a).toFixed(1)},${Y(b).toFixed(1)}`).join(' ');
  const dots = dashed ? '' : pts.map(([a, b]) => `<circle class="point" cx="${X(a).toFixed(1)}" cy="${Y(b).toFixed(1)}" r="3.5" fill="${color}"/>`).join('');
  return `<polyline class="${cls}" points="${d}" fill="none" stroke="${color}" stroke-width="2"${dashed ? ' stroke-dasharray="6 4"' : ''}/>${dots}`;
}

export function scalingSvg(scaling: ScalingResult[], caption: string): string {
  const width = 1100;
  const height = 470;
  const maxW = Math.max(1, ...scaling.flatMap((s) => s.points.map((p) => p.workers)));
  const xs = Array.from({ length: maxW }, (_, i) => i + 1);
  const left: Panel = { x: 80, y: 50, w: 400, h: 300, xMax: maxW + 0.5, yMax: Math.max(1, ...scaling.flatMap((s) => s.points.map((p) => p.mgasPerSec))) * 1.15 };
  const speedMax = Math.max(maxW, ...scaling.flatMap((s) => s.points.map((p) => p.speedup)), ...scaling.map((s) => Math.min(s.bound, maxW * 2)));
  const right: Panel = { x: 620, y: 50, w: 400, h: 300, xMax: maxW + 0.5, yMax: speedMax * 1.1 };
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" class="scaling" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  o.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  o.push(...axes(left, 'Throughput', 'workers', 'Mgas/s', xs));
  o.push(...axes(right, 'Speedup over 1 worker, and the bound', 'workers', 'speedup (x)', xs));
  o.push(polyline(right, [[0, 0], [maxW + 0.5, maxW + 0.5]], '#bbbbbb', 'ideal', true));
  scaling.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    o.push(`<g class="workload" data-workload="${esc(s.name)}">`);
    o.push(polyline(left, s.points.map((p) => [p.workers, p.mgasPerSec]), color, 'throughput'));
    o.push(polyline(right, s.points.map((p) => [p.workers, p.speedup]), color, 'speedup'));
    o.push(polyline(right, [[0.5, s.bound], [maxW + 0.5, s.bound]], color, 'bound', true));
    const ly = 400 + Math.floor(i / 4) * 18;
    const lx = 80 + (i % 4) * 250;
    o.push(`<rect x="${lx}" y="${ly - 10}" width="14" height="10" fill="${color}"/><text x="${lx + 20}" y="${ly}">${esc(s.name)} (bound ${s.bound.toFixed(2)}x)</text>`);
    o.push('</g>');
  });
  o.push(`<text x="80" y="${height - 28}" fill="#555">dashed: each workload's bound from its critical paths (total gas / critical-path gas), clipped at the top; grey: linear speedup</text>`);
  o.push(`<text x="80" y="${height - 10}" fill="#555">${esc(caption)}</text>`);
  o.push('</svg>');
  return o.join('\n') + '\n';
}
