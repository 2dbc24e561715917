import { solveSymmetric } from '../analytics/risk/logistic.ts';
const H = new Float64Array([10, 3, 3, 5]);
const g = new Float64Array([1, 2]);
console.log([...solveSymmetric(H, g, 2)], 'expected', [(1*5-3*2)/(50-9), (10*2-3*1)/(50-9)]);
