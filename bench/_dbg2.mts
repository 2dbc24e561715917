import { fitLogistic } from '../analytics/risk/logistic.ts';
const x: number[][] = []; const y: number[] = [];
for (let i = 0; i < 10000; i++) { const a = i % 40 === 0 ? 1 : 0; x.push([a]); y.push(a ? (i % 80 === 0 ? 1 : 0) : (i % 13 === 0 ? 1 : 0)); }
for (const it of [1,2,3,4,5,6,10,20]) { const f = fitLogistic(x, y, { l2: 1, maxIterations: it }); console.log(it, f.intercept, f.coefficients[0], f.converged); }
