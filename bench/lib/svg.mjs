// A hand-written SVG chart of the results: one panel per scenario, a horizontal bar per
// contender (median req/s, whiskers from the lowest to the highest round), labelled with the
// ratio to the best bare cluster mode; a last panel with the timings. No dependency.

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const COLORS = { tsicorn: '#1f77b4', baseline: '#7f7f7f', other: '#bcbd22', reference: '#d62728' };

/**
 * panels: [{ title, unit, rows: [{ label, value, lo, hi, note, kind }] }] where kind is one of
 * COLORS' keys. Returns the SVG text.
 */
export function chart({ title, subtitle, panels }) {
  const width = 900;
  const labelW = 250;
  const barW = width - labelW - 170;
  const rowH = 20;
  let y = 56;
  const parts = [];
  for (const panel of panels) {
    const max = Math.max(...panel.rows.map((r) => r.hi ?? r.value), 1);
    parts.push(`<text x="10" y="${y}" class="panel">${esc(panel.title)}</text>`);
    y += 10;
    for (const r of panel.rows) {
      const w = (r.value / max) * barW;
      const color = COLORS[r.kind] ?? COLORS.other;
      parts.push(`<text x="${labelW - 8}" y="${y + 14}" class="label" text-anchor="end">${esc(r.label)}</text>`);
      parts.push(`<rect x="${labelW}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${color}"/>`);
      if (r.lo !== undefined && r.hi !== undefined) {
        const x0 = labelW + (r.lo / max) * barW;
        const x1 = labelW + (r.hi / max) * barW;
        const cy = y + rowH / 2;
        parts.push(
          `<path d="M${x0.toFixed(1)} ${cy}H${x1.toFixed(1)}M${x0.toFixed(1)} ${cy - 4}v8M${x1.toFixed(1)} ${cy - 4}v8" stroke="#000" stroke-width="1"/>`,
        );
      }
      const text = `${formatValue(r.value, panel.unit)}${r.note ? `  ${r.note}` : ''}`;
      parts.push(`<text x="${labelW + Math.max(w, ((r.hi ?? 0) / max) * barW) + 6}" y="${y + 14}" class="value">${esc(text)}</text>`);
      y += rowH;
    }
    y += 24;
  }
  const height = y;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    '<style>.title{font-size:16px;font-weight:bold}.sub{font-size:11px;fill:#444}.panel{font-size:13px;font-weight:bold}.label{font-size:12px}.value{font-size:11px;fill:#222}</style>',
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="22" class="title">${esc(title)}</text>`,
    `<text x="10" y="38" class="sub">${esc(subtitle)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

function formatValue(v, unit) {
  if (unit === 'req/s') return `${Math.round(v).toLocaleString('en-US')} req/s`;
  if (unit === 'ms') return `${v.toFixed(0)} ms`;
  if (unit === 'MiB') return `${v.toFixed(1)} MiB`;
  return `${v} ${unit}`;
}
