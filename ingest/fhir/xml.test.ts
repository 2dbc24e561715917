/** FHIR R4 XML → JSON (xml.ts) and the adapter reading it: the spec's rules, Bundles, hostile XML. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AcceptedItem, IngestItem, RejectedItem } from '../model.ts';
import { fhirAdapter } from './adapter.ts';
import { fhirJsonToXml as resourceXml, gpBundle } from './test-bundles.ts';
import { syntheaBundle } from './fixtures/synthea.ts';
import { FhirXmlError, fhirXmlToJson, sniffFhirXml } from './xml.ts';

async function* chunks(data: string | Buffer, size = 7): AsyncIterable<Buffer> {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}
async function readAll(data: string | Buffer, size = 7): Promise<IngestItem[]> {
  const out: IngestItem[] = [];
  for await (const item of fhirAdapter.read(chunks(data, size), 'gp/P91001.xml')) out.push(item);
  return out;
}
const accepted = (items: IngestItem[]) => items.filter((i): i is AcceptedItem => i.kind === 'accepted');
const rejected = (items: IngestItem[]) => items.filter((i): i is RejectedItem => i.kind === 'rejected');

test('sniff: the root element in the FHIR namespace, after a declaration, comments, a prefix', () => {
  assert.equal(sniffFhirXml('<?xml version="1.0" encoding="UTF-8"?>\n<!-- x -->\n<Bundle xmlns="http://hl7.org/fhir">'), true);
  assert.equal(sniffFhirXml('\uFEFF<f:Patient xmlns:f="http://hl7.org/fhir">'), true);
  assert.equal(sniffFhirXml("<Patient xmlns='http://hl7.org/fhir'/>"), true);
  assert.equal(sniffFhirXml('<!DOCTYPE x [<!ENTITY a "b">]><Patient xmlns="http://hl7.org/fhir">'), true); // then refused with its reason
  assert.equal(sniffFhirXml('<ADT_A01 xmlns="urn:hl7-org:v2xml">'), false);
  assert.equal(sniffFhirXml('<Patient><x xmlns="http://hl7.org/fhir"/></Patient>'), false);
  assert.equal(fhirAdapter.sniff('<Patient xmlns="http://hl7.org/fhir">'), true);
});

test('a Patient with primitive extensions, ids, repeating primitives, narrative, contained: the R4 JSON form', () => {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<!-- synthetic person -->
<Patient xmlns="http://hl7.org/fhir">
  <id value="pat-x1"/>
  <meta><profile value="https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"/></meta>
  <text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p>Alex <b>Testperson</b> &amp; co<br/></p></div></text>
  <contained><Organization><id value="org1"/><name value="Test Surgery"/></Organization></contained>
  <extension url="https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory">
    <valueCodeableConcept><coding><system value="https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategory"/><code value="A"/></coding></valueCodeableConcept>
  </extension>
  <identifier>
    <extension url="https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus">
      <valueCodeableConcept><coding><code value="01"/></coding></valueCodeableConcept>
    </extension>
    <system value="https://fhir.nhs.uk/Id/nhs-number"/><value value="9434765919"/>
  </identifier>
  <active value="true"/>
  <name><use value="official"/><family value="Testperson"/><given value="Alex"/><given id="g2"><extension url="http://example.org/x"><valueString value="second"/></extension></given><given value="Jo"/></name>
  <gender value="female"/>
  <birthDate value="1980-02-03"><extension url="http://hl7.org/fhir/StructureDefinition/patient-birthTime"><valueDateTime value="1980-02-03T04:05:00+00:00"/></extension></birthDate>
  <deceasedBoolean value="false"/>
  <multipleBirthInteger value="2"/>
  <managingOrganization><reference value="#org1"/></managingOrganization>
</Patient>`;
  assert.deepEqual(fhirXmlToJson(xml), {
    resourceType: 'Patient',
    id: 'pat-x1',
    meta: { profile: ['https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient'] },
    text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><p>Alex <b>Testperson</b> &amp; co<br/></p></div>' },
    contained: [{ resourceType: 'Organization', id: 'org1', name: 'Test Surgery' }],
    extension: [{ url: 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory', valueCodeableConcept: { coding: [{ system: 'https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategory', code: 'A' }] } }],
    identifier: [{
      extension: [{ url: 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus', valueCodeableConcept: { coding: [{ code: '01' }] } }],
      system: 'https://fhir.nhs.uk/Id/nhs-number',
      value: '9434765919',
    }],
    active: true,
    name: [{ use: 'official', family: 'Testperson', given: ['Alex', null, 'Jo'], _given: [null, { id: 'g2', extension: [{ url: 'http://example.org/x', valueString: 'second' }] }, null] }],
    gender: 'female',
    birthDate: '1980-02-03',
    _birthDate: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '1980-02-03T04:05:00+00:00' }] },
    deceasedBoolean: false,
    multipleBirthInteger: 2,
    managingOrganization: { reference: '#org1' },
  });
});

test('decimals, nested backbone elements defined elsewhere (Questionnaire.item.item), a namespace prefix', () => {
  const obs = fhirXmlToJson(`<f:Observation xmlns:f="http://hl7.org/fhir"><f:status value="final"/><f:code><f:text value="BP"/></f:code>
    <f:component><f:code><f:text value="sys"/></f:code><f:valueQuantity><f:value value="120.5"/><f:unit value="mm[Hg]"/></f:valueQuantity></f:component></f:Observation>`);
  assert.deepEqual(obs.component, [{ code: { text: 'sys' }, valueQuantity: { value: 120.5, unit: 'mm[Hg]' } }]);
  const q = fhirXmlToJson(`<Questionnaire xmlns="http://hl7.org/fhir"><status value="active"/><item><linkId value="1"/><type value="group"/><item><linkId value="1.1"/><type value="string"/></item></item></Questionnaire>`);
  assert.deepEqual(q.item, [{ linkId: '1', type: 'group', item: [{ linkId: '1.1', type: 'string' }] }]);
});

test('round trip: the generator\'s GP bundle and a Synthea transaction bundle, as XML, convert to the same JSON', () => {
  for (const b of [gpBundle({ observations: 3 }), syntheaBundle()]) {
    const json = JSON.parse(JSON.stringify(b)) as Record<string, unknown>;
    assert.deepEqual(fhirXmlToJson(resourceXml(json)), json);
  }
});

test('an XML transaction Bundle goes the JSON path: the same item as its JSON, streamed a few bytes at a time', async () => {
  const json = syntheaBundle();
  const [fromJson] = accepted(await readAll(JSON.stringify(json)));
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n${resourceXml(JSON.parse(JSON.stringify(json)))}\n`;
  const items = await readAll(xml, 61);
  assert.deepEqual(rejected(items), []);
  const [fromXml] = accepted(items);
  assert.equal(fromXml!.event, 'transaction');
  assert.equal(fromXml!.sourceSystem, fromJson!.sourceSystem);
  assert.deepEqual(fromXml!.identities, fromJson!.identities);
  assert.deepEqual(fromXml!.resources, fromJson!.resources);
});

test('a bare XML resource and a UTF-8 BOM are read', async () => {
  const items = await readAll(`\uFEFF<Patient xmlns="http://hl7.org/fhir"><id value="p9"/><meta><source value="gp:P91001"/></meta><name><family value="Synthetic"/></name></Patient>`);
  const [item] = accepted(items);
  assert.equal(item!.identities.length, 1);
  assert.equal(item!.resources[0]!.resource.id, 'p9');
});

test('hostile XML: DOCTYPE (XXE, billion laughs) refused with the reason; nothing expanded', async () => {
  const xxe = `<?xml version="1.0"?><!DOCTYPE Patient [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><Patient xmlns="http://hl7.org/fhir"><id value="&xxe;"/></Patient>`;
  const laughs = `<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><Patient xmlns="http://hl7.org/fhir"><id value="&lol3;"/></Patient>`;
  for (const x of [xxe, laughs]) {
    const [r] = await readAll(x);
    assert.equal(r!.kind, 'rejected');
    assert.match((r as RejectedItem).reason, /DOCTYPE declaration, which FHIR XML does not allow/);
  }
  // An undeclared entity is not well-formed XML: refused, not expanded.
  assert.throws(() => fhirXmlToJson('<Patient xmlns="http://hl7.org/fhir"><id value="&xxe;"/></Patient>'), FhirXmlError);
});

test('hostile XML: deep nesting, __proto__ names, wrong namespaces, text content, repeats of a single element', () => {
  const deep = `<Patient xmlns="http://hl7.org/fhir">${'<extension url="x">'.repeat(5000)}${'</extension>'.repeat(5000)}</Patient>`;
  assert.throws(() => fhirXmlToJson(deep), /nested more than 100 deep/);
  const proto = fhirXmlToJson('<Patient xmlns="http://hl7.org/fhir"><__proto__ value="x"/><name><__proto__><polluted value="1"/></__proto__></name></Patient>');
  assert.equal(Object.getPrototypeOf(proto), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.ok(Object.hasOwn(proto, '__proto__'));
  assert.throws(() => fhirXmlToJson('<__proto__ xmlns="http://hl7.org/fhir"/>'), /not an R4 resource type/);
  assert.throws(() => fhirXmlToJson('<Patient xmlns="http://example.org/not-fhir"/>'), /not in the FHIR namespace/);
  assert.throws(() => fhirXmlToJson('<Patient xmlns="http://hl7.org/fhir"><name><family>Smith</family></name></Patient>'), /FHIR XML puts values in value attributes/);
  assert.throws(() => fhirXmlToJson('<Patient xmlns="http://hl7.org/fhir"><gender value="male"/><gender value="female"/></Patient>'), /appears more than once, but R4 allows it once/);
  assert.throws(() => fhirXmlToJson('<Patient xmlns="http://hl7.org/fhir"><id value="a"/>'), /not well-formed XML/);
  assert.throws(() => fhirXmlToJson('<Bundle xmlns="http://hl7.org/fhir"><entry/><entry/><entry/></Bundle>', { maxEntries: 2 }), /more than 2 entries/);
});

test('a malformed XML file is one rejection with line and column, its text kept for the quarantine', async () => {
  const text = '<Bundle xmlns="http://hl7.org/fhir">\n<type value="collection"/>\n<entry><resource></entry></Bundle>';
  const [r] = await readAll(text);
  assert.equal(r!.kind, 'rejected');
  assert.match((r as RejectedItem).reason, /^FHIR XML, line 3 column \d+: not well-formed XML/);
  assert.equal((r as RejectedItem).raw, text);
});

test('a Bundle entry of a type R4 does not have (an older version’s MedicationPrescription): that entry alone is rejected, as in JSON', async () => {
  const xml = `<Bundle xmlns="http://hl7.org/fhir"><id value="old1"/><meta><source value="gp:Y1"/></meta><type value="searchset"/>
    <entry><resource><MedicationPrescription><id value="3123"/><patient><reference value="Patient/347"/></patient></MedicationPrescription></resource></entry>
    <entry><resource><Medication><id value="m1"/></Medication></resource></entry></Bundle>`;
  const items = await readAll(xml);
  assert.deepEqual(accepted(items)[0]!.resources.map((r) => `${r.resource.resourceType}/${r.resource.id}`), ['Medication/m1']);
  assert.deepEqual(rejected(items).map((r) => r.reason), ['entry 1: unknown resource type MedicationPrescription: not a FHIR R4 resource type']);
});
