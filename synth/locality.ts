/**
 * The synthetic locality, modelled on Trafford: four neighbourhoods (north, south, central,
 * west), their postcode districts, and about thirty GP practices with synthetic ODS-style codes
 * and synthetic names. The locality is fixed (it does not depend on the seed) so that practice
 * codes stay the same from one run to the next.
 */
import { INWARD_LETTERS } from './names.ts';
import type { Random } from './random.ts';

export type NeighbourhoodKey = 'north' | 'south' | 'central' | 'west';

export interface Neighbourhood {
  key: NeighbourhoodKey;
  name: string;
  /** Postcode districts with towns, weighted by how many residents live there. */
  districts: { district: string; town: string; weight: number }[];
  /** Hospital most residents use (facility code, MSH-4). */
  mainHospital: string;
}

export interface Practice {
  ods: string;
  name: string;
  neighbourhood: NeighbourhoodKey;
  postcode: string;
  /** Relative list size. */
  weight: number;
}

export interface Hospital {
  facility: string;
  name: string;
}

export interface Locality {
  name: string;
  neighbourhoods: Neighbourhood[];
  practices: Practice[];
  hospitals: Hospital[];
}

export const HOSPITALS: Hospital[] = [
  { facility: 'RM2', name: 'Trafford Synthetic Acute Hospital (south site)' },
  { facility: 'RW3', name: 'Trafford Synthetic Acute Hospital (north site)' },
];

export const NEIGHBOURHOODS: Neighbourhood[] = [
  {
    key: 'north',
    name: 'North Trafford',
    districts: [
      { district: 'M16', town: 'Old Trafford', weight: 4 },
      { district: 'M32', town: 'Stretford', weight: 5 },
      { district: 'M17', town: 'Trafford Park', weight: 0.3 },
    ],
    mainHospital: 'RW3',
  },
  {
    key: 'west',
    name: 'West Trafford',
    districts: [
      { district: 'M41', town: 'Urmston', weight: 6 },
      { district: 'M31', town: 'Partington', weight: 1.5 },
    ],
    mainHospital: 'RW3',
  },
  {
    key: 'central',
    name: 'Central Trafford',
    districts: [{ district: 'M33', town: 'Sale', weight: 8 }],
    mainHospital: 'RM2',
  },
  {
    key: 'south',
    name: 'South Trafford',
    districts: [
      { district: 'WA14', town: 'Altrincham', weight: 5 },
      { district: 'WA15', town: 'Timperley', weight: 4 },
    ],
    mainHospital: 'RM2',
  },
];

// Synthetic practice names: "<place or street> <kind>"; none is meant to be a real practice.
const PRACTICE_SPECS: [NeighbourhoodKey, string, number][] = [
  ['north', 'Seymour Grove Medical Practice', 1.2],
  ['north', 'Old Trafford Family Surgery', 0.8],
  ['north', 'Stretford Village Health Centre', 1.4],
  ['north', 'Kings Road Surgery', 0.6],
  ['north', 'Longford Park Medical Centre', 1.0],
  ['north', 'Gorse Hill Practice', 0.7],
  ['north', 'Talbot Road Health Partnership', 1.1],
  ['west', 'Urmston Green Medical Practice', 1.3],
  ['west', 'Flixton Road Surgery', 0.9],
  ['west', 'Davyhulme Family Practice', 1.0],
  ['west', 'Partington Health Centre', 0.7],
  ['west', 'Moorside Medical Centre', 0.8],
  ['west', 'Carrington Lane Surgery', 0.5],
  ['west', 'Lostock Practice', 0.6],
  ['central', 'Sale Waterside Medical Practice', 1.5],
  ['central', 'Washway Road Surgery', 1.0],
  ['central', 'Ashton on Mersey Health Centre', 1.1],
  ['central', 'Sale Moor Family Practice', 0.9],
  ['central', 'Brooklands Medical Centre', 1.2],
  ['central', 'Dane Road Surgery', 0.6],
  ['central', 'Temple Road Practice', 0.7],
  ['central', 'Marsland Road Medical Practice', 0.8],
  ['south', 'Altrincham Market Medical Centre', 1.4],
  ['south', 'Bowdon Vale Surgery', 0.7],
  ['south', 'Broadheath Family Practice', 0.9],
  ['south', 'Hale Barns Health Centre', 0.8],
  ['south', 'Timperley Village Surgery', 1.2],
  ['south', 'Riddings Road Practice', 0.6],
  ['south', 'Stamford Park Medical Practice', 1.0],
  ['south', 'Oakfield Medical Centre', 0.9],
];

/** Formats an inward code ("7XY") from three small integers. */
function inward(digit: number, a: number, b: number): string {
  return `${digit % 10}${INWARD_LETTERS[a % INWARD_LETTERS.length]}${INWARD_LETTERS[b % INWARD_LETTERS.length]}`;
}

/** The fixed locality every run uses. */
export function buildLocality(): Locality {
  const practices = PRACTICE_SPECS.map(([neighbourhood, name, weight], i): Practice => {
    const n = NEIGHBOURHOODS.find((x) => x.key === neighbourhood)!;
    const d = n.districts[i % n.districts.length]!;
    return {
      ods: `P91${String(i + 1).padStart(3, '0')}`,
      name,
      neighbourhood,
      postcode: `${d.district} ${inward(i * 7 + 1, i * 5 + 3, i * 11 + 2)}`,
      weight,
    };
  });
  return { name: 'Trafford (synthetic)', neighbourhoods: NEIGHBOURHOODS, practices, hospitals: HOSPITALS };
}

/** A random real-looking postcode in the neighbourhood, e.g. "M33 7XY". */
export function randomPostcode(rng: Random, n: Neighbourhood): { postcode: string; town: string } {
  const d = n.districts[rng.weighted(n.districts.map((x) => x.weight))]!;
  return { postcode: `${d.district} ${rng.int(1, 9)}${rng.pick(INWARD_LETTERS.split(''))}${rng.pick(INWARD_LETTERS.split(''))}`, town: d.town };
}
