import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ACTIVITIES, loadSources, loadTariff, parseTariff, TariffError } from './tariff.ts';

test('the shipped tariff prices every activity and names its source; sources map to settings', () => {
  const t = loadTariff();
  assert.deepEqual(t.map((r) => r.activity).sort(), [...ACTIVITIES].sort());
  assert.ok(t.every((r) => r.priceGbp > 0 && r.source.length > 10));
  assert.equal(t.find((r) => r.activity === 'emergency-admission')!.setting, 'hospital');
  const s = loadSources();
  assert.equal(s.find((x) => x.pattern === 'hl7:RXV')!.setting, 'mental health');
});

test('a tariff with missing rows, bad prices or unknown activities names each problem', () => {
  const head = 'activity,setting,unit,price_gbp,source\n';
  try {
    parseTariff(head + 'emergency-admission,hospital,spell,-5,x\nbed-day,hospital,day,300,"a, b"\nae-attendance,hospitals,attendance,210,\nae-attendance,hospital,attendance,abc,y\n', 't.csv');
    assert.fail('expected an error');
  } catch (err) {
    assert.ok(err instanceof TariffError);
    const m = err.message;
    assert.match(m, /t\.csv line 2: price_gbp "-5" is not a price/);
    assert.match(m, /line 3: "bed-day" is not an activity/);
    assert.match(m, /line 4: "hospitals" is not a setting/);
    assert.match(m, /line 4: no source named/);
    assert.match(m, /line 5: "ae-attendance" is priced twice/);
    assert.match(m, /no price for elective-admission, outpatient-first/);
  }
  assert.throws(() => parseTariff('activity,price\n'), /header must be/);
});
