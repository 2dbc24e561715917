/**
 * Results over time (HbA1c, eGFR, blood pressure, weight) with their reference bands shaded.
 * Loaded on demand (React.lazy): the charting library is not part of the first page's
 * JavaScript. Each chart has a text summary and its values as a table, for people who do not
 * see the chart.
 */
import { CartesianGrid, Line, LineChart, ReferenceArea, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { Observation } from '@medplum/fhirtypes';
import { CHART_KEYS, chartSeries, type ChartSeries } from '../record/charts.ts';
import { formatDate } from '../lib/dates.ts';
import { sourceLabel } from '../record/sources.ts';

export default function ResultsCharts({ observations }: { observations: Observation[] }) {
  const series = CHART_KEYS.map((k) => chartSeries(observations, k));
  return (
    <div className="bevan-charts">
      {series.map((s) => (
        <Chart key={s.key} s={s} />
      ))}
    </div>
  );
}

function Chart({ s }: { s: ChartSeries }) {
  const id = `chart-${s.key}`;
  const last = s.points.at(-1);
  const values = s.points.flatMap((p) => (p.value2 !== undefined ? [p.value, p.value2] : [p.value]));
  const bounds = [s.band?.low, s.band?.high].filter((x): x is number => typeof x === 'number');
  const lo = Math.min(...values, ...bounds);
  const hi = Math.max(...values, ...bounds);
  const pad = Math.max(1, (hi - lo) * 0.1);
  const domain: [number, number] = [Math.floor(lo - pad), Math.ceil(hi + pad)];
  const summary = last
    ? `${s.points.length} result${s.points.length === 1 ? '' : 's'} from ${formatDate(s.points[0]!.date)} to ${formatDate(last.date)}; latest ${last.value}${last.value2 !== undefined ? `/${last.value2}` : ''} ${s.unit}`
    : 'No results recorded';
  return (
    <figure className="bevan-chart" aria-labelledby={`${id}-title`}>
      <h3 className="nhsuk-heading-xs" id={`${id}-title`}>
        {s.title} <span className="bevan-muted">({s.unit})</span>
      </h3>
      <p className="nhsuk-body-s bevan-chart__summary">{summary}</p>
      {s.points.length > 0 && (
        <div className="bevan-chart__plot" role="img" aria-label={`${s.title} over time: ${summary}${s.band ? `; reference band ${s.band.label}` : ''}`}>
          <ResponsiveContainer width="100%" height={180}>
            <LineChart data={s.points} margin={{ top: 8, right: 12, bottom: 4, left: 0 }} accessibilityLayer={false}>
              <CartesianGrid stroke="#d8dde0" strokeDasharray="3 3" />
              <XAxis dataKey="t" type="number" scale="time" domain={['dataMin', 'dataMax']} tickFormatter={(t: number) => String(new Date(t).getFullYear())} stroke="#4c6272" fontSize={12} />
              <YAxis domain={domain} stroke="#4c6272" fontSize={12} width={40} />
              {s.band && <ReferenceArea y1={s.band.low ?? domain[0]} y2={s.band.high ?? domain[1]} fill="#007f3b" fillOpacity={0.12} stroke="none" ifOverflow="hidden" />}
              <Tooltip labelFormatter={(t) => formatDate(new Date(Number(t)).toISOString())} formatter={(v) => [`${v} ${s.unit}`]} />
              <Line type="linear" dataKey="value" name={s.key === 'bp' ? 'Systolic' : s.title} stroke="#005eb8" strokeWidth={2} dot={{ r: 3 }} isAnimationActive={false} />
              {s.key === 'bp' && <Line type="linear" dataKey="value2" name="Diastolic" stroke="#7c2855" strokeWidth={2} dot={{ r: 3 }} isAnimationActive={false} />}
            </LineChart>
          </ResponsiveContainer>
        </div>
      )}
      {s.band && <figcaption className="nhsuk-body-s bevan-muted">Shaded: {s.band.label}</figcaption>}
      {s.points.length > 0 && (
        <details className="bevan-chart__table">
          <summary>Show the values</summary>
          <table className="nhsuk-table bevan-table">
            <thead>
              <tr>
                <th scope="col">Date</th>
                <th scope="col">Value</th>
                <th scope="col">Source</th>
              </tr>
            </thead>
            <tbody>
              {[...s.points].reverse().map((p, i) => (
                <tr key={`${p.t}-${i}`}>
                  <td>{formatDate(p.date)}</td>
                  <td>
                    {p.value}
                    {p.value2 !== undefined ? `/${p.value2}` : ''} {s.unit}
                  </td>
                  <td>{sourceLabel(p.source)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </figure>
  );
}
