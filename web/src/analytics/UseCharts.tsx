/**
 * Commissioners' charts, loaded on demand (recharts): cost by month stacked by practice,
 * neighbourhood, setting or cohort (the largest seven, the rest as "Other"), and the shift of
 * contacts from hospital to the community (contacts in and out of hospital, and the share out of
 * hospital). Each is an image named by its summary, with the figures as a table beside it.
 */
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { CommissioningDashboard } from './api.ts';
import { monthLabel, SETTING_LABEL, showCount, showMoney, useChart } from './dashboards.ts';

const PALETTE = ['#005eb8', '#41b6e6', '#007f3b', '#ffb81c', '#ed8b00', '#7c2855', '#330072', '#768692'];

export default function UseCharts({ data, what }: { data: CommissioningDashboard; what: string }) {
  const chart = useChart(data);
  const totals = chart.rows.map((r) => chart.keys.reduce((s, k) => s + ((r[k.key] as number) ?? 0), 0));
  const last = data.shift.at(-1);
  const first = data.shift.find((s) => s.outOfHospitalShare !== null);
  const costSummary = `Cost of care by month and ${what}, ${monthLabel(data.from)} to ${monthLabel(data.to)}: ${showMoney(totals.at(-1) ?? 0)} in the latest month, ${showMoney(totals.reduce((a, b) => a + b, 0))} in all.`;
  const shiftSummary = last && first
    ? `Share of contacts out of hospital: ${pct(first.outOfHospitalShare)} in ${monthLabel(first.month)}, ${pct(last.outOfHospitalShare)} in ${monthLabel(last.month)}.`
    : 'No contacts counted in these months.';
  return (
    <>
      <figure className="bevan-int-chart" aria-labelledby="use-cost-title">
        <h2 className="nhsuk-heading-m" id="use-cost-title">Cost of care by month</h2>
        <p className="nhsuk-body-s" data-testid="use-summary">{costSummary}</p>
        <div className="bevan-int-chart__plot" role="img" aria-label={costSummary} data-testid="use-chart">
          <ResponsiveContainer width="100%" height={280}>
            <BarChart data={chart.rows} margin={{ top: 8, right: 12, bottom: 4, left: 12 }} accessibilityLayer={false}>
              <CartesianGrid stroke="#d8dde0" strokeDasharray="3 3" vertical={false} />
              <XAxis dataKey="label" stroke="#4c6272" fontSize={12} />
              <YAxis stroke="#4c6272" fontSize={12} width={72} tickFormatter={(v: number) => `£${Math.round(v / 1000)}k`} />
              <Tooltip formatter={(v) => showMoney(Number(v))} />
              <Legend />
              {chart.keys.map((k, i) => (
                <Bar key={k.key} dataKey={k.key} name={data.by === 'setting' ? (SETTING_LABEL[k.name] ?? k.name) : k.name} stackId="cost" fill={PALETTE[i % PALETTE.length]} isAnimationActive={false} />
              ))}
            </BarChart>
          </ResponsiveContainer>
        </div>
      </figure>
      <figure className="bevan-int-chart" aria-labelledby="shift-title">
        <h2 className="nhsuk-heading-m" id="shift-title">Shift from hospital to community</h2>
        <p className="nhsuk-body-s" data-testid="shift-summary">{shiftSummary}</p>
        <div className="bevan-int-chart__plot" role="img" aria-label={shiftSummary} data-testid="shift-chart">
          <ResponsiveContainer width="100%" height={240}>
            <LineChart data={data.shift.map((s) => ({ ...s, label: monthLabel(s.month), share: s.outOfHospitalShare === null ? null : Math.round(s.outOfHospitalShare * 1000) / 10 }))} margin={{ top: 8, right: 12, bottom: 4, left: 0 }} accessibilityLayer={false}>
              <CartesianGrid stroke="#d8dde0" strokeDasharray="3 3" vertical={false} />
              <XAxis dataKey="label" stroke="#4c6272" fontSize={12} />
              <YAxis yAxisId="n" stroke="#4c6272" fontSize={12} width={56} />
              <YAxis yAxisId="pct" orientation="right" stroke="#4c6272" fontSize={12} width={44} unit="%" domain={[0, 100]} />
              <Tooltip />
              <Legend />
              <Line yAxisId="n" dataKey="hospital" name="Hospital contacts" stroke="#d5281b" isAnimationActive={false} />
              <Line yAxisId="n" dataKey="outOfHospital" name="Contacts out of hospital" stroke="#007f3b" isAnimationActive={false} />
              <Line yAxisId="pct" dataKey="share" name="Share out of hospital (%)" stroke="#005eb8" strokeDasharray="5 3" isAnimationActive={false} />
            </LineChart>
          </ResponsiveContainer>
        </div>
        <details className="bevan-chart__table">
          <summary>Show the values</summary>
          <div className="bevan-table-scroll" tabIndex={0} role="region" aria-label="Shift from hospital to community, as a table">
            <table className="nhsuk-table bevan-table">
              <thead>
                <tr>
                  <th scope="col">Month</th>
                  <th scope="col">Hospital contacts</th>
                  <th scope="col">Contacts out of hospital</th>
                  <th scope="col">Share out of hospital</th>
                </tr>
              </thead>
              <tbody>
                {data.shift.map((s) => (
                  <tr key={s.month}>
                    <td>{monthLabel(s.month)}</td>
                    <td>{showCount(s.hospital)}</td>
                    <td>{showCount(s.outOfHospital)}</td>
                    <td>{pct(s.outOfHospitalShare)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </details>
      </figure>
    </>
  );
}

function pct(x: number | null): string {
  return x === null ? '–' : `${Math.round(x * 1000) / 10}%`;
}
