const n = 10000; const xs: number[] = []; const y: number[] = [];
for (let i = 0; i < n; i++) { const a = i % 40 === 0 ? 1 : 0; xs.push(a); y.push(a ? (i % 80 === 0 ? 1 : 0) : (i % 13 === 0 ? 1 : 0)); }
const mean = xs.reduce((s, v) => s + v, 0) / n; const sd = Math.sqrt(xs.reduce((s, v) => s + (v - mean) ** 2, 0) / n);
const z = xs.map((v) => (v - mean) / sd);
let b0 = Math.log((y.reduce((s, v) => s + v, 0) / n) / (1 - y.reduce((s, v) => s + v, 0) / n)), b1 = 0;
for (let it = 0; it < 10; it++) {
  let h00 = 0, h01 = 0, h11 = 1, g0 = 0, g1 = -b1;
  for (let i = 0; i < n; i++) { const mu = 1 / (1 + Math.exp(-(b0 + b1 * z[i]!))); const w = mu * (1 - mu); h00 += w; h01 += w * z[i]!; h11 += w * z[i]! ** 2; g0 += y[i]! - mu; g1 += (y[i]! - mu) * z[i]!; }
  const det = h00 * h11 - h01 * h01; const s0 = (h11 * g0 - h01 * g1) / det; const s1 = (h00 * g1 - h01 * g0) / det;
  b0 += s0; b1 += s1; console.log(it, b0, b1 / sd);
}
