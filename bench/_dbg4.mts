const h = new Float64Array(2); const i = 0; h[i]! += 3; h[1]! -= 2; console.log(h);
