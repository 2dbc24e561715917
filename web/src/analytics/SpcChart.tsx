/**
 * An XmR (SPC) chart of one measure, loaded on demand (React.lazy, with recharts): the monthly
 * values joined by a line, each point coloured by its reading after NHS England's Making Data
 * Count (improvement blue, concern orange, common cause grey), the mean, the process limits
 * (dashed), the panel's tolerance band and the aim's target. The chart is an image named by its
 * summary; the same figures are a table beneath it.
 */
import { CartesianGrid, ComposedChart, Line, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { MeasureView } from './api.ts';
import { SIGNAL_COLOURS, SIGNAL_LABEL, spcRows, spcSummary } from './dashboards.ts';

export default function SpcChart({ view }: { view: MeasureView }) {
  const rows = spcRows(view);
  const c = view.chart;
  const id = `spc-${view.measure.id}`;
  const summary = spcSummary(view);
  const tol = view.measure.tolerance;
  const target = view.measure.aim?.target;
  return (
    <figure className="bevan-chart bevan-spc" aria-labelledby={`${id}-title`}>
      <h3 className="nhsuk-heading-s" id={`${id}-title`}>
        {view.measure.title} <span className="bevan-muted">({view.measure.unit})</span>
      </h3>
      <p className="nhsuk-body-s" data-testid="spc-summary">
        {summary}
      </p>
      {c && (
        <div className="bevan-int-chart__plot" role="img" aria-label={`${view.measure.title}: ${summary}`} data-testid="spc-chart">
          <ResponsiveContainer width="100%" height={240}>
            <ComposedChart data={rows} margin={{ top: 8, right: 16, bottom: 4, left: 0 }} accessibilityLayer={false}>
              <CartesianGrid stroke="#d8dde0" strokeDasharray="3 3" vertical={false} />
              <XAxis dataKey="label" stroke="#4c6272" fontSize={12} interval="preserveStartEnd" />
              <YAxis stroke="#4c6272" fontSize={12} width={48} domain={['auto', 'auto']} />
              <Tooltip />
              <ReferenceLine y={c.mean} stroke="#212b32" label={{ value: 'Mean', position: 'insideTopLeft', fontSize: 11, fill: '#212b32' }} />
              <ReferenceLine y={c.upperProcessLimit} stroke="#4c6272" strokeDasharray="6 4" label={{ value: 'Upper limit', position: 'insideTopLeft', fontSize: 11, fill: '#4c6272' }} />
              <ReferenceLine y={c.lowerProcessLimit} stroke="#4c6272" strokeDasharray="6 4" label={{ value: 'Lower limit', position: 'insideBottomLeft', fontSize: 11, fill: '#4c6272' }} />
              {tol?.lower !== undefined && <ReferenceLine y={tol.lower} stroke="#d5281b" strokeDasharray="2 3" label={{ value: 'Tolerance', position: 'insideBottomRight', fontSize: 11, fill: '#d5281b' }} />}
              {tol?.upper !== undefined && <ReferenceLine y={tol.upper} stroke="#d5281b" strokeDasharray="2 3" label={{ value: 'Tolerance', position: 'insideTopRight', fontSize: 11, fill: '#d5281b' }} />}
              {target !== undefined && <ReferenceLine y={target} stroke="#007f3b" strokeDasharray="8 3" label={{ value: 'Target', position: 'insideTopRight', fontSize: 11, fill: '#007f3b' }} />}
              <Line
                dataKey="value"
                name={view.measure.unit}
                stroke="#768692"
                connectNulls
                isAnimationActive={false}
                dot={(p: { cx?: number; cy?: number; index?: number }) => {
                  const r = rows[p.index ?? 0];
                  if (!r || r.value === null || p.cx === undefined || p.cy === undefined) return <g key={`dot-${p.index}`} />;
                  return <circle key={`dot-${p.index}`} cx={p.cx} cy={p.cy} r={r.signal && r.signal !== 'neutral' ? 5 : 3.5} fill={SIGNAL_COLOURS[r.signal ?? 'neutral']} stroke="#fff" strokeWidth={1} />;
                }}
              />
            </ComposedChart>
          </ResponsiveContainer>
        </div>
      )}
      <ul className="bevan-spc__legend" aria-label="Key">
        {(['improvement', 'concern', 'neutral'] as const).map((s) => (
          <li key={s}>
            <span className="bevan-spc__swatch" style={{ background: SIGNAL_COLOURS[s] }} aria-hidden="true" /> {SIGNAL_LABEL[s]}
          </li>
        ))}
      </ul>
      <details className="bevan-chart__table">
        <summary>Show the values</summary>
        <div className="bevan-table-scroll" tabIndex={0} role="region" aria-label={`${view.measure.title}, as a table`}>
          <table className="nhsuk-table bevan-table">
            <thead>
              <tr>
                <th scope="col">Month</th>
                <th scope="col">Value</th>
                <th scope="col">Reading</th>
                <th scope="col">Rules</th>
              </tr>
            </thead>
            <tbody>
              {[...rows].reverse().map((r) => (
                <tr key={r.month}>
                  <td>{r.label}</td>
                  <td>{r.value === null ? 'suppressed (fewer than 8)' : r.value}</td>
                  <td>{r.signal ? SIGNAL_LABEL[r.signal] : '–'}{r.outsideTolerance ? '; outside tolerance' : ''}</td>
                  <td>{r.rules.join(', ') || '–'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
