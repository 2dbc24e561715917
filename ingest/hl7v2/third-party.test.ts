/**
 * Public HL7 v2 samples written by others (../shared/samples, see its README: US public-health
 * laboratory and hospital senders, v2.3–2.5.1). Every message must be accounted for; ADT, ORU
 * and orders (ORM, OML) with a patient accepted (≥ 95 %, none quarantined for a value the
 * standard allows); other types ignored.
 * Skipped when the folder is absent. Set BEVAN_HL7_SAMPLES to read another folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { IngestItem } from '../model.ts';
import { hl7v2Adapter } from './adapter.ts';

const root = resolve(process.env.BEVAN_HL7_SAMPLES ?? new URL('../../../shared/samples', import.meta.url).pathname);

function hl7Files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...hl7Files(p));
    else if (name.endsWith('.hl7')) out.push(p);
  }
  return out;
}

/** Reasons a person can act on: the message lacks what the standard requires, or has an impossible value. */
const ACTIONABLE = [
  /^MSH-2 encoding characters/,
  /^MSH-9 message type is empty/,
  /^MSH-10 message control id is empty/,
  /^MSH-4 sending facility and MSH-3 sending application are both empty/,
  /^PID-3 patient identifier list has no identifier/,
  /^PID-(7|29) "[^"]*" is not a valid date/,
];

test('third-party HL7 v2 samples: every message accounted for, ADT, ORU and orders accepted', { skip: !existsSync(root) && `no samples at ${root}` }, async (t) => {
  const files = hl7Files(root);
  assert.ok(files.length > 0, `no .hl7 files under ${root}`);
  const counts = { messages: 0, accepted: 0, ignored: 0, rejected: 0 };
  const adtOru = { total: 0, accepted: 0 };
  const rejections: string[] = [];
  for (const file of files) {
    const bytes = readFileSync(file);
    const items: IngestItem[] = [];
    async function* one() {
      yield bytes;
    }
    for await (const item of hl7v2Adapter.read(one(), relative(root, file))) items.push(item);
    // Every MSH at the start of a segment is one message, and yields exactly one item.
    const messages = (bytes.toString('latin1').match(/(^|[\r\n\x0b])[ \t]*MSH[^A-Za-z0-9\s]/g) ?? []).length;
    const messageItems = items.filter((i) => !(i.kind === 'rejected' && i.reason.startsWith('no MSH segment')));
    assert.equal(messageItems.length, messages, `${relative(root, file)}: ${messages} messages, ${messageItems.length} items`);
    counts.messages += messages;
    for (const item of messageItems) {
      counts[item.kind]++;
      const type = item.kind === 'rejected' ? (/^MSH(.)[^\r\n]*/.exec(item.raw)?.[0].split(/[|]/)[8] ?? '').split('^')[0] : item.event.split('^')[0];
      const isAdtOru = type === 'ADT' || type === 'ORU' || ((type === 'ORM' || type === 'OML') && /(^|[\r\n])PID\|/.test(item.raw ?? ''));
      if (isAdtOru) {
        adtOru.total++;
        if (item.kind === 'accepted') adtOru.accepted++;
      }
      if (item.kind === 'rejected') {
        rejections.push(`${item.origin}: ${item.reason}`);
        assert.ok(ACTIONABLE.some((r) => r.test(item.reason)), `${item.origin} quarantined for a reason nobody can act on: ${item.reason}`);
      }
      if (item.kind === 'ignored') assert.ok(!isAdtOru || !/^(ADT\^A(0[1-9]|1[0-8]|2[1-9]|3[0-9]|4[0-9]|5[0-5]|6[0-2])|ORU\^R01)$/.test(item.event), `${item.origin}: ${item.event} ignored`);
    }
  }
  const share = adtOru.accepted / adtOru.total;
  t.diagnostic(`${files.length} files, ${counts.messages} messages: ${counts.accepted} accepted, ${counts.ignored} ignored, ${counts.rejected} quarantined`);
  t.diagnostic(`ADT, ORU and orders with a patient: ${adtOru.accepted} of ${adtOru.total} accepted (${(share * 100).toFixed(1)} %)`);
  for (const r of rejections) t.diagnostic(`quarantined ${r}`);
  assert.equal(counts.accepted + counts.ignored + counts.rejected, counts.messages);
  assert.ok(share >= 0.95, `ADT/ORU/orders accepted ${(share * 100).toFixed(1)} %, expected at least 95 %`);
});
