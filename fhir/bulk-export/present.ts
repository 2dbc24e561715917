/**
 * Exported resources as the record presents them (record/fhir-bundle.ts): one merged Patient per
 * person (id = person id, every source's identifiers, links to the source Patients shown), every
 * other resource with its stable id, `meta.source` and references to the person's source
 * patients pointed at the merged Patient. And the writer that cuts NDJSON lines into chunks and
 * files (a resource type × a range of people). Pure.
 */
import type { Patient } from '@medplum/fhirtypes';
import { buildIntegratedRecord } from '../../record/integrated-record.ts';
import { fhirLogicalId, personPatientKeys, toMergedPatient } from '../../record/fhir-bundle.ts';
import type { IdentityRow, PersonRow, PracticeRow } from '../../record/rows.ts';

/** The newest change to the person's demographics (an identity's update), or null. */
export function demographicsChangedAt(identities: readonly IdentityRow[]): string | null {
  let at: string | null = null;
  for (const i of identities) if (i.updated_at && (!at || i.updated_at > at)) at = i.updated_at;
  return at;
}

/**
 * The merged Patient of a person as the record shows it (the same as `$everything` and
 * `GET Patient/{id}`), linked to the source Patients the user may see, with `meta.lastUpdated`
 * the newest change to the person's demographics.
 */
export function exportedPatient(person: PersonRow, identities: readonly IdentityRow[], practices: readonly PracticeRow[], sourcePatients: readonly { source_system: string; source_id: string }[], now: Date): Patient {
  const record = buildIntegratedRecord(person, identities, [], practices, { now });
  const patient = toMergedPatient(record, sourcePatients.map((s) => fhirLogicalId(s.source_system, 'Patient', s.source_id)));
  const changed = demographicsChangedAt(identities);
  if (changed) patient.meta = { lastUpdated: changed };
  return patient;
}

/** The source patient records that stand for the person (a reference to one is a reference to the merged Patient). */
export function patientKeysOf(identities: readonly IdentityRow[], sourcePatients: readonly { source_system: string; source_id: string }[]): Set<string> {
  const keys = personPatientKeys(identities, []);
  for (const k of personPatientKeys(sourcePatients, [])) keys.add(k);
  return keys;
}

/** Adds a resource's own subject to the person's patient keys (as personPatientKeys does for a whole record). */
export function addSubjectKey(keys: Set<string>, system: string, subjectId: string | null): void {
  if (subjectId) for (const k of personPatientKeys([{ source_system: system, source_id: subjectId }], [])) keys.add(k);
}

export interface OpenFile {
  fileNo: number;
  resourceType: string;
  resources: number;
  lastSeq: number;
}

export interface Chunk {
  fileNo: number;
  seq: number;
  resources: number;
  ndjson: string;
  lastPerson: string | null;
  close: boolean;
}

export interface NewFileRow {
  fileNo: number;
  resourceType: string;
  firstPerson: string | null;
}

/**
 * Collects NDJSON lines per resource type and cuts them into chunks of about `chunkBytes`, each
 * in the type's open file; a file is closed once it holds `maxFileResources` or more (so a file
 * covers one type for a range of people). `take()` hands over what is ready, so the caller can
 * write it and memory stays bounded.
 */
export class ChunkWriter {
  private readonly open = new Map<string, OpenFile>();
  private readonly buffers = new Map<string, { lines: string[]; size: number; firstPerson: string | null; lastPerson: string | null }>();
  private ready: Chunk[] = [];
  private newFiles: NewFileRow[] = [];
  private maxFileNo: number;
  /** Resources written, by type. */
  readonly counts = new Map<string, number>();

  constructor(
    open: readonly OpenFile[],
    maxFileNo: number,
    private readonly o: { chunkBytes: number; maxFileResources: number },
  ) {
    for (const f of open) this.open.set(f.resourceType, { ...f });
    this.maxFileNo = maxFileNo;
  }

  add(resourceType: string, personId: string | null, line: string): void {
    let b = this.buffers.get(resourceType);
    if (!b) this.buffers.set(resourceType, (b = { lines: [], size: 0, firstPerson: personId, lastPerson: personId }));
    b.lines.push(line);
    b.size += line.length + 1;
    b.lastPerson = personId ?? b.lastPerson;
    this.counts.set(resourceType, (this.counts.get(resourceType) ?? 0) + 1);
    const file = this.open.get(resourceType);
    const room = this.o.maxFileResources - (file?.resources ?? 0);
    if (b.size >= this.o.chunkBytes || b.lines.length >= room) this.cut(resourceType);
  }

  /** Cuts every buffer into chunks (end of a batch). */
  flush(): void {
    for (const type of [...this.buffers.keys()]) this.cut(type);
  }

  /** The files to create and the chunks to write since the last take, in order. */
  take(): { files: NewFileRow[]; chunks: Chunk[] } {
    const out = { files: this.newFiles, chunks: this.ready };
    this.newFiles = [];
    this.ready = [];
    return out;
  }

  private cut(resourceType: string): void {
    const b = this.buffers.get(resourceType);
    if (!b || !b.lines.length) return;
    this.buffers.delete(resourceType);
    let file = this.open.get(resourceType);
    if (!file) {
      file = { fileNo: ++this.maxFileNo, resourceType, resources: 0, lastSeq: 0 };
      this.open.set(resourceType, file);
      this.newFiles.push({ fileNo: file.fileNo, resourceType, firstPerson: b.firstPerson });
    }
    file.resources += b.lines.length;
    file.lastSeq += 1;
    const close = file.resources >= this.o.maxFileResources;
    this.ready.push({ fileNo: file.fileNo, seq: file.lastSeq, resources: b.lines.length, ndjson: `${b.lines.join('\n')}\n`, lastPerson: b.lastPerson, close });
    if (close) this.open.delete(resourceType);
  }
}
