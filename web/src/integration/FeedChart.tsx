/**
 * Messages per hour as stacked bars (accepted, ignored, quarantined), loaded on demand
 * (React.lazy): the charting library is not part of the first page's JavaScript. The chart is
 * an image with its summary as its name; the values are also a table.
 */
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { FeedHourly } from '../api/integration.ts';
import { chartPoints, summariseHourly } from './feeds.ts';

const COLOURS = { accepted: '#007f3b', ignored: '#4c6272', quarantined: '#d5281b' };

export default function FeedChart({ hourly, title }: { hourly: FeedHourly; title: string }) {
  const points = chartPoints(hourly);
  const summary = summariseHourly(hourly);
  // Every 3rd hour labelled over a day, every 12th over a week.
  const every = hourly.range === '24h' ? 3 : 12;
  return (
    <figure className="bevan-int-chart" aria-labelledby="feed-chart-title">
      <h3 className="nhsuk-heading-s" id="feed-chart-title">
        {title}
      </h3>
      <p className="nhsuk-body-s" data-testid="feed-chart-summary">
        {summary}
      </p>
      <div className="bevan-int-chart__plot" role="img" aria-label={`${title}: ${summary}`} data-testid="feed-chart">
        <ResponsiveContainer width="100%" height={240}>
          <BarChart data={points} margin={{ top: 8, right: 12, bottom: 4, left: 0 }} accessibilityLayer={false}>
            <CartesianGrid stroke="#d8dde0" strokeDasharray="3 3" vertical={false} />
            <XAxis dataKey="label" interval={every - 1} stroke="#4c6272" fontSize={12} />
            <YAxis allowDecimals={false} stroke="#4c6272" fontSize={12} width={44} />
            <Tooltip />
            <Legend />
            <Bar dataKey="accepted" name="Accepted" stackId="m" fill={COLOURS.accepted} isAnimationActive={false} />
            <Bar dataKey="ignored" name="Ignored" stackId="m" fill={COLOURS.ignored} isAnimationActive={false} />
            <Bar dataKey="quarantined" name="Quarantined" stackId="m" fill={COLOURS.quarantined} isAnimationActive={false} />
          </BarChart>
        </ResponsiveContainer>
      </div>
      <details className="bevan-chart__table">
        <summary>Show the values</summary>
        <div className="bevan-table-scroll" tabIndex={0} role="region" aria-label="Messages per hour, as a table">
          <table className="nhsuk-table bevan-table">
            <thead>
              <tr>
                <th scope="col">Hour</th>
                <th scope="col">Accepted</th>
                <th scope="col">Ignored</th>
                <th scope="col">Quarantined</th>
              </tr>
            </thead>
            <tbody>
              {[...points].reverse().filter((p) => p.accepted + p.ignored + p.quarantined > 0).map((p) => (
                <tr key={p.t}>
                  <td>{p.label}</td>
                  <td>{p.accepted}</td>
                  <td>{p.ignored}</td>
                  <td>{p.quarantined}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
